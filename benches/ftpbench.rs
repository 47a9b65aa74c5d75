//! End-to-end benchmark: the `ftpdlib` binary in each concurrency model
//! against pyftpdlib, measured in the same run on the same machine, with
//! curl (a C client, so the client is not the bottleneck) for the big
//! transfers and lean Rust clients for the many-client figures.
//!
//! `cargo bench --bench ftpbench`. Knobs (environment):
//! `FTPBENCH_MB` (big file size, default 1024), `FTPBENCH_MODELS` (default
//! `multi-thread,async,multi-proc,pre-fork`), `FTPBENCH_PEERS` (default
//! `pyftpdlib,pure-ftpd`, each measured when installed; empty to skip),
//! `FTPBENCH_BASELINE` (path of another `ftpdlib` build, measured in the same
//! models as "baseline <model>", to compare two commits in one run).
//!
//! Per server: RETR and STOR MiB/s of the big file (median of 7; every
//! server is started first and they take turns, one transfer each, so a slow
//! spell of the machine is shared rather than landing on one), server CPU
//! seconds per GiB moved, 300 and 1000 clients connecting and logging in at
//! once (wall time, failures; a client without its 230 within 20 s failed), RETR MiB/s with 300 idle clients connected,
//! 100 clients each RETR / STOR 10 MiB at once (wall time), and the server's
//! memory (PSS summed over its process tree) at start and with 300 and 1000
//! idle logged-in clients.
//!
//! FTPS (explicit, `PROT P`, curl `--ssl-reqd`): RETR and STOR MiB/s of the
//! big file (median of 3) for every ftpdlib model and for pyftpdlib's
//! TLS_FTPHandler; for the async servers also the server's CPU seconds over
//! `FTPBENCH_TLS_IDLE_SECS` (default 15) with 100 idle TLS sessions, and
//! again after those 100 clients vanished without closing TLS.

#[path = "../tests/common/procs.rs"]
mod procs;
#[path = "support/server.rs"]
mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server::{free_port, Server};

const RUNS: usize = 7;
const TLS_RUNS: usize = 3;
/// How long a client waits for each reply of its login before it counts as
/// failed (a connection the server's backlog dropped would wait for minutes).
const LOGIN_WAIT: Duration = Duration::from_secs(20);

fn start(name: &str, mut cmd: Command, port: u16) -> Option<Server> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let s = Server {
        name: name.to_string(),
        child,
        addr,
    };
    for _ in 0..200 {
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

/// Every process of the tree rooted at `pid`.
fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(procs::children_of(all[i]).into_iter().map(|(p, _)| p));
        i += 1;
    }
    all
}

/// PSS of the whole process tree, MiB.
fn pss_mib(pid: u32) -> f64 {
    let kib: u64 = tree(pid)
        .iter()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    kib as f64 / 1024.0
}

/// CPU seconds used by the server and every child it reaped.
fn cpu_secs(pid: u32) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // fields after ')': state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    let own: f64 = f.get(11..15).map(|v| v.iter().sum()).unwrap_or(0.0);
    let live_children: f64 = tree(pid)
        .into_iter()
        .skip(1)
        .map(|p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            s.rfind(')')
                .map(|i| {
                    s[i + 2..]
                        .split_whitespace()
                        .skip(11)
                        .take(2)
                        .map(|x| x.parse::<f64>().unwrap_or(0.0))
                        .sum::<f64>()
                })
                .unwrap_or(0.0)
        })
        .sum();
    (own + live_children) / tick
}

fn curl(args: &[&str]) -> Option<Duration> {
    let t = Instant::now();
    let ok = Command::new("curl")
        .args(["-s", "-S", "--max-time", "600"])
        .args(args)
        .status()
        .ok()?
        .success();
    ok.then(|| t.elapsed())
}

