//! The session driven by scripted input: no sockets, a temporary directory as the user's home.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::auth::MemoryAuthorizer;
use crate::data::{Source, TransferError};
use crate::fs::LocalFsFactory;

mod deadlines;

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

#[test]
fn greeting_fires_connect_then_banner() {
    let mut h = harness();
    let a = h.input(Input::Connected);
    assert_eq!(events(&a), vec![Event::Connect]);
    assert_eq!(
        texts(&a),
        vec![format!("220 ftpdlib {} ready.", env!("CARGO_PKG_VERSION"))]
    );
}

#[test]
fn long_banner_is_multiline() {
    let cfg = ServerConfig {
        banner: "x".repeat(100),
        ..ServerConfig::default()
    };
    let mut h = harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121");
    let a = h.input(Input::Connected);
    assert_eq!(texts(&a), vec![format!("220-{}\r\n220", "x".repeat(100))]);
}

#[test]
fn login_success_and_events() {
    let mut h = harness();
    h.input(Input::Connected);
    assert_eq!(h.one("USER user"), "331 Username ok, send password.");
    let a = h.line("PASS 12345");
    assert_eq!(texts(&a), vec!["230 Login successful."]);
    assert_eq!(events(&a), vec![Event::Login("user".into())]);
    assert_eq!(h.one("PASS 12345"), "503 User already authenticated.");
    assert_eq!(h.s.info().username.as_deref(), Some("user"));
}

#[test]
fn pass_before_user() {
    let mut h = harness();
    h.input(Input::Connected);
    assert_eq!(h.one("PASS x"), "503 Login with USER first.");
}

#[test]
fn failed_login_delays_and_disconnects_after_max_attempts() {
    let mut h = harness();
    h.input(Input::Connected);
    for i in 1..=3 {
        h.one("USER user");
        assert!(h.line("PASS wrong").is_empty(), "the 530 waits");
        assert_eq!(h.s.next_deadline(), Some(h.now + Duration::from_secs(3)));
        // nothing runs meanwhile
        assert!(h.line("NOOP").is_empty());
        assert!(h.after(Duration::from_millis(2999)).is_empty());
        let a = h.after(Duration::from_millis(1));
        if i < 3 {
            assert_eq!(codes(&a), vec![530, 200], "{a:?}");
        }
        assert_eq!(
            events(&a),
            vec![Event::LoginFailed("user".into(), "wrong".into())]
        );
        if i < 3 {
            assert_eq!(
                texts(&a),
                vec![
                    "530 Authentication failed.",
                    "200 I successfully did nothing."
                ]
            );
            assert!(!a.iter().any(|x| matches!(x, Action::Close)));
        } else {
            assert_eq!(texts(&a), vec!["530 Authentication failed. Disconnecting."]);
            assert!(a.iter().any(|x| matches!(x, Action::Close)));
        }
    }
}

#[test]
fn unknown_user_and_bad_password_get_the_same_reply() {
    let mut h = harness();
    h.input(Input::Connected);
    h.one("USER nobody");
    assert!(h.line("PASS x").is_empty());
    let a = texts(&h.expire());
    h.one("USER user");
    assert!(h.line("PASS x").is_empty());
    let b = texts(&h.expire());
    assert_eq!(a, b);
    assert_eq!(a, ["530 Authentication failed."]);
}

#[test]
fn anonymous_login_with_any_password_is_read_only() {
    let mut h = harness();
    h.login_as("anonymous", "me@example.com");
    assert_eq!(h.one("MKD x"), "550 Not enough privileges.");
    assert_eq!(h.one("STOR x"), "550 Not enough privileges.");
    assert!(h.one("PWD").starts_with("257"));
}

#[test]
fn commands_need_login() {
    let mut h = harness();
    h.input(Input::Connected);
    for c in [
        "PWD",
        "CWD /",
        "LIST",
        "RETR x",
        "STOR x",
        "MKD d",
        "PASV",
        "PORT 127,0,0,1,1,1",
        "STAT /",
        "SIZE x",
    ] {
        assert_eq!(h.one(c), "530 Log in with USER and PASS first.", "{c}");
    }
    // these don't
    assert!(h.one("OPTS UTF8 ON").starts_with("200"));
    assert!(h.one("FEAT").starts_with("211-"));
    assert!(h.one("HELP").starts_with("214-"));
    assert!(h.one("NOOP").starts_with("200"));
    assert!(h.one("SYST").starts_with("215"));
    assert!(h.one("STAT").starts_with("211-"));
}

#[test]
fn bad_lines_get_replies() {
    let mut h = harness();
    h.input(Input::Connected);
    assert_eq!(h.one("XYZZY"), "500 Command \"XYZZY\" not understood.");
    assert_eq!(h.one(""), "500 Command \"\" not understood.");
    let t = texts(&h.s.handle(Input::Line(b"NO\x00OP"), h.now));
    assert!(t[0].starts_with("500"), "{t:?}");
    let t = texts(&h.s.handle(Input::Line(b"\xff\xfe\xfd"), h.now));
    assert!(t[0].starts_with("500"), "{t:?}");
    let t = texts(&h.s.handle(Input::Line(b"NOOP\rX"), h.now));
    assert!(t[0].starts_with("500"), "{t:?}");
    assert_eq!(
        texts(&h.input(Input::LineTooLong)),
        vec!["500 Command too long."]
    );
    assert_eq!(
        h.one("USER"),
        "501 Syntax error: command needs an argument."
    );
    assert_eq!(
        h.one("NOOP x"),
        "501 Syntax error: command does not accept arguments."
    );
    // Telnet garbage before ABOR still means ABOR
    h.login();
    assert_eq!(h.one("\u{7f}ABOR"), "225 No transfer to abort.");
}

#[test]
fn type_stru_mode() {
    let mut h = harness();
    h.login();
    assert_eq!(h.one("TYPE A"), "200 Type set to: ASCII.");
    assert_eq!(h.one("TYPE L8"), "200 Type set to: Binary.");
    assert_eq!(h.one("TYPE a n"), "200 Type set to: ASCII.");
    assert_eq!(h.one("TYPE X"), "504 Unsupported type \"X\".");
    assert_eq!(h.one("STRU F"), "200 File transfer structure set to: F.");
    assert_eq!(h.one("STRU R"), "504 Unimplemented STRU type.");
    assert_eq!(h.one("STRU Q"), "501 Unrecognized STRU type.");
    assert_eq!(h.one("MODE S"), "200 Transfer mode set to: S");
    assert_eq!(h.one("MODE B"), "504 Unimplemented MODE type.");
    assert_eq!(h.one("MODE Z"), "501 Unrecognized MODE type.");
    assert_eq!(h.one("ALLO 100"), "202 No storage allocation necessary.");
    assert_eq!(h.one("SYST"), "215 UNIX Type: L8");
}

#[test]
fn directories() {
    let mut h = harness();
    h.login();
    assert_eq!(h.one("PWD"), "257 \"/\" is the current directory.");
    assert_eq!(h.one("MKD sub"), "257 \"/sub\" directory created.");
    assert!(h.path("sub").is_dir());
    assert_eq!(h.one("XMKD sub"), "550 File exists.");
    assert_eq!(h.one("CWD sub"), "250 \"/sub\" is the current directory.");
    assert_eq!(h.one("XPWD"), "257 \"/sub\" is the current directory.");
    assert_eq!(h.one("CDUP"), "250 \"/\" is the current directory.");
    assert_eq!(h.one("CDUP"), "250 \"/\" is the current directory.");
    assert_eq!(h.one("CWD ../../.."), "250 \"/\" is the current directory.");
    assert_eq!(h.one("CWD nope"), "550 No such file or directory.");
    std::fs::write(h.path("f"), b"x").unwrap();
    assert_eq!(h.one("CWD f"), "550 Not a directory.");
    assert_eq!(h.one("MKD a\"b"), "257 \"/a\"\"b\" directory created.");
    assert_eq!(h.one("RMD sub"), "250 Directory removed.");
    assert!(!h.path("sub").exists());
    assert_eq!(h.one("RMD /"), "550 Can't remove root directory.");
    assert_eq!(h.one("XRMD nope"), "550 No such file or directory.");
    assert_eq!(h.one("CWD"), "250 \"/\" is the current directory.");
}

