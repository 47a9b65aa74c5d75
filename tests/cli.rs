//! The `ftpdlib` binary: usage errors, `--help`, and real starts on loopback.
mod common;
mod confine_util;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Raw;
use confine_util::{get, put, wait_until};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpdlib"));
    c.stdin(Stdio::null());
    c
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `args`, which must fail at once; (exit code, stdout, stderr).
fn run_bounded(args: &[&str]) -> (Option<i32>, String, String) {
    let child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut g = Guard(child);
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < end,
            "ftpdlib {args:?} did not exit (it should refuse to start)"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    g.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    g.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code(), out, err)
}

#[test]
fn bad_options_give_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // (arguments, a text the error line must mention)
    let cases: &[(&[&str], &str)] = &[
        (&["--no-such-option"], "--no-such-option"),
        (&["-x"], "-x"),
        (&["-p", "notaport"], "notaport"),
        (&["-p", "70000"], "70000"),
        (&["-p"], "--port"),
        (&["-r", "9000-8000"], "9000-8000"),
        (&["-r", "abc"], "abc"),
        (&["-r", "0-10"], "0-10"),
        (&["-d", "/nonexistent"], "/nonexistent"),
        (&["--concurrency", "bogus"], "bogus"),
        (
            &["--concurrency", "pre-fork", "--workers", "0"],
            "--workers",
        ),
        (&["--workers", "some"], "some"),
        (&["--tls"], "--tls"),
        (&["--keyfile", "/tmp/k.pem"], "--keyfile"),
        (&["--tls-control-required"], "--tls-control-required"),
        (&["--encoding", "latin9"], "latin9"),
        (
            &["--log-file", "/nonexistent/dir/x.log"],
            "/nonexistent/dir/x.log",
        ),
        (&["--max-cons", "many"], "many"),
        (&["--timeout", "soon"], "soon"),
        (&["-n", "not-an-ip"], "not-an-ip"),
        (&["-u"], "--username"),
        // options that do not apply, or contradict each other: refused,
        // never silently ignored
        (&["--workers", "2"], "--workers"),
        (&["--workers", "2", "--concurrency", "async"], "--workers"),
        (
            &["--workers", "2", "--concurrency", "multi-proc"],
            "--workers",
        ),
        (&["-P", "secret"], "-P"),
        (&["-u", "", "-P", "x"], "-u"),
        (&["-u", "bob\r\nx", "-P", "x"], "control"),
        (&["-u", "anonymous", "-P", "secret"], "anonymous"),
        (&["-u", "Anonymous", "-P", "secret"], "anonymous"),
        (&["-n", "::1"], "::1"),
        (
            &["--ban-after-failed-logins", "0"],
            "--ban-after-failed-logins",
        ),
        (
            &["--ban-after-commands", "1/1e-300"],
            "--ban-after-commands",
        ),
        (
            &["--ban-after-commands", "4000000000/0.001"],
            "--ban-after-commands",
        ),
        (&["--unix-users", "--users-file", "/x.toml"], "choose one"),
        (&["--users-file", "/x.toml", "--unix-users"], "choose one"),
        (&["--db-url", "host=/x", "--unix-users"], "choose one"),
        (
            &["--db-url", "host=/x", "--users-file", "/x.toml"],
            "choose one",
        ),
        (&["--db-url", "host=/x", "-d", "/tmp"], "-d"),
        (
            &["--unix-users", "--pam-service", "no-such-service-here"],
            "no-such-service-here",
        ),
        (&["--unix-users", "--pam-service", "../passwd"], "../passwd"),
    ];
    for (args, mention) in cases {
        let mut all = vec!["-i", "127.0.0.1"];
        if !args.contains(&"-d") {
            all.extend(["-d", d]);
        }
        if !args.contains(&"-p") {
            all.extend(["-p", "0"]);
        }
        all.extend(args.iter());
        let (code, out, err) = run_bounded(&all);
        assert_eq!(code, Some(2), "{args:?}: stderr {err:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: stderr {err:?}");
        assert!(lines[0].contains("error"), "{args:?}: {err:?}");
        assert!(lines[0].contains(mention), "{args:?}: {err:?}");
        assert!(out.is_empty(), "{args:?}: stdout {out:?}");
    }
    // Nothing was created by the failed log file option.
    assert!(!Path::new("/nonexistent").exists());
}