/// pure-ftpd with one virtual user `user`/`12345` (uid nobody) whose home is
/// `dir`: the command, its port, and the directory holding its user database.
/// The password is stored as SHA-512 crypt so that logins cost what they
/// cost on a typical install (pure-pw's default argon2 takes seconds here).
fn pure_ftpd(dir: &Path) -> Option<(Command, u16, tempfile::TempDir)> {
    use std::os::unix::fs::PermissionsExt;
    let ok = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !ok(Command::new("sh").args([
        "-c",
        "command -v pure-ftpd && command -v pure-pw && command -v openssl",
    ])) {
        return None;
    }
    let db = tempfile::tempdir().ok()?;
    let hash = Command::new("openssl")
        .args(["passwd", "-6", "12345"])
        .output()
        .ok()?;
    let hash = String::from_utf8(hash.stdout).ok()?.trim().to_string();
    let uid = Command::new("id").args(["-u", "nobody"]).output().ok()?;
    let gid = Command::new("id").args(["-g", "nobody"]).output().ok()?;
    let (uid, gid) = (
        String::from_utf8_lossy(&uid.stdout).trim().to_string(),
        String::from_utf8_lossy(&gid.stdout).trim().to_string(),
    );
    let passwd = db.path().join("pureftpd.passwd");
    std::fs::write(
        &passwd,
        format!(
            "user:{hash}:{uid}:{gid}::{}/./::::::::::::\n",
            dir.display()
        ),
    )
    .ok()?;
    let pdb = db.path().join("pureftpd.pdb");
    if !ok(Command::new("pure-pw")
        .arg("mkdb")
        .arg(&pdb)
        .arg("-f")
        .arg(&passwd))
    {
        return None;
    }
    // the virtual user runs as nobody: open the shared files up
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o666));
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777));
    let port = free_port();
    let mut cmd = Command::new("pure-ftpd");
    cmd.arg("-l")
        .arg(format!("puredb:{}", pdb.display()))
        .args([
            "-S",
            &format!("127.0.0.1,{port}"),
            "-c",
            "5000",
            "-C",
            "5000",
            "-E",
        ]);
    Some((cmd, port, db))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A logged-in control connection.
struct Ctl {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Ctl {
    fn login(addr: SocketAddr) -> Option<Ctl> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).ok()?;
        s.set_read_timeout(Some(LOGIN_WAIT)).ok()?;
        let mut c = Ctl {
            w: s.try_clone().ok()?,
            r: BufReader::new(s),
        };
        if !c.line()?.starts_with("220") {
            return None;
        }
        c.w.write_all(b"USER user\r\nPASS 12345\r\n").ok()?;
        c.line()?;
        c.line()?.starts_with("230").then_some(c)
    }
    /// One whole reply (multi-line replies end at `CODE `); returns its last line.
    fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        self.r.read_line(&mut l).ok().filter(|&n| n > 0)?;
        if l.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{} ", &l[..3]);
            loop {
                l.clear();
                self.r.read_line(&mut l).ok().filter(|&n| n > 0)?;
                if l.starts_with(&end) {
                    break;
                }
            }
        }
        Some(l)
    }
    fn cmd(&mut self, c: &str) -> Option<String> {
        self.w.write_all(format!("{c}\r\n").as_bytes()).ok()?;
        self.line()
    }
    /// RETR or STOR of `bytes` over EPSV; true when the server said 226.
    fn transfer(&mut self, cmd: &str, bytes: usize) -> Option<bool> {
        self.cmd("TYPE I")?;
        let r = self.cmd("EPSV")?;
        let port: u16 = r.split("|||").nth(1)?.split('|').next()?.parse().ok()?;
        let mut data = TcpStream::connect(("127.0.0.1", port)).ok()?;
        let pre = self.cmd(cmd)?;
        if !pre.starts_with('1') {
            return Some(false);
        }
        if cmd.starts_with("RETR") {
            let mut buf = vec![0u8; 256 * 1024];
            while data.read(&mut buf).ok()? > 0 {}
        } else {
            let chunk = vec![7u8; 256 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                data.write_all(&chunk[..n]).ok()?;
                left -= n;
            }
            drop(data);
        }
        Some(self.line()?.starts_with("226"))
    }
}