#[test]
fn files_dele_rename_size_mdtm_mfmt_chmod() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("a.txt"), b"hello").unwrap();
    assert_eq!(h.one("SIZE a.txt"), "213 5");
    assert_eq!(h.one("SIZE nope"), "550 /nope is not retrievable.");
    h.one("TYPE A");
    assert_eq!(h.one("SIZE a.txt"), "550 SIZE not allowed in ASCII mode.");
    h.one("TYPE I");
    assert_eq!(
        h.one("MFMT 20200102030405 a.txt"),
        "213 Modify=20200102030405; /a.txt."
    );
    assert_eq!(h.one("MDTM a.txt"), "213 20200102030405");
    assert_eq!(h.one("MDTM nope"), "550 /nope is not retrievable");
    assert_eq!(
        h.one("MFMT 2020 a.txt"),
        "501 Invalid time format; expected: YYYYMMDDHHMMSS."
    );
    assert_eq!(
        h.one("MFMT 20201302030405 a.txt"),
        "501 Invalid time format; expected: YYYYMMDDHHMMSS."
    );
    assert_eq!(
        h.one("MFMT 20200102030405"),
        "501 Syntax error: command needs two arguments."
    );
    assert_eq!(h.one("SITE CHMOD 600 a.txt"), "200 SITE CHMOD successful.");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(h.path("a.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        h.one("SITE CHMOD 999 a.txt"),
        "501 Invalid SITE CHMOD format."
    );
    assert_eq!(
        h.one("SITE CHMOD 600"),
        "501 Syntax error: command needs two arguments."
    );
    assert_eq!(
        h.one("RNTO b.txt"),
        "503 Bad sequence of commands: use RNFR first."
    );
    assert_eq!(h.one("RNFR nope"), "550 No such file or directory.");
    assert_eq!(h.one("RNFR /"), "550 Can't rename home directory.");
    assert_eq!(h.one("RNFR a.txt"), "350 Ready for destination name.");
    assert_eq!(h.one("RNTO b.txt"), "250 Renaming ok.");
    assert!(h.path("b.txt").exists() && !h.path("a.txt").exists());
    assert_eq!(h.one("DELE b.txt"), "250 File removed.");
    assert_eq!(h.one("DELE b.txt"), "550 No such file or directory.");
}

#[test]
fn permissions_are_checked_per_command() {
    let mut h = harness();
    std::fs::write(h.path("f"), b"x").unwrap();
    h.login_as("reader", "pw");
    for c in [
        "DELE f",
        "MKD d",
        "RMD d",
        "RNFR f",
        "STOR g",
        "APPE f",
        "SITE CHMOD 644 f",
        "MFMT 20200101000000 f",
    ] {
        assert_eq!(h.one(c), "550 Not enough privileges.", "{c}");
    }
    assert_eq!(h.one("STOU"), "550 Not enough privileges.");
    assert!(h.path("f").exists());
}

#[test]
fn help_feat_opts_stat() {
    let mut h = harness();
    h.input(Input::Connected);
    let feat = h.one("FEAT");
    assert!(feat.starts_with("211-Features supported:\r\n"), "{feat}");
    for f in [
        " EPRT",
        " EPSV",
        " MDTM",
        " MFMT",
        " MLST type*;perm*;size*;modify*;unique*;",
        " REST STREAM",
        " SIZE",
        " TVFS",
        " UTF8",
    ] {
        assert!(feat.contains(f), "{f} missing in {feat}");
    }
    assert!(feat.ends_with("211 End FEAT."));
    assert!(!feat.contains("AUTH"), "no TLS configured: {feat}");
    assert_eq!(
        h.one("HELP RETR"),
        "214 Syntax: RETR <SP> file-name (retrieve a file)."
    );
    assert_eq!(h.one("HELP NOPE"), "501 Unrecognized command.");
    let help = h.one("HELP");
    assert!(help.contains("RETR") && help.ends_with("214 Help command successful."));
    h.login();
    assert!(h.one("SITE HELP").contains("CHMOD"));
    assert_eq!(h.one("SITE HELP NOPE"), "501 Unrecognized SITE command.");
    assert!(h
        .one("SITE HELP chmod")
        .starts_with("214 Syntax: SITE CHMOD"));
    assert_eq!(h.one("OPTS UTF8 ON"), "200 Always in UTF8 mode.");
    assert_eq!(h.one("OPTS MLST type;size;"), "200 MLST OPTS type;size;");
    assert!(h.one("FEAT").contains(" MLST type*;perm;size*;modify;"));
    assert_eq!(h.one("OPTS MLST type"), "501 Invalid argument.");
    assert_eq!(h.one("OPTS FOO"), "501 Unsupported command \"FOO\".");
    let stat = h.one("STAT");
    assert!(
        stat.contains("Logged in as: user")
            && stat.contains("TYPE: Binary")
            && stat.ends_with("211 End of status.")
    );
    std::fs::write(h.path("x"), b"abc").unwrap();
    let stat = h.one("STAT /");
    assert!(
        stat.starts_with("213-Status of \"/\":")
            && stat.contains(" x\r\n")
            && stat.ends_with("213 End of status."),
        "{stat}"
    );
    assert_eq!(h.one("STAT *.txt"), "550 Globbing not supported.");
}

#[test]
fn mlst() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("m"), b"12345").unwrap();
    let r = h.one("MLST m");
    assert!(r.starts_with("250-Listing \"/m\":\r\n "), "{r}");
    assert!(
        r.contains("size=5;") && r.contains("type=file;") && r.contains(" /m\r\n250 End MLST."),
        "{r}"
    );
    assert_eq!(h.one("MLST nope"), "550 No such file or directory.");
}

#[test]
fn passive_and_retr_flow() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f.bin"), b"0123456789").unwrap();
    // no data channel yet
    assert_eq!(h.one("RETR f.bin"), "425 Use PORT or PASV first.");
    // PASV, then RETR before the client connected: 150 and wait
    h.line("PASV");
    h.input(Input::PassiveListening(1025));
    let a = h.line("RETR f.bin");
    assert_eq!(
        texts(&a),
        vec!["150 File status okay. About to open data connection."]
    );
    assert!(h.s.awaiting_data_connection());
    let a = h.input(Input::DataConnected);
    let t = match a.into_iter().next() {
        Some(Action::StartTransfer(t)) => t,
        other => panic!("{other:?}"),
    };
    assert!(h.s.transfer_running());
    let mut t = t;
    assert_eq!(drain(&mut t), b"0123456789");
    let a = h.done(t, Ok(()));
    assert_eq!(texts(&a), vec!["226 Transfer complete."]);
    assert_eq!(
        events(&a),
        vec![Event::FileSent(h.path("f.bin").canonicalize().unwrap())]
    );
    assert!(!h.s.transfer_running());
    // the data connection is single-use
    assert_eq!(h.one("RETR f.bin"), "425 Use PORT or PASV first.");
    assert_eq!(h.one("RETR nope"), "550 No such file or directory.");
}

#[test]
fn rest_and_retr_offsets() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"0123456789").unwrap();
    assert_eq!(h.one("REST 4"), "350 Restarting at position 4.");
    assert_eq!(h.fetch("RETR f"), b"456789");
    assert_eq!(h.one("REST x"), "501 Invalid parameter.");
    assert_eq!(h.one("REST -1"), "501 Invalid parameter.");
    assert_eq!(h.one("REST 11"), "350 Restarting at position 11.");
    assert_eq!(h.one("RETR f"), "554 REST position (11) > file size (10)");
    h.one("TYPE A");
    assert_eq!(
        h.one("REST 1"),
        "501 Resuming transfers not allowed in ASCII mode."
    );
}

#[test]
fn stor_appe_stou_and_upload_events() {
    let mut h = harness();
    h.login();
    h.open_data();
    let t = h.start("STOR up.txt");
    let a = h.done(t, Ok(()));
    assert_eq!(texts(&a), vec!["226 Transfer complete."]);
    assert!(matches!(events(&a).as_slice(), [Event::FileReceived(_)]));
    assert!(h.path("up.txt").exists());

    assert_eq!(h.one("REST 3"), "350 Restarting at position 3.");
    assert_eq!(
        h.one("APPE up.txt"),
        "450 Can't APPE while REST request is pending."
    );
    assert_eq!(h.one("REST 3"), "350 Restarting at position 3.");
    assert_eq!(
        h.one("STOU"),
        "450 Can't STOU while REST request is pending."
    );

    h.open_data();
    let a = h.line("STOU");
    let t = texts(&a);
    assert!(t[0].starts_with("125 FILE: ftpd."), "{t:?}");
    let name = t[0].trim_start_matches("125 FILE: ").to_string();
    assert!(h.path(&name).exists());

    // an upload that fails: incomplete event, 426
    let Some(Action::StartTransfer(tr)) = a.into_iter().last() else {
        panic!()
    };
    let e = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    let a = h.done(tr, Err(TransferError::Network(e)));
    assert_eq!(texts(&a), vec!["426 Connection closed; transfer aborted."]);
    assert!(matches!(
        events(&a).as_slice(),
        [Event::IncompleteFileReceived(_)]
    ));
}