#[test]
fn help_lists_every_option() {
    let (code, out, err) = run_bounded(&["--help"]);
    assert_eq!(code, Some(0), "{err}");
    for short in ["-i", "-p", "-w", "-d", "-n", "-r", "-D", "-u", "-P"] {
        assert!(
            out.contains(&format!("{short}, --")),
            "{short} missing:\n{out}"
        );
    }
    for long in [
        "--interface",
        "--port",
        "--write",
        "--directory",
        "--nat-address",
        "--range",
        "--debug",
        "--username",
        "--password",
        "--concurrency",
        "--tls",
        "--keyfile",
        "--certfile",
        "--tls-control-required",
        "--tls-data-required",
        "--tls-implicit",
        "--timeout",
        "--banner",
        "--permit-foreign-addresses",
        "--permit-privileged-ports",
        "--encoding",
        "--use-localtime",
        "--disable-sendfile",
        "--max-cons",
        "--max-cons-per-ip",
        "--max-login-attempts",
        "--read-limit",
        "--write-limit",
        "--log-file",
        "--log-prefix",
    ] {
        assert!(out.contains(long), "{long} missing:\n{out}");
    }
    let (code, _, _) = run_bounded(&["-h"]);
    assert_eq!(code, Some(0));
}

/// A running daemon.
struct Daemon {
    child: Guard,
    addr: SocketAddr,
    /// stderr lines, as they come.
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    /// Start on 127.0.0.1 at a free port with `args`; wait for the start line
    /// (on stderr, or in `log_file` when given).
    fn start(args: &[&str], log_file: Option<&Path>) -> Daemon {
        Self::start_env(args, log_file, &[])
    }

    /// [`Daemon::start`] with `env` added to the daemon's environment.
    fn start_env(args: &[&str], log_file: Option<&Path>, env: &[(&str, &str)]) -> Daemon {
        let mut last = String::new();
        for _ in 0..5 {
            let port = {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let port_s = port.to_string();
            let mut child = bin()
                .args(["-i", "127.0.0.1", "-p", &port_s])
                .args(args)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let child = Guard(child);
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let pid = child.0.id();
            let want = format!(">>> starting FTP server on 127.0.0.1:{port}, pid={pid} <<<");
            let end = Instant::now() + Duration::from_secs(20);
            let mut started = false;
            let mut seen = Vec::new();
            while Instant::now() < end {
                if let Some(f) = log_file {
                    let text = std::fs::read_to_string(f).unwrap_or_default();
                    if text.contains(&want) {
                        started = true;
                        break;
                    }
                }
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(l) => {
                        assert!(!l.contains("panicked"), "{l}");
                        if log_file.is_none() && l.contains(&want) {
                            started = true;
                            break;
                        }
                        seen.push(l);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        if log_file.is_none() {
                            break;
                        }
                    }
                }
            }
            if started {
                return Daemon {
                    child,
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    lines: rx,
                };
            }
            last = seen.join("\n");
            if !last.contains("can't listen") {
                panic!("ftpdlib did not start; wanted {want:?}; stderr:\n{last}");
            }
            // The port was taken meanwhile: try another one.
        }
        panic!("ftpdlib did not start; stderr:\n{last}");
    }

    fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// stderr lines received so far.
    fn stderr_now(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

#[track_caller]
fn code(r: &str, want: &str) {
    assert!(r.starts_with(want), "expected {want}, got {r:?}");
}

#[test]
fn start_line_user_and_write_access() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello").unwrap();
    let d = Daemon::start(
        &[
            "-u",
            "bob",
            "-P",
            "secret",
            "-w",
            "-d",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    // bob may log in and upload.
    let mut r = d.raw();
    r.login("bob", "secret");
    code(&r.cmd("TYPE I"), "200");
    let x = put(&mut r, "STOR up.bin", b"uploaded by bob");
    code(&x.last, "226");
    assert_eq!(
        std::fs::read(dir.path().join("up.bin")).unwrap(),
        b"uploaded by bob"
    );
    let x = get(&mut r, "RETR hello.txt");
    assert_eq!(x.data, b"hello");
    code(&r.cmd("DELE up.bin"), "250");
    code(&r.cmd("QUIT"), "221");
    // Anonymous and wrong passwords are refused (all at once: each failure
    // is answered after the 3 s failed-login delay).
    let mut pending = Vec::new();
    for (u, p) in [("anonymous", "a@b"), ("bob", "wrong"), ("ftp", "")] {
        let mut r = d.raw();
        code(&r.cmd(&format!("USER {u}")), "331");
        r.send(format!("PASS {p}\r\n").as_bytes());
        pending.push(r);
    }
    for mut r in pending {
        code(&r.reply(), "530");
    }
    let err = d.stderr_now().join("\n");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn read_only_without_write_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello").unwrap();
    let d = Daemon::start(&["-d", dir.path().to_str().unwrap()], None);
    let mut r = d.raw();
    r.login("anonymous", "guest@example.com");
    code(&r.cmd("TYPE I"), "200");
    let x = get(&mut r, "RETR hello.txt");
    code(&x.last, "226");
    assert_eq!(x.data, b"hello");
    let x = put(&mut r, "STOR new.txt", b"nope");
    assert_eq!(x.reply(), "550 Not enough privileges.");
    assert_eq!(r.cmd("DELE hello.txt"), "550 Not enough privileges.");
    assert_eq!(r.cmd("MKD newdir"), "550 Not enough privileges.");
    assert!(!dir.path().join("new.txt").exists());
    assert!(!dir.path().join("newdir").exists());
    assert!(dir.path().join("hello.txt").exists());
    // Likewise for a named user without -w.
    drop(d);
    let d = Daemon::start(
        &["-u", "bob", "-P", "pw", "-d", dir.path().to_str().unwrap()],
        None,
    );
    let mut r = d.raw();
    r.login("bob", "pw");
    let x = put(&mut r, "STOR new.txt", b"nope");
    assert_eq!(x.reply(), "550 Not enough privileges.");
    assert!(!dir.path().join("new.txt").exists());
}

#[test]
fn log_file_with_debug() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ftpd.log");
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let d = Daemon::start(
        &[
            "--log-file",
            log.to_str().unwrap(),
            "-D",
            "-d",
            share.to_str().unwrap(),
        ],
        Some(&log),
    );
    let mut r = d.raw();
    code(&r.cmd("USER anonymous"), "331");
    code(&r.cmd("PASS x@y"), "230");
    code(&r.cmd("NOOP"), "200");
    code(&r.cmd("QUIT"), "221");
    let mut text = String::new();
    wait_until("the DEBUG lines in the log file", 20, || {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("<- USER anonymous")
            && text.contains("-> 331")
            && text.contains("<- NOOP")
            && text.contains("-> 200")
            && text.contains("-> 221")
    });
    assert!(text.contains("[D "), "{text}");
    assert!(text.contains("[I "), "{text}");
    // The password is never logged.
    assert!(!text.contains("x@y"), "{text}");
    // Nothing on stderr (everything went to the file).
    let err = d.stderr_now();
    assert!(err.is_empty(), "{err:?}");
}

/// Log lines carry the local time of the daemon's zone (`TZ`) in every
/// session thread, also when the zone's offset changes in the middle of a
/// minute (a `TZ` rule may change it at any second): a line logged after the
/// change shows the new offset, not the one the minute started with.
#[test]
fn log_times_follow_a_zone_change_in_the_middle_of_a_minute() {
    use chrono::{Datelike, Timelike};
    let fmt = "%y-%m-%d %H:%M:%S";
    let stamp = |line: &str| line.get(3..20).unwrap_or_default().to_string();
    let first_session_line = |d: &Daemon| {
        let mut seen = Vec::new();
        wait_until("a session's first log line", 20, || {
            seen.extend(d.stderr_now());
            seen.iter().any(|l| l.contains("FTP session opened"))
        });
        seen.into_iter()
            .find(|l| l.contains("FTP session opened"))
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    // a daemon whose zone changes a few seconds after it logged its first
    // session, within the same minute (another try if it was too slow)
    let mut tries = 0;
    let (d, tz, change) = loop {
        tries += 1;
        assert!(tries <= 5, "the daemon never started and served within 3 s");
        let mut now = chrono::Utc::now();
        while !(1..=50).contains(&now.second()) {
            std::thread::sleep(Duration::from_millis(200));
            now = chrono::Utc::now();
        }
        // the change 4 s from now, inside the current minute (seconds 5-54);
        // standard time is UTC, daylight time (from the change to the end
        // of the year) one hour ahead
        let change = chrono::DateTime::from_timestamp(now.timestamp() + 4, 0).unwrap();
        let tz = format!(
            "AAA0BBB,{}/{},J365/24",
            change.ordinal0(),
            change.format("%H:%M:%S")
        );
        let started = chrono::Utc::now();
        let d = Daemon::start_env(
            &["-d", dir.path().to_str().unwrap()],
            None,
            &[("TZ", tz.as_str())],
        );
        let mut raw = d.raw();
        code(&raw.cmd("QUIT"), "221");
        let served = chrono::Utc::now();
        if served >= change - chrono::Duration::milliseconds(200) {
            continue;
        }
        // the zone is in force, in standard time (UTC) before the change
        let line = first_session_line(&d);
        let (lo, hi) = (
            started.format(fmt).to_string(),
            served.format(fmt).to_string(),
        );
        let got = stamp(&line);
        assert!(
            lo <= got && got <= hi,
            "TZ={tz}: before the change, {got:?} is not {lo}..{hi}: {line}"
        );
        break (d, tz, change);
    };
    // after the change (in the same minute): one hour ahead of UTC
    while chrono::Utc::now() < change + chrono::Duration::milliseconds(300) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut raw = d.raw();
    code(&raw.cmd("QUIT"), "221");
    let t1 = chrono::Utc::now() + chrono::Duration::hours(1);
    let line = first_session_line(&d);
    let (lo, hi) = (t0.format(fmt).to_string(), t1.format(fmt).to_string());
    let got = stamp(&line);
    assert!(
        lo <= got && got <= hi,
        "TZ={tz}: a line logged after the zone's change at {change} shows {got:?}, \
         not the local time {lo}..{hi}: {line}"
    );
}

#[test]
fn banner_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &["--banner", "hello", "-d", dir.path().to_str().unwrap()],
        None,
    );
    let r = d.raw();
    assert_eq!(r.greeting, "220 hello");
    drop(r);
    drop(d.child);
}

/// A throwaway certificate and key in `dir`: (certfile, keyfile).
fn cert_files(dir: &Path) -> (String, String) {
    let (cert, key) = ftpdlib::tls::self_signed(&["localhost", "127.0.0.1"], 2).unwrap();
    let c = dir.join("cert.pem");
    let k = dir.join("key.pem");
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (
        c.to_str().unwrap().to_string(),
        k.to_str().unwrap().to_string(),
    )
}

#[test]
fn unusable_tls_files_give_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (cert, key) = cert_files(dir.path());
    let encrypted = dir.path().join("enc.pem");
    let pem = std::fs::read(&key).unwrap();
    let pkey = openssl::pkey::PKey::private_key_from_pem(&pem).unwrap();
    std::fs::write(
        &encrypted,
        pkey.private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"pw")
            .unwrap(),
    )
    .unwrap();
    let encrypted = encrypted.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--tls", "--certfile", "/nonexistent/c.pem"],
            "/nonexistent/c.pem",
        ),
        // the certificate file holds no key and no --keyfile was given
        (&["--tls", "--certfile", &cert], "--keyfile"),
        (
            &["--tls", "--certfile", &cert, "--keyfile", encrypted],
            "openssl pkey",
        ),
        (
            &["--tls", "--certfile", &key, "--keyfile", &key],
            "CERTIFICATE",
        ),
        (&["--certfile", &cert], "--tls"),
        (&["--tls-implicit"], "--certfile"),
    ];
    for (args, mention) in cases {
        let mut all = vec!["-i", "127.0.0.1", "-p", "0", "-d", d];
        all.extend(args.iter());
        let (code, _, err) = run_bounded(&all);
        assert_eq!(code, Some(2), "{args:?}: stderr {err:?}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: stderr {err:?}");
        assert!(lines[0].contains(mention), "{args:?}: {err:?}");
    }
}

