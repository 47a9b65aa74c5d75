//! The users file, end to end: `auth::UsersFile` behind a real server in
//! every concurrency model (each hash family, wrong passwords, the
//! anonymous table, disabled users, `allow_from`, `tls_required`), and the
//! `ftpdlib` binary with `--users-file` (SIGHUP reloads with sessions
//! open, a broken file on reload, an unknown key at startup,
//! `hash-password`, options that do not combine with it).
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Raw;
use ftpdlib::auth::UsersFile;
use ftpdlib::server::{ServerBuilder, ServerProcess, ShutdownHandle};
use ftpdlib::ServerConfig;

/// The password every stored hash below was made from.
const PASSWORD: &str = "s3cret pass";

/// Hashes of [`PASSWORD`] made by other tools: Python's argon2-cffi,
/// crypt(3) through Python's `crypt` module, and `hashlib.md5`.
const FAMILIES: &[(&str, &str)] = &[
    (
        "argon2id",
        "$argon2id$v=19$m=19456,t=2,p=1$1JPUNM4h839aYqhlgwr1ZA$vZ1cGB8qmY6Xc8Sawfqb9tnbXno61o+LLfvUoCtlJbo",
    ),
    (
        "argon2i",
        "$argon2i$v=19$m=4096,t=2,p=1$Uy+ftWS4TNdX3mZrhLJDeg$X6nA5VmoacnPoTa69ckAHmTobTG19GSefDs3aALt1nM",
    ),
    (
        "bcrypt",
        "$2b$12$7yrbzE4qBfObfldmgueHLeinNv/WRV4YnHpQqQjQepBaRA2EOefI2",
    ),
    (
        "sha512crypt",
        "$6$oQNn147N8A19n6f.$ZkseCKwreV86WXtu0639b7N05jsXeukBYfgJ8XkWKm1GBkdAu6yW1bqb5apSGjtIRkIQhdI1HKWV/ccJ358Ho/",
    ),
    (
        "sha256crypt",
        "$5$i.WadRRYhsrdKYCN$/013fYPcBzPxNWYLhCr5DhRPopwhkZHuRApj8X75kNA",
    ),
    (
        "yescrypt",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$9D5RovS/HuknGI0.ktF/JBj1lhaH1xkbCFp3CJ3OVL/",
    ),
    ("md5legacy", "md5:5211da5c87b0c916f11bbeb561492eef"),
];

/// The md5 form of [`PASSWORD`], for users whose hash method is beside the point.
const MD5: &str = "md5:5211da5c87b0c916f11bbeb561492eef";

/// A directory holding `users.toml` and the homes `home/` (with
/// `hello.txt`) and `pub/` (with `pub.txt`).
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("pub")).unwrap();
        std::fs::write(dir.path().join("home/hello.txt"), b"hello from home\n").unwrap();
        std::fs::write(dir.path().join("pub/pub.txt"), b"public bytes\n").unwrap();
        Site { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn users(&self) -> PathBuf {
        self.path("users.toml")
    }

    /// Write `users.toml` (in one rename, as an editor does).
    fn write(&self, text: &str) {
        let tmp = self.path("users.toml.new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.users()).unwrap();
    }
}

/// A `[[user]]` with home `home` and these extra lines.
fn user(name: &str, password: &str, extra: &str) -> String {
    format!("[[user]]\nname = \"{name}\"\npassword = \"{password}\"\nhome = \"home\"\nperm = \"elradfmwMT\"\n{extra}\n")
}

// ------------------------------------------------ the library, every model

/// A server of the model under test whose accounts are `site`'s users file.
struct Served {
    addr: SocketAddr,
    running: Running,
}

enum Running {
    Thread(ShutdownHandle),
    Process(Option<ServerProcess>),
}

impl Drop for Served {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Thread(h) => h.shutdown(),
            Running::Process(p) => {
                if let Some(p) = p.take() {
                    let r = p.shutdown();
                    if !std::thread::panicking() {
                        r.expect("the server process stops cleanly");
                    }
                }
            }
        }
    }
}