#[test]
fn disk_full_gets_452() {
    let mut h = harness();
    h.login();
    h.open_data();
    let t = h.start("STOR big");
    let a = h.done(
        t,
        Err(TransferError::Local(std::io::Error::from_raw_os_error(
            libc::ENOSPC,
        ))),
    );
    assert_eq!(
        texts(&a),
        vec!["452 No space left on device; transfer aborted."]
    );
}

#[test]
fn list_nlst_mlsd() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("one"), b"1").unwrap();
    std::fs::create_dir(h.path("dir")).unwrap();
    let out = String::from_utf8(h.fetch("LIST")).unwrap();
    assert!(
        out.lines()
            .any(|l| l.starts_with('-') && l.ends_with(" one")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" dir")),
        "{out}"
    );
    assert!(out.ends_with("\r\n"));
    let out = String::from_utf8(h.fetch("LIST -la")).unwrap();
    assert_eq!(out.lines().count(), 2);
    let mut names: Vec<String> = String::from_utf8(h.fetch("NLST"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(names, vec!["dir", "one"]);
    let out = String::from_utf8(h.fetch("MLSD")).unwrap();
    assert!(
        out.contains("type=dir;") && out.contains("type=file;") && out.contains(" one\r\n"),
        "{out}"
    );
    let out = String::from_utf8(h.fetch("LIST one")).unwrap();
    assert_eq!(out.lines().count(), 1);
    assert_eq!(h.one("MLSD one"), "501 No such directory.");
    assert_eq!(h.one("LIST nope"), "550 No such file or directory.");
}

/// The lines of a listing, in the order sent.
fn lines_of(bytes: Vec<u8>) -> Vec<String> {
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.is_empty() || text.ends_with("\r\n"), "{text:?}");
    text.lines().map(String::from).collect()
}

/// a.txt b.txt c.bin .hidden.txt in the home, sub/ with x.txt y.txt z.dat.
fn glob_tree(h: &H) {
    for (name, body) in [
        ("b.txt", "bee"),
        ("a.txt", "ay"),
        ("c.bin", "sea"),
        (".hidden.txt", "hidden"),
        ("sub/y.txt", "why"),
        ("sub/x.txt", "ex"),
        ("sub/z.dat", "zed"),
    ] {
        if let Some(dir) = h.path(name).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(h.path(name), body).unwrap();
    }
}

#[test]
fn nlst_pattern_lists_sorted_matches_named_as_retr_arguments() {
    let mut h = harness();
    h.login();
    glob_tree(&h);
    assert_eq!(lines_of(h.fetch("NLST *.txt")), ["a.txt", "b.txt"]);
    assert_eq!(
        lines_of(h.fetch("NLST sub/*.txt")),
        ["sub/x.txt", "sub/y.txt"]
    );
    assert_eq!(
        lines_of(h.fetch("NLST /sub/*.txt")),
        ["/sub/x.txt", "/sub/y.txt"]
    );
    assert_eq!(
        lines_of(h.fetch("NLST ./sub//?.*")),
        ["./sub//x.txt", "./sub//y.txt", "./sub//z.dat"]
    );
    assert_eq!(lines_of(h.fetch("NLST [a-b].txt")), ["a.txt", "b.txt"]);
    assert_eq!(lines_of(h.fetch("NLST [!a].*")), ["b.txt", "c.bin"]);
    assert_eq!(
        lines_of(h.fetch("NLST *")),
        ["a.txt", "b.txt", "c.bin", "sub"]
    );
    assert_eq!(
        lines_of(h.fetch("NLST .*")),
        [".hidden.txt"],
        "hidden files need a literal dot"
    );
    assert_eq!(
        lines_of(h.fetch("NLST -l *.bin")),
        ["c.bin"],
        "options are still skipped"
    );
    // every name is a RETR argument relative to the cwd
    for (cwd, pattern) in [
        ("/", "*.txt"),
        ("/", "sub/*.txt"),
        ("/sub", "../*.txt"),
        ("/sub", "/sub/*"),
    ] {
        assert!(h.one(&format!("CWD {cwd}")).starts_with("250"));
        let names = lines_of(h.fetch(&format!("NLST {pattern}")));
        assert!(!names.is_empty(), "{pattern}");
        for name in names {
            let vpath = crate::proto::path::resolve(cwd.as_bytes(), name.as_bytes());
            let on_disk = h.path(std::str::from_utf8(&vpath).unwrap().trim_start_matches('/'));
            let want = std::fs::read(on_disk).unwrap();
            assert_eq!(h.fetch(&format!("RETR {name}")), want, "{cwd} {name}");
        }
    }
}

