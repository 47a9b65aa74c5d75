//! The demos of per-user limits, bans and daemons, run as the programs a
//! user runs: `demos/daemon_ftpd.rs`, `demos/anti_flood_ftpd.rs`,
//! `demos/multiproc_ftpd.rs`. They are built by `cargo test` (or `cargo
//! build --examples`) beside this test; a test whose demo is not built
//! says so and passes.
mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Raw;

/// The built demo `name`, if any.
fn demo(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?;
    let path = profile.join("examples").join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is not built (cargo build --examples)",
            path.display()
        );
        None
    }
}

/// A port free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait (bounded) until `addr` greets with 220.
fn wait_for_greeting(addr: SocketAddr, child: Option<&mut Child>) -> bool {
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(c) = child.as_deref_mut() {
            if let Ok(Some(_)) = c.try_wait() {
                return false; // it exited (port taken?)
            }
        }
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            if Raw::from_stream(s).greeting.starts_with("220") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A demo running in the foreground, killed when dropped.
struct Running(Child, SocketAddr);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start demo `path` with the port as its one argument.
fn run_demo(path: &PathBuf, dir: &std::path::Path) -> Running {
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(path)
            .arg(port.to_string())
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if wait_for_greeting(addr, Some(&mut child)) {
            return Running(child, addr);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{} did not start", path.display());
}

#[test]
fn anti_flood_demo_bans_a_flooding_address() {
    let Some(path) = demo("anti_flood_ftpd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let srv = run_demo(&path, dir.path());
    let mut raw = Raw::connect(srv.1);
    // 400 commands at once: more than 300 in a second
    raw.send("NOOP\r\n".repeat(400).as_bytes());
    let mut last = String::new();
    for _ in 0..400 {
        last = raw.reply();
        if !last.starts_with("200") {
            break;
        }
    }
    assert_eq!(
        last,
        "421 Too many commands: you are banned for 3600 seconds."
    );
    let again = Raw::connect(srv.1);
    assert!(
        again
            .greeting
            .starts_with("421 Your address is banned. Try again in "),
        "{}",
        again.greeting
    );
}

#[test]
fn multiproc_demo_limits_user_sessions_across_processes() {
    let Some(path) = demo("multiproc_ftpd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut srv = run_demo(&path, dir.path());
    let mut a = Raw::connect(srv.1);
    a.login("user", "12345");
    let mut b = Raw::connect(srv.1);
    b.login("user", "12345");
    let mut c = Raw::connect(srv.1);
    assert!(c.cmd("USER user").starts_with("331"));
    assert_eq!(
        c.cmd("PASS 12345"),
        "421 Too many connections for this user."
    );
    assert!(a.cmd("QUIT").starts_with("221"));
    let mut d = Raw::connect(srv.1);
    d.login("user", "12345");
    // SIGTERM: idle sessions are told 421, the server exits 0
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(srv.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(b.reply(), "421 Server is shutting down.");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = srv.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// Kills the daemon of a failed test.
struct DaemonPid(Option<nix::unistd::Pid>);

impl Drop for DaemonPid {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[test]
fn daemon_demo_detaches_writes_its_pid_and_stops_on_sigterm() {
    let Some(path) = demo("daemon_ftpd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("ftpd.pid");
    let log_file = dir.path().join("ftpd.log");
    let ctl = |cmd: &str, port: u16| {
        Command::new(&path)
            .arg(cmd)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg("--log-file")
            .arg(&log_file)
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let mut started = None;
    for _ in 0..5 {
        let port = free_port();
        let out = ctl("start", port);
        // the command returns at once: the daemon runs on, detached
        assert!(out.status.success(), "{out:?}");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if wait_for_greeting(addr, None) {
            started = Some((port, addr));
            break;
        }
    }
    let (port, addr) = started.expect("the daemon did not start");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(pid);
    let _guard = DaemonPid(Some(pid));
    // detached: in a session of its own, not ours
    let theirs = nix::unistd::getsid(Some(pid)).unwrap();
    assert_ne!(theirs, nix::unistd::getsid(None).unwrap());
    let mut raw = Raw::connect(addr);
    raw.login("user", "12345");
    assert!(raw.cmd("NOOP").starts_with("200"));
    let status = ctl("status", port);
    assert!(String::from_utf8_lossy(&status.stdout).contains(&format!("running (pid {pid})")));
    let again = ctl("start", port);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"));
    let stop = ctl("stop", port);
    assert!(stop.status.success(), "{stop:?}");
    assert_eq!(raw.reply(), "421 Server is shutting down.");
    assert!(!pid_file.exists(), "the pid file is removed");
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("daemon started"), "{log}");
    assert!(log.contains("daemon stopped"), "{log}");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    let status = ctl("status", port);
    assert!(String::from_utf8_lossy(&status.stdout).contains("not running"));
}
