//! Shared harness for the end-to-end tests: a real server on a loopback
//! address with port 0, a temporary home directory, recorded event
//! callbacks and captured log lines.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

pub mod delayfs;
pub mod procs;
pub mod slowfs;

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::events::{EventHandler, SessionInfo};
use ftpdlib::server::{ServerBuilder, ServerProcess, ShutdownHandle};
use ftpdlib::ServerConfig;

/// Full permissions user.
pub const USER: &str = "user";
/// Its password.
pub const PASS: &str = "12345";
/// Read-only user.
pub const RO_USER: &str = "reader";
/// Its password.
pub const RO_PASS: &str = "pw";

/// Every event callback, recorded as `name arg`, one line each, appended to
/// a file: the fork-based models fire callbacks in child processes.
///
/// Each `on_connect` also records where it ran (process id and thread
/// name), which proves the session ran in the concurrency model under test.
pub struct Recorder {
    file: std::fs::File,
    path: PathBuf,
    origins: std::fs::File,
    origins_path: PathBuf,
    _dir: tempfile::TempDir,
}

fn append_only(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

impl Default for Recorder {
    fn default() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events");
        let origins_path = dir.path().join("origins");
        Recorder {
            file: append_only(&path),
            path,
            origins: append_only(&origins_path),
            origins_path,
            _dir: dir,
        }
    }
}

impl Recorder {
    fn push(&self, s: String) {
        use std::io::Write;
        // one write(2) on an O_APPEND file: lines from several processes never mix
        let _ = (&self.file).write_all(format!("{s}\n").as_bytes());
    }

    /// The recorded events so far.
    pub fn list(&self) -> Vec<String> {
        read_lines(&self.path)
    }

    /// Where each `on_connect` ran so far: (process id, thread name).
    pub fn origins(&self) -> Vec<(u32, String)> {
        read_lines(&self.origins_path)
            .iter()
            .filter_map(|l| {
                let (pid, thread) = l.split_once(' ')?;
                Some((pid.parse().ok()?, thread.to_string()))
            })
            .collect()
    }

    /// Panic unless every session so far ran the way `model` runs sessions:
    /// on the thread pool's or the poll loop's thread of this process, in a
    /// child process of its own each, or in one of the pre-fork workers.
    pub fn assert_served_by(&self, model: ftpdlib::ConcurrencyModel) {
        use ftpdlib::ConcurrencyModel as M;
        let me = std::process::id();
        let origins = self.origins();
        let pids: std::collections::HashSet<u32> = origins.iter().map(|o| o.0).collect();
        match model {
            M::ThreadPool | M::Poll => {
                let thread = if model == M::Poll {
                    "ftp-poll"
                } else {
                    "ftp-session"
                };
                for (pid, name) in &origins {
                    assert!(
                        *pid == me && name == thread,
                        "{model:?}: a session ran in process {pid} thread {name}, not in {me} {thread}"
                    );
                }
            }
            M::Process => {
                assert!(
                    !pids.contains(&me),
                    "{model:?}: a session ran in the test process"
                );
                assert_eq!(
                    pids.len(),
                    origins.len(),
                    "{model:?}: sessions shared a process: {origins:?}"
                );
            }
            M::Prefork { workers } => {
                assert!(
                    !pids.contains(&me),
                    "{model:?}: a session ran in the test process"
                );
                // a worker that died is replaced, so allow one more per session lost
                assert!(
                    pids.len() <= workers.max(1) || pids.len() < origins.len(),
                    "{model:?}: {} worker processes served {} sessions",
                    pids.len(),
                    origins.len()
                );
            }
            other => panic!("no check for the concurrency model {other:?}"),
        }
    }

    /// Wait (bounded) until `pred` holds for the recorded events.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        for _ in 0..500 {
            let l = self.list();
            if pred(&l) {
                return l;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out waiting for {what}; events: {:?}", self.list());
    }
}

