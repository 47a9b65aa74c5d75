//! Slow storage: how long other clients wait while sessions wait on a slow
//! filesystem, for every `ftpdlib` concurrency model, pyftpdlib (its async
//! server) and, to compare before and after in one run, another `ftpdlib`
//! build given by `SLOWBENCH_BASELINE` (a path to its binary).
//!
//! `cargo bench --bench slow_storage` (as root, with `/dev/fuse`: it serves
//! a slow FUSE mount, `tests/common/slowfs.rs`, from this process). Each
//! server shares the mount with `user`/`12345`, write access, and runs alone:
//!
//! - 200 ms per metadata/open call: one client runs LIST, NLST, SIZE, MDTM,
//!   CWD, CWD, RETR in a loop for `SLOWBENCH_SECS` (default 10) while
//!   another sends NOOP every 50 ms: the worst and the 99th percentile NOOP
//!   reply time, and how many commands the working client got done.
//! - 1 s per call: the time of one LIST alone, then `SLOWBENCH_SESSIONS`
//!   (default 20) sessions at once each send one of LIST, SIZE, MKD (each in
//!   a directory of its own), RETR
//!   (logged in and with their data connection made beforehand): the wall
//!   time until all are answered (a client waits at most 120 s), and the
//!   worst NOOP reply time of another session meanwhile.
//!
//! Logins and set-up run with the mount at full speed; the delay is set
//! just before each measurement. Other knobs: `SLOWBENCH_MODELS` (default
//! `multi-thread,async,multi-proc,pre-fork`; pre-fork runs `--workers 1`),
//! `SLOWBENCH_PEERS` (default `pyftpdlib`; empty to skip it).

#[path = "support/server.rs"]
mod server;
#[path = "../tests/common/slowfs.rs"]
mod slowfs;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use server::{free_port, Server};

const FAST_DELAY: Duration = Duration::from_millis(200);
const SLOW_DELAY: Duration = Duration::from_secs(1);
const NOOP_EVERY: Duration = Duration::from_millis(50);
/// The longest a client of the 20-sessions run waits for a reply.
const CLIENT_WAIT: Duration = Duration::from_secs(120);
const SMALL: &[u8] = b"a small file\n";