#[test]
fn list_pattern_gives_ls_lines_of_the_matches() {
    let mut h = harness();
    h.login();
    glob_tree(&h);
    let lines = lines_of(h.fetch("LIST sub/*.txt"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with('-') && lines[0].ends_with(" sub/x.txt"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with('-') && lines[1].ends_with(" sub/y.txt"),
        "{lines:?}"
    );
    // a matching directory is listed itself, not entered
    let lines = lines_of(h.fetch("LIST -la s*"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with('d') && lines[0].ends_with(" sub"),
        "{lines:?}"
    );
    let lines = lines_of(h.fetch("LIST /*.bin"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" 3 ") && lines[0].ends_with(" /c.bin"),
        "{lines:?}"
    );
}

#[test]
fn pattern_without_match_or_directory_is_550() {
    let mut h = harness();
    h.login();
    glob_tree(&h);
    h.open_data();
    for c in [
        "NLST *.none",
        "LIST *.none",
        "NLST sub/*.bin",
        "NLST nope/*.txt",
        "LIST nope/*",
    ] {
        assert_eq!(h.one(c), "550 No such file or directory.", "{c}");
    }
    assert_eq!(h.one("NLST a.txt/*"), "550 Not a directory.");
    // no transfer was started: the data connection is still there for this one
    let mut t = h.start("NLST *.bin");
    assert_eq!(drain(&mut t), b"c.bin\r\n");
    assert_eq!(codes(&h.done(t, Ok(()))), vec![226]);
    // patterns in directory components are not expanded
    assert_eq!(h.one("NLST */x.txt"), "550 No such file or directory.");
    // STAT and MLSD do not expand patterns
    assert_eq!(h.one("STAT *.txt"), "550 Globbing not supported.");
}

#[test]
fn mlsd_does_not_expand_patterns() {
    let mut h = harness();
    h.login();
    glob_tree(&h);
    h.open_data();
    assert_eq!(h.one("MLSD *.txt"), "501 No such directory.");
}

#[test]
fn a_name_that_exists_literally_is_not_a_pattern() {
    let mut h = harness();
    h.login();
    for name in ["a*b", "ab", "axb", "sub/[x]", "sub/x"] {
        if let Some(dir) = h.path(name).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(h.path(name), name).unwrap();
    }
    assert_eq!(lines_of(h.fetch("NLST a*b")), ["a*b"]);
    assert_eq!(lines_of(h.fetch("NLST sub/[x]")), ["[x]"]);
    let lines = lines_of(h.fetch("LIST a*b"));
    assert!(lines.len() == 1 && lines[0].ends_with(" a*b"), "{lines:?}");
    // otherwise the same text is a pattern
    std::fs::remove_file(h.path("a*b")).unwrap();
    assert_eq!(lines_of(h.fetch("NLST a*b")), ["ab", "axb"]);
    std::fs::remove_file(h.path("sub/[x]")).unwrap();
    assert_eq!(lines_of(h.fetch("NLST sub/[x]")), ["sub/x"]);
    // an escaped wildcard is no pattern
    assert_eq!(h.one("NLST a\\*b"), "550 No such file or directory.");
}

#[test]
fn patterns_stay_inside_the_root() {
    let mut h = harness();
    h.login();
    glob_tree(&h);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "s").unwrap();
    std::os::unix::fs::symlink(outside.path(), h.path("out")).unwrap();
    // `..` stops at the root, as for any path: the names stay valid RETR arguments
    assert_eq!(
        lines_of(h.fetch("NLST ../../*.txt")),
        ["../../a.txt", "../../b.txt"]
    );
    assert_eq!(h.fetch("RETR ../../a.txt"), b"ay");
    // a directory part leading outside through a symlink is refused
    h.open_data();
    let r = h.one("NLST out/*");
    assert!(r.starts_with("550 "), "{r}");
    assert!(!r.contains("secret"), "{r}");
}

#[test]
fn pattern_needs_list_permission_on_its_directory() {
    let mut h = harness_setup(
        ServerConfig::default(),
        "127.0.0.1:40000",
        "127.0.0.1:2121",
        |auth, home| {
            std::fs::create_dir(home.join("closed")).unwrap();
            std::fs::write(home.join("closed/a.txt"), "a").unwrap();
            auth.override_perm("user", "closed", "er", false).unwrap();
        },
    );
    h.login();
    glob_tree(&h);
    h.open_data();
    assert_eq!(h.one("NLST closed/*.txt"), "550 Not enough privileges.");
    assert_eq!(h.one("LIST closed/*"), "550 Not enough privileges.");
    assert!(h.one("CWD closed").starts_with("250"));
    assert_eq!(h.one("NLST *"), "550 Not enough privileges.");
    assert!(h.one("CWD /").starts_with("250"));
    let mut t = h.start("NLST *.txt");
    assert_eq!(drain(&mut t), b"a.txt\r\nb.txt\r\n");
}

#[test]
fn pattern_matches_non_utf8_names() {
    use std::os::unix::ffi::OsStrExt;
    let mut h = harness();
    h.login();
    let name: &[u8] = b"caf\xe9.txt";
    std::fs::write(
        h.dir.path().join(std::ffi::OsStr::from_bytes(name)),
        "latin1",
    )
    .unwrap();
    std::fs::write(h.path("other.txt"), "o").unwrap();
    h.open_data();
    let a = h.input(Input::Line(b"NLST caf[\xe0-\xef]*"));
    assert_eq!(codes(&a), vec![125], "{a:?}");
    let Some(Action::StartTransfer(mut t)) = a.into_iter().last() else {
        panic!("no transfer");
    };
    assert_eq!(drain(&mut t), [name, b"\r\n"].concat());
}

#[test]
fn too_many_matches_are_refused_without_a_transfer() {
    let mut h = harness();
    h.login();
    std::fs::create_dir(h.path("many")).unwrap();
    for i in 0..=super::MAX_GLOB_MATCHES {
        std::fs::File::create(h.path(&format!("many/f{i:05}"))).unwrap();
    }
    std::fs::File::create(h.path("many/other")).unwrap();
    h.open_data();
    assert_eq!(
        h.one("NLST many/f*"),
        "550 Too many matches; narrow the pattern."
    );
    assert_eq!(
        h.one("LIST many/*"),
        "550 Too many matches; narrow the pattern."
    );
    // exactly at the bound is fine
    std::fs::remove_file(h.path("many/f00000")).unwrap();
    let mut t = h.start("NLST many/f*");
    let names = lines_of(drain(&mut t));
    assert_eq!(names.len(), super::MAX_GLOB_MATCHES);
    assert_eq!(names.first().map(String::as_str), Some("many/f00001"));
    assert_eq!(names.last().map(String::as_str), Some("many/f10000"));
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted");
}

#[test]
fn port_and_eprt_validation() {
    let mut h = harness();
    h.login();
    assert_eq!(h.one("PORT 1,2,3"), "501 Invalid PORT format.");
    assert_eq!(h.one("PORT 127,0,0,1,300,1"), "501 Invalid PORT format.");
    assert_eq!(
        h.one("PORT 10,0,0,1,4,1"),
        "501 Rejected data connection to foreign address 10.0.0.1:1025."
    );
    assert_eq!(
        h.one("PORT 127,0,0,1,0,21"),
        "501 PORT against the privileged port \"21\" refused."
    );
    assert_eq!(
        h.one("EPRT |3|x|1|"),
        "522 Network protocol not supported (use 1)."
    );
    assert_eq!(h.one("EPRT |1|127.0.0.1|"), "501 Invalid EPRT format.");
    assert_eq!(
        h.one("EPRT |2|::1|5000|"),
        "522 Network protocol not supported (use 1)."
    );
    let a = h.line("PORT 127,0,0,1,4,1");
    assert!(
        matches!(a.as_slice(), [Action::ConnectActive { remote, .. }] if *remote == addr("127.0.0.1:1025")),
        "{a:?}"
    );
    assert_eq!(
        texts(&h.input(Input::DataConnected)),
        vec!["200 Active data connection established."]
    );
    let a = h.line("EPRT |1|127.0.0.1|5000|");
    assert!(
        matches!(
            a.as_slice(),
            [Action::CloseData, Action::ConnectActive { .. }]
        ),
        "{a:?}"
    );
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        texts(&h.input(Input::ActiveFailed(e))),
        vec!["425 Can't connect to specified address."]
    );
}

#[test]
fn epsv_and_epsv_all() {
    let mut h = harness();
    h.login();
    assert!(matches!(
        h.line("EPSV").as_slice(),
        [Action::ListenPassive(_)]
    ));
    assert_eq!(
        texts(&h.input(Input::PassiveListening(40001))),
        vec!["229 Entering extended passive mode (|||40001|)."]
    );
    assert_eq!(
        h.one("EPSV 2"),
        "522 Network protocol not supported (use 1)."
    );
    assert_eq!(h.one("EPSV 9"), "501 Unknown network protocol (use 1).");
    assert_eq!(
        h.one("EPSV ALL"),
        "200 Other commands other than EPSV are now disabled."
    );
    assert_eq!(h.one("PASV"), "501 PASV not allowed after EPSV ALL.");
    assert_eq!(
        h.one("PORT 127,0,0,1,4,1"),
        "501 PORT not allowed after EPSV ALL."
    );
    assert_eq!(
        h.one("EPRT |1|127.0.0.1|5000|"),
        "501 EPRT not allowed after EPSV ALL."
    );
}

#[test]
fn ipv6_session() {
    let mut h = harness_with(ServerConfig::default(), "[::1]:40000", "[::1]:2121");
    h.login();
    assert_eq!(
        h.one("PASV"),
        "425 Can't use PASV on an IPv6 connection; use EPSV."
    );
    assert!(matches!(
        h.line("EPSV 2").as_slice(),
        [Action::ListenPassive(_)]
    ));
    // the next command waits for the listener's answer
    assert!(h.line("EPRT |2|::1|5000|").is_empty());
    let a = h.input(Input::PassiveListening(50000));
    assert_eq!(
        texts(&a),
        vec!["229 Entering extended passive mode (|||50000|)."]
    );
    assert!(
        matches!(
            a.as_slice(),
            [
                Action::Reply(_),
                Action::CloseData,
                Action::ConnectActive { .. }
            ]
        ),
        "{a:?}"
    );
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        texts(&h.input(Input::ActiveFailed(e))),
        vec!["425 Can't connect to specified address."]
    );
    assert_eq!(
        h.one("EPRT |1|127.0.0.1|5000|"),
        "522 Network protocol not supported (use 2)."
    );
}

#[test]
fn masquerade_address_in_pasv() {
    let cfg = ServerConfig {
        masquerade_address: Some("203.0.113.9".parse().unwrap()),
        ..ServerConfig::default()
    };
    let mut h = harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121");
    h.login();
    h.line("PASV");
    assert_eq!(
        texts(&h.input(Input::PassiveListening(256))),
        vec!["227 Entering passive mode (203,0,113,9,1,0)."]
    );
    let mut map = std::collections::HashMap::new();
    map.insert(
        "127.0.0.1".parse().unwrap(),
        "198.51.100.7".parse().unwrap(),
    );
    let cfg = ServerConfig {
        masquerade_address_map: map,
        ..ServerConfig::default()
    };
    let mut h = harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121");
    h.login();
    h.line("PASV");
    assert_eq!(
        texts(&h.input(Input::PassiveListening(256))),
        vec!["227 Entering passive mode (198,51,100,7,1,0)."]
    );
}

#[test]
fn passive_failure_and_timeout() {
    let mut h = harness();
    h.login();
    h.line("PASV");
    let a = h.input(Input::PassiveFailed(std::io::ErrorKind::AddrInUse.into()));
    assert_eq!(
        texts(&a),
        vec!["425 Can't open passive connection: no free port in the passive port range."]
    );
    h.line("PASV");
    h.input(Input::PassiveListening(1025));
    h.now += Duration::from_secs(1);
    assert_eq!(
        texts(&h.line("RETR nope")),
        vec!["550 No such file or directory."]
    );
    assert_eq!(
        texts(&h.expire()),
        vec!["421 Passive data channel timed out."]
    );
}

