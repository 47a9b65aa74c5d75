//! The bench's processes: stopping everything it started on a signal,
//! progress lines, the process tree of a server and what it uses (PSS, CPU,
//! open control connections) read from `/proc`, and running a command to
//! its end within a bound.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(crate) static BEGAN: OnceLock<Instant> = OnceLock::new();

/// Set once a signal stops the bench: no process is started after it.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Directories to remove should the bench be stopped by a signal.
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Once a signal stops the bench, the measuring thread starts nothing more
/// and waits here for the cleanup to end the process.
pub(crate) fn halt_if_stopping() {
    if STOPPING.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

pub(crate) fn track_dir(d: &Path) {
    if let Ok(mut dirs) = DIRS.lock() {
        dirs.push(d.to_path_buf());
    }
}

/// On SIGINT, SIGTERM or SIGHUP: stop every process the bench started (all
/// are its descendants: no server here daemonizes), remove its directories,
/// and exit.
pub(crate) fn stop_on_signal() {
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
        // the servers' accounting groups (emptied as their processes ended)
        if let Some((root, _)) = cgroup_root() {
            let mine = format!("ftpbench-{me}-");
            for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(&mine) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        eprintln!("ftpbench stopped by a signal; its servers and files are gone");
        std::process::exit(143);
    });
}

/// A progress line on stderr, with the time since the start.
pub(crate) fn progress(msg: &str) {
    halt_if_stopping();
    let t = BEGAN.get_or_init(Instant::now).elapsed().as_secs();
    eprintln!("[{:2}:{:02}] {msg}", t / 60, t % 60);
}

/// `(pid, ppid)` of every process, from one pass over `/proc`.
pub(crate) fn proc_table() -> Vec<(u32, u32)> {
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
pub(crate) fn tree(pid: u32) -> Vec<u32> {
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
pub(crate) fn pss_mib(pid: u32) -> f64 {
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

/// CPU seconds used by the server whose process tree starts at `pid`: from
/// its CPU accounting group ([`cgroup_cpu_secs`], nanoseconds) where the
/// system has one, else [`proc_cpu_secs`] (10 ms ticks: a 512 MiB download
/// costs a server 4-7 of them).
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    cgroup_cpu_secs(pid).unwrap_or_else(|| proc_cpu_secs(pid))
}

/// Where the server's CPU figures come from, for the report.
pub(crate) fn cpu_source() -> &'static str {
    match cgroup_root() {
        Some((_, false)) => "cgroup v1 cpuacct.usage (ns)",
        Some((_, true)) => "cgroup v2 cpu.stat usage_usec",
        None => "/proc/PID/stat utime+stime+cutime+cstime (10 ms ticks)",
    }
}

/// The cgroup hierarchy that accounts CPU, and whether it is v2: the v1
/// `cpuacct` controller's mount, else the unified (v2) hierarchy, if this
/// process may make groups there (root).
fn cgroup_root() -> Option<(PathBuf, bool)> {
    static ROOT: OnceLock<Option<(PathBuf, bool)>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let v1 = Path::new("/sys/fs/cgroup/cpuacct");
        let v2 = Path::new("/sys/fs/cgroup");
        let (root, is_v2) = if v1.join("cpuacct.usage").exists() {
            (v1.to_path_buf(), false)
        } else if v2.join("cgroup.controllers").exists() {
            (v2.to_path_buf(), true)
        } else {
            return None;
        };
        // may we make a group here?
        let probe = root.join(format!("ftpbench-probe-{}", std::process::id()));
        std::fs::create_dir(&probe).ok()?;
        let _ = std::fs::remove_dir(&probe);
        Some((root, is_v2))
    })
    .clone()
}

/// The accounting group of the server whose tree starts at `pid`.
fn cgroup_of(pid: u32) -> Option<(PathBuf, bool)> {
    let (root, v2) = cgroup_root()?;
    Some((
        root.join(format!("ftpbench-{}-{pid}", std::process::id())),
        v2,
    ))
}

/// CPU seconds charged to the server's accounting group, made on first use.
/// Every process of the tree is put in the group first (writing a pid that
/// is there already changes nothing): the processes a server forks later
/// start in their parent's group, so the difference between two readings
/// covers the whole tree, exited processes included.
fn cgroup_cpu_secs(pid: u32) -> Option<f64> {
    let (dir, v2) = cgroup_of(pid)?;
    if !dir.exists() {
        std::fs::create_dir(&dir).ok()?;
    }
    for p in tree(pid) {
        // (a process that ended meanwhile cannot be moved)
        let _ = std::fs::write(dir.join("cgroup.procs"), p.to_string());
    }
    if v2 {
        let stat = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
        let usec: f64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))?
            .trim()
            .parse()
            .ok()?;
        Some(usec / 1e6)
    } else {
        let ns: f64 = std::fs::read_to_string(dir.join("cpuacct.usage"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(ns / 1e9)
    }
}

/// Remove the accounting group of a server that has stopped (its processes
/// leave the group as they exit; bounded wait for the last ones).
pub(crate) fn drop_cgroup(pid: u32) {
    let Some((dir, _)) = cgroup_of(pid) else {
        return;
    };
    let end = Instant::now() + Duration::from_secs(2);
    while dir.exists() && std::fs::remove_dir(&dir).is_err() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU seconds used by the server's process tree from `/proc`: user and
/// system time of every live process in it plus what each of them
/// collected from the children it reaped.
fn proc_cpu_secs(pid: u32) -> f64 {
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
pub(crate) fn wait_quiet(addr: SocketAddr) {
    let end = Instant::now() + Duration::from_secs(10);
    while server_conns(addr.port()) > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    settle_storage();
}

/// Write out every dirty page (`sync`, at most 120 s) between two servers'
/// turns: the pages one server's uploads left dirty are otherwise written
/// back by the kernel during the next server's measurement, and charged to
/// whichever server runs then (single-client STOR moved ±30 % between runs
/// of the same build that way).
pub(crate) fn settle_storage() {
    let (ok, _, err) = run_bounded(Command::new("sync"), Duration::from_secs(120));
    if !ok {
        eprintln!("sync between turns failed: {err}");
    }
}

/// Run `cmd` to its end, or kill it after `limit`; its stdout and stderr
/// and whether it exited 0.
pub(crate) fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String, String) {
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

pub(crate) fn last_line(s: &str) -> &str {
    s.trim().lines().last().unwrap_or("").trim()
}