/// `n` clients connect and log in at the same instant.
fn logins(addr: SocketAddr, n: usize) -> (f64, usize, Vec<Ctl>) {
    let start = Instant::now();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let b = barrier.clone();
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    b.wait();
                    Ctl::login(addr)
                })
        })
        .collect();
    let conns: Vec<Ctl> = handles
        .into_iter()
        .filter_map(|h| h.ok()?.join().ok().flatten())
        .collect();
    (start.elapsed().as_secs_f64(), n - conns.len(), conns)
}

/// 100 clients each move 10 MiB at once; wall seconds (NaN if any failed).
fn parallel(addr: SocketAddr, cmd: &'static str) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..100)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Ctl::login(addr)?;
                let cmd = if cmd == "STOR" {
                    format!("STOR par{i}.bin")
                } else {
                    "RETR ten.bin".to_string()
                };
                c.transfer(&cmd, 10 << 20)
            })
        })
        .collect();
    let ok = handles
        .into_iter()
        .all(|h| h.join().ok().flatten() == Some(true));
    if ok {
        start.elapsed().as_secs_f64()
    } else {
        f64::NAN
    }
}

/// Open `n` logged-in sessions quickly (pipelined USER/PASS from 8 threads).
fn many_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mine: Vec<TcpStream> = (t..n)
                    .step_by(8)
                    .filter_map(|_| {
                        let mut s = TcpStream::connect(addr).ok()?;
                        s.write_all(b"USER user\r\nPASS 12345\r\n").ok()?;
                        Some(s)
                    })
                    .collect();
                mine.into_iter()
                    .filter_map(|mut s| {
                        s.set_read_timeout(Some(LOGIN_WAIT)).ok()?;
                        let mut got = Vec::new();
                        let mut buf = [0u8; 256];
                        while got.iter().filter(|&&b| b == b'\n').count() < 3 {
                            let k = s.read(&mut buf).ok()?;
                            if k == 0 {
                                return None;
                            }
                            got.extend_from_slice(&buf[..k]);
                        }
                        String::from_utf8_lossy(&got).contains("\n230").then_some(s)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .filter_map(|h| h.join().ok())
        .flatten()
        .collect()
}

#[derive(Default)]
struct Row {
    name: String,
    retr: f64,
    stor: f64,
    cpu_per_gib: f64,
    login300: (f64, usize),
    login1000: (f64, usize),
    retr_idle300: f64,
    par_retr: f64,
    par_stor: f64,
    pss_start: f64,
    pss300: f64,
    pss1000: f64,
    /// Poll model only: sessions held, PSS MiB, a new login's ms, whether it succeeded.
    idle10k: Option<(usize, f64, f64, bool)>,
}

/// The transfer figures of every server, the medians of `RUNS`.
struct Transfers {
    /// One client, the big file: MiB/s.
    retr: f64,
    stor: f64,
    /// Server CPU seconds per GiB moved by the single-client transfers.
    cpu_per_gib: f64,
    /// 100 clients each moving 10 MiB at once: wall seconds.
    par_retr: f64,
    par_stor: f64,
}

/// The transfer figures of every server. The servers run at once and take
/// turns, one transfer (or one round of 100 parallel ones) each, so that a
/// slow spell of the machine (run-to-run noise here is about ±30 %) falls
/// on all of them rather than on whichever was being measured.
fn transfers(servers: &[Server], dir: &Path, mb: u64) -> Vec<Transfers> {
    let rate = |d: Option<Duration>| d.map(|d| mb as f64 / d.as_secs_f64()).unwrap_or(0.0);
    let src = dir.join("big.bin").to_string_lossy().into_owned();
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("ftp://user:12345@{}/", s.addr))
        .collect();
    let cpu0: Vec<f64> = servers.iter().map(|s| cpu_secs(s.child.id())).collect();
    let mut retr = vec![Vec::new(); servers.len()];
    let mut stor = vec![Vec::new(); servers.len()];
    for _ in 0..RUNS {
        for (i, url) in urls.iter().enumerate() {
            retr[i].push(rate(curl(&["-o", "/dev/null", &format!("{url}big.bin")])));
        }
        for (i, url) in urls.iter().enumerate() {
            let _ = std::fs::remove_file(dir.join("up.bin"));
            stor[i].push(rate(curl(&["-T", &src, &format!("{url}up.bin")])));
        }
    }
    let _ = std::fs::remove_file(dir.join("up.bin"));
    let gib_moved = (2 * RUNS) as f64 * mb as f64 / 1024.0;
    let cpu: Vec<f64> = (0..servers.len())
        .map(|i| (cpu_secs(servers[i].child.id()) - cpu0[i]) / gib_moved)
        .collect();
    let mut par_retr = vec![Vec::new(); servers.len()];
    let mut par_stor = vec![Vec::new(); servers.len()];
    for _ in 0..RUNS {
        for (i, s) in servers.iter().enumerate() {
            par_retr[i].push(parallel(s.addr, "RETR"));
        }
        for (i, s) in servers.iter().enumerate() {
            par_stor[i].push(parallel(s.addr, "STOR"));
            for k in 0..100 {
                let _ = std::fs::remove_file(dir.join(format!("par{k}.bin")));
            }
        }
    }
    (0..servers.len())
        .map(|i| Transfers {
            retr: median(std::mem::take(&mut retr[i])),
            stor: median(std::mem::take(&mut stor[i])),
            cpu_per_gib: cpu[i],
            par_retr: median(std::mem::take(&mut par_retr[i])),
            par_stor: median(std::mem::take(&mut par_stor[i])),
        })
        .collect()
}

