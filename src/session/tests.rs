//! The session driven by scripted input: no sockets, a temporary directory as
//! the user's home, a fake clock. This file holds the harness and the helpers;
//! the tests are in `tests/`, one file per area.

use super::*;
use crate::auth::MemoryAuthorizer;
use crate::data::{Source, TransferError};
use crate::fs::LocalFsFactory;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod basics;
mod data_channel;
mod deadlines;
mod files;
mod listings;
mod login;
mod queue;
mod security;
mod transfers;

struct H {
    s: Session,
    dir: tempfile::TempDir,
    /// The fake clock: every input is handled at this instant.
    now: Instant,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn harness_with(cfg: ServerConfig, remote: &str, local: &str) -> H {
    harness_setup(cfg, remote, local, |_, _| {})
}

/// A harness whose authorizer `setup` changes (given it and the home directory).
fn harness_setup(
    cfg: ServerConfig,
    remote: &str,
    local: &str,
    setup: impl FnOnce(&MemoryAuthorizer, &std::path::Path),
) -> H {
    let dir = tempfile::tempdir().unwrap();
    let auth = MemoryAuthorizer::new();
    auth.add_user("user", "12345", dir.path(), "elradfmwMT")
        .unwrap();
    auth.add_user("reader", "pw", dir.path(), "elr").unwrap();
    auth.add_anonymous(dir.path()).unwrap();
    setup(&auth, dir.path());
    let ctx = SessionContext {
        config: Arc::new(cfg),
        authorizer: Arc::new(auth),
        fs_factory: Arc::new(LocalFsFactory::default()),
    };
    let s = Session::new(ctx, addr(remote), addr(local));
    H {
        s,
        dir,
        now: Instant::now(),
    }
}

fn harness() -> H {
    harness_with(ServerConfig::default(), "127.0.0.1:40000", "127.0.0.1:2121")
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

    fn login_as(&mut self, user: &str, pw: &str) {
        self.input(Input::Connected);
        assert!(self.one(&format!("USER {user}")).starts_with("331"));
        assert!(self.one(&format!("PASS {pw}")).starts_with("230"));
    }

    /// AUTH TLS, PBSZ 0, PROT P, then the full-permission login.
    fn secure_login(&mut self) {
        self.input(Input::Connected);
        for l in ["AUTH TLS", "PBSZ 0", "PROT P"] {
            assert!(matches!(codes(&self.line(l))[..], [234] | [200]), "{l}");
            if l == "AUTH TLS" {
                // the driver's handshake is done
                assert!(self.input(Input::TlsSwitched).is_empty());
            }
        }
        assert!(self.one("USER user").starts_with("331"));
        assert!(self.one("PASS 12345").starts_with("230"));
    }

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

fn tls_harness(setup: impl FnOnce(&mut crate::tls::TlsConfig)) -> H {
    let mut tls = crate::tls::tests::test_tls();
    setup(&mut tls);
    let cfg = ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    };
    harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121")
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
