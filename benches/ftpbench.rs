//! End-to-end benchmark: the `ftpdlib` binary in each concurrency model
//! against pyftpdlib, pure-ftpd, vsftpd and proftpd, measured in the same
//! run on the same machine with clients we did not write: curl (C) for the
//! big file, Python's asyncio and blocking sockets for many and single
//! transfers, and pyftpdlib's own benchmark script; lean Rust clients for
//! the login, many-client and memory figures.
//!
//! `cargo bench --bench ftpbench`; the peers are installed (as root) by
//! `sh benches/peers.sh`. A peer that is missing or does not start is
//! reported and left out.
//!
//! Knobs (environment):
//! - `FTPBENCH_MB`: size of the big file in MiB (default 512).
//! - `FTPBENCH_MODELS`: ftpdlib models (default
//!   `multi-thread,async,multi-proc,pre-fork`).
//! - `FTPBENCH_PEERS`: default `pyftpdlib,pure-ftpd,vsftpd,proftpd`; empty
//!   for none.
//! - `FTPBENCH_PEERS_DIR`: where `benches/peers.sh` unpacked pure-ftpd,
//!   vsftpd and proftpd (default `target/peers`; a pure-ftpd on `PATH` is
//!   used when none is unpacked).
//! - `FTPBENCH_BASELINE`: path of another `ftpdlib` build, measured in the
//!   same models as "baseline <model>", to compare two commits in one run.
//! - `FTPBENCH_STORAGE`: `disk,shm` (default both): the transfer figures are
//!   taken with the served files on disk (a temporary directory under
//!   `FTPBENCH_DISK_DIR`, default `/var/tmp`) and in `/dev/shm`.
//! - `FTPBENCH_ROUNDS`: rounds of every transfer figure (default 5 for the
//!   big file, 3 for the many-client and Python figures).
//! - `FTPBENCH_SCRIPT`: path of pyftpdlib's `scripts/ftpbench` (default:
//!   fetched with `pip download` from pyftpdlib's source distribution of the
//!   installed version and cached under `target/ftpbench-src`);
//!   `FTPBENCH_SCRIPT_RUNS` (default 3) its runs per server and storage.
//! - `FTPBENCH_TLS_IDLE_SECS` (default 15): the idle-TLS CPU window.
//! - `FTPBENCH_QUICK=1`: one round of everything with small sizes, a smoke
//!   check of the whole bench in a few minutes.
//!
//! Each server alone (files in /dev/shm when it is measured): 300 and 1000
//! clients connecting and logging in at once (wall time, failures: a client
//! without its 230 within 10 s failed), 1000 logins with 32 in flight, RETR
//! MiB/s with 300 idle clients, memory (PSS summed over the process tree) at
//! start and with 300 and 1000 idle clients, and for the poll model 10,000
//! idle sessions.
//!
//! All servers at once, taking turns (every server is started first, then
//! one round each in turn, so that a slow spell of the machine is shared
//! rather than landing on one), per storage; medians over the rounds (a
//! figure that fails in one round, a client failing or the server not
//! answering, is reported as failed, with the reason under "notes", and is
//! not run again):
//! - curl: RETR and STOR MiB/s of the big file; server CPU seconds (user +
//!   system of its process tree, reaped children included) per GiB for each
//!   direction;
//! - Rust threads: 100 clients each RETR / STOR 10 MiB at once;
//! - Python asyncio (`benches/support/many_clients.py`): 100 clients logged
//!   in first, then all at once RETR 10 MiB each, STOR 10 MiB each to its
//!   own name, and 200 clients STOR 10 MiB to one name: wall seconds from
//!   the start signal to the last 226;
//! - Python blocking (`benches/support/blocking_client.py`): one 10 MiB RETR
//!   read with `recv(65536)` and `recv(262144)`, median ms from PASV to the
//!   226; STOR of 8 KiB `send()`s for 1 s to a new name and over an
//!   existing one, MiB/s;
//! - pyftpdlib's `ftpbench -b all -n 200 -s 10M`, each of its lines.
//!
//! FTPS (explicit, `PROT P`, curl `--ssl-reqd`): RETR and STOR MiB/s of the
//! big file (median of 3) for every ftpdlib model and for pyftpdlib's
//! TLS_FTPHandler; for the async servers also the server's CPU seconds over
//! `FTPBENCH_TLS_IDLE_SECS` with 100 idle TLS sessions, and again after
//! those 100 clients vanished without closing TLS.
//!
//! The output ends with the tables and, per figure, each ftpdlib model's
//! ratio against pyftpdlib and against the best peer measured.
//!
//! Peers: pyftpdlib as `python3 -m pyftpdlib`; pure-ftpd with a virtual
//! user (puredb); vsftpd standalone for the local user `ftpbench`, with
//! `lock_upload_files=NO` (with its default lock, ftpbench's concurrent STOR
//! to one name never ends); proftpd standalone (`-n`) with a virtual user
//! from an `AuthUserFile`, chrooted to its directory. Their other settings
//! are the defaults (vsftpd's listen backlog of 32 and network namespace per
//! session, proftpd's backlog of 128), so their login figures are those of a
//! stock install. pure-ftpd answers a RETR that the client aborts with a
//! `150` line, which ftplib rejects: ftpbench stops after its first figure
//! there.
//!
//! The default run takes about 24 minutes on the 2-core development machine
//! with every peer (the big file is 512 MiB for that; it was 1 GiB), the
//! quick one under 3.

#[path = "support/server.rs"]
mod server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use server::{free_port, Server};

/// The account every server is given (vsftpd needs it as a local user:
/// `benches/peers.sh` creates it).
const USER: &str = "ftpbench";
const PASS: &str = "12345";
/// How long a client waits for each reply of its login before it counts as
/// failed (a connection the server's backlog dropped would wait for minutes):
/// `Plan::login_wait`.
static LOGIN_WAIT_SECS: AtomicU64 = AtomicU64::new(10);

fn login_wait() -> Duration {
    Duration::from_secs(LOGIN_WAIT_SECS.load(Ordering::Relaxed))
}

static BEGAN: OnceLock<Instant> = OnceLock::new();