impl EventHandler for Recorder {
    fn on_connect(&self, _s: &SessionInfo) {
        use std::io::Write;
        let thread = std::thread::current().name().unwrap_or("").to_string();
        let line = format!("{} {thread}\n", std::process::id());
        let _ = (&self.origins).write_all(line.as_bytes());
        self.push("connect".into());
    }
    fn on_disconnect(&self, _s: &SessionInfo) {
        self.push("disconnect".into());
    }
    fn on_login(&self, _s: &SessionInfo, u: &str) {
        self.push(format!("login {u}"));
    }
    fn on_login_failed(&self, _s: &SessionInfo, u: &str, p: &str) {
        self.push(format!("login_failed {u} {p}"));
    }
    fn on_logout(&self, _s: &SessionInfo, u: &str) {
        self.push(format!("logout {u}"));
    }
    fn on_file_sent(&self, _s: &SessionInfo, f: &Path) {
        self.push(format!("file_sent {}", f.display()));
    }
    fn on_file_received(&self, _s: &SessionInfo, f: &Path) {
        self.push(format!("file_received {}", f.display()));
    }
    fn on_incomplete_file_sent(&self, _s: &SessionInfo, f: &Path) {
        self.push(format!("incomplete_file_sent {}", f.display()));
    }
    fn on_incomplete_file_received(&self, _s: &SessionInfo, f: &Path) {
        self.push(format!("incomplete_file_received {}", f.display()));
    }
}

/// A running server for one test; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub auth: Arc<MemoryAuthorizer>,
    pub events: Arc<Recorder>,
    /// The concurrency model it must run (checked on drop).
    pub model: ftpdlib::ConcurrencyModel,
    running: Running,
}

/// How a test server runs: on a thread of the test, or (forking models) in
/// a supervisor process of its own, so that the sessions it forks never
/// inherit the test's client sockets.
enum Running {
    Thread(ShutdownHandle),
    Process(Option<ServerProcess>),
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.events.assert_served_by(self.model);
        }
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

/// Start a server on 127.0.0.1 with test-friendly settings (no failed-login delay), changed by `f`.
pub fn start(f: impl FnOnce(&mut ServerConfig)) -> TestServer {
    start_on("127.0.0.1".parse().unwrap(), f)
}

/// Start a server on `ip` (port 0).
pub fn start_on(ip: IpAddr, f: impl FnOnce(&mut ServerConfig)) -> TestServer {
    start_full(ip, f, |_, _| {}, |b| b)
}

/// Start a server on 127.0.0.1 whose users work in the filesystems of `fs`.
pub fn start_fs(
    fs: impl ftpdlib::fs::FilesystemFactory + 'static,
    f: impl FnOnce(&mut ServerConfig),
) -> TestServer {
    start_full(
        "127.0.0.1".parse().unwrap(),
        f,
        |_, _| {},
        |b| b.filesystem(fs),
    )
}

/// Start a server on 127.0.0.1 after `setup` added users or permission
/// overrides (given the authorizer and the home directory): pre-fork workers
/// see the authorizer as it was when they were forked.
pub fn start_setup(
    f: impl FnOnce(&mut ServerConfig),
    setup: impl FnOnce(&MemoryAuthorizer, &Path),
) -> TestServer {
    start_full("127.0.0.1".parse().unwrap(), f, setup, |b| b)
}