#[test]
fn foreign_data_peers() {
    let h = harness();
    assert!(h.s.permit_data_peer("127.0.0.1".parse().unwrap()));
    assert!(h.s.permit_data_peer("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!h.s.permit_data_peer("127.0.0.2".parse().unwrap()));
    let cfg = ServerConfig {
        permit_foreign_addresses: true,
        ..ServerConfig::default()
    };
    let h = harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121");
    assert!(h.s.permit_data_peer("127.0.0.2".parse().unwrap()));
}

#[test]
fn abor_in_every_state() {
    let mut h = harness();
    h.login();
    assert_eq!(h.one("ABOR"), "225 No transfer to abort.");
    h.line("PASV");
    h.input(Input::PassiveListening(1025));
    let a = h.line("ABOR");
    assert!(matches!(a[0], Action::CloseData));
    assert_eq!(
        texts(&a),
        vec!["225 ABOR command successful; data channel closed."]
    );
    // pending transfer (150 sent)
    std::fs::write(h.path("f"), b"x").unwrap();
    h.line("PASV");
    h.input(Input::PassiveListening(1025));
    h.line("RETR f");
    let a = h.line("ABOR");
    assert_eq!(
        texts(&a),
        vec![
            "426 Transfer aborted via ABOR.",
            "226 ABOR command successful."
        ]
    );
    // running transfer
    h.open_data();
    let t = h.start("RETR f");
    let a = h.line("ABOR");
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]));
    let a = h.done(t, Err(TransferError::Aborted));
    assert_eq!(
        texts(&a),
        vec![
            "426 Transfer aborted via ABOR.",
            "226 ABOR command successful."
        ]
    );
    assert!(matches!(
        events(&a).as_slice(),
        [Event::IncompleteFileSent(_)]
    ));
}

#[test]
fn commands_during_a_transfer() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"x").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    // NOOP and STAT answered at once, PWD queued
    assert_eq!(h.one("NOOP"), "200 I successfully did nothing.");
    let stat = h.one("STAT");
    assert!(stat.contains("Data connection open:"), "{stat}");
    assert!(h.line("PWD").is_empty());
    // behind a queued command, QUIT (and NOOP, STAT) wait their turn: replies stay in order
    assert!(h.line("NOOP").is_empty());
    assert!(h.line("QUIT").is_empty());
    let a = h.done(t, Ok(()));
    assert_eq!(
        texts(&a),
        vec![
            "226 Transfer complete.",
            "257 \"/\" is the current directory.",
            "200 I successfully did nothing.",
            "221 Goodbye."
        ]
    );
    assert!(a.iter().any(|x| matches!(x, Action::Close)));
    assert!(events(&a).contains(&Event::Logout("user".into())));
}

#[test]
fn what_is_urgent_during_a_transfer_is_read_from_the_parsed_command() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"x").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    // STAT with an argument, an unknown verb and a line too long wait their turn
    assert!(h.line("STAT /").is_empty());
    assert!(h.line("XNOOP").is_empty());
    assert!(h.input(Input::LineTooLong).is_empty());
    // ABOR after Telnet garbage still jumps the queue
    let a = h.s.handle(Input::Line(b"\xf2ABOR"), h.now);
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]), "{a:?}");
    let a = h.done(t, Err(TransferError::Aborted));
    let t = texts(&a);
    assert_eq!(
        t[..2],
        [
            "426 Transfer aborted via ABOR.",
            "226 ABOR command successful."
        ]
    );
    assert!(t[2].starts_with("213-Status of \"/\""), "{t:?}");
    assert_eq!(
        t[3..],
        [
            "500 Command \"XNOOP\" not understood.",
            "500 Command too long."
        ]
    );
}

#[test]
fn queued_commands_run_after_the_transfer() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"x").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    assert!(h.line("PWD").is_empty());
    assert!(h.line("MKD q").is_empty());
    let a = h.done(t, Ok(()));
    assert_eq!(
        texts(&a),
        vec![
            "226 Transfer complete.",
            "257 \"/\" is the current directory.",
            "257 \"/q\" directory created."
        ]
    );
}

#[test]
fn quit_rein_user_flush() {
    let mut h = harness();
    h.login();
    let a = h.line("REIN");
    assert_eq!(texts(&a), vec!["220 Ready for new user."]);
    assert_eq!(events(&a), vec![Event::Logout("user".into())]);
    assert_eq!(h.one("PWD"), "530 Log in with USER and PASS first.");
    h.one("USER user");
    h.one("PASS 12345");
    let a = h.line("USER reader");
    assert_eq!(
        texts(&a),
        vec!["331 Previous account information was flushed, send password."]
    );
    assert_eq!(events(&a), vec![Event::Logout("user".into())]);
    h.one("PASS pw");
    let a = h.line("QUIT");
    assert_eq!(texts(&a), vec!["221 Goodbye."]);
    assert_eq!(events(&a), vec![Event::Logout("reader".into())]);
    assert!(matches!(a.last(), Some(Action::Close)));
    // after Close, lines are ignored; Disconnected fires on_disconnect once
    assert!(h.line("NOOP").is_empty());
    assert_eq!(
        events(&h.input(Input::Disconnected)),
        vec![Event::Disconnect]
    );
    assert!(h.input(Input::Disconnected).is_empty());
}

#[test]
fn custom_login_and_quit_messages() {
    let mut h = harness();
    let dir = h.dir.path().to_path_buf();
    let auth = MemoryAuthorizer::new();
    auth.add_user_with_messages("u", "p", &dir, "elr", "Welcome aboard.", "See you.")
        .unwrap();
    h.s = Session::new(
        SessionContext {
            config: Arc::new(ServerConfig::default()),
            authorizer: Arc::new(auth),
            fs_factory: Arc::new(LocalFsFactory::default()),
        },
        addr("127.0.0.1:1"),
        addr("127.0.0.1:2"),
    );
    h.input(Input::Connected);
    h.one("USER u");
    assert_eq!(h.one("PASS p"), "230 Welcome aboard.");
    assert_eq!(h.one("QUIT"), "221 See you.");
}

#[test]
fn idle_timeout() {
    let mut h = harness();
    h.login();
    assert_eq!(h.s.next_deadline(), Some(h.now + Duration::from_secs(300)));
    let a = h.expire();
    assert_eq!(texts(&a), vec!["421 Control connection timed out."]);
    assert!(matches!(a.last(), Some(Action::Close)));
}

#[test]
fn idle_timeout_ignored_during_transfer_and_data_timeout_closes() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"x").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    let moved = t.byte_counter();
    // a transfer that moves bytes runs for as long as it takes, past the
    // idle timeout and the data timeout
    for _ in 0..5 {
        moved.fetch_add(1, Ordering::Relaxed);
        assert!(h.after(Duration::from_secs(200)).is_empty());
    }
    // one that moves none for the data timeout is cut
    assert!(h.after(Duration::from_secs(299)).is_empty());
    let a = h.after(Duration::from_secs(1));
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]), "{a:?}");
    let a = h.done(t, Err(TransferError::Aborted));
    assert_eq!(texts(&a), vec!["421 Data connection timed out."]);
    assert!(matches!(a.last(), Some(Action::Close)));
}

#[test]
fn disconnect_mid_transfer_fires_incomplete_and_no_reply() {
    let mut h = harness();
    h.login();
    h.open_data();
    let t = h.start("STOR part");
    let _ = h.input(Input::Disconnected);
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let a = h.done(t, Err(TransferError::Network(e)));
    assert!(texts(&a).is_empty());
}

#[test]
fn log_prefix_substitution() {
    let cfg = ServerConfig {
        log_prefix: "XXX [%(username)s]@%(remote_ip)s:%(remote_port)s".into(),
        ..ServerConfig::default()
    };
    let mut h = harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121");
    assert_eq!(h.s.log_prefix(), "XXX []@127.0.0.1:40000");
    h.input(Input::Connected);
    h.one("USER user");
    assert_eq!(h.s.log_prefix(), "XXX [user]@127.0.0.1:40000");
}

#[test]
fn ascii_list_source_is_not_converted_twice() {
    // a listing is already CRLF: TYPE A must not turn it into CRCRLF
    let t = Transfer::send(
        TransferCmd::List,
        Source::Lines(Box::new(std::iter::once(b"x\r\n".to_vec()))),
        true,
        false,
        0,
    );
    let mut t = t;
    assert_eq!(drain(&mut t), b"x\r\n");
}

