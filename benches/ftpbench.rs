//! End-to-end benchmark: the `ftpdlib` binary against pyftpdlib, measured in
//! the same run on the same machine, with curl as the client (a C client,
//! so the client is not the bottleneck).
//!
//! `cargo bench --bench ftpbench` — environment knobs:
//! `FTPBENCH_MB` (file size, default 512), `FTPBENCH_CLIENTS` (default 300),
//! `FTPBENCH_CONCURRENCY` (our model, default multi-thread).
//!
//! Measures: RETR and STOR MiB/s of one big file (median of 3 runs), N clients connecting and
//! logging in at once (wall time, failures), server RSS idle and with N
//! idle logged-in clients.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn wait_ready(addr: SocketAddr) -> bool {
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            let mut r = BufReader::new(s);
            let mut line = String::new();
            if r.read_line(&mut line).is_ok() && line.starts_with("220") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

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
    wait_ready(addr).then_some(s)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn curl(args: &[&str]) -> Option<Duration> {
    let t = Instant::now();
    let ok = Command::new("curl")
        .args(["-s", "-S", "--max-time", "300"])
        .args(args)
        .status()
        .ok()?
        .success();
    ok.then(|| t.elapsed())
}

/// Log in one client; returns the open control connection.
fn login(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut w = s.try_clone().ok()?;
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    if !line.starts_with("220") {
        return None;
    }
    w.write_all(b"USER user\r\nPASS 12345\r\n").ok()?;
    for _ in 0..2 {
        line.clear();
        r.read_line(&mut line).ok()?;
    }
    line.starts_with("230").then_some(s)
}

/// `n` clients connect and log in at the same time.
fn logins(addr: SocketAddr, n: usize) -> (Duration, usize, Vec<TcpStream>) {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| std::thread::spawn(move || login(addr)))
        .collect();
    let conns: Vec<TcpStream> = handles
        .into_iter()
        .filter_map(|h| h.join().ok().flatten())
        .collect();
    let failures = n - conns.len();
    (start.elapsed(), failures, conns)
}

/// Runs of each transfer measurement; the median is reported.
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

struct Row {
    name: String,
    retr: f64,
    stor: f64,
    login_secs: f64,
    login_fail: usize,
    rss_idle: u64,
    rss_clients: u64,
}

fn measure(srv: &Server, dir: &Path, mb: u64, clients: usize) -> Row {
    let url = format!("ftp://user:12345@{}/", srv.addr);
    let rss_idle = rss_kib(srv.child.id());
    let rate = |d: Option<Duration>| d.map(|d| mb as f64 / d.as_secs_f64()).unwrap_or(0.0);
    let get = format!("{url}big.bin");
    let retr = median(
        (0..RUNS)
            .map(|_| rate(curl(&["-o", "/dev/null", &get])))
            .collect(),
    );
    let src = dir.join("big.bin").to_string_lossy().into_owned();
    let put = format!("{url}up.bin");
    let stor = median(
        (0..RUNS)
            .map(|_| {
                let _ = std::fs::remove_file(dir.join("up.bin"));
                rate(curl(&["-T", &src, &put]))
            })
            .collect(),
    );
    let _ = std::fs::remove_file(dir.join("up.bin"));
    let (t, fail, conns) = logins(srv.addr, clients);
    let rss_clients = rss_kib(srv.child.id());
    drop(conns);
    Row {
        name: srv.name.clone(),
        retr,
        stor,
        login_secs: t.as_secs_f64(),
        login_fail: fail,
        rss_idle,
        rss_clients,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes
    }
    let mb: u64 = std::env::var("FTPBENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let clients: usize = std::env::var("FTPBENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let model = std::env::var("FTPBENCH_CONCURRENCY").unwrap_or_else(|_| "multi-thread".into());
    // in RAM when possible, so the disk does not set the pace
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let big: PathBuf = dir.path().join("big.bin");
    {
        let mut f = std::fs::File::create(&big).expect("create");
        let chunk: Vec<u8> = (0..1024 * 1024)
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for _ in 0..mb {
            f.write_all(&chunk).expect("write");
        }
    }
    let _ = Command::new("sh").arg("-c").arg("ulimit -n 65536").status();

    let mut rows = Vec::new();
    let port = free_port();
    let mut ours = Command::new(env!("CARGO_BIN_EXE_ftpdlib"));
    ours.args([
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-w",
        "-u",
        "user",
        "-P",
        "12345",
        "--concurrency",
        &model,
        "--max-cons",
        "0",
    ])
    .arg("-d")
    .arg(dir.path());
    match start(&format!("ftpdlib {model}"), ours, port) {
        Some(s) => rows.push(measure(&s, dir.path(), mb, clients)),
        None => eprintln!("ftpdlib did not start"),
    }
    let have_py = Command::new("python3")
        .args(["-c", "import pyftpdlib"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if have_py {
        let port = free_port();
        let mut py = Command::new("python3");
        py.args([
            "-m",
            "pyftpdlib",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-w",
            "-u",
            "user",
            "-P",
            "12345",
            "--max-cons",
            "2000",
        ])
        .arg("-d")
        .arg(dir.path());
        match start("pyftpdlib async", py, port) {
            Some(s) => rows.push(measure(&s, dir.path(), mb, clients)),
            None => eprintln!("pyftpdlib did not start"),
        }
    } else {
        eprintln!("pyftpdlib not installed (pip install pyftpdlib): no comparison");
    }

    println!("\nftpbench: {mb} MiB file, {clients} concurrent logins, curl client, loopback\n");
    println!("| server | RETR MiB/s | STOR MiB/s | {clients} logins (s) | failed | RSS idle (MiB) | RSS {clients} clients (MiB) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {} | {:.1} | {:.1} |",
            r.name,
            r.retr,
            r.stor,
            r.login_secs,
            r.login_fail,
            r.rss_idle as f64 / 1024.0,
            r.rss_clients as f64 / 1024.0
        );
    }
    if let [a, b] = rows.as_slice() {
        println!(
            "\nratios ({} / {}): RETR {:.2}x, STOR {:.2}x, login time {:.2}x, RSS with clients {:.2}x",
            a.name,
            b.name,
            a.retr / b.retr.max(1e-9),
            a.stor / b.stor.max(1e-9),
            a.login_secs / b.login_secs.max(1e-9),
            a.rss_clients as f64 / (b.rss_clients as f64).max(1.0)
        );
    }
}
