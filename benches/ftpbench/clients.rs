//! The clients: lean Rust ones (logins, many transfers at once, idle
//! sessions, FTPS logins), curl, the Python clients of `benches/support/`
//! and pyftpdlib's own `ftpbench` script.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::peers::{quiet_ok, target_dir, Running};
use crate::plan::{login_wait, Plan, PASS, TEN_MIB, USER};
use crate::procs::{halt_if_stopping, last_line, run_bounded};
use crate::tables::Results;

/// One curl transfer; its duration from the end of curl's pre-transfer
/// phase (connect, login, EPSV, data connection) to its end, as curl
/// reports them. Not the process's wall time: curl 7.88 sometimes waits
/// 200 ms on its resolver before it connects the data connection, whatever
/// the server (seen with each of them), which is 40-60 % of a 512 MiB
/// transfer at 2-3 GiB/s.
pub(crate) fn curl(args: &[&str]) -> Option<Duration> {
    halt_if_stopping();
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "600"])
        .args(["-w", "\n%{time_pretransfer} %{time_total}\n"])
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut times = text.lines().last()?.split_whitespace();
    let pre: f64 = times.next()?.parse().ok()?;
    let total: f64 = times.next()?.parse().ok()?;
    Duration::try_from_secs_f64(total - pre).ok()
}