#[test]
fn login_is_an_action_and_commands_wait_for_it() {
    let mut h = harness();
    h.input(Input::Connected);
    h.one("USER user");
    let a = h.s.handle(Input::Line(b"PASS 12345"), h.now);
    let task = match a.into_iter().next() {
        Some(Action::Login(t)) => t,
        other => panic!("{other:?}"),
    };
    // commands sent meanwhile are answered after the login, in order
    assert!(h.s.handle(Input::Line(b"PWD"), h.now).is_empty());
    let a = h.s.handle(Input::LoginDone(task.run()), h.now);
    assert_eq!(
        texts(&a),
        vec![
            "230 Login successful.",
            "257 \"/\" is the current directory."
        ]
    );
}

// --- FTPS (RFC 4217)

fn tls_harness(setup: impl FnOnce(&mut crate::tls::TlsConfig)) -> H {
    let mut tls = crate::tls::tests::test_tls();
    setup(&mut tls);
    let cfg = ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    };
    harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121")
}

#[test]
fn auth_tls_switches_the_control_connection() {
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    let a = h.line("AUTH TLS");
    assert_eq!(texts(&a), vec!["234 AUTH TLS successful."]);
    assert!(matches!(a.last(), Some(Action::StartTls)), "{a:?}");
    assert!(h.s.control_secured());
    assert_eq!(h.one("AUTH SSL"), "503 Already using TLS.");
}

#[test]
fn auth_variants_and_bad_mechanism() {
    for kind in ["SSL", "tls-c", "TLS-P"] {
        let mut h = tls_harness(|_| {});
        h.input(Input::Connected);
        let t = h.one(&format!("AUTH {kind}"));
        assert_eq!(
            t,
            format!("234 AUTH {} successful.", kind.to_ascii_uppercase())
        );
    }
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    let a = h.line("AUTH KERBEROS");
    assert_eq!(
        texts(&a),
        vec!["502 Unrecognized encryption type (use TLS or SSL)."]
    );
    assert!(!a.iter().any(|a| matches!(a, Action::StartTls)));
    assert!(!h.s.control_secured());
}

#[test]
fn pbsz_and_prot_need_a_secured_control_connection() {
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    assert_eq!(
        h.one("PBSZ 0"),
        "503 PBSZ not allowed on insecure control connection."
    );
    assert_eq!(
        h.one("PROT P"),
        "503 PROT not allowed on insecure control connection."
    );
    h.line("AUTH TLS");
    assert_eq!(
        h.one("PROT P"),
        "503 You must issue the PBSZ command prior to PROT."
    );
    assert_eq!(h.one("PBSZ 0"), "200 PBSZ=0 successful.");
    assert_eq!(h.one("PROT S"), "521 PROT S unsupported (use C or P).");
    assert_eq!(h.one("PROT X"), "502 Unrecognized PROT type (use C or P).");
    assert_eq!(h.one("PROT C"), "200 Protection set to Clear");
    assert_eq!(h.one("PROT P"), "200 Protection set to Private");
    h.line("USER user");
    h.line("PASS 12345");
    assert!(h.one("CCC").starts_with("534 "));
}

#[test]
fn prot_p_transfers_are_protected_and_never_zero_copy() {
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    h.line("AUTH TLS");
    h.line("PBSZ 0");
    h.line("PROT P");
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("PASS 12345").starts_with("230"));
    h.one("TYPE I");
    std::fs::write(h.path("f"), b"data").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    assert!(t.is_protected());
    assert!(!t.uses_zero_copy());
    // PROT C: clear again, zero-copy allowed
    let done = h.input(Input::TransferDone {
        transfer: t,
        result: Ok(()),
        seconds: 0.0,
    });
    assert_eq!(codes(&done), vec![226]);
    h.one("PROT C");
    h.open_data();
    let t = h.start("RETR f");
    assert!(!t.is_protected());
    assert!(t.uses_zero_copy());
}

#[test]
fn failed_data_handshake_gets_522() {
    let mut h = tls_harness(|_| {});
    h.secure_login();
    std::fs::write(h.path("f"), b"data").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    let a = h.input(Input::TransferDone {
        transfer: t,
        result: Err(TransferError::Handshake(std::io::Error::other(
            "bad record",
        ))),
        seconds: 0.0,
    });
    assert_eq!(texts(&a), vec!["522 SSL handshake failed."]);
    assert!(h.one("NOOP").starts_with("200"), "the session goes on");
}

#[test]
fn control_required_refuses_user_and_pass_in_the_clear() {
    let mut h = tls_harness(|t| t.control_required = true);
    h.input(Input::Connected);
    assert_eq!(
        h.one("USER user"),
        "550 SSL/TLS required on the control channel."
    );
    assert_eq!(
        h.one("PASS 12345"),
        "550 SSL/TLS required on the control channel."
    );
    h.line("AUTH TLS");
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("PASS 12345").starts_with("230"));
}

#[test]
fn data_required_refuses_data_commands_until_prot_p() {
    let mut h = tls_harness(|t| t.data_required = true);
    h.input(Input::Connected);
    h.line("AUTH TLS");
    h.line("USER user");
    h.line("PASS 12345");
    for cmd in [
        "PASV",
        "EPSV",
        "PORT 127,0,0,1,200,10",
        "EPRT |1|127.0.0.1|51210|",
    ] {
        assert_eq!(
            h.one(cmd),
            "550 SSL/TLS required on the data channel.",
            "{cmd}"
        );
    }
    h.line("PBSZ 0");
    h.line("PROT P");
    let a = h.line("PASV");
    assert!(matches!(a.as_slice(), [Action::ListenPassive(_)]), "{a:?}");
}

#[test]
fn auth_after_login_requires_a_new_login() {
    let mut h = tls_harness(|_| {});
    h.login();
    let a = h.line("AUTH TLS");
    assert_eq!(texts(&a), vec!["234 AUTH TLS successful."]);
    assert!(events(&a).contains(&Event::Logout("user".into())), "{a:?}");
    assert!(h.one("PWD").starts_with("530"));
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("PASS 12345").starts_with("230"));
}

#[test]
fn rein_ends_tls_and_forgets_protection() {
    let mut h = tls_harness(|_| {});
    h.secure_login();
    let a = h.line("REIN");
    assert_eq!(texts(&a), vec!["220 Ready for new user."]);
    assert!(matches!(a.last(), Some(Action::StopTls)), "{a:?}");
    assert!(!h.s.control_secured());
    assert_eq!(
        h.one("PBSZ 0"),
        "503 PBSZ not allowed on insecure control connection."
    );
    assert!(h.one("AUTH TLS").starts_with("234"));
}

#[test]
fn implicit_sessions_start_secured_and_rein_renegotiates() {
    let mut h = tls_harness(|t| t.implicit = true);
    assert!(h.s.control_secured());
    h.input(Input::Connected);
    assert_eq!(h.one("AUTH TLS"), "503 Already using TLS.");
    assert_eq!(h.one("PBSZ 0"), "200 PBSZ=0 successful.");
    h.line("USER user");
    h.line("PASS 12345");
    let a = h.line("REIN");
    let tls: Vec<&Action> = a
        .iter()
        .filter(|a| matches!(a, Action::StartTls | Action::StopTls))
        .collect();
    assert!(
        matches!(tls.as_slice(), [Action::StopTls, Action::StartTls]),
        "{a:?}"
    );
    assert!(h.s.control_secured());
}

#[test]
fn feat_lists_tls_only_when_configured() {
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    let feat = texts(&h.line("FEAT")).join("\n");
    for l in [" AUTH TLS", " AUTH SSL", " PBSZ", " PROT"] {
        assert!(feat.contains(l), "{l}: {feat}");
    }
    let mut plain = harness();
    plain.input(Input::Connected);
    assert!(plain.one("AUTH TLS").starts_with("502"));
    assert!(plain.one("PBSZ 0").starts_with("502"));
}

// --- hardening: state one command leaves for the next, security changes

#[test]
fn rnto_must_immediately_follow_a_successful_rnfr() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("keep.txt"), b"k").unwrap();
    // a failed RNFR leaves nothing behind, not even an older RNFR
    assert!(h.one("RNFR keep.txt").starts_with("350"));
    assert!(h.one("RNFR missing.txt").starts_with("550"));
    assert_eq!(
        h.one("RNTO new.txt"),
        "503 Bad sequence of commands: use RNFR first."
    );
    assert!(h.path("keep.txt").exists() && !h.path("new.txt").exists());
    // any command in between drops it
    for between in ["NOOP", "PWD", "TYPE I", "BOGUS", "SIZE keep.txt"] {
        assert!(h.one("RNFR keep.txt").starts_with("350"));
        h.one(between);
        assert!(h.one("RNTO new.txt").starts_with("503"), "{between}");
        assert!(!h.path("new.txt").exists(), "{between}");
    }
    assert!(h.one("RNFR keep.txt").starts_with("350"));
    assert_eq!(h.one("RNTO new.txt"), "250 Renaming ok.");
    assert!(h.path("new.txt").exists() && !h.path("keep.txt").exists());
    assert!(h.one("RNTO again.txt").starts_with("503"), "consumed");
}