/// A server's other figures (many clients, memory), measured while it runs
/// alone (PSS counts shared pages in part, so another instance of the same
/// binary would make it look smaller).
fn measure(srv: &Server, mb: u64) -> Row {
    let pid = srv.child.id();
    let url = format!("ftp://user:12345@{}/", srv.addr);
    let mut row = Row {
        name: srv.name.clone(),
        pss_start: pss_mib(pid),
        ..Row::default()
    };
    let rate = |d: Option<Duration>| d.map(|d| mb as f64 / d.as_secs_f64()).unwrap_or(0.0);
    let get = format!("{url}big.bin");

    let (t, f, idle) = logins(srv.addr, 300);
    row.login300 = (t, f);
    row.pss300 = pss_mib(pid);
    row.retr_idle300 = rate(curl(&["-o", "/dev/null", &get]));
    drop(idle);
    std::thread::sleep(Duration::from_millis(500)); // let the server close them
    let (t, f, idle) = logins(srv.addr, 1000);
    row.login1000 = (t, f);
    row.pss1000 = pss_mib(pid);
    drop(idle);
    if srv.name.ends_with("async") && !srv.name.starts_with("pyftpdlib") {
        std::thread::sleep(Duration::from_millis(500));
        let idle = many_idle(srv.addr, 10_000);
        let pss = pss_mib(pid);
        let t = Instant::now();
        let ok = Ctl::login(srv.addr).is_some();
        row.idle10k = Some((idle.len(), pss, t.elapsed().as_secs_f64() * 1000.0, ok));
    }
    row
}

/// FTPS figures of one server.
struct TlsRow {
    name: String,
    retr: f64,
    stor: f64,
    /// CPU seconds over the idle window: 100 idle TLS sessions, then after 100 abrupt disconnects.
    idle_cpu: Option<(f64, f64)>,
}

/// A logged-in explicit-FTPS control connection.
fn tls_login(
    addr: SocketAddr,
    connector: &native_tls::TlsConnector,
) -> Option<native_tls::TlsStream<TcpStream>> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut l = String::new();
    r.read_line(&mut l).ok()?;
    (&s).write_all(b"AUTH TLS\r\n").ok()?;
    l.clear();
    r.read_line(&mut l).ok()?;
    if !l.starts_with("234") {
        return None;
    }
    let mut t = connector.connect("localhost", s).ok()?;
    t.write_all(b"USER user\r\nPASS 12345\r\n").ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&got).contains("\n230") && Instant::now() < deadline {
        let n = t.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Some(t)
}