fn serve(site: &Site, f: impl FnOnce(&mut ServerConfig)) -> Served {
    common::init_logging();
    let users = UsersFile::load(site.users()).unwrap();
    let mut cfg = ServerConfig {
        auth_failed_delay: Duration::ZERO,
        concurrency: common::model(),
        ..ServerConfig::default()
    };
    f(&mut cfg);
    let server = ServerBuilder::new(users)
        .config(cfg)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let running = if common::forks() {
        Running::Process(Some(server.spawn_process().unwrap()))
    } else {
        Running::Thread(server.spawn().unwrap().0)
    };
    Served { addr, running }
}

/// USER and PASS; the reply to PASS.
fn try_login(r: &mut Raw, name: &str, password: &str) -> String {
    let u = r.cmd(&format!("USER {name}"));
    assert!(u.starts_with("331"), "{u}");
    r.cmd(&format!("PASS {password}"))
}

/// The bytes of `name` downloaded over a passive connection.
fn retr(r: &mut Raw, name: &str) -> Vec<u8> {
    assert!(r.cmd("TYPE I").starts_with("200"));
    let port = r.epsv();
    let mut data = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    data.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let pre = r.cmd(&format!("RETR {name}"));
    assert!(pre.starts_with("125") || pre.starts_with("150"), "{pre}");
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    let end = r.reply();
    assert!(end.starts_with("226"), "{end}");
    got
}

/// Every hash family of the users file logs in with the right password
/// (and then works in its home) and not with a wrong one; no
/// `[anonymous]` table: no anonymous login.
fn each_hash_family_logs_in() {
    let site = Site::new();
    let text: String = FAMILIES
        .iter()
        .map(|(family, stored)| user(family, stored, ""))
        .collect();
    site.write(&text);
    let srv = serve(&site, |_| {});
    for (family, _) in FAMILIES {
        let mut r = Raw::connect(srv.addr);
        let wrong = try_login(&mut r, family, "s3cret pasS");
        assert_eq!(wrong, "530 Authentication failed.", "{family}");
        let ok = try_login(&mut r, family, PASSWORD);
        assert_eq!(ok, "230 Login successful.", "{family}");
        assert_eq!(retr(&mut r, "hello.txt"), b"hello from home\n", "{family}");
    }
    let mut r = Raw::connect(srv.addr);
    assert!(try_login(&mut r, "nobody", PASSWORD).starts_with("530"));
    assert!(try_login(&mut r, "anonymous", "guest@").starts_with("530"));
}

/// The `[anonymous]` table: any password, its own home, messages and
/// read-only letters; a disabled user is refused with its right password.
fn anonymous_table_and_disabled_user() {
    let site = Site::new();
    site.write(&format!(
        "{}{}[anonymous]\nhome = \"pub\"\nperm = \"elr\"\nmsg_login = \"Welcome, stranger.\"\nmsg_quit = \"Come again.\"\n",
        user("off", MD5, "disabled = true"),
        user("on", MD5, "msg_login = \"Hello, on.\""),
    ));
    let srv = serve(&site, |_| {});
    let mut r = Raw::connect(srv.addr);
    assert_eq!(
        try_login(&mut r, "anonymous", "any@thing"),
        "230 Welcome, stranger."
    );
    assert_eq!(retr(&mut r, "pub.txt"), b"public bytes\n");
    let port = r.epsv();
    let _data = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(r.cmd("STOR up.txt"), "550 Not enough privileges.");
    assert_eq!(r.cmd("QUIT"), "221 Come again.");
    assert!(!site.path("pub/up.txt").exists());

    let mut r = Raw::connect(srv.addr);
    assert_eq!(
        try_login(&mut r, "off", PASSWORD),
        "530 Authentication failed."
    );
    assert_eq!(try_login(&mut r, "on", PASSWORD), "230 Hello, on.");
}

