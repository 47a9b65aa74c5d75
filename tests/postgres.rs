//! The PostgreSQL authorizer against a real database: a throwaway
//! PostgreSQL cluster per test (`initdb` + `pg_ctl` in a temporary
//! directory, on 127.0.0.1 at a free port), the real server in every
//! concurrency model, real logins; the database stopped and started again
//! under a running server; the `ftpdlib db` commands and `--db-url`.
//!
//! Needs PostgreSQL's server programs (Debian: `postgresql-15`, which
//! `.ci/run` installs); without them the tests say so and pass, except
//! under CI (`CI` set), where they fail.
#![cfg(feature = "postgres")]

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Raw;
use ftpdlib::auth::hash::hash_password;
use ftpdlib::auth::pg::{PgAuthorizer, PgOptions};
use ftpdlib::auth::{AuthError, Authorizer};
use ftpdlib::server::ServerBuilder;

/// A PostgreSQL cluster of its own, stopped and removed when dropped.
struct PgCluster {
    bin: PathBuf,
    /// Owned by the user the server runs as; holds `data/`, the socket and the log.
    dir: tempfile::TempDir,
    port: u16,
}

/// Where PostgreSQL's server programs are (the newest version installed).
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

impl PgCluster {
    /// A new cluster, running; `None` (after saying why) when PostgreSQL
    /// is not installed and this is not CI.
    fn start() -> Option<PgCluster> {
        let Some(bin) = pg_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL's server programs are missing (apt-get install postgresql-15)"
            );
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql-15)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            // initdb and postgres refuse to run as root
            let pg = uzers::get_user_by_name("postgres").expect("a postgres system user");
            std::os::unix::fs::chown(dir.path(), Some(pg.uid()), Some(pg.primary_group_id()))
                .unwrap();
        }
        let cluster = PgCluster { bin, dir, port: 0 };
        let out = cluster
            .pg_command("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {out:?}");
        let mut cluster = cluster;
        // a free port; taken meanwhile by someone else: try another
        for _ in 0..5 {
            cluster.port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if cluster.try_start() {
                return Some(cluster);
            }
        }
        panic!("PostgreSQL did not start: {}", cluster.log());
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command of PostgreSQL's `bin/`, run as `postgres` when we are root.
    fn pg_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        c.stdin(Stdio::null());
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn try_start(&self) -> bool {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "30", "start"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Start it again after [`PgCluster::stop`], on the same port.
    fn start_again(&self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not restart: {}",
            self.log()
        );
    }

    /// `pg_ctl stop -m fast`: clients are disconnected, nothing listens.
    fn stop(&self) {
        let ok = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "30", "stop"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "pg_ctl stop failed: {}", self.log());
    }

    /// Stop every process of the cluster (SIGSTOP) until the guard is
    /// dropped (SIGCONT).
    fn freeze(&self) -> Frozen {
        let pid = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let pid: i32 = pid.lines().next().unwrap().trim().parse().unwrap();
        let out = Command::new("pgrep")
            .args(["-P", &pid.to_string()])
            .output()
            .unwrap();
        let mut pids = vec![pid];
        pids.extend(
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(|p| p.parse::<i32>().unwrap()),
        );
        let frozen = Frozen(pids);
        for &p in &frozen.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGSTOP,
            );
        }
        frozen
    }

    /// The URL of its `postgres` database, by TCP.
    fn url(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// The same database through the Unix socket in the cluster's directory.
    fn socket_url(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.path().display(),
            self.port
        )
    }

    /// A client for setting up rows.
    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // even when the test failed; an already stopped cluster says so, harmlessly
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Processes stopped by [`PgCluster::freeze`], continued when dropped.
struct Frozen(Vec<i32>);

impl Drop for Frozen {
    fn drop(&mut self) {
        for &p in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGCONT,
            );
        }
    }
}

fn is_root() -> bool {
    uzers::get_effective_uid() == 0
}

/// Options with short deadlines, so that a test of the database going away
/// is quick.
fn quick() -> PgOptions {
    let mut o = PgOptions::default();
    o.connect_timeout = Duration::from_secs(2);
    o
}

