//! The session driven by scripted input: no sockets, a temporary directory as
//! the user's home, a fake clock. This file holds the harness and the helpers;
//! the tests are in `tests/`, one file per area.

use super::*;
use crate::auth::MemoryAuthorizer;
use crate::data::{Source, TransferError};
use crate::fs::{LocalFsFactory, MemoryFsFactory};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod basics;
mod data_channel;
mod deadlines;
mod files;
mod fs_tasks;
mod limits;
mod listings;
mod login;
mod queue;
mod security;
mod transfers;

/// A session under test, its home and the fake clock.
struct H {
    s: Session,
    /// The home of every account (on disk; the in-memory tree ignores it).
    dir: tempfile::TempDir,
    /// The in-memory tree, when the session works on one ([`Scenario::memory_fs`]).
    mem: Option<MemoryFsFactory>,
    /// The fake clock: every input is handled at this instant.
    now: Instant,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The password of each account the harness creates (any for `anonymous`).
fn password_of(user: &str) -> &'static str {
    match user {
        "user" => "12345",
        "reader" => "pw",
        _ => "me@example.com",
    }
}

type AuthSetup = Box<dyn FnOnce(&MemoryAuthorizer, &std::path::Path)>;

/// The data channel a scenario sets up.
enum DataSetup {
    None,
    /// PASV, answered by the driver: the listener is up.
    Passive,
    /// PORT or EPRT (this line): the connect is under way.
    Active(String),
}

/// A session put in a common state in one line, by feeding it what a client
/// and a driver would (never by writing its fields):
///
/// ```text
/// Scenario::new().tls().logged_in().binary().passive().connected().build()
/// ```
///
/// The steps run in a fixed order, whatever the order of the calls: the
/// greeting, AUTH (and PBSZ, PROT), the login, TYPE, CWD, the data channel.
/// Every step checks the reply it gets. The accounts: `user` (password
/// `12345`, every permission), `reader` (`pw`, `elr`) and `anonymous`, all
/// at home in a temporary directory (or in a [`MemoryFsFactory`] tree).
struct Scenario {
    cfg: ServerConfig,
    remote: String,
    local: String,
    memory: bool,
    /// Files (`Some`) and directories (`None`) made in the home.
    entries: Vec<(String, Option<Vec<u8>>)>,
    auth: Vec<AuthSetup>,
    greet: bool,
    /// AUTH with this mechanism; `true`: then PBSZ 0 and PROT P.
    auth_tls: Option<(String, bool)>,
    login: Option<(String, String)>,
    type_line: Option<&'static str>,
    cwd: Option<String>,
    data: DataSetup,
    data_connected: bool,
}

impl Scenario {
    /// A session on 127.0.0.1 with the default configuration, greeted.
    fn new() -> Self {
        Scenario {
            cfg: ServerConfig::default(),
            remote: "127.0.0.1:40000".into(),
            local: "127.0.0.1:2121".into(),
            memory: false,
            entries: Vec::new(),
            auth: Vec::new(),
            greet: true,
            auth_tls: None,
            login: None,
            type_line: None,
            cwd: None,
            data: DataSetup::None,
            data_connected: false,
        }
    }