/// A logged-in control connection.
pub(crate) struct Ctl {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Ctl {
    pub(crate) fn login(addr: SocketAddr) -> Option<Ctl> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).ok()?;
        s.set_read_timeout(Some(login_wait())).ok()?;
        let mut c = Ctl {
            w: s.try_clone().ok()?,
            r: BufReader::new(s),
        };
        if !c.line()?.starts_with("220") {
            return None;
        }
        c.w.write_all(format!("USER {USER}\r\nPASS {PASS}\r\n").as_bytes())
            .ok()?;
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
    pub(crate) fn cmd(&mut self, c: &str) -> Option<String> {
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
            let mut got = 0;
            loop {
                let n = data.read(&mut buf).ok()?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            // close before waiting for the 226, as clients do (proftpd
            // waits up to its TimeoutLinger for the client's close)
            drop(data);
            if got != bytes {
                return Some(false);
            }
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
pub(crate) fn logins(addr: SocketAddr, n: usize) -> (f64, usize, Vec<Ctl>) {
    let start = Instant::now();
    let barrier = Arc::new(std::sync::Barrier::new(n));
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

/// `total` logins (USER, PASS, 230, QUIT), `inflight` at a time: wall
/// seconds and how many failed.
pub(crate) fn logins_in_flight(addr: SocketAddr, total: usize, inflight: usize) -> (f64, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..inflight)
        .map(|_| {
            let (next, failed) = (next.clone(), failed.clone());
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let ok = Ctl::login(addr)
                        .and_then(|mut c| c.cmd("QUIT"))
                        .is_some_and(|r| r.starts_with("221"));
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    (
        start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

/// `n` clients each move 10 MiB at once: wall seconds (NaN if any failed)
/// and, when some failed, how many and the first one's reason.
pub(crate) fn parallel(addr: SocketAddr, cmd: &'static str, n: usize) -> (f64, Option<String>) {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            std::thread::spawn(move || {
                let t = Instant::now();
                let mut c = Ctl::login(addr).ok_or_else(|| {
                    format!("login failed after {:.1} s", t.elapsed().as_secs_f64())
                })?;
                let cmd = if cmd == "STOR" {
                    format!("STOR par{i}.bin")
                } else {
                    "RETR ten.bin".to_string()
                };
                match c.transfer(&cmd, TEN_MIB) {
                    Some(true) => Ok(()),
                    Some(false) => Err(format!("{cmd}: no 1xx or 226, or a short file")),
                    None => Err(format!("{cmd}: connection error or timeout")),
                }
            })
        })
        .collect();
    let errs: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().unwrap_or(Err("client panicked".into())).err())
        .collect();
    match errs.first() {
        None => (start.elapsed().as_secs_f64(), None),
        Some(e) => (
            f64::NAN,
            Some(format!("{} of {n} failed, e.g. {e}", errs.len())),
        ),
    }
}

/// Open `n` logged-in sessions quickly (pipelined USER/PASS from 8 threads).
pub(crate) fn many_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mine: Vec<TcpStream> = (t..n)
                    .step_by(8)
                    .filter_map(|_| {
                        let mut s = TcpStream::connect(addr).ok()?;
                        s.write_all(format!("USER {USER}\r\nPASS {PASS}\r\n").as_bytes())
                            .ok()?;
                        Some(s)
                    })
                    .collect();
                mine.into_iter()
                    .filter_map(|mut s| {
                        s.set_read_timeout(Some(login_wait())).ok()?;
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

/// A logged-in explicit-FTPS control connection.
pub(crate) fn tls_login(
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
    t.write_all(format!("USER {USER}\r\nPASS {PASS}\r\n").as_bytes())
        .ok()?;
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

/// ftpbench's output lines: our key, how its line starts (after the client
/// count), our column label, whether higher is better.
pub(crate) const FTPBENCH_LINES: [(&str, &str, &str, bool); 8] = [
    ("fb_stor", "STOR (client -> server)", "STOR MB/s", true),
    ("fb_retr", "RETR (server -> client)", "RETR MB/s", true),
    (
        "fb_login",
        "concurrent clients (connect, login)",
        "{n} connect+login s",
        false,
    ),
    (
        "fb_stor_idle",
        "STOR (1 file with",
        "STOR MB/s, {n} idle",
        true,
    ),
    (
        "fb_retr_idle",
        "RETR (1 file with",
        "RETR MB/s, {n} idle",
        true,
    ),
    (
        "fb_par_retr",
        "concurrent clients (RETR",
        "{n}×{s} RETR s",
        false,
    ),
    (
        "fb_par_stor",
        "concurrent clients (STOR",
        "{n}×{s} STOR s",
        false,
    ),
    ("fb_quit", "concurrent clients (QUIT)", "{n} QUIT s", false),
];

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// ftpbench's figures by our key.
fn parse_ftpbench(out: &str) -> HashMap<&'static str, f64> {
    let mut got = HashMap::new();
    for line in strip_ansi(out).lines() {
        let line = line.trim();
        // "200 concurrent clients (...)": drop the leading count
        let body = match line.split_once(' ') {
            Some((n, rest)) if n.parse::<u64>().is_ok() => rest,
            _ => line,
        };
        for &(key, start, _, _) in &FTPBENCH_LINES {
            if !body.starts_with(start) {
                continue;
            }
            let toks: Vec<&str> = body.split_whitespace().collect();
            if let Some(i) = toks.iter().position(|t| *t == "MB/sec" || *t == "secs") {
                if let Some(v) = i.checked_sub(1).and_then(|j| toks[j].parse::<f64>().ok()) {
                    got.insert(key, v);
                }
            }
            break;
        }
    }
    got
}

fn support(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/support")
        .join(file)
}

pub(crate) fn remove_prefixed(dir: &Path, prefix: &str) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// One run of `many_clients.py`; wall seconds, NaN on failure.
pub(crate) fn many_clients(
    run: &Running,
    st: &str,
    (op, clients, name): (&str, usize, &str),
    res: &mut Results,
) -> f64 {
    let mut cmd = Command::new("python3");
    cmd.arg(support("many_clients.py"))
        .args(["--port", &run.addr().port().to_string()])
        .args(["--user", USER, "--password", PASS])
        .args(["--clients", &clients.to_string(), "--op", op])
        .args(["--size", &TEN_MIB.to_string(), "--name", name])
        .args(["--timeout", "300"]);
    let (ok, out, err) = run_bounded(cmd, Duration::from_secs(330));
    let mut t = last_line(&out).parse::<f64>().unwrap_or(f64::NAN);
    if !ok {
        t = f64::NAN;
        res.note_as(
            format!("{} {st} asyncio {op}", run.name()),
            format!(
                "{} [{st}]: asyncio {op} ×{clients} failed: {}",
                run.name(),
                last_line(&err)
            ),
        );
    }
    // the uploads must all be there, whole
    let bad = match op {
        "stor" => (0..clients)
            .filter(|i| file_len(&run.dir.join(format!("{name}-{i}"))) != TEN_MIB as u64)
            .count(),
        "stor-one" => usize::from(file_len(&run.dir.join(name)) != TEN_MIB as u64),
        _ => 0,
    };
    if ok && bad > 0 {
        t = f64::NAN;
        res.note_as(
            format!("{} {st} asyncio {op}", run.name()),
            format!(
                "{} [{st}]: asyncio {op} ×{clients}: {bad} file(s) not 10 MiB on disk",
                run.name()
            ),
        );
    }
    t
}

/// One run of `blocking_client.py`: RETR ms with 64K and 256K reads, STOR
/// MiB/s to a new and over an existing name.
pub(crate) fn blocking(run: &Running, st: &str, p: &Plan, res: &mut Results) -> Option<[f64; 4]> {
    use std::os::unix::fs::PermissionsExt;
    let existing = run.dir.join("blk-existing.bin");
    std::fs::write(&existing, vec![1u8; TEN_MIB]).ok()?;
    let _ = std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o666));
    let mut cmd = Command::new("python3");
    cmd.arg(support("blocking_client.py"))
        .args(["--port", &run.addr().port().to_string()])
        .args(["--user", USER, "--password", PASS])
        .args(["--retr", "ten.bin", "--size", &TEN_MIB.to_string()])
        .args(["--count", &p.blocking_count.to_string()])
        .args(["--sessions", &p.blocking_sessions.to_string()])
        .args(["--new", "blk-new.bin", "--existing", "blk-existing.bin"])
        .args(["--seconds", &p.stor_secs.to_string()]);
    let (ok, out, err) = run_bounded(cmd, Duration::from_secs(300));
    remove_prefixed(&run.dir, "blk-");
    if !ok {
        res.note_as(
            format!("{} {st} blocking", run.name()),
            format!(
                "{} [{st}]: blocking client failed: {}",
                run.name(),
                last_line(&err)
            ),
        );
        return None;
    }
    let v: Vec<f64> = last_line(&out)
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.len() >= 4).then(|| [v[0], v[1], v[2], v[3]])
}

/// Fetch pyftpdlib's `scripts/ftpbench` from its source distribution (the
/// installed version, else 2.2.0) once, into `target/ftpbench-src`.
fn ftpbench_script() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("FTPBENCH_SCRIPT") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("FTPBENCH_SCRIPT={} is not a file", p.display()))
        };
    }
    let ver = Command::new("python3")
        .args(["-c", "import pyftpdlib; print(pyftpdlib.__ver__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "2.2.0".into());
    let cache = target_dir().join("ftpbench-src");
    let script = cache.join(format!("pyftpdlib-{ver}/scripts/ftpbench"));
    if script.is_file() {
        return Ok(script);
    }
    std::fs::create_dir_all(&cache).map_err(|e| e.to_string())?;
    let tarball = cache.join(format!("pyftpdlib-{ver}.tar.gz"));
    if !tarball.is_file() {
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "download", &format!("pyftpdlib=={ver}")])
            .args(["--no-binary", ":all:", "--no-deps", "-d"])
            .arg(&cache);
        let (ok, _, err) = run_bounded(pip, Duration::from_secs(300));
        if !ok {
            return Err(format!("pip download failed: {}", last_line(&err)));
        }
    }
    let mut tar = Command::new("tar");
    tar.arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&cache)
        .arg(format!("pyftpdlib-{ver}/scripts/ftpbench"));
    let (ok, _, err) = run_bounded(tar, Duration::from_secs(60));
    if !ok || !script.is_file() {
        return Err(format!(
            "could not extract scripts/ftpbench: {}",
            last_line(&err)
        ));
    }
    Ok(script)
}