/// Homes for the users of [`fill`]: `alice/` (with `ro/seed.txt`), `bob/`
/// (with `hello.txt`), `pub/`.
struct Homes {
    dir: tempfile::TempDir,
}

impl Homes {
    fn new() -> Homes {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("alice/ro")).unwrap();
        std::fs::write(dir.path().join("alice/ro/seed.txt"), b"seed").unwrap();
        std::fs::create_dir_all(dir.path().join("bob")).unwrap();
        std::fs::write(dir.path().join("bob/hello.txt"), b"hello from bob").unwrap();
        std::fs::create_dir_all(dir.path().join("pub")).unwrap();
        Homes { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

/// Create the tables and the users: `alice` (all letters, a read-only
/// `ro/`, her own login message), `bob` (read-only, an md5 legacy hash),
/// `carol` (disabled), `anonymous` (no password: any goes).
fn fill(pg: &PgCluster, homes: &Homes) {
    let admin = PgAuthorizer::new(&pg.url()).unwrap();
    admin.init_schema().unwrap();
    admin.init_schema().unwrap(); // idempotent
    let home = |u: &str| homes.path(u).display().to_string();
    let mut c = pg.client();
    c.execute(
        "INSERT INTO ftp_users (name, password, home, perm, msg_login, msg_quit)
         VALUES ('alice', $1, $2, 'elradfmwMT', 'Hello alice, from the database.', 'Bye alice.')",
        &[&hash_password(b"alice-pw").unwrap(), &home("alice")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO ftp_perm_overrides (username, path, perm, recursive)
         VALUES ('alice', 'ro', 'elr', true)",
        &[],
    )
    .unwrap();
    let md5 = format!("md5:{:x}", md5::compute(b"bob-pw"));
    c.execute(
        "INSERT INTO ftp_users (name, password, home, perm) VALUES ('bob', $1, $2, 'elr')",
        &[&md5, &home("bob")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO ftp_users (name, password, home, perm, disabled)
         VALUES ('carol', $1, $2, 'elradfmwMT', true)",
        &[&hash_password(b"carol-pw").unwrap(), &home("alice")],
    )
    .unwrap();
    c.execute(
        "INSERT INTO ftp_users (name, password, home, perm) VALUES ('anonymous', NULL, $1, 'elr')",
        &[&home("pub")],
    )
    .unwrap();
}

/// The test server (the each_model! model) serving `auth`.
fn serve(auth: Arc<PgAuthorizer>) -> common::TestServer {
    common::start_with(
        |_| {},
        |_, _| {},
        move |_| ServerBuilder::with_shared_authorizer(auth),
    )
}

/// USER + PASS on a new connection: the reply to PASS.
fn try_login(addr: SocketAddr, user: &str, pass: &str) -> String {
    let mut r = Raw::connect(addr);
    let u = r.cmd(&format!("USER {user}"));
    assert!(u.starts_with("331"), "{u}");
    r.cmd(&format!("PASS {pass}"))
}

fn ftp(addr: SocketAddr, user: &str, pass: &str) -> suppaftp::FtpStream {
    let mut c = suppaftp::FtpStream::connect(addr).unwrap();
    c.login(user, pass).unwrap();
    c.transfer_type(suppaftp::types::FileType::Binary).unwrap();
    c
}

#[track_caller]
fn assert_code(reply: &str, code: &str) {
    assert!(reply.starts_with(code), "expected {code}, got {reply:?}");
}

/// Right password in, wrong and unknown out; homes, letters, overrides and
/// messages from the rows apply.
fn logins_and_permissions() {
    let Some(pg) = PgCluster::start() else { return };
    let homes = Homes::new();
    fill(&pg, &homes);
    let auth = Arc::new(PgAuthorizer::with_options(&pg.url(), quick()).unwrap());
    // The test process uses the authorizer before the server forks: the
    // forked sessions and workers must open connections of their own.
    assert!(auth.authenticate("alice", "alice-pw").is_ok());
    let server = serve(auth.clone());
    let addr = server.addr;

    // alice: her message, her home, write access, but not in ro/
    let mut r = Raw::connect(addr);
    assert_code(&r.cmd("USER alice"), "331");
    let welcome = r.cmd("PASS alice-pw");
    assert_code(&welcome, "230");
    assert!(
        welcome.contains("Hello alice, from the database."),
        "{welcome}"
    );
    assert_code(&r.cmd("PWD"), "257 \"/\"");
    let bye = r.cmd("QUIT");
    assert!(
        bye.starts_with("221") && bye.contains("Bye alice."),
        "{bye}"
    );

    let mut c = ftp(addr, "alice", "alice-pw");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c.put_file("up.bin", &mut &data[..]).unwrap();
    assert_eq!(std::fs::read(homes.path("alice/up.bin")).unwrap(), data);
    assert_eq!(c.retr_as_buffer("up.bin").unwrap().into_inner(), data);
    let names = c.nlst(None).unwrap();
    assert!(names.iter().any(|n| n.ends_with("ro")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("hello.txt")), "{names:?}");
    assert_eq!(
        c.retr_as_buffer("ro/seed.txt").unwrap().into_inner(),
        b"seed"
    );
    let refused = c.put_file("ro/new.txt", &mut &b"no"[..]).unwrap_err();
    assert!(refused.to_string().contains("550"), "{refused}");
    assert!(!homes.path("alice/ro/new.txt").exists());
    assert!(c.rm("ro/seed.txt").unwrap_err().to_string().contains("550"));
    c.quit().unwrap();

    // bob: read-only in his own home, an md5 legacy hash
    let mut b = ftp(addr, "bob", "bob-pw");
    assert_eq!(
        b.retr_as_buffer("hello.txt").unwrap().into_inner(),
        b"hello from bob"
    );
    let refused = b.put_file("x.txt", &mut &b"no"[..]).unwrap_err();
    assert!(refused.to_string().contains("550"), "{refused}");
    assert!(!homes.path("bob/x.txt").exists());
    b.quit().unwrap();

    // many logins at once: in the forking models each process has
    // connections of its own (the ones inherited from the test process
    // would be shared by all of them)
    let at_once: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let (user, pass) = if i % 2 == 0 {
                    ("alice", "alice-pw")
                } else {
                    ("bob", "bob-pw")
                };
                try_login(addr, user, pass)
            })
        })
        .collect();
    for t in at_once {
        assert_code(&t.join().unwrap(), "230");
    }