fn start_full(
    ip: IpAddr,
    f: impl FnOnce(&mut ServerConfig),
    setup: impl FnOnce(&MemoryAuthorizer, &Path),
    build: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> TestServer {
    start_built(ip, f, setup, |a| {
        build(ServerBuilder::with_shared_authorizer(a))
    })
}

/// [`start_setup`] with the server built by `build` from the authorizer
/// (e.g. to wrap it, or to add `.filesystem(...)`).
pub fn start_with(
    f: impl FnOnce(&mut ServerConfig),
    setup: impl FnOnce(&MemoryAuthorizer, &Path),
    build: impl FnOnce(Arc<MemoryAuthorizer>) -> ServerBuilder,
) -> TestServer {
    start_built("127.0.0.1".parse().unwrap(), f, setup, build)
}

fn start_built(
    ip: IpAddr,
    f: impl FnOnce(&mut ServerConfig),
    setup: impl FnOnce(&MemoryAuthorizer, &Path),
    build: impl FnOnce(Arc<MemoryAuthorizer>) -> ServerBuilder,
) -> TestServer {
    init_logging();
    let dir = tempfile::tempdir().unwrap();
    let auth = Arc::new(MemoryAuthorizer::new());
    auth.add_user(USER, PASS, dir.path(), "elradfmwMT").unwrap();
    auth.add_user(RO_USER, RO_PASS, dir.path(), "elr").unwrap();
    auth.add_anonymous(dir.path()).unwrap();
    setup(&auth, dir.path());
    let events = Arc::new(Recorder::default());
    let mut cfg = ServerConfig {
        auth_failed_delay: Duration::ZERO,
        concurrency: model(),
        ..ServerConfig::default()
    };
    let given = cfg.concurrency;
    f(&mut cfg);
    let cfg_model = cfg.concurrency;
    // what the test asked for: its own choice, else the model of `each_model!`
    let wanted = if cfg_model != given {
        cfg_model
    } else {
        model()
    };
    let server = build(auth.clone())
        .config(cfg)
        .shared_events(events.clone())
        .bind(SocketAddr::new(ip, 0))
        .unwrap();
    let addr = server.local_addr().unwrap();
    let running = if is_forking(cfg_model) {
        Running::Process(Some(server.spawn_process().unwrap()))
    } else {
        Running::Thread(server.spawn().unwrap().0)
    };
    TestServer {
        addr,
        dir,
        auth,
        events,
        model: wanted,
        running,
    }
}

impl TestServer {
    /// A path inside the shared directory.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `ftp://user:12345@host:port/path` (IPv6 hosts bracketed).
    pub fn url(&self, path: &str) -> String {
        format!(
            "ftp://{USER}:{PASS}@{}/{}",
            self.host_port(),
            path.trim_start_matches('/')
        )
    }

    /// `host:port` for URLs.
    pub fn host_port(&self) -> String {
        match self.addr {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        }
    }

    /// A suppaftp client logged in as the full-permission user, binary mode.
    pub fn client(&self) -> suppaftp::FtpStream {
        let mut c = suppaftp::FtpStream::connect(self.addr).unwrap();
        c.login(USER, PASS).unwrap();
        c.transfer_type(suppaftp::types::FileType::Binary).unwrap();
        c
    }

    /// A raw control connection with its greeting read.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }
}

/// A raw control connection that reads whole replies.
pub struct Raw {
    pub stream: TcpStream,
    reader: std::io::BufReader<TcpStream>,
    pub greeting: String,
}

impl Raw {
    /// Connect and read the greeting.
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::from_stream(TcpStream::connect(addr).unwrap())
    }

    /// Connect from a loopback address of its own (see [`own_loopback`]),
    /// so that its session's `IP:PORT-` log lines are its alone, and read
    /// the greeting. Data connections must come from the same address
    /// ([`connect_from`] with the control connection's local address).
    pub fn connect_own(addr: SocketAddr) -> Raw {
        Raw::connect_from(addr, own_loopback())
    }

    /// Send raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).unwrap();
    }

    /// Send a command line (CRLF added) and read its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Read one complete (possibly multi-line) reply; "" on EOF.
    pub fn reply(&mut self) -> String {
        use std::io::BufRead;
        let mut all = String::new();
        let mut code: Option<String> = None;
        loop {
            let mut line = Vec::new();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => return all,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!(
                        "reading reply: {e} (so far {all:?})\n\
                         server processes:\n{}\nlast log lines:\n{}",
                        procs::descendants_report(),
                        log_tail(80).join("\n")
                    )
                }
                Err(e) => panic!("reading reply: {e} (so far {all:?})"),
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            all.push_str(&line);
            let c = line.get(..3).unwrap_or("").to_string();
            let sep = line.as_bytes().get(3).copied();
            match &code {
                None if sep == Some(b'-') => code = Some(c),
                None => return all.trim_end().to_string(),
                Some(first) if *first == c && sep == Some(b' ') => {
                    return all.trim_end().to_string()
                }
                Some(_) => {}
            }
        }
    }

    /// Log in.
    pub fn login(&mut self, user: &str, pass: &str) {
        assert!(self.cmd(&format!("USER {user}")).starts_with("331"));
        let r = self.cmd(&format!("PASS {pass}"));
        assert!(r.starts_with("230"), "{r}");
    }

    /// PASV, and the data address it announced.
    pub fn pasv(&mut self) -> SocketAddr {
        pasv_addr(&self.cmd("PASV"))
    }

    /// EPSV, and the data port it announced.
    pub fn epsv(&mut self) -> u16 {
        let r = self.cmd("EPSV");
        assert!(r.starts_with("229"), "{r}");
        let inner = &r[r.find("|||").unwrap() + 3..];
        inner[..inner.find('|').unwrap()].parse().unwrap()
    }
}

static LOG_INIT: Once = Once::new();
/// The capture file: unlinked as soon as it is open, so nothing is left
/// behind; forked sessions inherit the descriptor and append to it.
static LOG_FILE: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Log records appended to one file per test binary, one write(2) each, so
/// that forked server processes can log too (and never wait on a lock that
/// another thread held when they were forked).
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _m: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        use std::io::Write;
        if let Some(f) = LOG_FILE.get() {
            let line = format!("[{}] {}", &r.level().as_str()[..1], r.args()).replace('\n', " ");
            let _ = (&*f).write_all(format!("{line}\n").as_bytes());
        }
    }
    fn flush(&self) {}
}