/// One run of ftpbench against `run`; its figures, and false if it had to
/// be killed (it would only hang again).
pub(crate) fn ftpbench_run(
    run: &Running,
    st: &str,
    script: &Path,
    p: &Plan,
    res: &mut Results,
) -> (HashMap<&'static str, f64>, bool) {
    let inner = format!(
        "ulimit -n 4096 2>/dev/null; exec python3 -W ignore '{}' -u {USER} -p {PASS} -H 127.0.0.1 -P {} -b all -n {} -s {}",
        script.display(),
        run.addr().port(),
        p.script_clients,
        p.script_size
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &inner]);
    let t = Instant::now();
    let (ok, out, err) = run_bounded(cmd, Duration::from_secs(p.script_limit));
    let killed = !ok && t.elapsed() >= Duration::from_secs(p.script_limit);
    let got = parse_ftpbench(&out);
    if !ok || got.len() < FTPBENCH_LINES.len() {
        let why = if killed {
            format!("no end within {} s; not run again", p.script_limit)
        } else {
            last_line(&err).to_string()
        };
        // a RETR it stops after 1 s is answered `150 ... seconds (measured
        // here)`, not 226/426, and ftplib raises on that 1xx reply
        let hint = if err.contains("error_reply: 150") {
            " (the server answered the RETR that ftpbench aborts after 1 s with a 1xx reply, which ftplib rejects)"
        } else {
            ""
        };
        res.note_as(
            format!("{} {st} ftpbench", run.name()),
            format!(
                "{} [{st}]: ftpbench stopped after {} of its {} figures: {why}{hint}",
                run.name(),
                got.len(),
                FTPBENCH_LINES.len()
            ),
        );
    }
    (got, !killed)
}

/// pyftpdlib's `ftpbench` script, if it can be had and run here (it needs
/// Python <= 3.11); reported and left out otherwise.
pub(crate) fn pyftpdlib_script(res: &mut Results) -> Option<PathBuf> {
    let ok_py =
        quiet_ok(Command::new("python3").args(["-W", "ignore", "-c", "import asyncore, asynchat"]));
    match ftpbench_script() {
        Ok(_) if !ok_py => {
            res.note("ftpbench: needs Python <= 3.11 (asyncore, asynchat); left out".into());
            None
        }
        Ok(s) => Some(s),
        Err(e) => {
            res.note(format!("ftpbench: {e}; left out"));
            None
        }
    }
}