/// Set once a signal stops the bench: no process is started after it.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Directories to remove should the bench be stopped by a signal.
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Once a signal stops the bench, the measuring thread starts nothing more
/// and waits here for the cleanup to end the process.
fn halt_if_stopping() {
    if STOPPING.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

fn track_dir(d: &Path) {
    if let Ok(mut dirs) = DIRS.lock() {
        dirs.push(d.to_path_buf());
    }
}

/// On SIGINT, SIGTERM or SIGHUP: stop every process the bench started (all
/// are its descendants: no server here daemonizes), remove its directories,
/// and exit.
fn stop_on_signal() {
    let _ = ctrlc::set_handler(|| {
        use nix::sys::signal::{kill, Signal};
        STOPPING.store(true, Ordering::SeqCst);
        let me = std::process::id();
        let kids: Vec<u32> = tree(me).into_iter().skip(1).collect();
        for &p in &kids {
            let _ = kill(nix::unistd::Pid::from_raw(p as i32), Signal::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end && tree(me).len() > 1 {
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in tree(me).into_iter().skip(1) {
            let _ = kill(nix::unistd::Pid::from_raw(p as i32), Signal::SIGKILL);
        }
        if let Ok(dirs) = DIRS.lock() {
            for d in dirs.iter() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
        eprintln!("ftpbench stopped by a signal; its servers and files are gone");
        std::process::exit(143);
    });
}

/// A progress line on stderr, with the time since the start.
fn progress(msg: &str) {
    halt_if_stopping();
    let t = BEGAN.get_or_init(Instant::now).elapsed().as_secs();
    eprintln!("[{:2}:{:02}] {msg}", t / 60, t % 60);
}

const TEN_MIB: usize = 10 << 20;

/// How much of everything: the defaults, or `FTPBENCH_QUICK`'s small sizes.
struct Plan {
    quick: bool,
    mb: u64,
    curl_runs: usize,
    runs: usize,
    script_runs: usize,
    tls_runs: usize,
    tls_idle_secs: u64,
    /// Clients of the "N × 10 MiB at once" figures.
    par_clients: usize,
    /// Clients storing to one name.
    one_name_clients: usize,
    logins_small: usize,
    logins_big: usize,
    /// Logins of the 32-in-flight figure.
    inflight_total: usize,
    idle_huge: usize,
    /// RETRs per read size of the blocking client.
    blocking_count: usize,
    script_clients: usize,
    script_size: &'static str,
    /// Seconds of each STOR of the blocking client.
    stor_secs: f64,
    /// Seconds a login may wait for each reply before it counts as failed.
    login_wait: u64,
    /// Bound of one ftpbench run, seconds.
    script_limit: u64,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var("FTPBENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let rounds: Option<usize> = env_num("FTPBENCH_ROUNDS");
        let mut p = if quick {
            Plan {
                quick,
                mb: 32,
                curl_runs: 1,
                runs: 1,
                script_runs: 1,
                tls_runs: 1,
                tls_idle_secs: 1,
                par_clients: 10,
                one_name_clients: 20,
                logins_small: 50,
                logins_big: 100,
                inflight_total: 100,
                idle_huge: 1000,
                blocking_count: 2,
                script_clients: 20,
                script_size: "1M",
                stor_secs: 0.2,
                login_wait: 5,
                script_limit: 60,
            }
        } else {
            Plan {
                quick,
                mb: 512,
                curl_runs: 5,
                runs: 3,
                script_runs: 3,
                tls_runs: 3,
                tls_idle_secs: 15,
                par_clients: 100,
                one_name_clients: 200,
                logins_small: 300,
                logins_big: 1000,
                inflight_total: 1000,
                idle_huge: 10_000,
                blocking_count: 10,
                script_clients: 200,
                script_size: "10M",
                stor_secs: 1.0,
                login_wait: 10,
                script_limit: 300,
            }
        };
        if let Some(mb) = env_num("FTPBENCH_MB") {
            p.mb = mb;
        }
        if let Some(r) = rounds {
            p.curl_runs = r;
            p.runs = r;
        }
        if let Some(r) = env_num("FTPBENCH_SCRIPT_RUNS") {
            p.script_runs = r;
        }
        if let Some(s) = env_num("FTPBENCH_TLS_IDLE_SECS") {
            p.tls_idle_secs = s;
        }
        LOGIN_WAIT_SECS.store(p.login_wait, Ordering::Relaxed);
        p
    }
}

// ---------------------------------------------------------------- processes

/// `(pid, ppid)` of every process, from one pass over `/proc`.
fn proc_table() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        out.push((pid, ppid));
    }
    out
}

/// Every process of the tree rooted at `pid`, `pid` first.
fn tree(pid: u32) -> Vec<u32> {
    let table = proc_table();
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        all.extend(
            table
                .iter()
                .filter(|&&(_, pp)| pp == parent)
                .map(|&(p, _)| p),
        );
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

/// CPU seconds used by the server's process tree: user and system time of
/// every live process in it plus what each of them collected from the
/// children it reaped.
fn cpu_secs(pid: u32) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let ticks: f64 = tree(pid)
        .into_iter()
        .map(|p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // fields after ')': state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            s.rfind(')')
                .map(|i| {
                    s[i + 2..]
                        .split_whitespace()
                        .skip(11)
                        .take(4)
                        .map(|x| x.parse::<f64>().unwrap_or(0.0))
                        .sum::<f64>()
                })
                .unwrap_or(0.0)
        })
        .sum();
    ticks / tick
}

/// Control connections of the server on `port` that it has not closed yet.
fn server_conns(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter(|l| {
                    let mut it = l.split_whitespace();
                    let local = it.nth(1);
                    let state = it.nth(1);
                    let lport = local
                        .and_then(|a| a.rsplit(':').next())
                        .and_then(|p| u16::from_str_radix(p, 16).ok());
                    // not LISTEN (0A), not TIME_WAIT (06)
                    lport == Some(port) && !matches!(state, Some("0A") | Some("06"))
                })
                .count()
        })
        .sum()
}

/// Wait (at most 10 s) until the server has closed every control
/// connection of clients that went away.
fn wait_quiet(addr: SocketAddr) {
    let end = Instant::now() + Duration::from_secs(10);
    while server_conns(addr.port()) > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `cmd` to its end, or kill it after `limit`; its stdout and stderr
/// and whether it exited 0.
fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    halt_if_stopping();
    let Ok(mut child) = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return (false, String::new(), "could not be started".into());
    };
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let end = Instant::now() + limit;
    let ok = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.success(),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    let out = t_out.join().unwrap_or_default();
    let mut err = t_err.join().unwrap_or_default();
    if Instant::now() >= end && !ok {
        err.push_str(&format!(" (killed after {} s)", limit.as_secs()));
    }
    (ok, out, err)
}

fn last_line(s: &str) -> &str {
    s.trim().lines().last().unwrap_or("").trim()
}

fn curl(args: &[&str]) -> Option<Duration> {
    halt_if_stopping();
    let t = Instant::now();
    let ok = Command::new("curl")
        .args(["-s", "-S", "--max-time", "600"])
        .args(args)
        .status()
        .ok()?
        .success();
    ok.then(|| t.elapsed())
}