    // refused: wrong password, unknown user, disabled user, bad names
    assert_code(&try_login(addr, "alice", "wrong"), "530");
    assert_code(&try_login(addr, "bob", "alice-pw"), "530");
    assert_code(&try_login(addr, "nobody", "alice-pw"), "530");
    assert_code(&try_login(addr, "carol", "carol-pw"), "530");
    assert_code(&try_login(addr, "alice'--", "x"), "530");
    // anonymous has no password in its row: any goes, read-only, in pub/
    assert_code(&try_login(addr, "anonymous", "guest@example.com"), "230");
    let mut a = ftp(addr, "anonymous", "x");
    assert!(a
        .put_file("f", &mut &b"no"[..])
        .unwrap_err()
        .to_string()
        .contains("550"));
    a.quit().unwrap();
    drop(server);
}

/// The database stopped under a running server: logins are refused
/// within a bounded time, the server and its sessions live on; started
/// again: logins work again.
fn database_stopped_and_started() {
    let Some(pg) = PgCluster::start() else { return };
    let homes = Homes::new();
    fill(&pg, &homes);
    let auth = Arc::new(PgAuthorizer::with_options(&pg.url(), quick()).unwrap());
    let server = serve(auth);
    let addr = server.addr;

    let mut kept = Raw::connect(addr);
    kept.login("alice", "alice-pw");
    assert_code(&try_login(addr, "bob", "bob-pw"), "230");

    pg.stop();
    for _ in 0..2 {
        let start = Instant::now();
        let r = try_login(addr, "alice", "alice-pw");
        assert!(r.starts_with("530") || r.starts_with("421"), "{r}");
        // connect_timeout is 2 s: the pool's wait, plus a little
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "refused after {:?}",
            start.elapsed()
        );
    }
    // the server and the logged-in session are alive
    assert_code(&kept.cmd("NOOP"), "200");
    assert_code(&kept.cmd("PWD"), "257");
    assert_code(&Raw::connect(addr).cmd("NOOP"), "200");
    assert!(
        !common::log_lines("PostgreSQL unavailable").is_empty(),
        "the failure is logged"
    );

    pg.start_again();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = try_login(addr, "alice", "alice-pw");
        if r.starts_with("230") {
            break;
        }
        assert!(Instant::now() < end, "no login since the restart: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // every worker's pool recovers: a few more in a row all work
    for _ in 0..6 {
        assert_code(&try_login(addr, "bob", "bob-pw"), "230");
    }
    assert_code(&kept.cmd("NOOP"), "200");
    drop(server);
}