#[test]
fn rest_is_for_the_next_transfer_command_only() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"0123456789").unwrap();
    // consumed by the transfer, across the data-channel set-up commands
    assert!(h.one("REST 4").starts_with("350"));
    assert_eq!(h.fetch("RETR f"), b"456789");
    assert_eq!(h.fetch("RETR f"), b"0123456789", "consumed");
    // dropped by any other command
    for between in ["NOOP", "LIST", "SIZE f", "TYPE I", "CWD /"] {
        assert!(h.one("REST 4").starts_with("350"));
        if between == "LIST" {
            let listing = h.fetch("LIST");
            assert!(!listing.is_empty());
        } else {
            h.one(between);
        }
        assert_eq!(h.fetch("RETR f"), b"0123456789", "{between}");
    }
    // ... but it survives PASV/EPSV/PORT/EPRT (clients order them either way)
    assert!(h.one("REST 6").starts_with("350"));
    h.open_data();
    let mut t = h.start("RETR f");
    assert_eq!(drain(&mut t), b"6789");
    h.done(t, Ok(()));
    assert!(h.one("REST 3").starts_with("350"));
    assert!(matches!(
        h.line("EPRT |1|127.0.0.1|50000|").as_slice(),
        [Action::ConnectActive { .. }]
    ));
    assert_eq!(
        texts(&h.input(Input::DataConnected)),
        vec!["200 Active data connection established."]
    );
    let mut t = h.start("RETR f");
    assert_eq!(drain(&mut t), b"3456789");
    h.done(t, Ok(()));
}

#[test]
fn pass_must_immediately_follow_user() {
    let mut h = harness();
    h.input(Input::Connected);
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("NOOP").starts_with("200"));
    assert_eq!(h.one("PASS 12345"), "503 Login with USER first.");
    assert!(h.one("PWD").starts_with("530"));
    // STAT no longer shows a pending name
    assert!(texts(&h.line("STAT"))[0].contains("Waiting for username."));
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("PASS 12345").starts_with("230"));
}

#[test]
fn rest_zero_is_exact_in_ascii_mode() {
    let mut h = harness();
    h.login();
    assert!(h.one("TYPE A").starts_with("200"));
    assert_eq!(h.one("REST 0"), "350 Restarting at position 0.");
    h.open_data();
    let a = h.line("STOR x");
    assert_eq!(codes(&a), vec![125], "{a:?}");
    let Some(Action::StartTransfer(t)) = a.into_iter().last() else {
        panic!("no transfer");
    };
    h.done(t, Ok(()));
    assert_eq!(
        h.one("REST 5"),
        "501 Resuming transfers not allowed in ASCII mode."
    );
}

#[test]
fn commands_valid_before_login() {
    let mut h = harness();
    h.input(Input::Connected);
    assert_eq!(h.one("OPTS UTF8 ON"), "200 Always in UTF8 mode.");
    assert_eq!(h.one("OPTS MLST type;"), "200 MLST OPTS type;");
    assert!(h.one("REIN").starts_with("220"));
    assert!(h.one("SITE HELP").starts_with("214"));
    for c in ["FEAT", "HELP", "SYST", "NOOP", "STAT"] {
        assert!(!h.one(c).starts_with("530"), "{c}");
    }
    for c in [
        "STAT /", "ABOR", "TYPE I", "REST 0", "RNFR x", "PASV", "EPSV ALL",
    ] {
        assert!(h.one(c).starts_with("530"), "{c}");
    }
}

#[test]
fn machine_readable_times_are_utc_even_with_local_listings() {
    let cfg = ServerConfig {
        use_gmt_times: false,
        ..ServerConfig::default()
    };
    let mut h = harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121");
    h.login();
    std::fs::write(h.path("f"), b"x").unwrap();
    assert_eq!(
        h.one("MFMT 20200102030405 f"),
        "213 Modify=20200102030405; /f."
    );
    assert_eq!(h.one("MDTM f"), "213 20200102030405");
    let mlst = texts(&h.line("MLST f")).join("\n");
    assert!(mlst.contains("modify=20200102030405;"), "{mlst}");
    let mlsd = String::from_utf8(h.fetch("MLSD")).unwrap();
    assert!(mlsd.contains("modify=20200102030405;"), "{mlsd}");
}

#[test]
fn epsv_all_is_a_200_and_refuses_the_others() {
    let mut h = harness();
    h.login();
    assert_eq!(
        h.one("EPSV ALL"),
        "200 Other commands other than EPSV are now disabled."
    );
    assert!(h.one("PASV").starts_with("501"));
    assert!(h.one("PORT 127,0,0,1,200,10").starts_with("501"));
}

#[test]
fn data_required_is_checked_when_each_transfer_starts() {
    let mut h = tls_harness(|t| t.data_required = true);
    h.secure_login();
    std::fs::write(h.path("file"), b"secret").unwrap();
    h.open_data();
    // PROT C closes the channel set up under PROT P ...
    let a = h.line("PROT C");
    assert!(matches!(a.first(), Some(Action::CloseData)), "{a:?}");
    assert_eq!(texts(&a), vec!["200 Protection set to Clear"]);
    // ... and no transfer command runs in the clear
    for c in [
        "RETR file",
        "STOR up",
        "APPE up",
        "STOU",
        "LIST",
        "NLST",
        "MLSD",
    ] {
        let a = h.line(c);
        assert_eq!(
            texts(&a),
            vec!["521 Data connection cannot be opened with this PROT setting."],
            "{c}"
        );
        assert!(!a.iter().any(|a| matches!(a, Action::StartTransfer(_))));
    }
    assert!(!h.path("up").exists(), "a refused upload leaves no file");
}

#[test]
fn a_prot_change_closes_the_data_channel_set_up_before_it() {
    let mut h = tls_harness(|_| {});
    h.secure_login();
    std::fs::write(h.path("file"), b"secret").unwrap();
    h.open_data(); // secured at once (asserted in open_data)
    let a = h.line("PROT C");
    assert!(matches!(a.first(), Some(Action::CloseData)), "{a:?}");
    assert_eq!(h.one("RETR file"), "425 Use PORT or PASV first.");
    // and the other way round
    h.open_data();
    let a = h.line("PROT P");
    assert!(matches!(a.first(), Some(Action::CloseData)), "{a:?}");
    assert_eq!(h.one("RETR file"), "425 Use PORT or PASV first.");
    h.open_data();
    let t = h.start("RETR file");
    assert!(t.is_protected());
}