    /// Change the server configuration.
    fn config(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.cfg);
        self
    }

    /// Configure TLS (a test certificate), changed by `f`; nothing is sent.
    fn tls_config(mut self, f: impl FnOnce(&mut crate::tls::TlsConfig)) -> Self {
        let tls = self.cfg.tls.get_or_insert_with(crate::tls::tests::test_tls);
        f(tls);
        self
    }

    /// TLS on the control and the data connections: AUTH TLS, PBSZ 0, PROT P.
    fn tls(self) -> Self {
        self.auth("TLS", true)
    }

    /// `AUTH <mechanism>` (its handshake done); `protect`: then PBSZ 0, PROT P.
    fn auth(mut self, mechanism: &str, protect: bool) -> Self {
        self = self.tls_config(|_| {});
        self.auth_tls = Some((mechanism.into(), protect));
        self
    }

    /// Implicit TLS: the connection is secured before the greeting (its
    /// handshake done).
    fn implicit_tls(self) -> Self {
        self.tls_config(|t| t.implicit = true)
    }

    /// The client's and the server's addresses.
    fn addresses(mut self, remote: &str, local: &str) -> Self {
        self.remote = remote.into();
        self.local = local.into();
        self
    }

    /// No greeting yet: [`Input::Connected`] is not fed.
    fn before_greeting(mut self) -> Self {
        self.greet = false;
        self
    }

    /// Change the authorizer (given it and the home directory on disk).
    fn authorizer(mut self, f: impl FnOnce(&MemoryAuthorizer, &std::path::Path) + 'static) -> Self {
        self.auth.push(Box::new(f));
        self
    }

    /// The accounts work on an in-memory tree ([`H::mem`]) instead of the disk.
    fn memory_fs(mut self) -> Self {
        self.memory = true;
        self
    }

    /// File `name` (relative to the home) with `bytes`; its parents are made.
    fn file(mut self, name: &str, bytes: impl AsRef<[u8]>) -> Self {
        self.entries
            .push((name.into(), Some(bytes.as_ref().to_vec())));
        self
    }

    /// Directory `name` (relative to the home), and its parents. Made on
    /// disk too with [`Scenario::memory_fs`] (per-directory permissions
    /// need it there).
    fn dir(mut self, name: &str) -> Self {
        self.entries.push((name.into(), None));
        self
    }

    /// Logged in as `user`, with every permission.
    fn logged_in(self) -> Self {
        self.user("user")
    }

    /// Logged in as one of the harness's accounts.
    fn user(self, name: &str) -> Self {
        self.login_with(name, password_of(name))
    }

    /// USER and PASS with these credentials (the login must succeed, except
    /// with [`Scenario::pending_login`]).
    fn login_with(mut self, user: &str, pass: &str) -> Self {
        self.login = Some((user.into(), pass.into()));
        self
    }

    /// TYPE I.
    fn binary(mut self) -> Self {
        self.type_line = Some("TYPE I");
        self
    }

    /// TYPE A.
    fn ascii(mut self) -> Self {
        self.type_line = Some("TYPE A");
        self
    }

    /// CWD to `dir` after the login.
    fn cwd(mut self, dir: &str) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// PASV, and the driver's listener is up (227).
    fn passive(mut self) -> Self {
        self.data = DataSetup::Passive;
        self
    }

    /// PORT or EPRT (`line`): the driver is connecting.
    fn active(mut self, line: &str) -> Self {
        self.data = DataSetup::Active(line.into());
        self
    }

    /// The data connection is open (after [`Scenario::passive`], the default,
    /// or [`Scenario::active`]); under PROT P the driver was told to secure it.
    fn connected(mut self) -> Self {
        if matches!(self.data, DataSetup::None) {
            self.data = DataSetup::Passive;
        }
        self.data_connected = true;
        self
    }

    /// Run every step.
    fn build(self) -> H {
        let (mut h, rest) = self.setup();
        rest.finish(&mut h);
        h
    }

    /// Every step up to PASS, whose login check is returned, not run (as a
    /// poll driver keeps it on a worker); later steps are not taken.
    fn pending_login(mut self) -> (H, LoginTask) {
        let (user, pass) = self
            .login
            .take()
            .unwrap_or_else(|| ("user".into(), "12345".into()));
        let (mut h, _) = self.setup();
        let task = pending_login(&mut h, &user, &pass);
        (h, task)
    }

    /// Every step, with the data connection open, then `line`, which must
    /// start a transfer at once (125); the transfer is returned, running.
    fn transfer_running(self, line: &str) -> (H, Transfer) {
        let mut h = self.connected().build();
        let t = h.start(line);
        (h, t)
    }

    /// The session, the home's entries, the greeting and AUTH; the rest of
    /// the steps is returned.
    fn setup(self) -> (H, Steps) {
        let dir = tempfile::tempdir().unwrap();
        let mem = self.memory.then(MemoryFsFactory::new);
        for (name, body) in &self.entries {
            let vpath = format!("/{}", name.trim_start_matches('/'));
            let on_disk = dir.path().join(name.trim_start_matches('/'));
            match (body, &mem) {
                (None, mem) => {
                    std::fs::create_dir_all(&on_disk).unwrap();
                    if let Some(m) = mem {
                        m.create_dir_all(vpath.as_bytes()).unwrap();
                    }
                }
                (Some(bytes), Some(m)) => {
                    if let Some((parent, _)) = vpath.rsplit_once('/') {
                        if !parent.is_empty() {
                            m.create_dir_all(parent.as_bytes()).unwrap();
                        }
                    }
                    m.put_file(vpath.as_bytes(), bytes).unwrap();
                }
                (Some(bytes), None) => {
                    std::fs::create_dir_all(on_disk.parent().unwrap()).unwrap();
                    std::fs::write(&on_disk, bytes).unwrap();
                }
            }
        }
        let auth = MemoryAuthorizer::new();
        auth.add_user("user", "12345", dir.path(), "elradfmwMT")
            .unwrap();
        auth.add_user("reader", "pw", dir.path(), "elr").unwrap();
        auth.add_anonymous(dir.path()).unwrap();
        for f in self.auth {
            f(&auth, dir.path());
        }
        let fs_factory: Arc<dyn crate::fs::FilesystemFactory> = match &mem {
            Some(m) => Arc::new(m.clone()),
            None => Arc::new(LocalFsFactory::default()),
        };
        let implicit = self.cfg.tls.as_ref().is_some_and(|t| t.implicit);
        let ctx = SessionContext::new(self.cfg, Arc::new(auth), fs_factory).unwrap();
        let s = Session::new(ctx, addr(&self.remote), addr(&self.local));
        let mut h = H {
            s,
            dir,
            mem,
            now: Instant::now(),
        };
        if self.greet {
            let a = h.input(Input::Connected);
            assert_eq!(codes(&a), vec![220], "{a:?}");
            if implicit {
                // the driver's handshake is done
                assert!(h.input(Input::TlsSwitched).is_empty());
            }
        }
        if let Some((mechanism, protect)) = &self.auth_tls {
            let a = h.line(&format!("AUTH {mechanism}"));
            assert_eq!(codes(&a), vec![234], "{a:?}");
            assert!(matches!(a.last(), Some(Action::StartTls)), "{a:?}");
            assert!(h.input(Input::TlsSwitched).is_empty());
            if *protect {
                assert_eq!(h.one("PBSZ 0"), "200 PBSZ=0 successful.");
                assert_eq!(h.one("PROT P"), "200 Protection set to Private");
            }
        }
        let steps = Steps {
            login: self.login,
            type_line: self.type_line,
            cwd: self.cwd,
            data: self.data,
            data_connected: self.data_connected,
        };
        (h, steps)
    }
}