fn measure_tls(srv: &Server, dir: &Path, mb: u64, idle: bool) -> TlsRow {
    let url = format!("ftp://user:12345@{}/", srv.addr);
    let rate = |d: Option<Duration>| d.map(|d| mb as f64 / d.as_secs_f64()).unwrap_or(0.0);
    let get = format!("{url}big.bin");
    let put = format!("{url}tlsup.bin");
    let src = dir.join("big.bin").to_string_lossy().into_owned();
    let retr = median(
        (0..TLS_RUNS)
            .map(|_| rate(curl(&["--ssl-reqd", "-k", "-o", "/dev/null", &get])))
            .collect(),
    );
    let stor = median(
        (0..TLS_RUNS)
            .map(|_| {
                let _ = std::fs::remove_file(dir.join("tlsup.bin"));
                rate(curl(&["--ssl-reqd", "-k", "-T", &src, &put]))
            })
            .collect(),
    );
    let _ = std::fs::remove_file(dir.join("tlsup.bin"));
    let mut idle_cpu = None;
    if idle {
        let secs: u64 = std::env::var("FTPBENCH_TLS_IDLE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(15);
        let connector = native_tls::TlsConnector::builder()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true)
            .build();
        if let Ok(connector) = connector {
            let pid = srv.child.id();
            let sessions: Vec<_> = (0..100)
                .filter_map(|_| tls_login(srv.addr, &connector))
                .collect();
            if sessions.len() == 100 {
                let c0 = cpu_secs(pid);
                std::thread::sleep(Duration::from_secs(secs));
                let held = cpu_secs(pid) - c0;
                // vanish: no close_notify, no QUIT
                for t in &sessions {
                    let _ = t.get_ref().shutdown(std::net::Shutdown::Both);
                }
                drop(sessions);
                let c1 = cpu_secs(pid);
                std::thread::sleep(Duration::from_secs(secs));
                idle_cpu = Some((held, cpu_secs(pid) - c1));
            } else {
                eprintln!(
                    "{}: only {} TLS sessions logged in",
                    srv.name,
                    sessions.len()
                );
            }
        }
    }
    TlsRow {
        name: srv.name.clone(),
        retr,
        stor,
        idle_cpu,
    }
}

/// `python3 -m pyftpdlib` sharing `dir` with `user`/`12345` on 127.0.0.1:`port`.
fn pyftpdlib(port: u16, dir: &Path) -> Command {
    let mut py = Command::new("python3");
    py.args([
        "-m",
        "pyftpdlib",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ])
    .args(["-w", "-u", "user", "-P", "12345", "--max-cons", "5000"])
    .arg("-d")
    .arg(dir);
    py
}

/// A server the bench measures.
enum Kind {
    /// The `ftpdlib` binary in this `--concurrency` model.
    Ftpdlib(String),
    /// Another build of `ftpdlib` (`FTPBENCH_BASELINE`, e.g. an older
    /// commit) in this model, to compare builds in the same run.
    Baseline(std::path::PathBuf, String),
    Pyftpdlib,
    PureFtpd,
}

/// What every server shares: the directory and the TLS files.
struct Env<'a> {
    dir: &'a Path,
    certfile: &'a Path,
    keyfile: &'a Path,
}