/// Start `cmd` (listening on 127.0.0.1:`port`) and wait for its greeting.
fn start(name: &str, mut cmd: Command, port: u16) -> Option<Server> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = Server {
        name: name.to_string(),
        child,
        addr,
    };
    for _ in 0..200 {
        if let Ok(Some(_)) = s.child.try_wait() {
            return None;
        }
        if let Ok(c) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            let mut line = String::new();
            if BufReader::new(c).read_line(&mut line).is_ok() && line.starts_with("220") {
                return Some(s);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A control connection.
struct Ctl {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Ctl {
    fn login(addr: SocketAddr, wait: Duration) -> Result<Ctl, String> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
        let mut c = Ctl {
            w: s.try_clone().map_err(|e| e.to_string())?,
            r: BufReader::new(s),
        };
        c.expect("", "220")?;
        c.expect("USER user", "331")?;
        c.expect("PASS 12345", "230")?;
        c.expect("TYPE I", "200")?;
        Ok(c)
    }

    /// One whole reply (multi-line ones too).
    fn reply(&mut self) -> Result<String, String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) => return Err(format!("connection closed after {all:?}")),
                Ok(_) => {}
                Err(e) => return Err(format!("no reply: {e}")),
            }
            all.push_str(&line);
            let b = line.as_bytes();
            if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
                return Ok(all.trim_end().to_string());
            }
        }
    }

    /// Send `line` (none when empty) and check the reply code.
    fn expect(&mut self, line: &str, code: &str) -> Result<String, String> {
        if !line.is_empty() {
            self.w
                .write_all(format!("{line}\r\n").as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let r = self.reply()?;
        if r.starts_with(code) {
            Ok(r)
        } else {
            Err(format!("{line}: {r}"))
        }
    }

    /// PASV and a connection to its data port.
    fn pasv(&mut self) -> Result<TcpStream, String> {
        let r = self.expect("PASV", "227")?;
        let inner = &r[r.find('(').ok_or("PASV")? + 1..r.find(')').ok_or("PASV")?];
        let n: Vec<u16> = inner
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        if n.len() != 6 {
            return Err(format!("PASV: {r}"));
        }
        let addr = SocketAddr::from((
            [n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8],
            n[4] * 256 + n[5],
        ));
        let d = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        d.set_read_timeout(self.w.read_timeout().unwrap_or(None))
            .map_err(|e| e.to_string())?;
        Ok(d)
    }

    /// A data command over `data` (from [`Ctl::pasv`]): what came over it.
    fn transfer(&mut self, mut data: TcpStream, cmd: &str) -> Result<Vec<u8>, String> {
        let first = self.expect(cmd, "1")?;
        if !first.starts_with("150") && !first.starts_with("125") {
            return Err(format!("{cmd}: {first}"));
        }
        let mut got = Vec::new();
        data.read_to_end(&mut got).map_err(|e| e.to_string())?;
        drop(data);
        self.expect("", "226")?;
        Ok(got)
    }
}

/// A client sending NOOP every 50 ms until stopped: its reply times.
struct Noops {
    stop: Arc<AtomicBool>,
    stream: TcpStream,
    done: std::sync::mpsc::Receiver<Vec<Duration>>,
}

impl Noops {
    fn start(mut c: Ctl) -> Noops {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let stream = c.w.try_clone().unwrap();
        let (tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut took = Vec::new();
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = c.expect("NOOP", "200").is_ok();
                took.push(t.elapsed());
                if !ok {
                    break;
                }
                next += NOOP_EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            let _ = tx.send(took);
        });
        Noops { stop, stream, done }
    }

    /// Stop; a NOOP still unanswered 5 s later is cut off and counts with
    /// the time it waited. Sorted reply times.
    fn finish(self) -> Vec<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        let mut took = match self.done.recv_timeout(Duration::from_secs(5)) {
            Ok(t) => t,
            Err(_) => {
                let _ = self.stream.shutdown(std::net::Shutdown::Both);
                self.done.recv().unwrap_or_default()
            }
        };
        took.sort();
        took
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted
        .get((sorted.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

/// One round of the working client of the 200 ms scenario.
fn work_round(c: &mut Ctl) -> Result<usize, String> {
    let d = c.pasv()?;
    c.transfer(d, "LIST")?;
    let d = c.pasv()?;
    c.transfer(d, "NLST")?;
    c.expect("SIZE small.txt", "213")?;
    c.expect("MDTM small.txt", "213")?;
    c.expect("CWD sub", "250")?;
    c.expect("CWD /", "250")?;
    let d = c.pasv()?;
    if c.transfer(d, "RETR small.txt")? != SMALL {
        return Err("RETR: wrong content".into());
    }
    Ok(7)
}

struct NoopFigures {
    max: Duration,
    p99: Duration,
    count: usize,
    commands: usize,
}

/// The 200 ms scenario on `srv` for `secs`.
fn noop_while_working(
    srv: &Server,
    mount: &slowfs::SlowMount,
    secs: Duration,
) -> Result<NoopFigures, String> {
    mount.set_delay(Duration::ZERO);
    let noop = Ctl::login(srv.addr, Duration::from_secs(60))?;
    let mut work = Ctl::login(srv.addr, Duration::from_secs(60))?;
    mount.set_delay(FAST_DELAY);
    let noops = Noops::start(noop);
    let started = Instant::now();
    let mut commands = 0;
    let mut err = None;
    while started.elapsed() < secs {
        match work_round(&mut work) {
            Ok(n) => commands += n,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let lat = noops.finish();
    mount.set_delay(Duration::ZERO);
    if let Some(e) = err {
        return Err(e);
    }
    Ok(NoopFigures {
        max: lat.last().copied().unwrap_or_default(),
        p99: p99(&lat),
        count: lat.len(),
        commands,
    })
}

struct SideBySide {
    alone: Duration,
    wall: Duration,
    done: usize,
    noop_max: Duration,
}

/// The 1 s scenario on `srv` with `sessions` clients; `tag` keeps MKD names apart.
fn side_by_side(
    srv: &Server,
    mount: &slowfs::SlowMount,
    sessions: usize,
    tag: usize,
) -> Result<SideBySide, String> {
    mount.set_delay(Duration::ZERO);
    let noop = Ctl::login(srv.addr, CLIENT_WAIT)?;
    let mut solo = Ctl::login(srv.addr, CLIENT_WAIT)?;
    let d = solo.pasv()?;
    mount.set_delay(SLOW_DELAY);
    let t = Instant::now();
    solo.transfer(d, "LIST")?;
    let alone = t.elapsed();
    mount.set_delay(Duration::ZERO);
    drop(solo);

    let ready = Arc::new(Barrier::new(sessions + 1));
    let mut clients = Vec::new();
    for i in 0..sessions {
        let mut c = Ctl::login(srv.addr, CLIENT_WAIT)?;
        let data = match i % 4 {
            0 | 3 => Some(c.pasv()?),
            _ => None,
        };
        let ready = ready.clone();
        clients.push(std::thread::spawn(move || -> Result<(), String> {
            ready.wait();
            match (i % 4, data) {
                (0, Some(d)) => c.transfer(d, "LIST").map(drop),
                (1, _) => c.expect("SIZE small.txt", "213").map(drop),
                (2, _) => c.expect(&format!("MKD mk/{i}/d{tag}"), "257").map(drop),
                (_, Some(d)) => c.transfer(d, "RETR small.txt").map(drop),
                _ => unreachable!(),
            }
        }));
    }
    mount.set_delay(SLOW_DELAY);
    let noops = Noops::start(noop);
    ready.wait();
    let started = Instant::now();
    let done = clients
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
        .filter(Result::is_ok)
        .count();
    let wall = started.elapsed();
    let lat = noops.finish();
    mount.set_delay(Duration::ZERO);
    Ok(SideBySide {
        alone,
        wall,
        done,
        noop_max: lat.last().copied().unwrap_or_default(),
    })
}

/// How to start a server on a port, sharing a directory.
type Launcher = Box<dyn Fn(u16, &Path) -> Command>;

/// A server to measure: its name and how to start it.
struct Kind {
    name: String,
    cmd: Launcher,
}

fn ftpdlib(bin: String, label: &str, model: &str) -> Kind {
    let model = model.to_string();
    Kind {
        name: format!("{label} {model}"),
        cmd: Box::new(move |port, dir| {
            let mut c = Command::new(&bin);
            c.args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-w", "-u", "user", "-P", "12345"])
                .args(["--concurrency", &model, "--max-cons", "0"])
                .arg("-d")
                .arg(dir);
            if model == "pre-fork" {
                c.args(["--workers", "1"]);
            }
            c
        }),
    }
}

fn pyftpdlib() -> Kind {
    Kind {
        name: "pyftpdlib async".into(),
        cmd: Box::new(|port, dir| server::pyftpdlib(port, dir, "user", "12345")),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes
    }
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let secs = Duration::from_secs(env("SLOWBENCH_SECS", "10").parse().unwrap_or(10));
    let sessions: usize = env("SLOWBENCH_SESSIONS", "20").parse().unwrap_or(20);
    let models = env("SLOWBENCH_MODELS", "multi-thread,async,multi-proc,pre-fork");
    let models: Vec<&str> = models.split(',').filter(|m| !m.is_empty()).collect();
    let peers = env("SLOWBENCH_PEERS", "pyftpdlib");

    let mount = match slowfs::SlowMount::mount(Duration::ZERO) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("slow_storage bench skipped: {why}");
            return;
        }
    };
    std::fs::write(mount.backing().join("small.txt"), SMALL).unwrap();
    std::fs::create_dir(mount.backing().join("sub")).unwrap();
    // MKD of session i goes to mk/i: the kernel locks a directory while a
    // name is made in it, so MKDs in one shared directory would wait for
    // each other (and for every lookup there) on any filesystem
    for i in 0..sessions {
        std::fs::create_dir_all(mount.backing().join(format!("mk/{i}"))).unwrap();
    }

    let mut kinds = Vec::new();
    for m in &models {
        kinds.push(ftpdlib(
            env!("CARGO_BIN_EXE_ftpdlib").to_string(),
            "ftpdlib",
            m,
        ));
    }
    if let Ok(base) = std::env::var("SLOWBENCH_BASELINE") {
        if Path::new(&base).exists() {
            for m in &models {
                kinds.push(ftpdlib(base.clone(), "ftpdlib baseline", m));
            }
        } else {
            eprintln!("SLOWBENCH_BASELINE={base}: no such file");
        }
    }
    let have_py = Command::new("python3")
        .args(["-c", "import pyftpdlib"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if peers.contains("pyftpdlib") {
        if have_py {
            kinds.push(pyftpdlib());
        } else {
            eprintln!("pyftpdlib not installed (pip install pyftpdlib): no comparison");
        }
    }

    let bench_started = Instant::now();
    let mut rows = Vec::new();
    for (tag, kind) in kinds.iter().enumerate() {
        mount.set_delay(Duration::ZERO);
        let port = free_port();
        let Some(srv) = start(&kind.name, (kind.cmd)(port, mount.path()), port) else {
            eprintln!("{} did not start", kind.name);
            continue;
        };
        eprintln!(
            "{}: {} ms per call, {} s ...",
            srv.name,
            FAST_DELAY.as_millis(),
            secs.as_secs()
        );
        let a = noop_while_working(&srv, &mount, secs);
        match &a {
            Ok(a) => eprintln!(
                "  NOOP worst {:.1} ms, p99 {:.1} ms over {} NOOPs; {} commands done",
                ms(a.max),
                ms(a.p99),
                a.count,
                a.commands
            ),
            Err(e) => eprintln!("  failed: {e}"),
        }
        eprintln!(
            "{}: {} ms per call, {sessions} sessions at once ...",
            srv.name,
            SLOW_DELAY.as_millis()
        );
        let b = side_by_side(&srv, &mount, sessions, tag);
        match &b {
            Ok(b) => eprintln!(
                "  one LIST alone {:.2} s; {} of {sessions} done in {:.2} s; NOOP worst {:.1} ms",
                b.alone.as_secs_f64(),
                b.done,
                b.wall.as_secs_f64(),
                ms(b.noop_max)
            ),
            Err(e) => eprintln!("  failed: {e}"),
        }
        mount.set_delay(Duration::ZERO);
        drop(srv);
        rows.push((kind.name.clone(), a, b));
    }
    println!(
        "\nSlow storage ({} s; slow FUSE mount served by the bench process; pre-fork with --workers 1):\n",
        bench_started.elapsed().as_secs()
    );
    println!(
        "| server | NOOP worst ms, {} ms/call | NOOP p99 ms | commands in {} s | one LIST alone s, {} s/call | {sessions} sessions wall s (done) | NOOP worst ms, {sessions} sessions |",
        FAST_DELAY.as_millis(),
        secs.as_secs(),
        SLOW_DELAY.as_secs()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, a, b) in rows {
        let a = match a {
            Ok(a) => format!("{:.1} | {:.1} | {}", ms(a.max), ms(a.p99), a.commands),
            Err(e) => format!("failed: {e} | - | -"),
        };
        let b = match b {
            Ok(b) => format!(
                "{:.2} | {:.2} ({}) | {:.1}",
                b.alone.as_secs_f64(),
                b.wall.as_secs_f64(),
                b.done,
                ms(b.noop_max)
            ),
            Err(e) => format!("failed: {e} | - | -"),
        };
        println!("| {name} | {a} | {b} |");
    }
}