/// The steps of a [`Scenario`] after AUTH.
struct Steps {
    login: Option<(String, String)>,
    type_line: Option<&'static str>,
    cwd: Option<String>,
    data: DataSetup,
    data_connected: bool,
}

impl Steps {
    fn finish(self, h: &mut H) {
        if let Some((user, pass)) = &self.login {
            h.login_as(user, pass);
        }
        if let Some(l) = self.type_line {
            assert!(h.one(l).starts_with("200"), "{l}");
        }
        if let Some(d) = &self.cwd {
            assert!(h.one(&format!("CWD {d}")).starts_with("250"), "CWD {d}");
        }
        match self.data {
            DataSetup::None => {}
            DataSetup::Passive if self.data_connected => h.open_data(),
            DataSetup::Passive => {
                let a = h.line("PASV");
                assert!(matches!(a.as_slice(), [Action::ListenPassive(_)]), "{a:?}");
                assert_eq!(codes(&h.input(Input::PassiveListening(50000))), vec![227]);
            }
            DataSetup::Active(line) => {
                let a = h.line(&line);
                assert!(
                    matches!(a.as_slice(), [Action::ConnectActive { .. }]),
                    "{line}: {a:?}"
                );
                if self.data_connected {
                    let a = h.input(Input::DataConnected);
                    assert_eq!(texts(&a), vec!["200 Active data connection established."]);
                }
            }
        }
    }
}

/// The reply texts of a batch of actions.
fn texts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r) => Some(
                String::from_utf8_lossy(&r.to_bytes())
                    .trim_end()
                    .to_string(),
            ),
            _ => None,
        })
        .collect()
}

fn codes(actions: &[Action]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r) => Some(r.code),
            _ => None,
        })
        .collect()
}

fn events(actions: &[Action]) -> Vec<Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

impl H {
    fn input(&mut self, i: Input<'_>) -> Vec<Action> {
        let a = self.s.handle(i, self.now);
        self.resolve_logins(a)
    }

    fn line(&mut self, l: &str) -> Vec<Action> {
        let a = self.s.handle(Input::Line(l.as_bytes()), self.now);
        self.resolve_logins(a)
    }

    /// Run login checks and filesystem work inline, as the thread driver does.
    fn resolve_logins(&mut self, actions: Vec<Action>) -> Vec<Action> {
        let mut out = Vec::new();
        for a in actions {
            match a {
                Action::Login(task) => {
                    let more = self.s.handle(Input::LoginDone(task.run()), self.now);
                    out.extend(self.resolve_logins(more));
                }
                Action::Fs(task) => {
                    let more = self.s.handle(Input::FsDone(task.run()), self.now);
                    out.extend(self.resolve_logins(more));
                }
                other => out.push(other),
            }
        }
        out
    }

    /// Feed an input as a driver that runs no task: login checks and
    /// filesystem work come back as actions.
    fn raw(&mut self, i: Input<'_>) -> Vec<Action> {
        self.s.handle(i, self.now)
    }