/// Capture every log record of this test binary at DEBUG level.
pub fn init_logging() {
    LOG_INIT.call_once(|| {
        let path = std::env::temp_dir().join(format!("ftpdlib-test-log-{}", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        let _ = LOG_FILE.set(f);
        let _ = log::set_boxed_logger(Box::new(Capture));
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// A loopback address (in 127.64.0.0/16) that no other call in this test
/// binary returns. The captured log is shared by every test of the binary,
/// and sessions are told apart by their client's address and port: two
/// clients from 127.0.0.1 may get the same port from the kernel (connected
/// to different servers, even at the same time), so a test that counts its
/// own session's lines connects from an address of its own.
pub fn own_loopback() -> IpAddr {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    assert!(n < 1 << 16, "out of loopback addresses");
    IpAddr::from([127, 64, (n >> 8) as u8, n as u8])
}

/// The last `n` captured log lines of this test binary.
pub fn log_tail(n: usize) -> Vec<String> {
    let mut all = log_lines("");
    all.drain(..all.len().saturating_sub(n));
    all
}

/// Captured log lines containing `needle` (e.g. a client's `127.0.0.1:PORT` prefix).
pub fn log_lines(needle: &str) -> Vec<String> {
    use std::os::unix::fs::FileExt;
    let Some(f) = LOG_FILE.get() else {
        return Vec::new();
    };
    // positional reads: the appending writers are not disturbed
    let mut buf = vec![0u8; f.metadata().map_or(0, |m| m.len() as usize)];
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], got as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    String::from_utf8_lossy(&buf)
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// Whether a command-line tool is installed.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

thread_local! {
    static MODEL: std::cell::Cell<ftpdlib::ConcurrencyModel> =
        const { std::cell::Cell::new(ftpdlib::ConcurrencyModel::ThreadPool) };
}

/// Run a test body with servers of concurrency model `model`.
///
/// Tests of the forking models run alone: a child forked while another test
/// of this process holds a client socket would keep that socket open (no FIN
/// when the test drops it), so they take the lock exclusively.
pub fn with_model(model: ftpdlib::ConcurrencyModel, body: fn()) {
    static FORK_LOCK: std::sync::RwLock<()> = std::sync::RwLock::new(());
    MODEL.with(|m| m.set(model));
    let forks = is_forking(model);
    if forks {
        let _alone = FORK_LOCK.write().unwrap_or_else(|e| e.into_inner());
        body();
    } else {
        let _shared = FORK_LOCK.read().unwrap_or_else(|e| e.into_inner());
        body();
    }
}

/// The concurrency model [`with_model`] selected for the calling test
/// (`ThreadPool` outside `each_model!`); `start` and friends apply it.
pub fn model() -> ftpdlib::ConcurrencyModel {
    MODEL.with(|m| m.get())
}

/// The data address of a `227` PASV reply (panics on any other reply).
pub fn pasv_addr(r: &str) -> SocketAddr {
    assert!(r.starts_with("227"), "{r}");
    let inner = &r[r.find('(').unwrap() + 1..r.find(')').unwrap()];
    let n: Vec<u16> = inner
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    SocketAddr::from((
        [n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8],
        n[4] * 256 + n[5],
    ))
}

/// Whether `model` serves sessions in child processes.
pub fn is_forking(model: ftpdlib::ConcurrencyModel) -> bool {
    matches!(
        model,
        ftpdlib::ConcurrencyModel::Process | ftpdlib::ConcurrencyModel::Prefork { .. }
    )
}

/// Whether the selected model forks sessions into child processes; `start`
/// and friends then run the server in a supervisor process of its own
/// (`FtpServer::spawn_process`), so changes to the authorizer after the
/// start do not reach it.
pub fn forks() -> bool {
    is_forking(model())
}

/// Generate, for each named test body `fn name()`, one `#[test]` per
/// concurrency model: `threads::name`, `poll::name`, `process::name` and
/// `prefork::name`.
#[macro_export]
macro_rules! each_model {
    ($($name:ident),* $(,)?) => {
        mod threads {
            $(#[test] fn $name() { $crate::common::with_model(ftpdlib::ConcurrencyModel::ThreadPool, super::$name) })*
        }
        mod poll {
            $(#[test] fn $name() { $crate::common::with_model(ftpdlib::ConcurrencyModel::Poll, super::$name) })*
        }
        mod process {
            $(#[test] fn $name() { $crate::common::with_model(ftpdlib::ConcurrencyModel::Process, super::$name) })*
        }
        mod prefork {
            $(#[test] fn $name() { $crate::common::with_model(ftpdlib::ConcurrencyModel::Prefork { workers: 2 }, super::$name) })*
        }
    };
}

// --- helpers added for tests/limits.rs and tests/events_logging.rs

/// A TCP connection to `addr` from the local address `src` (e.g. 127.0.0.2,
/// any port): Linux routes all of 127.0.0.0/8 over the loopback interface.
pub fn connect_from(addr: SocketAddr, src: IpAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(src, 0).into()).unwrap();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

impl Raw {
    /// Wrap a connected control stream and read the greeting.
    pub fn from_stream(stream: TcpStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut r = Raw {
            stream,
            reader,
            greeting: String::new(),
        };
        r.greeting = r.reply();
        r
    }

    /// Connect from the local address `src` and read the greeting.
    pub fn connect_from(addr: SocketAddr, src: IpAddr) -> Raw {
        Raw::from_stream(connect_from(addr, src))
    }
}

/// The `ftpdlib` binary on a free loopback port (user `user`/`12345`, write
/// access, home `dir`), killed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `ftpdlib -w` on a free loopback port with extra arguments.
pub fn daemon(args: &[&str]) -> Daemon {
    daemon_env(args, &[])
}

/// [`daemon`] with extra environment variables (e.g. `TZ`).
pub fn daemon_env(args: &[&str], env: &[(&str, &str)]) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["-w", "-u", "user", "-P", "12345", "-d"];
    let d = dir.path().to_str().unwrap().to_owned();
    all.push(&d);
    all.extend_from_slice(args);
    spawn_daemon(&all, env, dir)
}

/// `ftpdlib` on a free loopback port with exactly these arguments (plus
/// `-i`, `-p` and `--banner`); `dir` is kept alive with it.
pub fn daemon_bare(args: &[&str]) -> Daemon {
    spawn_daemon(args, &[], tempfile::tempdir().unwrap())
}

fn spawn_daemon(args: &[&str], env: &[(&str, &str)], dir: tempfile::TempDir) -> Daemon {
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // our own banner: a greeting from another test's server that raced us
        // to the same port is never taken for ours
        let token = format!("ftpdlib-test-{}-{port}", std::process::id());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ftpdlib"))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .args(["--banner", &token])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break; // port taken: try another
            }
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                let mut line = String::new();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                if std::io::BufRead::read_line(&mut std::io::BufReader::new(s), &mut line).is_ok()
                    && line.starts_with("220")
                    && line.contains(&token)
                {
                    return Daemon { child, addr, dir };
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("ftpdlib did not start");
}

// --- helpers added for tests/ftps.rs

/// A self-signed certificate for the FTPS tests, generated once per test
/// process (never checked in): `ftpdlib::tls::self_signed` for `localhost`
/// and `127.0.0.1`, valid for two days; written to
/// `target/tmp/ftpdlib-test-cert-PID/{cert,key}.pem`.
pub struct TestCert {
    /// The certificate, PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: Vec<u8>,
    /// `cert.pem` in a directory of its own.
    pub cert_path: PathBuf,
    /// `key.pem` next to it.
    pub key_path: PathBuf,
}

/// The test certificate (see [`TestCert`]).
pub fn test_cert() -> &'static TestCert {
    static CERT: std::sync::OnceLock<TestCert> = std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let (cert_pem, key_pem) =
            ftpdlib::tls::self_signed(&["localhost", "127.0.0.1"], 2).unwrap();
        // Under target/tmp, one directory per test process; those of test
        // processes that are gone are removed (a static is never dropped).
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let prefix = "ftpdlib-test-cert-";
        for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(prefix) {
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = tmp.join(format!("{prefix}{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        TestCert {
            cert_pem,
            key_pem,
            cert_path,
            key_path,
        }
    })
}

/// A [`ftpdlib::tls::TlsConfig`] with the test certificate, loaded from its
/// files, with every policy switch off.
pub fn test_tls_config() -> ftpdlib::tls::TlsConfig {
    let c = test_cert();
    ftpdlib::tls::TlsConfig::from_pem_files(&c.cert_path, Some(&c.key_path)).unwrap()
}

/// Run `cmd` (stdout discarded, stderr captured) until it exits, at most
/// `within`: its exit code and standard error. Panics, after killing it,
/// if it is still running then (a command that must refuse to start).
pub fn exit_of(cmd: &mut std::process::Command, within: Duration) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // read stderr on the side, so that a chatty child never blocks on a full pipe
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let deadline = std::time::Instant::now() + within;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still runs after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.code(), reader.join().unwrap())
}