#[test]
fn tls_options_start_explicit_and_implicit_ftps() {
    if !common::have("curl") {
        eprintln!("curl not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(certs.path());
    std::fs::write(dir.path().join("hello.txt"), b"hello over tls").unwrap();
    let d = dir.path().to_str().unwrap();
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-k", "--max-time", "30"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };

    // explicit, with the key in its own file; TLS required on both channels
    let daemon = Daemon::start(
        &[
            "-d",
            d,
            "-u",
            "u",
            "-P",
            "p",
            "-w",
            "--tls",
            "--certfile",
            &cert,
            "--keyfile",
            &key,
            "--tls-control-required",
            "--tls-data-required",
        ],
        None,
    );
    let mut r = daemon.raw();
    code(&r.cmd("USER u"), "550");
    let url = format!("ftp://u:p@{}/hello.txt", daemon.addr);
    assert_eq!(curl(&["--ssl-reqd", &url]), b"hello over tls");
    drop(daemon);

    // implicit, with the key inside the certificate file
    let both = certs.path().join("both.pem");
    let mut text = std::fs::read(&cert).unwrap();
    text.extend(std::fs::read(&key).unwrap());
    std::fs::write(&both, text).unwrap();
    let daemon = Daemon::start(
        &[
            "-d",
            d,
            "--tls-implicit",
            "--certfile",
            both.to_str().unwrap(),
            "--concurrency",
            "async",
        ],
        None,
    );
    let url = format!("ftps://{}/hello.txt", daemon.addr);
    assert_eq!(curl(&[&url]), b"hello over tls");
}

/// System-user options with values that would start another server than
/// asked: anonymous (any password) as root, empty names in the user lists.
#[test]
fn bad_system_user_options_give_one_error_line() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: --unix-users needs root");
        return;
    }
    let cases: &[(&[&str], &str)] = &[
        (&["--anonymous-user", "root"], "uid 0"),
        (&["--allowed-users", ""], "--allowed-users"),
        (&["--allowed-users", "alice,,bob"], "--allowed-users"),
        (&["--rejected-users", ","], "--rejected-users"),
    ];
    for (args, mention) in cases {
        let mut all = vec!["-i", "127.0.0.1", "-p", "0", "--unix-users"];
        all.extend(args.iter());
        let (code, _, err) = run_bounded(&all);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err:?}");
        assert!(lines[0].contains(mention), "{args:?}: {err:?}");
    }
}