    /// [`H::raw`] of a line.
    fn raw_line(&mut self, l: &str) -> Vec<Action> {
        self.raw(Input::Line(l.as_bytes()))
    }

    /// The in-memory tree ([`Scenario::memory_fs`]).
    fn mem(&self) -> &MemoryFsFactory {
        self.mem.as_ref().expect("a scenario with memory_fs()")
    }

    /// The paths the in-memory tree was asked about since the last call.
    fn seen(&self) -> Vec<String> {
        self.mem()
            .take_paths_seen()
            .into_iter()
            .map(|p| String::from_utf8(p).unwrap())
            .collect()
    }

    /// Step the fake clock by `d` and feed the tick.
    fn after(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        self.input(Input::Tick)
    }

    /// Step the fake clock to the session's next deadline and feed the tick.
    fn expire(&mut self) -> Vec<Action> {
        let d = self.s.next_deadline().expect("a deadline");
        assert!(d >= self.now, "a deadline in the past");
        self.now = d;
        self.input(Input::Tick)
    }

    /// Send a line, expect exactly one reply, return it.
    fn one(&mut self, l: &str) -> String {
        let t = texts(&self.line(l));
        assert_eq!(t.len(), 1, "{l}: {t:?}");
        t[0].clone()
    }

    /// USER and PASS (the session greeted), which must succeed.
    fn login_as(&mut self, user: &str, pw: &str) {
        assert!(self.one(&format!("USER {user}")).starts_with("331"));
        assert!(self.one(&format!("PASS {pw}")).starts_with("230"));
    }

    /// The full-permission login, then TYPE I.
    fn login(&mut self) {
        self.login_as("user", "12345");
        assert!(self.one("TYPE I").starts_with("200"));
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// PASV and a data connection: the session is ready to transfer.
    fn open_data(&mut self) {
        let a = self.line("PASV");
        assert!(matches!(a.as_slice(), [Action::ListenPassive(_)]), "{a:?}");
        let t = texts(&self.input(Input::PassiveListening(50000)));
        assert_eq!(t, vec!["227 Entering passive mode (127,0,0,1,195,80)."]);
        let a = self.input(Input::DataConnected);
        let secured = matches!(a.as_slice(), [Action::SecureData]);
        assert!(a.is_empty() || secured, "{a:?}");
        assert_eq!(
            secured,
            self.s.security.data(),
            "the channel is secured iff PROT P"
        );
    }

    /// Run a command that starts a transfer at once (data connection open); returns the transfer.
    fn start(&mut self, l: &str) -> Transfer {
        let a = self.line(l);
        assert_eq!(codes(&a), vec![125], "{l}: {a:?}");
        match a.into_iter().last() {
            Some(Action::StartTransfer(t)) => t,
            other => panic!("{l}: no transfer: {other:?}"),
        }
    }

    /// Run a download command to its end; returns the bytes sent.
    fn fetch(&mut self, l: &str) -> Vec<u8> {
        self.open_data();
        let mut t = self.start(l);
        let bytes = drain(&mut t);
        assert_eq!(codes(&self.done(t, Ok(()))), vec![226]);
        bytes
    }

    fn done(&mut self, t: Transfer, result: Result<(), TransferError>) -> Vec<Action> {
        self.input(Input::TransferDone {
            transfer: t,
            result,
            seconds: 0.5,
        })
    }
}

/// Feed `bytes` to a receive transfer through a socket pair (the data module's pump).
fn fill(t: &mut Transfer, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let bytes = bytes.to_vec();
    let writer = std::thread::spawn(move || b.write_all(&bytes).unwrap());
    loop {
        match t
            .pump(&mut a, usize::MAX, std::time::Instant::now())
            .unwrap()
        {
            crate::data::Pump::Done => break,
            _ => std::thread::yield_now(),
        }
    }
    writer.join().unwrap();
}

/// Drain a send transfer into bytes through a socket pair (the data module's pump).
fn drain(t: &mut Transfer) -> Vec<u8> {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        b.read_to_end(&mut v).unwrap();
        v
    });
    loop {
        match t
            .pump(&mut a, usize::MAX, std::time::Instant::now())
            .unwrap()
        {
            crate::data::Pump::Done => break,
            _ => std::thread::yield_now(),
        }
    }
    drop(a);
    reader.join().unwrap()
}

/// Start a login check and keep it pending (as the poll driver does).
fn pending_login(h: &mut H, user: &str, pass: &str) -> LoginTask {
    h.one(&format!("USER {user}"));
    let a =
        h.s.handle(Input::Line(format!("PASS {pass}").as_bytes()), h.now);
    match a.into_iter().next() {
        Some(Action::Login(t)) => t,
        other => panic!("{other:?}"),
    }
}