#[test]
fn auth_ssl_and_tls_p_protect_the_data_channel() {
    for (kind, protected) in [
        ("TLS", false),
        ("TLS-C", false),
        ("SSL", true),
        ("TLS-P", true),
    ] {
        let mut h = tls_harness(|_| {});
        h.input(Input::Connected);
        h.line(&format!("AUTH {kind}"));
        h.line("USER user");
        h.line("PASS 12345");
        h.one("TYPE I");
        std::fs::write(h.path("f"), b"x").unwrap();
        h.open_data();
        let t = h.start("LIST");
        assert_eq!(t.is_protected(), protected, "AUTH {kind}");
        h.done(t, Ok(()));
        // an explicit PROT C still turns it off
        h.one("PBSZ 0");
        h.one("PROT C");
        h.open_data();
        assert!(!h.start("RETR f").is_protected(), "AUTH {kind}, PROT C");
    }
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

#[test]
fn lines_queued_before_auth_are_never_run_inside_tls() {
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    let task = pending_login(&mut h, "user", "wrong");
    for l in ["AUTH TLS", "USER user", "PASS 12345", "PWD"] {
        assert!(h.s.handle(Input::Line(l.as_bytes()), h.now).is_empty());
    }
    assert!(h.s.handle(Input::LoginDone(task.run()), h.now).is_empty());
    let a = h.expire();
    assert_eq!(
        texts(&a),
        vec!["530 Authentication failed.", "234 AUTH TLS successful."]
    );
    assert!(matches!(a.last(), Some(Action::StartTls)), "{a:?}");
    // inside TLS: the queued USER/PASS/PWD were dropped, not run
    assert_eq!(h.one("PWD"), "530 Log in with USER and PASS first.");
    assert_eq!(h.one("PASS 12345"), "503 Login with USER first.");
}

#[test]
fn lines_queued_before_rein_are_never_run_in_the_clear() {
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    h.line("AUTH TLS");
    h.line("USER user");
    h.line("PASS 12345");
    h.one("TYPE I");
    std::fs::write(h.path("f"), b"x").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    for l in ["REIN", "USER user", "PASS 12345"] {
        assert!(h.s.handle(Input::Line(l.as_bytes()), h.now).is_empty());
    }
    let a = h.done(t, Ok(()));
    assert_eq!(
        texts(&a),
        vec!["226 Transfer complete.", "220 Ready for new user."]
    );
    assert!(matches!(a.last(), Some(Action::StopTls)), "{a:?}");
    assert_eq!(h.one("PWD"), "530 Log in with USER and PASS first.");
}

#[test]
fn a_full_queue_pushes_back_and_never_drops_a_line_silently() {
    let mut h = harness();
    h.input(Input::Connected);
    let task = pending_login(&mut h, "user", "12345");
    for _ in 0..MAX_QUEUED {
        assert!(h.s.accepts_lines());
        assert!(h.s.handle(Input::Line(b"NOOP"), h.now).is_empty());
    }
    assert!(!h.s.accepts_lines(), "the driver must stop reading");
    // a driver that reads on anyway gets a reply, not silence
    assert_eq!(
        texts(&h.s.handle(Input::Line(b"NOOP"), h.now)),
        vec!["450 Too many commands queued; command refused."]
    );
    let a = h.s.handle(Input::LoginDone(task.run()), h.now);
    assert_eq!(codes(&a).len(), 1 + MAX_QUEUED);
    assert!(h.s.accepts_lines());
}

#[test]
fn an_idle_data_connection_times_out_with_421() {
    let mut h = harness();
    h.login();
    h.open_data();
    let a = h.expire();
    assert_eq!(texts(&a), vec!["421 Data connection timed out."]);
    assert!(matches!(a.last(), Some(Action::Close)), "{a:?}");
}

#[test]
fn a_line_too_long_ends_one_command_state_and_waits_its_turn() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("a"), b"A").unwrap();
    assert!(h.one("RNFR a").starts_with("350"));
    assert_eq!(
        texts(&h.input(Input::LineTooLong)),
        vec!["500 Command too long."]
    );
    assert!(h.one("RNTO b").starts_with("503"), "RNFR outlived a line");
    assert!(h.path("a").exists());
    // behind a running transfer: answered in its turn, after the PWD before it
    std::fs::write(h.path("f"), b"x").unwrap();
    h.open_data();
    let t = h.start("RETR f");
    assert!(h.s.handle(Input::Line(b"PWD"), h.now).is_empty());
    assert!(h.s.handle(Input::LineTooLong, h.now).is_empty());
    assert!(h.s.handle(Input::Line(b"NOOP"), h.now).is_empty());
    assert_eq!(codes(&h.done(t, Ok(()))), vec![226, 257, 500, 200]);
    // behind a login check
    let mut h = harness();
    h.input(Input::Connected);
    let task = pending_login(&mut h, "user", "12345");
    assert!(h.s.handle(Input::LineTooLong, h.now).is_empty());
    assert!(h.s.handle(Input::Line(b"PWD"), h.now).is_empty());
    let a = h.s.handle(Input::LoginDone(task.run()), h.now);
    assert_eq!(codes(&a), vec![230, 500, 257]);
}

// --- commands that wait for the driver hold the lines behind them (fuzzing: S1-S4)

#[test]
fn a_command_after_port_waits_for_the_connect() {
    let mut h = harness();
    h.login();
    let a = h.line("PORT 127,0,0,1,195,80");
    assert!(
        matches!(a.as_slice(), [Action::ConnectActive { .. }]),
        "{a:?}"
    );
    // USER would close the channel: it waits, and PORT gets its own reply
    assert!(h.line("USER reader").is_empty());
    let a = h.input(Input::DataConnected);
    assert_eq!(
        codes(&a),
        vec![200, 331],
        "PORT is answered, then USER runs: {a:?}"
    );
    assert!(a.iter().any(|a| matches!(a, Action::CloseData)));
}

#[test]
fn a_failed_connect_answers_port_and_the_transfer_gets_its_own_reply() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"x").unwrap();
    h.line("PORT 127,0,0,1,195,80");
    assert!(h.line("RETR f").is_empty(), "RETR waits for the connect");
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        texts(&h.input(Input::ActiveFailed(e))),
        vec![
            "425 Can't connect to specified address.",
            "425 Use PORT or PASV first."
        ]
    );
}

#[test]
fn lines_behind_a_cancelled_transfer_run_at_once() {
    let mut h = harness();
    h.login();
    std::fs::write(h.path("f"), b"x").unwrap();
    // ABOR of a transfer waiting for its data connection
    h.line("PASV");
    h.input(Input::PassiveListening(50000));
    assert_eq!(codes(&h.line("RETR f")), vec![150]);
    assert!(h.line("PWD").is_empty());
    assert_eq!(codes(&h.line("ABOR")), vec![426, 226, 257]);
    // a passive timeout
    h.line("PASV");
    h.input(Input::PassiveListening(50000));
    assert_eq!(codes(&h.line("RETR f")), vec![150]);
    assert!(h.line("PWD").is_empty());
    let a = h.expire();
    assert_eq!(*codes(&a).last().unwrap(), 257, "{a:?}");
}

#[test]
fn queued_data_channel_commands_run_one_answer_at_a_time() {
    let mut h = harness();
    h.input(Input::Connected);
    std::fs::write(h.path("f"), b"x").unwrap();
    let task = pending_login(&mut h, "user", "12345");
    for l in ["PASV", "EPSV", "RETR f"] {
        assert!(h.s.handle(Input::Line(l.as_bytes()), h.now).is_empty());
    }
    let a = h.s.handle(Input::LoginDone(task.run()), h.now);
    assert_eq!(codes(&a), vec![230]);
    assert!(matches!(a.last(), Some(Action::ListenPassive(_))), "{a:?}");
    // EPSV runs only once PASV's listener is answered
    let a = h.input(Input::PassiveListening(50000));
    assert_eq!(codes(&a), vec![227]);
    assert!(matches!(a.last(), Some(Action::ListenPassive(_))), "{a:?}");
    // a failed listener: EPSV gets 425, and RETR finds no channel
    let e = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    assert_eq!(codes(&h.input(Input::PassiveFailed(e))), vec![425, 425]);
    assert!(h.one("NOOP").starts_with("200"), "nothing hangs");
}

#[test]
fn a_pattern_with_only_escaped_wildcards_lists_the_literal_name() {
    let mut h = harness();
    h.login();
    for f in ["?.txt", "a.txt", "a*b.txt", "[x].txt", "x.txt"] {
        std::fs::write(h.path(f), b"x").unwrap();
    }
    assert_eq!(h.fetch("NLST \\?.txt"), b"?.txt\r\n");
    assert_eq!(h.fetch("NLST a\\*b.txt"), b"a*b.txt\r\n");
    assert_eq!(h.fetch("NLST \\[x\\].txt"), b"[x].txt\r\n");
}

#[test]
fn nothing_is_said_after_the_reply_that_closes_the_session() {
    let cfg = ServerConfig {
        timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let mut h = harness_with(cfg, "127.0.0.1:40000", "127.0.0.1:2121");
    h.login();
    h.line("PASV");
    h.input(Input::PassiveListening(50000));
    let a = h.expire();
    assert_eq!(texts(&a), vec!["421 Control connection timed out."]);
    // the listener's deadline comes after that: no second reply
    assert!(texts(&h.after(Duration::from_secs(600))).is_empty());
    let mut h = harness();
    h.login();
    h.line("PORT 127,0,0,1,195,80");
    h.input(Input::Shutdown);
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert!(texts(&h.input(Input::ActiveFailed(e))).is_empty());
}

#[test]
fn nothing_is_framed_behind_a_queued_auth_or_rein() {
    let mut h = tls_harness(|_| {});
    h.input(Input::Connected);
    let task = pending_login(&mut h, "user", "12345");
    assert!(h.s.accepts_lines());
    assert!(h.s.handle(Input::Line(b"auth tls"), h.now).is_empty());
    assert!(
        !h.s.accepts_lines(),
        "what follows AUTH may be a ClientHello: it stays unframed"
    );
    assert!(h.s.awaits_driver());
    let a = h.s.handle(Input::LoginDone(task.run()), h.now);
    assert_eq!(codes(&a), vec![230, 234]);
    assert!(h.s.accepts_lines());
}