/// The median; NaN (failed) when there is none or any round failed.
fn median(mut v: Vec<f64>) -> f64 {
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Whether a figure already failed in an earlier round (it is not run
/// again: its result stays "failed", and a failure often costs a timeout).
fn failed_before(v: &[f64]) -> bool {
    v.iter().any(|x| x.is_nan())
}

// ------------------------------------------------------------------ clients

/// A logged-in control connection.
struct Ctl {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Ctl {
    fn login(addr: SocketAddr) -> Option<Ctl> {
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
fn logins(addr: SocketAddr, n: usize) -> (f64, usize, Vec<Ctl>) {
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
fn logins_in_flight(addr: SocketAddr, total: usize, inflight: usize) -> (f64, usize) {
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
fn parallel(addr: SocketAddr, cmd: &'static str, n: usize) -> (f64, Option<String>) {
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
fn many_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
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

// ------------------------------------------------------------------ results

#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

/// One figure: a column of the tables, a line of the ratio table.
struct Metric {
    key: String,
    label: String,
    better: Better,
    decimals: usize,
}

fn metric(key: &str, label: &str, better: Better, decimals: usize) -> Metric {
    Metric {
        key: key.into(),
        label: label.into(),
        better,
        decimals,
    }
}

struct Section {
    title: String,
    /// What the ratio table adds to each of its figures' labels.
    tag: String,
    metrics: Vec<Metric>,
}

#[derive(Clone, Copy)]
struct Cell {
    v: f64,
    /// Clients that failed (shown beside the value when not 0).
    failed: usize,
}

#[derive(Default)]
struct Results {
    cells: HashMap<(String, String), Cell>,
    /// What went wrong: (what, the first message, how many times).
    notes: Vec<(String, String, usize)>,
}

impl Results {
    fn set(&mut self, server: &str, key: &str, v: f64) {
        self.set_failed(server, key, v, 0);
    }
    fn set_failed(&mut self, server: &str, key: &str, v: f64, failed: usize) {
        self.cells
            .insert((server.into(), key.into()), Cell { v, failed });
    }
    fn get(&self, server: &str, key: &str) -> Option<Cell> {
        self.cells.get(&(server.into(), key.into())).copied()
    }
    fn note(&mut self, s: String) {
        self.note_as(s.clone(), s);
    }
    /// A note that is listed once per `what`, with how often it came.
    fn note_as(&mut self, what: String, s: String) {
        eprintln!("{s}");
        match self.notes.iter_mut().find(|n| n.0 == what) {
            Some(n) => n.2 += 1,
            None => self.notes.push((what, s, 1)),
        }
    }
}

fn fmt_cell(c: Option<Cell>, decimals: usize) -> String {
    match c {
        None => "-".into(),
        Some(c) if !c.v.is_finite() => "failed".into(),
        Some(c) if c.failed > 0 => format!("{:.*} ({} failed)", decimals, c.v, c.failed),
        Some(c) => format!("{:.*}", decimals, c.v),
    }
}

fn print_table(sec: &Section, servers: &[ServerInfo], res: &Results) {
    println!("\n{}\n", sec.title);
    print!("| server |");
    for m in &sec.metrics {
        print!(" {} |", m.label);
    }
    println!();
    print!("|---|");
    for _ in &sec.metrics {
        print!("---:|");
    }
    println!();
    for s in servers {
        if sec
            .metrics
            .iter()
            .all(|m| res.get(&s.name, &m.key).is_none())
        {
            continue;
        }
        print!("| {} |", s.name);
        for m in &sec.metrics {
            print!(" {} |", fmt_cell(res.get(&s.name, &m.key), m.decimals));
        }
        println!();
    }
}

/// How many times better `ours` is than `theirs` (higher is better).
fn ratio(better: Better, ours: f64, theirs: f64) -> Option<f64> {
    let r = match better {
        Better::Higher => ours / theirs,
        Better::Lower => theirs / ours,
    };
    (r.is_finite() && r > 0.0).then_some(r)
}

fn usable(c: Option<Cell>) -> Option<f64> {
    c.filter(|c| c.v.is_finite() && c.v > 0.0 && c.failed == 0)
        .map(|c| c.v)
}

/// One line per figure: pyftpdlib's value, the best peer's, and each of our
/// servers as `×pyftpdlib / ×best peer`.
fn print_ratios(sections: &[Section], servers: &[ServerInfo], res: &Results) {
    let ours: Vec<&ServerInfo> = servers.iter().filter(|s| s.ours).collect();
    let peers: Vec<&ServerInfo> = servers.iter().filter(|s| !s.ours).collect();
    let py = peers.iter().find(|s| s.name.starts_with("pyftpdlib"));
    println!(
        "\nRatios: each ftpdlib server against pyftpdlib async / against the best peer \
         measured ({}). Higher is better: MiB/s ours÷theirs; seconds, ms, CPU and MiB \
         of memory theirs÷ours. A peer with failed clients is not counted as best.\n",
        peers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    print!("| figure | pyftpdlib | best peer |");
    for s in &ours {
        print!(" {} |", s.name);
    }
    println!();
    print!("|---|---:|---:|");
    for _ in &ours {
        print!("---:|");
    }
    println!();
    for sec in sections {
        for m in &sec.metrics {
            let has_ours = ours.iter().any(|s| res.get(&s.name, &m.key).is_some());
            if !has_ours {
                continue;
            }
            let py_v = py.and_then(|p| res.get(&p.name, &m.key));
            let best = peers
                .iter()
                .filter_map(|p| usable(res.get(&p.name, &m.key)).map(|v| (p, v)))
                .reduce(|a, b| {
                    let b_better = match m.better {
                        Better::Higher => b.1 > a.1,
                        Better::Lower => b.1 < a.1,
                    };
                    if b_better {
                        b
                    } else {
                        a
                    }
                });
            let short = |n: &str| n.split(' ').next().unwrap_or(n).to_string();
            print!(
                "| {} ({}) | {} | {} |",
                m.label,
                sec.tag,
                fmt_cell(py_v, m.decimals),
                best.map_or("-".into(), |(p, v)| format!(
                    "{:.*} {}",
                    m.decimals,
                    v,
                    short(&p.name)
                ))
            );
            for s in &ours {
                let v = usable(res.get(&s.name, &m.key).map(|c| Cell { failed: 0, ..c }));
                let vs_py = v
                    .zip(py_v.map(|c| c.v))
                    .and_then(|(o, t)| ratio(m.better, o, t));
                let vs_best = v
                    .zip(best.map(|b| b.1))
                    .and_then(|(o, t)| ratio(m.better, o, t));
                let f = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}×"));
                print!(" {} / {} |", f(vs_py), f(vs_best));
            }
            println!();
        }
    }
}

// ------------------------------------------------------------------ servers

/// A server the bench measures.
enum Kind {
    /// The `ftpdlib` binary in this `--concurrency` model.
    Ftpdlib(String),
    /// Another build of `ftpdlib` (`FTPBENCH_BASELINE`, e.g. an older
    /// commit) in this model, to compare builds in the same run.
    Baseline(PathBuf, String),
    Pyftpdlib,
    PureFtpd,
    Vsftpd,
    Proftpd,
}

impl Kind {
    fn name(&self) -> String {
        match self {
            Kind::Ftpdlib(m) => format!("ftpdlib {m}"),
            Kind::Baseline(_, m) => format!("baseline {m}"),
            Kind::Pyftpdlib => "pyftpdlib async".into(),
            Kind::PureFtpd => "pure-ftpd".into(),
            Kind::Vsftpd => "vsftpd".into(),
            Kind::Proftpd => "proftpd".into(),
        }
    }
    fn ours(&self) -> bool {
        matches!(self, Kind::Ftpdlib(_) | Kind::Baseline(..))
    }
}

#[derive(Clone)]
struct ServerInfo {
    name: String,
    ours: bool,
}

/// A started server with its own directory; on drop it is stopped and
/// every process of its tree that outlived it (the sessions of a forking
/// server) is killed.
struct Running {
    server: Option<Server>,
    dir: PathBuf,
    _guard: Option<tempfile::TempDir>,
}

impl Running {
    fn srv(&self) -> &Server {
        self.server.as_ref().expect("running")
    }
    fn name(&self) -> &str {
        &self.srv().name
    }
    fn addr(&self) -> SocketAddr {
        self.srv().addr
    }
    fn pid(&self) -> u32 {
        self.srv().child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(s) = self.server.take() else {
            return;
        };
        let pid = s.child.id();
        let rest: Vec<u32> = tree(pid).into_iter().skip(1).collect();
        drop(s);
        let table = proc_table();
        for p in rest {
            if table.iter().any(|&(q, _)| q == p) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Where the unpacked peers (`benches/peers.sh`) are.
struct Peers {
    root: Option<PathBuf>,
}

impl Peers {
    fn find() -> Peers {
        let mut cands = Vec::new();
        if let Ok(d) = std::env::var("FTPBENCH_PEERS_DIR") {
            cands.push(PathBuf::from(d));
        }
        cands.push(target_dir().join("peers"));
        cands.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers"));
        Peers {
            root: cands
                .into_iter()
                .map(|c| c.join("root"))
                .find(|r| r.is_dir()),
        }
    }
    /// The unpacked `rel` (e.g. `usr/sbin/vsftpd`), or `name` on `PATH`.
    fn bin(&self, rel: &str) -> Option<PathBuf> {
        if let Some(r) = &self.root {
            let p = r.join(rel);
            if p.is_file() {
                return Some(p);
            }
        }
        let name = Path::new(rel).file_name()?;
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    }
    /// A command for `bin` with the unpacked libraries on its library path.
    fn command(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        if let Some(r) = &self.root {
            if bin.starts_with(r) {
                let arch = std::env::consts::ARCH;
                let libs = [
                    format!("usr/lib/{arch}-linux-gnu"),
                    format!("lib/{arch}-linux-gnu"),
                ]
                .map(|l| r.join(l).to_string_lossy().into_owned())
                .join(":");
                c.env("LD_LIBRARY_PATH", libs);
            }
        }
        c
    }
    /// The Debian version of `pkg`: the installed one when `bin` is not
    /// unpacked, else from the name of the unpacked package file.
    fn version(&self, pkg: &str, bin: &Path) -> String {
        if let Some(r) = &self.root {
            if bin.starts_with(r) {
                let debs = r.parent().map(|p| p.join("debs"));
                if let Some(v) = debs
                    .and_then(|d| std::fs::read_dir(d).ok())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .find_map(|n| {
                        n.strip_prefix(&format!("{pkg}_"))
                            .and_then(|r| r.split('_').next().map(str::to_string))
                    })
                {
                    return v;
                }
            }
        }
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", pkg])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "?".into())
    }
}

/// The crate's target directory (where the bench binary's `ftpdlib` is).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ftpdlib"))
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn quiet_ok(c: &mut Command) -> bool {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn id_of(flag: &str, user: &str) -> Option<String> {
    let o = Command::new("id").args([flag, user]).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn sha512_crypt(pass: &str) -> Option<String> {
    let o = Command::new("openssl")
        .args(["passwd", "-6", pass])
        .output()
        .ok()?;
    let h = String::from_utf8(o.stdout).ok()?.trim().to_string();
    (o.status.success() && h.starts_with("$6$")).then_some(h)
}

/// pure-ftpd with one virtual user (uid nobody) whose home is `dir`. The
/// password is stored as SHA-512 crypt so that logins cost what they cost
/// on a typical install (pure-pw's default argon2 takes seconds here).
fn pure_ftpd(peers: &Peers, dir: &Path, port: u16) -> Result<(Command, tempfile::TempDir), String> {
    let (Some(bin), Some(pw)) = (
        peers.bin("usr/sbin/pure-ftpd"),
        peers.bin("usr/bin/pure-pw"),
    ) else {
        return Err("not installed (sh benches/peers.sh)".into());
    };
    let db = tempfile::tempdir().map_err(|e| e.to_string())?;
    track_dir(db.path());
    let hash = sha512_crypt(PASS).ok_or("openssl passwd -6 failed")?;
    let (uid, gid) = (
        id_of("-u", "nobody").ok_or("no user nobody")?,
        id_of("-g", "nobody").ok_or("no user nobody")?,
    );
    let passwd = db.path().join("pureftpd.passwd");
    std::fs::write(
        &passwd,
        format!(
            "{USER}:{hash}:{uid}:{gid}::{}/./::::::::::::\n",
            dir.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let pdb = db.path().join("pureftpd.pdb");
    if !quiet_ok(
        peers
            .command(&pw)
            .arg("mkdb")
            .arg(&pdb)
            .arg("-f")
            .arg(&passwd),
    ) {
        return Err("pure-pw mkdb failed".into());
    }
    let mut cmd = peers.command(&bin);
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
    Ok((cmd, db))
}

/// vsftpd in standalone mode for the local user `ftpbench` (PAM: without a
/// service file of its own it falls back to `/etc/pam.d/other`, the system
/// password), starting in `dir`, passive ports chosen by the kernel. Its
/// default `lock_upload_files=YES` makes an upload wait for the lock of
/// another upload to the same name; ftpbench's concurrent STOR opens every
/// upload before it sends any data, so with the lock it never ends.
fn vsftpd(peers: &Peers, dir: &Path, port: u16) -> Result<(Command, tempfile::TempDir), String> {
    let bin = peers
        .bin("usr/sbin/vsftpd")
        .ok_or("not installed (sh benches/peers.sh)")?;
    if id_of("-u", USER).is_none() {
        return Err(format!(
            "needs the local user {USER} with password {PASS} (sh benches/peers.sh creates it)"
        ));
    }
    let cfg = tempfile::tempdir().map_err(|e| e.to_string())?;
    track_dir(cfg.path());
    let empty = cfg.path().join("empty");
    std::fs::create_dir(&empty).map_err(|e| e.to_string())?;
    let conf = cfg.path().join("vsftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             background=NO\nanonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\n\
             local_umask=022\nlocal_root={}\nchroot_local_user=NO\n\
             pam_service_name=ftpbench-vsftpd\nseccomp_sandbox=NO\nsecure_chroot_dir={}\n\
             max_clients=0\nmax_per_ip=0\nxferlog_enable=NO\nsession_support=NO\n\
             tcp_wrappers=NO\nconnect_from_port_20=NO\npasv_enable=YES\nssl_enable=NO\n\
             userlist_enable=NO\nidle_session_timeout=600\nlock_upload_files=NO\n",
            dir.display(),
            empty.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = peers.command(&bin);
    cmd.arg(&conf);
    Ok((cmd, cfg))
}

/// proftpd standalone (`-n`) with a virtual user from an `AuthUserFile`
/// (uid nobody), chrooted to `dir`.
fn proftpd(peers: &Peers, dir: &Path, port: u16) -> Result<(Command, tempfile::TempDir), String> {
    use std::os::unix::fs::PermissionsExt;
    let bin = peers
        .bin("usr/sbin/proftpd")
        .ok_or("not installed (sh benches/peers.sh)")?;
    let cfg = tempfile::tempdir().map_err(|e| e.to_string())?;
    track_dir(cfg.path());
    let hash = sha512_crypt(PASS).ok_or("openssl passwd -6 failed")?;
    let (uid, gid) = (
        id_of("-u", "nobody").ok_or("no user nobody")?,
        id_of("-g", "nobody").ok_or("no user nobody")?,
    );
    let group = Command::new("id")
        .args(["-gn", "nobody"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "nogroup".into());
    let p = cfg.path();
    let passwd = p.join("passwd");
    std::fs::write(
        &passwd,
        format!("{USER}:{hash}:{uid}:{gid}::{}:/bin/sh\n", dir.display()),
    )
    .map_err(|e| e.to_string())?;
    // proftpd refuses a world-readable AuthUserFile
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let conf = p.join("proftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerType standalone\nServerName \"ftpbench\"\nDefaultAddress 127.0.0.1\n\
             SocketBindTight on\nPort {port}\nUseIPv6 off\nUser nobody\nGroup {group}\n\
             Umask 022\nAllowOverwrite on\nDefaultRoot ~\nAuthUserFile {}\n\
             AuthOrder mod_auth_file.c\nRequireValidShell off\nPidFile {}\n\
             ScoreboardFile {}\nControlsEngine off\nControlsSocket {}\nDelayEngine off\n\
             WtmpLog off\nTransferLog none\nUseReverseDNS off\nTimeoutIdle 600\n",
            passwd.display(),
            p.join("proftpd.pid").display(),
            p.join("scoreboard").display(),
            p.join("ctrls.sock").display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = peers.command(&bin);
    cmd.arg("-n").arg("-c").arg(&conf);
    Ok((cmd, cfg))
}

/// `python3 -m pyftpdlib` sharing `dir` on 127.0.0.1:`port`.
fn pyftpdlib(port: u16, dir: &Path) -> Command {
    let mut py = server::pyftpdlib(port, dir, USER, PASS);
    py.args(["--max-cons", "5000"]);
    py
}

/// Start `cmd` and wait (bounded) until it greets with 220.
fn start(name: &str, mut cmd: Command, port: u16) -> Result<Server, String> {
    halt_if_stopping();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not be started: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = Server {
        name: name.to_string(),
        child,
        addr,
    };
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Ok(Some(st)) = s.child.try_wait() {
            return Err(format!("exited at start ({st})"));
        }
        if let Ok(c) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut line = String::new();
            if BufReader::new(c).read_line(&mut line).is_ok() && line.starts_with("220") {
                return Ok(s);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("no 220 within 30 s".into())
}

/// What every server shares.
struct Ctx {
    certfile: PathBuf,
    keyfile: PathBuf,
    peers: Peers,
}

/// A directory of its own for one server under `base`, holding (hard links
/// to) the big file and the 10 MiB file, writable by any user the server
/// may run its sessions as.
fn server_dir(base: &Path, slug: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = base.join(slug);
    std::fs::create_dir_all(&d).expect("server dir");
    for f in ["big.bin", "ten.bin"] {
        if std::fs::hard_link(base.join(f), d.join(f)).is_err() {
            std::fs::copy(base.join(f), d.join(f)).expect("copy");
        }
    }
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    d
}

/// Start a fresh instance of `kind` on a free port serving `dir`, and check
/// that its user can log in; a peer that fails is reported and skipped.
fn launch(kind: &Kind, ctx: &Ctx, dir: &Path, res: &mut Results) -> Option<Running> {
    let name = kind.name();
    let port = free_port();
    let made: Result<(Command, Option<tempfile::TempDir>), String> = match kind {
        Kind::Ftpdlib(model) | Kind::Baseline(_, model) => {
            let bin: PathBuf = match kind {
                Kind::Baseline(b, _) => b.clone(),
                _ => env!("CARGO_BIN_EXE_ftpdlib").into(),
            };
            let mut cmd = Command::new(bin);
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-w", "-u", USER, "-P", PASS])
                .args(["--concurrency", model, "--max-cons", "0"])
                .arg("-d")
                .arg(dir)
                .arg("--tls")
                .arg("--certfile")
                .arg(&ctx.certfile)
                .arg("--keyfile")
                .arg(&ctx.keyfile);
            Ok((cmd, None))
        }
        Kind::Pyftpdlib => Ok((pyftpdlib(port, dir), None)),
        Kind::PureFtpd => pure_ftpd(&ctx.peers, dir, port).map(|(c, g)| (c, Some(g))),
        Kind::Vsftpd => vsftpd(&ctx.peers, dir, port).map(|(c, g)| (c, Some(g))),
        Kind::Proftpd => proftpd(&ctx.peers, dir, port).map(|(c, g)| (c, Some(g))),
    };
    let (cmd, guard) = match made {
        Ok(x) => x,
        Err(e) => {
            res.note(format!("{name}: {e}; left out"));
            return None;
        }
    };
    let server = match start(&name, cmd, port) {
        Ok(s) => s,
        Err(e) => {
            res.note(format!("{name}: {e}; left out"));
            return None;
        }
    };
    let run = Running {
        server: Some(server),
        dir: dir.to_path_buf(),
        _guard: guard,
    };
    let login = Ctl::login(run.addr()).and_then(|mut c| c.cmd("QUIT"));
    if login.is_none() {
        res.note(format!(
            "{name}: started, but {USER}/{PASS} could not log in; left out"
        ));
        return None;
    }
    wait_quiet(run.addr());
    Some(run)
}

// ------------------------------------------------- each server on its own

fn session_section(p: &Plan, storage: &str) -> Section {
    use Better::*;
    Section {
        title: format!(
            "Sessions and memory, each server alone, files in {storage} (failed: clients without a 230 within {} s)",
            p.login_wait
        ),
        tag: "alone".into(),
        metrics: vec![
            metric("login_small", &format!("{} logins at once s", p.logins_small), Lower, 3),
            metric("login_big", &format!("{} logins at once s", p.logins_big), Lower, 3),
            metric("login_32", &format!("{} logins, 32 in flight s", p.inflight_total), Lower, 3),
            metric("retr_idle", &format!("RETR MiB/s, {} idle", p.logins_small), Higher, 0),
            metric("pss_start", "PSS MiB start", Lower, 1),
            metric("pss_small", &format!("PSS MiB {} idle", p.logins_small), Lower, 1),
            metric("pss_big", &format!("PSS MiB {} idle", p.logins_big), Lower, 1),
        ],
    }
}

/// A server's session and memory figures, measured while it runs alone
/// (PSS counts shared pages in part, so another instance of the same binary
/// would make it look smaller).
fn measure_alone(run: &Running, p: &Plan, res: &mut Results) -> Option<(usize, f64, f64, bool)> {
    let pid = run.pid();
    let name = run.name().to_string();
    let addr = run.addr();
    let url = format!("ftp://{USER}:{PASS}@{addr}/big.bin");
    res.set(&name, "pss_start", pss_mib(pid));

    let (t, f, idle) = logins(addr, p.logins_small);
    res.set_failed(&name, "login_small", t, f);
    res.set(&name, "pss_small", pss_mib(pid));
    let rate = curl(&["-o", "/dev/null", &url]).map_or(f64::NAN, |d| p.mb as f64 / d.as_secs_f64());
    res.set(&name, "retr_idle", rate);
    drop(idle);
    wait_quiet(addr);

    let (t, f, idle) = logins(addr, p.logins_big);
    res.set_failed(&name, "login_big", t, f);
    res.set(&name, "pss_big", pss_mib(pid));
    drop(idle);
    wait_quiet(addr);

    let (t, f) = logins_in_flight(addr, p.inflight_total, 32);
    res.set_failed(&name, "login_32", t, f);
    wait_quiet(addr);

    if name == "ftpdlib async" || name == "baseline async" {
        let idle = many_idle(addr, p.idle_huge);
        let pss = pss_mib(pid);
        let t = Instant::now();
        let ok = Ctl::login(addr).is_some();
        let held = idle.len();
        drop(idle);
        wait_quiet(addr);
        return Some((held, pss, t.elapsed().as_secs_f64() * 1000.0, ok));
    }
    None
}

/// FTPS figures of one server.
struct TlsRow {
    name: String,
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

fn measure_tls(run: &Running, p: &Plan, idle: bool, res: &mut Results) -> TlsRow {
    let name = run.name().to_string();
    let url = format!("ftp://{USER}:{PASS}@{}/", run.addr());
    let rate = |d: Option<Duration>| d.map_or(f64::NAN, |d| p.mb as f64 / d.as_secs_f64());
    let get = format!("{url}big.bin");
    let put = format!("{url}tlsup.bin");
    let src = run.dir.join("big.bin").to_string_lossy().into_owned();
    let retr = median(
        (0..p.tls_runs)
            .map(|_| rate(curl(&["--ssl-reqd", "-k", "-o", "/dev/null", &get])))
            .collect(),
    );
    let stor = median(
        (0..p.tls_runs)
            .map(|_| {
                let _ = std::fs::remove_file(run.dir.join("tlsup.bin"));
                rate(curl(&["--ssl-reqd", "-k", "-T", &src, &put]))
            })
            .collect(),
    );
    let _ = std::fs::remove_file(run.dir.join("tlsup.bin"));
    res.set(&name, "tls_retr", retr);
    res.set(&name, "tls_stor", stor);
    let mut idle_cpu = None;
    if idle {
        let connector = native_tls::TlsConnector::builder()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true)
            .build();
        if let Ok(connector) = connector {
            let pid = run.pid();
            let sessions: Vec<_> = (0..100)
                .filter_map(|_| tls_login(run.addr(), &connector))
                .collect();
            if sessions.len() == 100 {
                let secs = Duration::from_secs(p.tls_idle_secs);
                let c0 = cpu_secs(pid);
                std::thread::sleep(secs);
                let held = cpu_secs(pid) - c0;
                // vanish: no close_notify, no QUIT
                for t in &sessions {
                    let _ = t.get_ref().shutdown(std::net::Shutdown::Both);
                }
                drop(sessions);
                let c1 = cpu_secs(pid);
                std::thread::sleep(secs);
                idle_cpu = Some((held, cpu_secs(pid) - c1));
            } else {
                res.note(format!(
                    "{name}: only {} TLS sessions logged in",
                    sessions.len()
                ));
            }
        }
    }
    TlsRow { name, idle_cpu }
}

// --------------------------------------------- all servers, taking turns

fn transfer_sections(p: &Plan, st: &str) -> [Section; 3] {
    use Better::*;
    let k = |s: &str| format!("{s}@{st}");
    let n = p.par_clients;
    [
        Section {
            title: format!(
                "Transfers, files in {st}: curl, {} MiB file (median of {}); server CPU per GiB; Rust clients, {n} × 10 MiB at once (median of {})",
                p.mb, p.curl_runs, p.runs
            ),
            tag: st.into(),
            metrics: vec![
                metric(&k("retr"), "RETR MiB/s", Higher, 0),
                metric(&k("stor"), "STOR MiB/s", Higher, 0),
                metric(&k("cpu_retr"), "CPU s/GiB RETR", Lower, 2),
                metric(&k("cpu_stor"), "CPU s/GiB STOR", Lower, 2),
                metric(&k("par_retr"), &format!("{n}×10 MiB RETR s"), Lower, 2),
                metric(&k("par_stor"), &format!("{n}×10 MiB STOR s"), Lower, 2),
            ],
        },
        Section {
            title: format!(
                "Python clients, files in {st}: asyncio, all logged in first, then all at once (s to the last 226); blocking, one session (median of {})",
                p.runs
            ),
            tag: format!("Python, {st}"),
            metrics: vec![
                metric(&k("aio_retr"), &format!("asyncio {n}×10 MiB RETR s"), Lower, 2),
                metric(&k("aio_stor"), &format!("asyncio {n}×10 MiB STOR s"), Lower, 2),
                metric(
                    &k("aio_one"),
                    &format!("asyncio {}×10 MiB STOR one name s", p.one_name_clients),
                    Lower,
                    2,
                ),
                metric(&k("blk_r64"), "RETR 10 MiB recv(64K) ms", Lower, 1),
                metric(&k("blk_r256"), "RETR 10 MiB recv(256K) ms", Lower, 1),
                metric(&k("blk_new"), "STOR 8K send() new MiB/s", Higher, 0),
                metric(&k("blk_old"), "STOR 8K send() existing MiB/s", Higher, 0),
            ],
        },
        Section {
            title: format!(
                "pyftpdlib's ftpbench -b all -n {} -s {}, files in {st} (median of {}; its MB = MiB)",
                p.script_clients, p.script_size, p.script_runs
            ),
            tag: format!("ftpbench, {st}"),
            metrics: FTPBENCH_LINES
                .iter()
                .map(|&(key, _, label, higher)| {
                    let label = label
                        .replace("{n}", &p.script_clients.to_string())
                        .replace("{s}", p.script_size);
                    let (b, d) = if higher { (Higher, 0) } else { (Lower, 2) };
                    metric(&k(key), &label, b, d)
                })
                .collect(),
        },
    ]
}

/// ftpbench's output lines: our key, how its line starts (after the client
/// count), our column label, whether higher is better.
const FTPBENCH_LINES: [(&str, &str, &str, bool); 8] = [
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

fn remove_prefixed(dir: &Path, prefix: &str) {
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
fn many_clients(
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
fn blocking(run: &Running, st: &str, p: &Plan, res: &mut Results) -> Option<[f64; 4]> {
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
fn ftpbench_run(
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

/// Every transfer figure of every server on one storage. The servers run at
/// once and take turns, one transfer (or one round) each, so that a slow
/// spell of the machine (run-to-run noise here is about ±30 %) falls on all
/// of them rather than on whichever was being measured.
fn transfers(runs: &[Running], st: &str, p: &Plan, script: Option<&Path>, res: &mut Results) {
    let k = |s: &str| format!("{s}@{st}");
    let n = runs.len();
    let rate = |d: Option<Duration>| d.map_or(f64::NAN, |d| p.mb as f64 / d.as_secs_f64());

    // curl, the big file; CPU from just before a server's transfer to just
    // before its next one (it is idle meanwhile), so a forking server's
    // session that ends after curl did is still counted
    progress(&format!("[{st}] curl, {} MiB file", p.mb));
    let mut retr = vec![Vec::new(); n];
    let mut stor = vec![Vec::new(); n];
    let mut cpu = vec![[0.0f64; 2]; n];
    let mut last: Vec<Option<(usize, f64)>> = vec![None; n];
    // direction 0 RETR, 1 STOR, None: stop counting
    let mark =
        |i: usize, dir: Option<usize>, last: &mut [Option<(usize, f64)>], cpu: &mut [[f64; 2]]| {
            let now = cpu_secs(runs[i].pid());
            if let Some((d, c)) = last[i] {
                cpu[i][d] += now - c;
            }
            last[i] = dir.map(|d| (d, now));
        };
    for _ in 0..p.curl_runs {
        for (i, r) in runs.iter().enumerate() {
            mark(i, Some(0), &mut last, &mut cpu);
            let url = format!("ftp://{USER}:{PASS}@{}/big.bin", r.addr());
            retr[i].push(rate(curl(&["-o", "/dev/null", &url])));
        }
        for (i, r) in runs.iter().enumerate() {
            let _ = std::fs::remove_file(r.dir.join("up.bin"));
            mark(i, Some(1), &mut last, &mut cpu);
            let url = format!("ftp://{USER}:{PASS}@{}/up.bin", r.addr());
            let src = r.dir.join("big.bin").to_string_lossy().into_owned();
            stor[i].push(rate(curl(&["-T", &src, &url])));
        }
    }
    for (i, r) in runs.iter().enumerate() {
        wait_quiet(r.addr());
        mark(i, None, &mut last, &mut cpu);
        let _ = std::fs::remove_file(r.dir.join("up.bin"));
        let gib = p.curl_runs as f64 * p.mb as f64 / 1024.0;
        res.set(r.name(), &k("retr"), median(std::mem::take(&mut retr[i])));
        res.set(r.name(), &k("stor"), median(std::mem::take(&mut stor[i])));
        res.set(r.name(), &k("cpu_retr"), cpu[i][0] / gib);
        res.set(r.name(), &k("cpu_stor"), cpu[i][1] / gib);
    }

    progress(&format!("[{st}] Rust clients, {} × 10 MiB", p.par_clients));
    let n_par = p.par_clients;
    let mut pr = vec![Vec::new(); n];
    let mut ps = vec![Vec::new(); n];
    for _ in 0..p.runs {
        for (i, r) in runs.iter().enumerate() {
            if failed_before(&pr[i]) {
                continue;
            }
            let (t, err) = parallel(r.addr(), "RETR", p.par_clients);
            if let Some(e) = err {
                res.note_as(
                    format!("{} {st} rust retr", r.name()),
                    format!("{} [{st}]: Rust {n_par}×10 MiB RETR: {e}", r.name()),
                );
            }
            pr[i].push(t);
            wait_quiet(r.addr());
        }
        for (i, r) in runs.iter().enumerate() {
            if failed_before(&ps[i]) {
                continue;
            }
            let (t, err) = parallel(r.addr(), "STOR", p.par_clients);
            if let Some(e) = err {
                res.note_as(
                    format!("{} {st} rust stor", r.name()),
                    format!("{} [{st}]: Rust {n_par}×10 MiB STOR: {e}", r.name()),
                );
            }
            ps[i].push(t);
            wait_quiet(r.addr());
            remove_prefixed(&r.dir, "par");
        }
    }
    for (i, r) in runs.iter().enumerate() {
        res.set(r.name(), &k("par_retr"), median(std::mem::take(&mut pr[i])));
        res.set(r.name(), &k("par_stor"), median(std::mem::take(&mut ps[i])));
    }

    progress(&format!("[{st}] Python clients"));
    let ops = [
        ("aio_retr", "retr", p.par_clients, "ten.bin"),
        ("aio_stor", "stor", p.par_clients, "aio"),
        ("aio_one", "stor-one", p.one_name_clients, "aio-one.bin"),
    ];
    let mut aio = vec![vec![Vec::new(); ops.len()]; n];
    let mut blk = vec![Vec::new(); n];
    for _ in 0..p.runs {
        for (j, &(_, op, clients, name)) in ops.iter().enumerate() {
            for (i, r) in runs.iter().enumerate() {
                if failed_before(&aio[i][j]) {
                    continue;
                }
                aio[i][j].push(many_clients(r, st, (op, clients, name), res));
                remove_prefixed(&r.dir, "aio");
                wait_quiet(r.addr());
            }
        }
        for (i, r) in runs.iter().enumerate() {
            if blk[i].iter().any(|b: &[f64; 4]| failed_before(b)) {
                continue;
            }
            blk[i].push(blocking(r, st, p, res).unwrap_or([f64::NAN; 4]));
            wait_quiet(r.addr());
        }
    }
    for (i, r) in runs.iter().enumerate() {
        for (j, &(key, ..)) in ops.iter().enumerate() {
            res.set(r.name(), &k(key), median(std::mem::take(&mut aio[i][j])));
        }
        for (c, key) in ["blk_r64", "blk_r256", "blk_new", "blk_old"]
            .iter()
            .enumerate()
        {
            let v = blk[i].iter().map(|b| b[c]).collect();
            res.set(r.name(), &k(key), median(v));
        }
    }

    let Some(script) = script else {
        return;
    };
    progress(&format!("[{st}] pyftpdlib's ftpbench"));
    let mut fb: Vec<HashMap<&str, Vec<f64>>> = vec![HashMap::new(); n];
    let mut hangs = vec![false; n];
    for _ in 0..p.script_runs {
        for (i, r) in runs.iter().enumerate() {
            if hangs[i] {
                continue;
            }
            let (got, ended) = ftpbench_run(r, st, script, p, res);
            hangs[i] = !ended;
            for (key, v) in got {
                fb[i].entry(key).or_default().push(v);
            }
            wait_quiet(r.addr());
        }
    }
    for (i, r) in runs.iter().enumerate() {
        for &(key, ..) in &FTPBENCH_LINES {
            let v = fb[i].remove(key).unwrap_or_default();
            res.set(r.name(), &k(key), median(v));
        }
    }
}

// ------------------------------------------------------------------ machine

/// The mount holding `path`: (filesystem type, source, mount point).
fn mount_of(path: &Path) -> (String, String, String) {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, (String, String, String))> = None;
    for l in info.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(mp), Some(dash)) = (f.get(4), f.iter().position(|x| *x == "-")) else {
            continue;
        };
        let mp = mp.replace("\\040", " ");
        let longer = match &best {
            Some(b) => mp.len() >= b.0,
            None => true,
        };
        if path.starts_with(&mp) && longer {
            let ty = f.get(dash + 1).unwrap_or(&"?").to_string();
            let src = f.get(dash + 2).unwrap_or(&"?").to_string();
            best = Some((mp.len(), (ty, src, mp)));
        }
    }
    best.map(|b| b.1)
        .unwrap_or_else(|| ("?".into(), "?".into(), "?".into()))
}

/// A storage: its base directory (the big file and the 10 MiB file) and a
/// description of its filesystem.
struct Storage {
    tag: String,
    dir: tempfile::TempDir,
    fs: String,
}

fn make_storage(tag: &str, mb: u64) -> Option<Storage> {
    use std::os::unix::fs::PermissionsExt;
    let parent = match tag {
        "shm" => PathBuf::from("/dev/shm"),
        "disk" => std::env::var("FTPBENCH_DISK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| "/var/tmp".into()),
        _ => {
            eprintln!("FTPBENCH_STORAGE: unknown storage {tag:?} (disk, shm)");
            return None;
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("ftpbench-")
        .tempdir_in(&parent)
        .map_err(|e| eprintln!("{tag}: no temporary directory in {}: {e}", parent.display()))
        .ok()?;
    track_dir(dir.path());
    // every server's sessions, whatever user they run as, must reach it
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok()?;
    let tmpfs = nix::sys::statfs::statfs(dir.path())
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .unwrap_or(false);
    let (ty, src, mp) = mount_of(dir.path());
    let fs = format!(
        "{} on {ty} ({src} mounted at {mp}; statfs: {})",
        dir.path().display(),
        if tmpfs { "tmpfs" } else { "not tmpfs" }
    );
    if tag == "disk" && tmpfs {
        eprintln!(
            "WARNING: the disk storage {} is tmpfs, not a disk",
            dir.path().display()
        );
    }
    let chunk: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut f = std::fs::File::create(dir.path().join("big.bin")).ok()?;
    for _ in 0..mb {
        f.write_all(&chunk).ok()?;
    }
    f.sync_all().ok()?;
    std::fs::write(dir.path().join("ten.bin"), chunk.repeat(10)).ok()?;
    Some(Storage {
        tag: tag.into(),
        dir,
        fs: if tag == "disk" && tmpfs {
            format!("{fs} WARNING: tmpfs, not a disk")
        } else {
            fs
        },
    })
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?", |(_, m)| m.trim())
        .to_string();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} CPUs ({model}), {mem_gib:.1} GiB RAM, Linux {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel.trim()
    )
}

fn version_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let s = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes
    }
    let began = *BEGAN.get_or_init(Instant::now);
    stop_on_signal();
    let p = Plan::from_env();
    let models = std::env::var("FTPBENCH_MODELS")
        .unwrap_or_else(|_| "multi-thread,async,multi-proc,pre-fork".into());
    let peers_env = std::env::var("FTPBENCH_PEERS")
        .unwrap_or_else(|_| "pyftpdlib,pure-ftpd,vsftpd,proftpd".into());
    let peer_list: Vec<&str> = peers_env.split(',').map(str::trim).collect();
    let storages_env = std::env::var("FTPBENCH_STORAGE").unwrap_or_else(|_| "disk,shm".into());
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let mut res = Results::default();

    // a throwaway certificate, outside the served directories
    let certs = tempfile::tempdir().expect("temp dir");
    track_dir(certs.path());
    let (cert, key) =
        ftpdlib::tls::self_signed(&["localhost", "127.0.0.1"], 2).expect("certificate");
    let ctx = Ctx {
        certfile: certs.path().join("cert.pem"),
        keyfile: certs.path().join("key.pem"),
        peers: Peers::find(),
    };
    std::fs::write(&ctx.certfile, &cert).expect("write");
    std::fs::write(&ctx.keyfile, &key).expect("write");

    let py_ver = Command::new("python3")
        .args(["-c", "import pyftpdlib; print(pyftpdlib.__ver__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let want = |p: &str| peer_list.contains(&p);
    if want("pyftpdlib") && py_ver.is_none() {
        res.note("pyftpdlib: not installed (pip install pyftpdlib); left out".into());
    }
    let mut kinds: Vec<Kind> = models
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| Kind::Ftpdlib(m.to_string()))
        .collect();
    if let Ok(base) = std::env::var("FTPBENCH_BASELINE") {
        let base = PathBuf::from(base);
        let base_models: Vec<Kind> = kinds
            .iter()
            .filter_map(|k| match k {
                Kind::Ftpdlib(m) => Some(Kind::Baseline(base.clone(), m.clone())),
                _ => None,
            })
            .collect();
        kinds.extend(base_models);
    }
    if want("pyftpdlib") && py_ver.is_some() {
        kinds.push(Kind::Pyftpdlib);
    }
    for (name, kind) in [
        ("pure-ftpd", Kind::PureFtpd),
        ("vsftpd", Kind::Vsftpd),
        ("proftpd", Kind::Proftpd),
    ] {
        if want(name) {
            kinds.push(kind);
        }
    }
    let mut versions = Vec::new();
    if let Some(v) = &py_ver {
        versions.push(format!("pyftpdlib {v}"));
    }
    for (pkg, rel) in [
        ("pure-ftpd", "usr/sbin/pure-ftpd"),
        ("vsftpd", "usr/sbin/vsftpd"),
        ("proftpd-core", "usr/sbin/proftpd"),
    ] {
        if let Some(b) = ctx.peers.bin(rel) {
            versions.push(format!("{pkg} {}", ctx.peers.version(pkg, &b)));
        }
    }

    let script = if py_ver.is_some() {
        let ok_py = quiet_ok(Command::new("python3").args([
            "-W",
            "ignore",
            "-c",
            "import asyncore, asynchat",
        ]));
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
    } else {
        None
    };

    let mut storages: Vec<Storage> = storages_env
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| make_storage(s, p.mb))
        .collect();
    if storages.is_empty() {
        eprintln!("no storage to measure on");
        return;
    }
    // the session figures once, in /dev/shm when it is measured
    let alone_at = storages.iter().position(|s| s.tag == "shm").unwrap_or(0);

    let mut servers: Vec<ServerInfo> = Vec::new();
    let mut tls_rows = Vec::new();
    let mut idle_huge = Vec::new();
    {
        let st = &storages[alone_at];
        for (i, kind) in kinds.iter().enumerate() {
            let dir = server_dir(st.dir.path(), &format!("alone{i}"));
            let Some(run) = launch(kind, &ctx, &dir, &mut res) else {
                continue;
            };
            progress(&format!("measuring {} alone", run.name()));
            servers.push(ServerInfo {
                name: run.name().to_string(),
                ours: kind.ours(),
            });
            if let Some(x) = measure_alone(&run, &p, &mut res) {
                idle_huge.push((run.name().to_string(), x));
            }
            if kind.ours() {
                progress(&format!("measuring {} FTPS", run.name()));
                tls_rows.push(measure_tls(
                    &run,
                    &p,
                    run.name().ends_with("async"),
                    &mut res,
                ));
            }
            drop(run);
            let _ = std::fs::remove_dir_all(&dir);
        }
        if py_ver.is_some() && want("pyftpdlib") {
            // FTPS: a second instance with TLS_FTPHandler (needs pyopenssl)
            let dir = server_dir(st.dir.path(), "tls-py");
            let port = free_port();
            let mut py = pyftpdlib(port, &dir);
            py.arg("--tls")
                .arg("--certfile")
                .arg(&ctx.certfile)
                .arg("--keyfile")
                .arg(&ctx.keyfile);
            match start("pyftpdlib async", py, port) {
                Ok(s) => {
                    let run = Running {
                        server: Some(s),
                        dir: dir.clone(),
                        _guard: None,
                    };
                    progress(&format!("measuring {} FTPS", run.name()));
                    tls_rows.push(measure_tls(&run, &p, true, &mut res));
                }
                Err(e) => res.note(format!(
                    "pyftpdlib --tls: {e} (pip install pyopenssl); left out"
                )),
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    for st in &storages {
        let runs: Vec<Running> = kinds
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                let dir = server_dir(st.dir.path(), &format!("s{i}"));
                launch(k, &ctx, &dir, &mut res)
            })
            .collect();
        for r in &runs {
            if !servers.iter().any(|s| s.name == r.name()) {
                servers.push(ServerInfo {
                    name: r.name().to_string(),
                    ours: kinds.iter().any(|k| k.ours() && k.name() == r.name()),
                });
            }
        }
        progress(&format!(
            "[{}] transfers, servers taking turns: {}",
            st.tag,
            runs.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
        ));
        transfers(&runs, &st.tag, &p, script.as_deref(), &mut res);
    }
    // keep the table order the order of `kinds`
    servers.sort_by_key(|s| kinds.iter().position(|k| k.name() == s.name));

    // ------------------------------------------------------------ report
    let elapsed = began.elapsed().as_secs();
    let cmdline = {
        let mut vars: Vec<String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("FTPBENCH_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vars.sort();
        vars.push("cargo bench --bench ftpbench".into());
        vars.join(" ")
    };
    println!(
        "\nftpbench{}: `{cmdline}`",
        if p.quick { " (QUICK)" } else { "" }
    );
    println!(
        "{}, {}; took {} min {} s",
        chrono::Utc::now().format("%Y-%m-%d"),
        machine(),
        elapsed / 60,
        elapsed % 60
    );
    println!(
        "clients: {}, {}; peers: {}",
        version_line("curl", &["--version"]),
        version_line("python3", &["--version"]),
        if versions.is_empty() {
            "none".into()
        } else {
            versions.join(", ")
        }
    );
    for st in &storages {
        println!("storage {}: {}", st.tag, st.fs);
    }
    println!(
        "big file {} MiB; loopback; every server serves a directory of its own",
        p.mb
    );

    let mut sections = vec![session_section(&p, &storages[alone_at].tag)];
    for st in &storages {
        sections.extend(transfer_sections(&p, &st.tag));
    }
    sections.push(Section {
        title: format!(
            "FTPS (AUTH TLS, PROT P, curl --ssl-reqd), {} MiB file, median of {}",
            p.mb, p.tls_runs
        ),
        tag: "FTPS".into(),
        metrics: vec![
            metric("tls_retr", "PROT P RETR MiB/s", Better::Higher, 0),
            metric("tls_stor", "PROT P STOR MiB/s", Better::Higher, 0),
        ],
    });
    for sec in &sections[..sections.len() - 1] {
        print_table(sec, &servers, &res);
    }
    for (name, (n, pss, ms, ok)) in &idle_huge {
        println!(
            "\n{name}: {n} idle logged-in sessions held with PSS {pss:.1} MiB; a new client then logged in in {ms:.1} ms{}",
            if *ok { "" } else { " (FAILED)" }
        );
    }
    let tls = &sections[sections.len() - 1];
    println!("\n{}\n", tls.title);
    println!(
        "| server | PROT P RETR MiB/s | PROT P STOR MiB/s | CPU s, 100 idle TLS sessions ({0} s) | CPU s after 100 abrupt TLS disconnects ({0} s) |",
        p.tls_idle_secs
    );
    println!("|---|---:|---:|---:|---:|");
    for r in &tls_rows {
        let (held, after) = match r.idle_cpu {
            Some((h, a)) => (format!("{h:.2}"), format!("{a:.2}")),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {held} | {after} |",
            r.name,
            fmt_cell(res.get(&r.name, "tls_retr"), 0),
            fmt_cell(res.get(&r.name, "tls_stor"), 0)
        );
    }
    print_ratios(&sections, &servers, &res);
    if !res.notes.is_empty() {
        println!("\nnotes:");
        for (_, msg, times) in &res.notes {
            if *times > 1 {
                println!("- {msg} ({times} times)");
            } else {
                println!("- {msg}");
            }
        }
    }
    storages.clear();
}