/// The database frozen (every process of the cluster stopped with
/// SIGSTOP: the kernel still accepts connections and data, nobody
/// answers) under a running server, after a login left a connection in
/// the pool: logins are refused within their deadlines instead of waiting
/// for ever; thawed, logins work again.
fn database_frozen_and_thawed() {
    let Some(pg) = PgCluster::start() else { return };
    let homes = Homes::new();
    fill(&pg, &homes);
    let mut options = quick();
    options.statement_timeout = Duration::from_secs(2);
    let auth = Arc::new(PgAuthorizer::with_options(&pg.url(), options).unwrap());
    let server = serve(auth);
    let addr = server.addr;
    assert_code(&try_login(addr, "alice", "alice-pw"), "230");
    let mut kept = Raw::connect(addr);
    kept.login("bob", "bob-pw");

    let frozen = pg.freeze();
    for _ in 0..2 {
        let start = Instant::now();
        let r = try_login(addr, "alice", "alice-pw");
        assert!(r.starts_with("530") || r.starts_with("421"), "{r}");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "refused after {:?}",
            start.elapsed()
        );
    }
    assert_code(&kept.cmd("NOOP"), "200");
    drop(frozen);

    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = try_login(addr, "alice", "alice-pw");
        if r.starts_with("230") {
            break;
        }
        assert!(Instant::now() < end, "no login since the thaw: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..4 {
        assert_code(&try_login(addr, "bob", "bob-pw"), "230");
    }
    drop(server);
}

each_model!(
    logins_and_permissions,
    database_stopped_and_started,
    database_frozen_and_thawed
);

/// A listener that accepts connections and never says a word (a stopped
/// or wedged server, as seen by a client); the connections stay open.
fn silent_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming() {
            held.push(c);
        }
    });
    addr
}