/// `allow_from`: a user logs in from its networks only (530 and a log line
/// elsewhere, with the right password).
fn allow_from_limits_where_a_user_logs_in_from() {
    let site = Site::new();
    site.write(&format!(
        "{}{}",
        user("here", MD5, "allow_from = [\"127.0.0.1/32\", \"::1\"]"),
        user("there", MD5, "allow_from = [\"127.0.0.2\"]"),
    ));
    let srv = serve(&site, |_| {});
    let from = |ip: &str| Raw::connect_from(srv.addr, ip.parse::<IpAddr>().unwrap());
    let mut r = from("127.0.0.1");
    assert_eq!(
        try_login(&mut r, "there", PASSWORD),
        "530 Login not allowed from this address."
    );
    assert_eq!(try_login(&mut r, "here", PASSWORD), "230 Login successful.");
    let mut r = from("127.0.0.2");
    let port = r.stream.local_addr().unwrap().port();
    assert_eq!(
        try_login(&mut r, "here", PASSWORD),
        "530 Login not allowed from this address."
    );
    assert_eq!(
        try_login(&mut r, "there", PASSWORD),
        "230 Login successful."
    );
    assert_eq!(r.cmd("PWD"), "257 \"/\" is the current directory.");
    let needle = format!("127.0.0.2:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = common::log_lines(&needle);
        if lines.iter().any(|l| {
            l.contains("USER 'here' refused: client address 127.0.0.2 is not in its allow_from")
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no refusal logged: {lines:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `tls_required`: refused on a clear control connection (530 saying so),
/// logged in after AUTH TLS.
fn tls_required_needs_a_secured_control_connection() {
    use suppaftp::{NativeTlsConnector, NativeTlsFtpStream};
    let site = Site::new();
    site.write(&user("sec", MD5, "tls_required = true"));
    let srv = serve(&site, |c| c.tls = Some(common::test_tls_config()));
    let mut r = Raw::connect(srv.addr);
    assert_eq!(
        try_login(&mut r, "sec", PASSWORD),
        "530 SSL/TLS required on the control channel for this user."
    );
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(
            native_tls::Certificate::from_pem(&common::test_cert().cert_pem).unwrap(),
        )
        .disable_built_in_roots(true)
        .build()
        .unwrap();
    let mut ftp = NativeTlsFtpStream::connect(srv.addr)
        .unwrap()
        .into_secure(NativeTlsConnector::from(tls), "localhost")
        .unwrap();
    ftp.login("sec", PASSWORD).unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .unwrap();
    let got = ftp.retr_as_buffer("hello.txt").unwrap().into_inner();
    assert_eq!(got, b"hello from home\n");
    ftp.quit().unwrap();
}

/// The users file's per-user limits hold: `max_sessions` refuses one more
/// session with `421` until one ends, and a `write_limit` is shared by the
/// user's two simultaneous downloads (2 MiB together within 10 % of it).
fn per_user_limits_from_the_users_file() {
    const RATE: u64 = 1 << 20;
    const EACH: usize = 1 << 20;
    let site = Site::new();
    let data: Vec<u8> = (0..EACH).map(|i| (i % 251) as u8).collect();
    std::fs::write(site.path("home/big.bin"), &data).unwrap();
    site.write(&format!(
        "{}{}",
        user("solo", MD5, "max_sessions = 1"),
        user("shared", MD5, &format!("write_limit = {RATE}"))
    ));
    let srv = serve(&site, |_| {});

    let mut first = Raw::connect(srv.addr);
    assert!(try_login(&mut first, "solo", PASSWORD).starts_with("230"));
    let mut second = Raw::connect(srv.addr);
    let r = try_login(&mut second, "solo", PASSWORD);
    assert!(r.starts_with("421"), "a second session of solo: {r}");
    assert!(first.cmd("QUIT").starts_with("221"));
    let mut third = Raw::connect(srv.addr);
    assert!(try_login(&mut third, "solo", PASSWORD).starts_with("230"));

    let barrier = Arc::new(std::sync::Barrier::new(2));
    let data = Arc::new(data);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (barrier, data, addr) = (Arc::clone(&barrier), Arc::clone(&data), srv.addr);
            std::thread::spawn(move || {
                let mut r = Raw::connect(addr);
                assert!(try_login(&mut r, "shared", PASSWORD).starts_with("230"));
                assert!(r.cmd("TYPE I").starts_with("200"));
                let port = r.epsv();
                let mut d = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                d.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                barrier.wait();
                let start = Instant::now();
                let pre = r.cmd("RETR big.bin");
                assert!(pre.starts_with("125") || pre.starts_with("150"), "{pre}");
                let mut got = Vec::new();
                d.read_to_end(&mut got).unwrap();
                assert!(r.reply().starts_with("226"));
                assert!(got == *data, "the bytes arrived intact");
                (start, Instant::now())
            })
        })
        .collect();
    let times: Vec<_> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    let start = times.iter().map(|t| t.0).min().unwrap();
    let end = times.iter().map(|t| t.1).max().unwrap();
    let rate = (2 * EACH) as f64 / (end - start).as_secs_f64();
    assert!(
        rate <= RATE as f64 * 1.1 && rate >= RATE as f64 * 0.9,
        "2 MiB at {rate:.0} bytes/s for a shared limit of {RATE}"
    );
}

each_model!(
    each_hash_family_logs_in,
    anonymous_table_and_disabled_user,
    allow_from_limits_where_a_user_logs_in_from,
    tls_required_needs_a_secured_control_connection,
    per_user_limits_from_the_users_file,
);

// ------------------------------------------------------------- the binary

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpdlib"));
    c.stdin(Stdio::null());
    c
}

/// The `ftpdlib` binary serving on a free loopback port, its stderr (the
/// log) collected; killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Start `ftpdlib -i 127.0.0.1 -p PORT` with `args`; wait for its start line.
    fn start(args: &[&str]) -> Daemon {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = bin()
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let log = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    sink.lock().unwrap().push(line);
                }
            });
            let mut d = Daemon {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                log,
            };
            let want = format!(">>> starting FTP server on 127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if d.lines(&want).len() == 1 {
                    return d;
                }
                if let Ok(Some(_)) = d.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let seen = d.log.lock().unwrap().join("\n");
            assert!(
                seen.contains("can't listen"),
                "ftpdlib did not start:\n{seen}"
            );
            // the port was taken meanwhile: another one
        }
        panic!("ftpdlib did not start");
    }

    /// The log lines so far that contain `needle`.
    fn lines(&self, needle: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Wait until `n` log lines contain `needle`; returns them.
    fn wait_lines(&self, needle: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.lines(needle);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} log lines with {needle:?}; log:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn hangup(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    }

    /// The log line of the login of the client at local port `port`.
    fn wait_logged_in(&self, port: u16, name: &str) {
        self.wait_lines(&format!("127.0.0.1:{port}"), 1);
        let needle = format!("USER '{name}' logged in.");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .lines(&needle)
            .iter()
            .any(|l| l.contains(&format!(":{port}")))
        {
            assert!(Instant::now() < deadline, "no login logged for port {port}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

const MODELS: [&[&str]; 4] = [
    &["--concurrency", "multi-thread"],
    &["--concurrency", "async"],
    &["--concurrency", "multi-proc"],
    &["--concurrency", "pre-fork", "--workers", "2"],
];

fn client_port(r: &Raw) -> u16 {
    r.stream.local_addr().unwrap().port()
}

/// SIGHUP with a changed password: the old one fails and the new one works
/// (also for a client that connected before the signal and logs in after
/// it), a session logged in before the signal keeps working, downloads
/// included, and a transfer running across the signal completes. Then a
/// broken file: the accounts in force stay, and the error is logged once,
/// with the file and the line.
fn sighup_reload(model: &[&str]) {
    let site = Site::new();
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(site.path("home/big.bin"), &big).unwrap();
    site.write(&user("alice", "md5:149603e6c03516362a8da23f624db945", ""));
    let users = site.users();
    let d = Daemon::start(
        &[
            model,
            &[
                "--users-file",
                users.to_str().unwrap(),
                "--max-login-attempts",
                "10",
                "--write-limit",
                "2097152",
            ],
        ]
        .concat(),
    );
    // md5:e1fa... is "old"
    let mut before = Raw::connect(d.addr);
    assert_eq!(
        try_login(&mut before, "alice", "old"),
        "230 Login successful."
    );
    assert!(before.cmd("TYPE I").starts_with("200"));
    let port = before.epsv();
    let mut running = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    running
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let pre = before.cmd("RETR big.bin");
    assert!(pre.starts_with("125") || pre.starts_with("150"), "{pre}");
    let mut got = vec![0u8; 64 * 1024];
    running.read_exact(&mut got).unwrap();
    // connected now, logs in after the reload
    let mut waiting = Raw::connect(d.addr);

    let new_hash = hash_password_cli("new pass");
    site.write(&format!(
        "{}{}",
        user("alice", &new_hash, ""),
        user("bob", MD5, "")
    ));
    d.hangup();
    d.wait_lines("SIGHUP: accounts reloaded", 1);

    // the download that ran across the signal is whole
    running.read_to_end(&mut got).unwrap();
    assert!(got == big, "{model:?}: download cut ({} bytes)", got.len());
    assert!(before.reply().starts_with("226"), "{model:?}");
    // the session of before goes on
    assert!(before.cmd("PWD").starts_with("257"), "{model:?}");
    assert_eq!(retr(&mut before, "hello.txt"), b"hello from home\n");

    assert_eq!(
        try_login(&mut waiting, "alice", "old"),
        "530 Authentication failed.",
        "{model:?}: connected before the reload"
    );
    assert_eq!(
        try_login(&mut waiting, "alice", "new pass"),
        "230 Login successful.",
        "{model:?}: connected before the reload"
    );
    let mut after = Raw::connect(d.addr);
    assert_eq!(
        try_login(&mut after, "alice", "old"),
        "530 Authentication failed.",
        "{model:?}"
    );
    assert_eq!(
        try_login(&mut after, "bob", PASSWORD),
        "230 Login successful."
    );
    let mut after = Raw::connect(d.addr);
    assert_eq!(
        try_login(&mut after, "alice", "new pass"),
        "230 Login successful."
    );
    assert_eq!(retr(&mut after, "hello.txt"), b"hello from home\n");

    // a broken file: the error is on line 4
    let mut waiting = Raw::connect(d.addr);
    site.write("[[user]]\nname = \"alice\"\npassword = \"md5:149603e6c03516362a8da23f624db945\"\nhome = \n");
    d.hangup();
    let errors = d.wait_lines("[E ", 1);
    assert!(
        errors[0].contains(&format!("{}:4: ", users.display())),
        "{model:?}: {errors:?}"
    );
    // the table of before is in force, for sessions old and new
    assert_eq!(
        try_login(&mut waiting, "alice", "old"),
        "530 Authentication failed.",
        "{model:?}"
    );
    assert_eq!(
        try_login(&mut waiting, "alice", "new pass"),
        "230 Login successful."
    );
    let mut after = Raw::connect(d.addr);
    assert_eq!(
        try_login(&mut after, "bob", PASSWORD),
        "230 Login successful."
    );
    // once both logins are logged, whatever their processes logged before is read
    d.wait_logged_in(client_port(&waiting), "alice");
    d.wait_logged_in(client_port(&after), "bob");
    let errors = d.lines("[E ");
    assert_eq!(errors.len(), 1, "{model:?}: one error line: {errors:#?}");
    assert!(before.cmd("NOOP").starts_with("200"), "{model:?}");
    assert_eq!(d.lines("reloaded").len(), 1, "{model:?}");
}

#[test]
fn sighup_reloads_the_users_file_threads() {
    sighup_reload(MODELS[0]);
}

#[test]
fn sighup_reloads_the_users_file_async() {
    sighup_reload(MODELS[1]);
}

#[test]
fn sighup_reloads_the_users_file_multi_proc() {
    sighup_reload(MODELS[2]);
}

#[test]
fn sighup_reloads_the_users_file_pre_fork() {
    sighup_reload(MODELS[3]);
}

/// SIGHUP right after a connection, many times over (multi-proc): the
/// parent forks the process for the next connection as the signal comes,
/// so the signal it passes on often reaches a child that has not set up
/// its own handling yet. Each signal must be one reload, and the child
/// forked just before it must know the new accounts. (Such a child ran the
/// handler inherited from the parent: it wrote into the parent's pipe, a
/// second reload of the whole server, and missed the signal itself, so its
/// login checked the accounts of before: 13 logins of 200 failed.)
#[test]
fn sighup_while_forking_is_one_reload_that_no_new_process_misses() {
    const ROUNDS: usize = 80;
    let site = Site::new();
    site.write(&user("u0", MD5, ""));
    let users = site.users();
    let d = Daemon::start(&[
        "--concurrency",
        "multi-proc",
        "--users-file",
        users.to_str().unwrap(),
    ]);
    let mut missed = Vec::new();
    for i in 1..=ROUNDS {
        let name = format!("u{i}");
        site.write(&user(&name, MD5, ""));
        // this connection takes the process forked ahead; the next one is
        // forked as the signal arrives
        let taken = std::net::TcpStream::connect(d.addr).unwrap();
        d.hangup();
        d.wait_lines("SIGHUP: accounts reloaded", i);
        drop(taken);
        let mut r = Raw::connect(d.addr);
        let reply = try_login(&mut r, &name, PASSWORD);
        if !reply.starts_with("230") {
            missed.push((i, reply));
        }
    }
    // a reload the last signal caused twice is logged by now
    let mut r = Raw::connect(d.addr);
    assert!(try_login(&mut r, &format!("u{ROUNDS}"), PASSWORD).starts_with("230"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        missed.is_empty(),
        "logins with the accounts of before: {missed:?}"
    );
    assert_eq!(
        d.lines("accounts reloaded").len(),
        ROUNDS,
        "{ROUNDS} signals, reloads:\n{}",
        d.lines("accounts reloaded").join("\n")
    );
}

/// `ftpdlib hash-password` with `password` on standard input: the hash.
fn hash_password_cli(password: &str) -> String {
    let mut child = bin()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    lines[0].to_string()
}

#[test]
fn hash_password_makes_a_hash_that_logs_in() {
    let hash = hash_password_cli("pa ss:wörd");
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert_ne!(hash, hash_password_cli("pa ss:wörd"), "salted");
    let site = Site::new();
    // no home: -d is the home
    site.write(&format!(
        "[[user]]\nname = \"carol\"\npassword = \"{hash}\"\n"
    ));
    let d = Daemon::start(&[
        "--users-file",
        site.users().to_str().unwrap(),
        "-d",
        site.path("pub").to_str().unwrap(),
        "--max-login-attempts",
        "5",
    ]);
    let mut r = Raw::connect(d.addr);
    assert!(try_login(&mut r, "carol", "pa ss:wörd ").starts_with("530"));
    assert_eq!(
        try_login(&mut r, "carol", "pa ss:wörd"),
        "230 Login successful."
    );
    assert_eq!(retr(&mut r, "pub.txt"), b"public bytes\n");
    // no [anonymous] table: no anonymous login, though -d is given
    let mut r = Raw::connect(d.addr);
    assert!(try_login(&mut r, "anonymous", "x@").starts_with("530"));

    // an empty line or nothing at all is refused
    for input in ["\n", ""] {
        let mut child = bin()
            .arg("hash-password")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
}

/// Run `ftpdlib args`, which must refuse to start: (exit code, stderr).
fn refused(args: &[&str]) -> (Option<i32>, String) {
    common::exit_of(
        bin().args(["-i", "127.0.0.1", "-p", "0"]).args(args),
        Duration::from_secs(20),
    )
}

#[test]
fn an_unusable_users_file_is_refused_at_startup_with_its_line() {
    let site = Site::new();
    let users = site.users();
    let u = users.to_str().unwrap();
    // (file, line, text the error names)
    let cases = [
        (
            format!("{}colour = \"blue\"\n", user("a", MD5, "")),
            7,
            "colour",
        ),
        (user("a", "plaintext", ""), 3, "hash"),
        (user("a", MD5, "perm = \"elr\""), 6, "duplicate key"),
        (
            format!(
                "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\nperm = \"elrX\"\n"
            ),
            5,
            "'X'",
        ),
        (
            user("a", MD5, "allow_from = [\"300.1.1.1/8\"]"),
            6,
            "300.1.1.1/8",
        ),
        // a hash whose every check (a wrong password's, an unknown
        // name's) would cost 2 GiB, or days of CPU
        (
            user(
                "a",
                "$argon2id$v=19$m=2097152,t=1,p=4$1JPUNM4h839aYqhlgwr1ZA$vZ1cGB8qmY6Xc8Sawfqb9tnbXno61o+LLfvUoCtlJbo",
                "",
            ),
            3,
            "argon2 cost too high",
        ),
        (
            user(
                "a",
                "$2b$31$7yrbzE4qBfObfldmgueHLeinNv/WRV4YnHpQqQjQepBaRA2EOefI2",
                "",
            ),
            3,
            "bcrypt cost 31 too high",
        ),
    ];
    for (text, line, says) in &cases {
        site.write(text);
        let (code, err) = refused(&["--users-file", u]);
        assert_eq!(code, Some(2), "{text}\n{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].starts_with("ftpdlib: error: "), "{err}");
        assert!(lines[0].contains(&format!("{u}:{line}: ")), "{err}");
        assert!(lines[0].contains(says), "{err}");
    }
    let (code, err) = refused(&["--users-file", "/nonexistent/users.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/users.toml"), "{err}");
}

#[test]
fn write_username_and_password_do_not_combine_with_a_users_file() {
    let site = Site::new();
    site.write(&user("a", MD5, ""));
    let u = site.users();
    let u = u.to_str().unwrap();
    for (extra, names) in [
        (&["-w"][..], "--write"),
        (&["-u", "joe"][..], "--username"),
        (&["-P", "pw"][..], "--password"),
    ] {
        let (code, err) = refused(&[&["--users-file", u][..], extra].concat());
        assert_eq!(code, Some(2), "{extra:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{extra:?}: {err}");
        assert!(lines[0].contains("--users-file"), "{err}");
        assert!(lines[0].contains(names), "{err}");
    }
}

#[test]
fn a_users_file_combines_with_the_server_options() {
    let site = Site::new();
    site.write(&format!(
        "{}[anonymous]\nhome = \"pub\"\n",
        user("a", MD5, "")
    ));
    let d = Daemon::start(&[
        "--users-file",
        site.users().to_str().unwrap(),
        "--concurrency",
        "async",
        "-r",
        "40000-40100",
        "--banner",
        "users here",
        "--max-cons",
        "10",
        "-d",
        site.path("pub").to_str().unwrap(),
    ]);
    let mut r = Raw::connect(d.addr);
    assert_eq!(r.greeting, "220 users here");
    assert_eq!(try_login(&mut r, "a", PASSWORD), "230 Login successful.");
    let port = r.epsv();
    assert!((40000..=40100).contains(&port), "{port}");
    drop(r);
    let mut r = Raw::connect(d.addr);
    assert_eq!(try_login(&mut r, "anonymous", ""), "230 Login successful.");
    assert_eq!(retr(&mut r, "pub.txt"), b"public bytes\n");
    assert!(d
        .lines("users file")
        .iter()
        .any(|l| l.contains("1 users, anonymous login on")));
}

/// Drives `ftpdlib hash-password` on a pseudo-terminal: answers each
/// prompt with the next argument, prints what the terminal showed (as
/// Python's repr) and the exit code.
const ON_A_TERMINAL: &str = r#"
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "hash-password"])
out = b""
def read(until, start=0, limit=20):
    global out
    end = time.time() + limit
    while (until is None or until not in out[start:]) and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
        elif until is None:
            return
def echo_off(limit=20):
    global out
    # the master reports the terminal's settings: type only once echo is off
    end = time.time() + limit
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        if time.time() > end:
            out += b"<echo stayed on>"
            return
        time.sleep(0.01)
for answer in sys.argv[2:]:
    read(b": ", len(out))
    echo_off()
    out += b"<typed>"
    os.write(fd, answer.encode() + b"\n")
read(None)
_, status = os.waitpid(pid, 0)
print(repr(out.decode()))
print(os.waitstatus_to_exitcode(status))
"#;

#[test]
fn hash_password_on_a_terminal_asks_twice_without_echo() {
    if !common::have("python3") {
        eprintln!("skipped: python3 (for its pty module) is not installed");
        return;
    }
    let run = |answers: &[&str]| {
        let out = Command::new("python3")
            .arg("-c")
            .arg(ON_A_TERMINAL)
            .arg(env!("CARGO_BIN_EXE_ftpdlib"))
            .args(answers)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let (screen, code) = text.trim_end().rsplit_once('\n').unwrap();
        (screen.to_string(), code.parse::<i32>().unwrap())
    };
    let (screen, code) = run(&["tty secret", "tty secret"]);
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("tty secret"), "echoed: {screen}");
    assert!(screen.contains("Password: <typed>"), "{screen}");
    assert!(screen.contains("(again): <typed>"), "{screen}");
    let at = screen
        .find("$argon2id$")
        .unwrap_or_else(|| panic!("no hash in {screen}"));
    // the repr of the screen shows the line's end as `\r\n`
    let hash = screen[at..].split('\\').next().unwrap();
    assert_eq!(ftpdlib::auth::hash::verify(hash, b"tty secret"), Ok(true));

    let (screen, code) = run(&["one", "two"]);
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("differ"), "{screen}");
    assert!(!screen.contains("$argon2"), "{screen}");
}