/// Start a fresh instance of `kind` on a free port; the second value is a
/// temporary directory that must outlive it (pure-ftpd's user database).
fn launch(kind: &Kind, env: &Env<'_>) -> Option<(Server, Option<tempfile::TempDir>)> {
    match kind {
        Kind::Ftpdlib(_) | Kind::Baseline(..) => {
            let (bin, model, name) = match kind {
                Kind::Baseline(bin, model) => (bin.clone(), model, format!("baseline {model}")),
                Kind::Ftpdlib(model) => (
                    env!("CARGO_BIN_EXE_ftpdlib").into(),
                    model,
                    format!("ftpdlib {model}"),
                ),
                _ => return None,
            };
            let port = free_port();
            let mut cmd = Command::new(bin);
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-w", "-u", "user", "-P", "12345"])
                .args(["--concurrency", model, "--max-cons", "0"])
                .arg("-d")
                .arg(env.dir)
                .arg("--tls")
                .arg("--certfile")
                .arg(env.certfile)
                .arg("--keyfile")
                .arg(env.keyfile);
            let s = start(&name, cmd, port);
            if s.is_none() {
                eprintln!("{name} did not start");
            }
            Some((s?, None))
        }
        Kind::Pyftpdlib => {
            let port = free_port();
            let s = start("pyftpdlib async", pyftpdlib(port, env.dir), port);
            if s.is_none() {
                eprintln!("pyftpdlib did not start");
            }
            Some((s?, None))
        }
        Kind::PureFtpd => {
            let Some((cmd, port, db)) = pure_ftpd(env.dir) else {
                eprintln!("pure-ftpd not installed (apt-get install pure-ftpd): no comparison");
                return None;
            };
            let s = start("pure-ftpd", cmd, port);
            if s.is_none() {
                eprintln!("pure-ftpd did not start");
            }
            Some((s?, Some(db)))
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes
    }
    let mb: u64 = std::env::var("FTPBENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let models = std::env::var("FTPBENCH_MODELS")
        .unwrap_or_else(|_| "multi-thread,async,multi-proc,pre-fork".into());
    let peers = std::env::var("FTPBENCH_PEERS").unwrap_or_else(|_| "pyftpdlib,pure-ftpd".into());
    // files in RAM when possible, so the disk does not set the pace
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    {
        let mut f = std::fs::File::create(dir.path().join("big.bin")).expect("create");
        let chunk: Vec<u8> = (0..1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for _ in 0..mb {
            f.write_all(&chunk).expect("write");
        }
        std::fs::write(dir.path().join("ten.bin"), chunk.repeat(10)).expect("write");
    }
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }

    // a throwaway certificate, outside the shared directory
    let certs = tempfile::tempdir().expect("temp dir");
    let (cert, key) =
        ftpdlib::tls::self_signed(&["localhost", "127.0.0.1"], 2).expect("certificate");
    let certfile = certs.path().join("cert.pem");
    let keyfile = certs.path().join("key.pem");
    std::fs::write(&certfile, &cert).expect("write");
    std::fs::write(&keyfile, &key).expect("write");

    let have_py = peers.contains("pyftpdlib")
        && Command::new("python3")
            .args(["-c", "import pyftpdlib"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if peers.contains("pyftpdlib") && !have_py {
        eprintln!("pyftpdlib not installed (pip install pyftpdlib): no comparison");
    }
    let mut kinds: Vec<Kind> = models
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| Kind::Ftpdlib(m.to_string()))
        .collect();
    if let Ok(base) = std::env::var("FTPBENCH_BASELINE") {
        let base = std::path::PathBuf::from(base);
        let base_models: Vec<Kind> = kinds
            .iter()
            .filter_map(|k| match k {
                Kind::Ftpdlib(m) => Some(Kind::Baseline(base.clone(), m.clone())),
                _ => None,
            })
            .collect();
        kinds.extend(base_models);
    }
    if have_py {
        kinds.push(Kind::Pyftpdlib);
    }
    if peers.contains("pure-ftpd") {
        kinds.push(Kind::PureFtpd);
    }
    let env = Env {
        dir: dir.path(),
        certfile: &certfile,
        keyfile: &keyfile,
    };

    // each server alone: many clients, memory, FTPS
    let mut rows = Vec::new();
    let mut tls_rows = Vec::new();
    for kind in &kinds {
        let Some((s, _guard)) = launch(kind, &env) else {
            continue;
        };
        eprintln!("measuring {}", s.name);
        rows.push(measure(&s, mb));
        if matches!(kind, Kind::Ftpdlib(_) | Kind::Baseline(..)) {
            tls_rows.push(measure_tls(&s, dir.path(), mb, s.name.ends_with("async")));
        }
    }
    // every server at once, taking turns: the transfers
    let (servers, guards): (Vec<Server>, Vec<_>) =
        kinds.iter().filter_map(|k| launch(k, &env)).unzip();
    eprintln!(
        "measuring the transfers, servers taking turns: {}",
        servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (s, t) in servers.iter().zip(transfers(&servers, dir.path(), mb)) {
        if let Some(row) = rows.iter_mut().find(|r| r.name == s.name) {
            row.retr = t.retr;
            row.stor = t.stor;
            row.cpu_per_gib = t.cpu_per_gib;
            row.par_retr = t.par_retr;
            row.par_stor = t.par_stor;
        }
    }
    drop(servers);
    drop(guards);

    if have_py {
        // FTPS: a second instance with TLS_FTPHandler (needs pyopenssl)
        let port = free_port();
        let mut py = pyftpdlib(port, dir.path());
        py.arg("--tls")
            .arg("--certfile")
            .arg(&certfile)
            .arg("--keyfile")
            .arg(&keyfile);
        match start("pyftpdlib async", py, port) {
            Some(s) => {
                eprintln!("measuring {} FTPS", s.name);
                tls_rows.push(measure_tls(&s, dir.path(), mb, true));
            }
            None => eprintln!("pyftpdlib --tls did not start (pip install pyopenssl)"),
        }
    }

    println!(
        "\nftpbench: {mb} MiB file, loopback, {} CPUs\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| server | RETR MiB/s | STOR MiB/s | CPU s/GiB | 300 logins s (failed) | 1000 logins s (failed) | RETR MiB/s, 300 idle | 100×10 MiB RETR s | 100×10 MiB STOR s | PSS MiB start | PSS 300 idle | PSS 1000 idle |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.3} ({}) | {:.3} ({}) | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} |",
            r.name, r.retr, r.stor, r.cpu_per_gib, r.login300.0, r.login300.1, r.login1000.0, r.login1000.1,
            r.retr_idle300, r.par_retr, r.par_stor, r.pss_start, r.pss300, r.pss1000
        );
    }
    for r in &rows {
        if let Some((n, pss, ms, ok)) = r.idle10k {
            println!(
                "\n{}: {n} idle logged-in sessions held with PSS {pss:.1} MiB; a new client then logged in in {ms:.1} ms{}",
                r.name,
                if ok { "" } else { " (FAILED)" }
            );
        }
    }
    println!("\nFTPS (AUTH TLS, PROT P, curl --ssl-reqd), same run:\n");
    println!("| server | PROT P RETR MiB/s | PROT P STOR MiB/s | CPU s, 100 idle TLS sessions | CPU s after 100 abrupt TLS disconnects |");
    println!("|---|---:|---:|---:|---:|");
    for r in &tls_rows {
        let (held, after) = match r.idle_cpu {
            Some((h, a)) => (format!("{h:.2}"), format!("{a:.2}")),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {:.0} | {:.0} | {held} | {after} |",
            r.name, r.retr, r.stor
        );
    }
    if let Some(py) = tls_rows.iter().find(|r| r.name.starts_with("pyftpdlib")) {
        for r in tls_rows.iter().filter(|r| !r.name.starts_with("pyftpdlib")) {
            println!(
                "- {}: PROT P RETR {:.2}x, STOR {:.2}x pyftpdlib",
                r.name,
                r.retr / py.retr.max(1e-9),
                r.stor / py.stor.max(1e-9)
            );
        }
    }
    if let Some(py) = rows.iter().find(|r| r.name.starts_with("pyftpdlib")) {
        println!("\nratios against {} in this run (higher is better for speeds, lower for times, CPU and memory):", py.name);
        for r in rows.iter().filter(|r| !r.name.starts_with("pyftpdlib")) {
            println!(
                "- {}: RETR {:.2}x, STOR {:.2}x, CPU/GiB {:.2}x, 1000 logins {:.2}x time, 100×10 MiB RETR {:.2}x / STOR {:.2}x time, PSS with 1000 idle {:.2}x",
                r.name,
                r.retr / py.retr.max(1e-9),
                r.stor / py.stor.max(1e-9),
                r.cpu_per_gib / py.cpu_per_gib.max(1e-9),
                r.login1000.0 / py.login1000.0.max(1e-9),
                r.par_retr / py.par_retr.max(1e-9),
                r.par_stor / py.par_stor.max(1e-9),
                r.pss1000 / py.pss1000.max(1e-9),
            );
        }
    }
}