/// A database that accepts and never answers: every call gives up within
/// its deadline (the driver's own connect timeout covers only the socket),
/// with a pool and without, and the command line exits 2 instead of
/// waiting for ever.
#[test]
fn a_database_that_never_answers_is_given_up() {
    let addr = silent_server();
    let url = format!("postgresql://postgres@{addr}/postgres?sslmode=disable");
    for pool_size in [0, 2] {
        let mut options = quick();
        options.pool_size = pool_size;
        let auth = PgAuthorizer::with_options(&url, options).unwrap();
        let start = Instant::now();
        // on a thread of its own, so that a wait for ever fails the test
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let checked = auth.check();
            let login = auth.authenticate("alice", "alice-pw");
            let _ = tx.send((checked, login));
        });
        let (checked, login) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a call waits for ever on a silent database");
        assert!(checked.is_err());
        match login {
            Err(AuthError::Internal(e)) => assert!(
                e.contains("no answer") || e.contains("within the connect timeout"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "gave up after {:?}",
            start.elapsed()
        );
    }
    let bin = env!("CARGO_BIN_EXE_ftpdlib");
    for args in [
        &["--db-url", &url, "-i", "127.0.0.1", "-p", "0"][..],
        &["db", "init", "--db-url", &url][..],
    ] {
        let (code, err) = common::exit_of(Command::new(bin).args(args), Duration::from_secs(20));
        assert_eq!(code, Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// A row's columns become the account: home, letters, overrides (absolute
/// and relative paths), messages and limits; unusable rows refuse.
#[test]
fn rows_become_accounts() {
    let Some(pg) = PgCluster::start() else { return };
    let homes = Homes::new();
    fill(&pg, &homes);
    let mut c = pg.client();
    let alice = homes.path("alice");
    c.execute(
        "UPDATE ftp_users SET max_sessions = 2, read_limit = 1000, write_limit = 2000,
             allow_from = '{127.0.0.0/8, ::1/128, 192.0.2.7}', tls_required = true
         WHERE name = 'alice'",
        &[],
    )
    .unwrap();
    std::fs::create_dir_all(alice.join("deep/er")).unwrap();
    c.execute(
        "INSERT INTO ftp_perm_overrides (username, path, perm, recursive)
         VALUES ('alice', $1, 'e', false)",
        &[&alice.join("deep").display().to_string()],
    )
    .unwrap();
    // through the Unix socket this time
    let auth = PgAuthorizer::new(&pg.socket_url()).unwrap();
    let a = auth.authenticate("alice", "alice-pw").unwrap();
    assert_eq!(a.root, std::fs::canonicalize(&alice).unwrap());
    assert_eq!(a.start_dir(), b"/");
    assert_eq!(a.msg_login, "Hello alice, from the database.");
    assert_eq!(a.msg_quit, "Bye alice.");
    assert_eq!(a.limits.max_sessions, 2);
    assert_eq!(a.limits.read_limit, 1000);
    assert_eq!(a.limits.write_limit, 2000);
    assert!(a.limits.tls_required);
    let nets: Vec<String> = a.limits.allow_from.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["127.0.0.0/8", "::1/128", "192.0.2.7/32"]);
    let at = |p: &[u8], dir: bool| a.perms.at(p).resolve(|| dir).letters();
    assert_eq!(at(b"/", true), "elradfmwMT");
    assert_eq!(at(b"/ro/seed.txt", false), "elr");
    assert_eq!(at(b"/ro/sub", true), "elr");
    assert_eq!(at(b"/deep", true), "e");
    assert_eq!(at(b"/deep/file", false), "e");
    assert_eq!(at(b"/deep/er", true), "elradfmwMT");

    let b = auth.authenticate("bob", "bob-pw").unwrap();
    assert_eq!(b.msg_login, "Login successful.");
    assert_eq!(b.limits, ftpdlib::auth::AccountLimits::default());

    // rows that can't be used as written refuse the login (and say why)
    c.execute(
        "INSERT INTO ftp_perm_overrides (username, path, perm) VALUES ('alice', '../bob', 'elr')",
        &[],
    )
    .unwrap();
    match auth.authenticate("alice", "alice-pw") {
        Err(AuthError::Internal(e)) => assert!(e.contains("../bob"), "{e}"),
        other => panic!("{other:?}"),
    }
    c.execute(
        "UPDATE ftp_users SET home = '/nonexistent/home' WHERE name = 'bob'",
        &[],
    )
    .unwrap();
    assert!(matches!(
        auth.authenticate("bob", "bob-pw"),
        Err(AuthError::Internal(_))
    ));
    // the schema keeps out what the authorizer could not use
    for bad in [
        "INSERT INTO ftp_users (name, password, home) VALUES ('dave', NULL, '/tmp')",
        "INSERT INTO ftp_users (name, password, home, perm) VALUES ('dave', 'x', '/tmp', 'elrX')",
        "INSERT INTO ftp_users (name, password, home, allow_from) VALUES ('dave', 'x', '/tmp', '{nonsense}')",
        "INSERT INTO ftp_users (name, password, home, max_sessions) VALUES ('dave', 'x', '/tmp', -1)",
    ] {
        assert!(c.execute(bad, &[]).is_err(), "{bad}");
    }
    // an unknown user costs a hash too, as a wrong password does
    assert_eq!(auth.authenticate("bob", "wrong"), Err(AuthError::Failed));
    let t = Instant::now();
    assert_eq!(auth.authenticate("nobody", "x"), Err(AuthError::Failed));
    let unknown = t.elapsed();
    assert!(unknown > Duration::from_millis(1), "{unknown:?}");
}

/// Deadlines too long for the database or the clock (`Duration::MAX`)
/// are clamped, not a panic or a refused `SET statement_timeout`.
#[test]
fn huge_deadlines_are_clamped() {
    let Some(pg) = PgCluster::start() else { return };
    let homes = Homes::new();
    fill(&pg, &homes);
    for pool_size in [0, 1] {
        let mut options = PgOptions::default();
        options.pool_size = pool_size;
        options.statement_timeout = Duration::MAX;
        options.connect_timeout = Duration::from_secs(10);
        let auth = PgAuthorizer::with_options(&pg.url(), options).unwrap();
        auth.check().unwrap();
        assert!(auth.authenticate("alice", "alice-pw").is_ok());
    }
}

/// `ftpdlib db init` (twice), `ftpdlib db add-user`, and a server started
/// with `--db-url` in each concurrency model.
#[test]
fn cli_db_commands_and_db_url() {
    let Some(pg) = PgCluster::start() else { return };
    let homes = Homes::new();
    let bin = env!("CARGO_BIN_EXE_ftpdlib");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = pg.url();
    // the tables missing: the hint
    let (code, _, err) = run(&["--db-url", &pg.url(), "-p", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("db init"), "{err}");
    for _ in 0..2 {
        let (code, out, err) = run(&["db", "init", "--db-url", &url]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("ready"), "{out}");
    }
    let hash = hash_password(b"secret").unwrap();
    let home = homes.path("alice").display().to_string();
    let add = [
        "db",
        "add-user",
        "--db-url",
        &url,
        "alice",
        "--password-hash",
        &hash,
        "--home",
        &home,
        "--perm",
        "elradfmw",
    ];
    let (code, out, err) = run(&add);
    assert_eq!(code, Some(0), "{out}{err}");
    // a second time: the database refuses, one line, exit 2
    let (code, _, err) = run(&add);
    assert_eq!(code, Some(2));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("already exists"),
        "the database's reason: {err}"
    );
    // a hash we can't check is refused before the database is asked
    let mut bad = add;
    bad[4] = "zed";
    bad[6] = "plaintext";
    let (code, _, err) = run(&bad);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("hash"), "{err}");
    // an unreachable database: one line, exit 2, within the connect timeout
    let dead = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable&connect_timeout=2",
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let (code, _, err) = run(&["--db-url", &dead, "-p", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("users database"), "{err}");
    assert!(!err.contains("db init"), "no tables are missing: {err}");

    for model in ["async", "multi-thread", "multi-proc", "pre-fork"] {
        let daemon = Daemon::start(&["--db-url", &url, "--concurrency", model, "-w"]);
        assert!(daemon.is_none(), "--db-url with -w must be refused");
        let mut args = vec!["--db-url", &url, "--concurrency", model];
        if model == "pre-fork" {
            args.extend(["--workers", "2"]);
        }
        let daemon = Daemon::start(&args).expect("started");
        let mut c = ftp(daemon.addr, "alice", "secret");
        c.put_file("cli.txt", &mut &b"via --db-url"[..]).unwrap();
        assert_eq!(
            std::fs::read(homes.path("alice/cli.txt")).unwrap(),
            b"via --db-url"
        );
        c.quit().unwrap();
        assert_code(&try_login(daemon.addr, "alice", "wrong"), "530");
        std::fs::remove_file(homes.path("alice/cli.txt")).unwrap();
    }
}

/// `ftpdlib` running on a free port, killed when dropped.
struct Daemon {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Daemon {
    /// Start with `args` on 127.0.0.1 at a free port; `None` when it
    /// exits at once with a usage error.
    fn start(args: &[&str]) -> Option<Daemon> {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(env!("CARGO_BIN_EXE_ftpdlib"))
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let end = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    use std::io::Read;
                    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                    assert_eq!(status.code(), Some(2), "{err}");
                    if err.contains("can't listen") {
                        break; // the port was taken meanwhile: another one
                    }
                    return None;
                }
                if let Ok(s) = std::net::TcpStream::connect(addr) {
                    drop(s);
                    return Some(Daemon { child, addr });
                }
                assert!(Instant::now() < end, "ftpdlib {args:?} did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("ftpdlib {args:?}: no free port");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM: a clean stop that reaps the forked children too
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
