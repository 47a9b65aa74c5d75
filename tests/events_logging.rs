//! The nine event callbacks and the log lines, end to end, against
//! pyftpdlib's rules for when each fires.
mod common;

each_model!(
    connect_fires_before_the_banner,
    quit_fires_logout_then_one_disconnect,
    abrupt_close_fires_disconnect_but_no_logout,
    login_failed_carries_username_and_password,
    rein_and_user_while_logged_in_fire_logout,
    completed_transfers_fire_file_sent_and_file_received,
    failed_commands_fire_no_file_events,
    data_connection_closed_early_fires_incomplete_file_sent,
    abor_during_retr_fires_incomplete_file_sent,
    abor_during_stor_fires_incomplete_file_received,
    control_connection_lost_during_stor_fires_incomplete_file_received,
    control_connection_lost_during_retr_fires_incomplete_file_sent,
    session_log_lines_with_the_default_prefix,
    flushed_account_and_incomplete_transfer_log_lines,
    custom_log_prefix,
    ipv6_sessions_log_the_plain_address,
    ftp_logger_line_format,
    ftp_logger_writes_lines_to_a_file_at_its_level,
);

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use common::Raw;

// --- helpers

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 % 253) as u8).collect()
}

/// A data connection to `addr` from the control connection's address.
fn data_connect(raw: &Raw, addr: SocketAddr) -> TcpStream {
    common::connect_from(addr, raw.stream.local_addr().unwrap().ip())
}

/// The preliminary reply of a transfer whose data connection is opened already.
fn prelim(r: &str) {
    assert!(
        r.starts_with("125 ") || r.starts_with("150 "),
        "not a preliminary reply: {r}"
    );
}

/// A logged-in raw session of the full-permission user in binary mode.
fn session(srv: &common::TestServer) -> Raw {
    logged_in(srv.raw())
}

/// `raw` logged in as the test user, in binary mode.
fn logged_in(mut raw: Raw) -> Raw {
    raw.login(common::USER, common::PASS);
    assert_eq!(raw.cmd("TYPE I"), "200 Type set to: Binary.");
    raw
}

/// The path the server reports for a file of the home directory.
fn real(srv: &common::TestServer, name: &str) -> PathBuf {
    std::fs::canonicalize(srv.dir.path()).unwrap().join(name)
}

fn has_disconnect(e: &[String]) -> bool {
    e.iter().any(|x| x == "disconnect")
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Upload `data` as `cmd arg` (STOR/APPE/STOU); returns the preliminary reply.
fn upload(raw: &mut Raw, cmd: &str, data: &[u8]) -> String {
    let addr = raw.pasv();
    let mut d = data_connect(raw, addr);
    let r = raw.cmd(cmd);
    prelim(&r);
    d.write_all(data).unwrap();
    drop(d);
    assert_eq!(raw.reply(), "226 Transfer complete.");
    r
}

fn download(raw: &mut Raw, cmd: &str) -> Vec<u8> {
    let addr = raw.pasv();
    let mut d = data_connect(raw, addr);
    prelim(&raw.cmd(cmd));
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    buf
}

// --- connect, disconnect, login, logout

fn connect_fires_before_the_banner() {
    let srv = common::start(|_| {});
    let raw = srv.raw();
    assert!(raw.greeting.starts_with("220 "));
    // The banner was read: connect must have fired already.
    assert_eq!(srv.events.list(), ["connect"]);
}

fn quit_fires_logout_then_one_disconnect() {
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    // on_login fires after the 230 is sent, as in pyftpdlib.
    let ev = srv.events.wait_for("login", |e| e.len() >= 2);
    assert_eq!(ev, ["connect", "login user"]);
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
    assert_eq!(raw.reply(), "");
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    assert_eq!(ev, ["connect", "login user", "logout user", "disconnect"]);
    // Another session's events come after; session one's never repeat.
    let mut raw = srv.raw();
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
    let ev = srv.events.wait_for("two disconnects", |e| {
        e.iter().filter(|x| *x == "disconnect").count() == 2
    });
    assert_eq!(
        as_strs(&ev),
        [
            "connect",
            "login user",
            "logout user",
            "disconnect",
            "connect",
            "disconnect"
        ]
    );
}

fn abrupt_close_fires_disconnect_but_no_logout() {
    let srv = common::start(|_| {});
    // Closed without QUIT (FIN).
    let raw = session(&srv);
    drop(raw);
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    assert_eq!(ev, ["connect", "login user", "disconnect"]);

    // Reset (linger 0), with a command half sent.
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    raw.send(b"NOO");
    socket2::SockRef::from(&raw.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(raw);
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    assert_eq!(ev, ["connect", "login user", "disconnect"]);

    // Before logging in.
    let srv = common::start(|_| {});
    drop(srv.raw());
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    assert_eq!(ev, ["connect", "disconnect"]);
}

fn login_failed_carries_username_and_password() {
    let srv = common::start(|c| c.max_login_attempts = 5);
    let mut raw = srv.raw();
    raw.cmd("USER user");
    assert_eq!(
        raw.cmd("PASS not-the-password"),
        "530 Authentication failed."
    );
    raw.cmd("USER nobody");
    assert_eq!(raw.cmd("PASS pw with spaces"), "530 Authentication failed.");
    // A failed login is not a login, so no logout follows it.
    raw.cmd("USER anonymous");
    assert!(raw.cmd("PASS guest@").starts_with("230"));
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    assert_eq!(
        ev,
        [
            "connect",
            "login_failed user not-the-password",
            "login_failed nobody pw with spaces",
            "login anonymous",
            "logout anonymous",
            "disconnect"
        ]
    );
}

fn rein_and_user_while_logged_in_fire_logout() {
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    assert_eq!(raw.cmd("REIN"), "220 Ready for new user.");
    assert_eq!(srv.events.list(), ["connect", "login user", "logout user"]);
    // REIN when nobody is logged in is valid (RFC 959 §5.4 has no 530 for
    // it; pyftpdlib refuses it): no logout.
    assert_eq!(raw.cmd("REIN"), "220 Ready for new user.");
    assert_eq!(srv.events.list(), ["connect", "login user", "logout user"]);
    raw.login(common::RO_USER, common::RO_PASS);
    assert_eq!(
        raw.cmd("USER user"),
        "331 Previous account information was flushed, send password."
    );
    assert_eq!(
        srv.events.list(),
        [
            "connect",
            "login user",
            "logout user",
            "login reader",
            "logout reader"
        ]
    );
    assert_eq!(raw.cmd("PASS 12345"), "230 Login successful.");
    // USER again before PASS (not logged in): no logout either.
    raw.cmd("REIN");
    raw.cmd("USER reader");
    raw.cmd("USER user");
    // QUIT while not logged in: no logout.
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    assert_eq!(
        ev,
        [
            "connect",
            "login user",
            "logout user",
            "login reader",
            "logout reader",
            "login user",
            "logout user",
            "disconnect"
        ]
    );
}

// --- transfers

fn completed_transfers_fire_file_sent_and_file_received() {
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    let data = pattern(200_000);
    upload(&mut raw, "STOR up.bin", &data);
    upload(&mut raw, "APPE up.bin", b"tail");
    let r = upload(&mut raw, "STOU", b"unique");
    let unique = r.split("FILE: ").nth(1).expect("STOU file name").trim();
    assert_eq!(std::fs::read(srv.path(unique)).unwrap(), b"unique");
    let got = download(&mut raw, "RETR up.bin");
    assert_eq!(got.len(), data.len() + 4);
    // Listings are not files.
    download(&mut raw, "LIST");
    download(&mut raw, "NLST");
    download(&mut raw, "MLSD");
    // In a sub-directory, relative to the cwd.
    std::fs::create_dir(srv.path("sub")).unwrap();
    assert!(raw.cmd("CWD sub").starts_with("250"));
    upload(&mut raw, "STOR inner.txt", b"in");
    download(&mut raw, "RETR /up.bin");
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    let p = |n: &str| real(&srv, n).display().to_string();
    assert_eq!(
        ev,
        [
            "connect".to_string(),
            "login user".to_string(),
            format!("file_received {}", p("up.bin")),
            format!("file_received {}", p("up.bin")),
            format!("file_received {}", p(unique)),
            format!("file_sent {}", p("up.bin")),
            format!("file_received {}", p("sub/inner.txt")),
            format!("file_sent {}", p("up.bin")),
            "logout user".to_string(),
            "disconnect".to_string(),
        ]
    );
}

fn failed_commands_fire_no_file_events() {
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    assert!(raw.cmd("RETR missing").starts_with("550"));
    let mut ro = srv.raw();
    ro.login(common::RO_USER, common::RO_PASS);
    ro.pasv();
    assert_eq!(ro.cmd("STOR x"), "550 Not enough privileges.");
    assert!(!srv.path("x").exists());
    drop(ro);
    drop(raw);
    let ev = srv.events.wait_for("disconnects", |e| {
        e.iter().filter(|x| *x == "disconnect").count() == 2
    });
    assert!(
        ev.iter().all(|e| !e.contains("file_")),
        "unexpected file events: {ev:?}"
    );
}

/// Start a throttled RETR of a 4 MiB file and read its first bytes.
fn start_slow_retr(srv: &common::TestServer, raw: &mut Raw) -> TcpStream {
    std::fs::write(srv.path("slow.bin"), pattern(4 << 20)).unwrap();
    let addr = raw.pasv();
    let mut d = data_connect(raw, addr);
    prelim(&raw.cmd("RETR slow.bin"));
    let mut first = vec![0u8; 10_000];
    d.read_exact(&mut first).unwrap();
    d
}

fn data_connection_closed_early_fires_incomplete_file_sent() {
    let srv = common::start(|c| c.write_limit = 1 << 20);
    let mut raw = session(&srv);
    let d = start_slow_retr(&srv, &mut raw);
    drop(d);
    let r = raw.reply();
    assert!(r.starts_with("426 "), "{r}");
    let want = format!("incomplete_file_sent {}", real(&srv, "slow.bin").display());
    assert_eq!(srv.events.list(), ["connect", "login user", want.as_str()]);
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
}

fn abor_during_retr_fires_incomplete_file_sent() {
    let srv = common::start(|c| c.write_limit = 1 << 20);
    let mut raw = session(&srv);
    let _d = start_slow_retr(&srv, &mut raw);
    raw.send(b"ABOR\r\n");
    assert_eq!(raw.reply(), "426 Transfer aborted via ABOR.");
    assert_eq!(raw.reply(), "226 ABOR command successful.");
    let want = format!("incomplete_file_sent {}", real(&srv, "slow.bin").display());
    assert_eq!(srv.events.list(), ["connect", "login user", want.as_str()]);
}

/// Start a STOR and send some of its bytes; the data connection stays open.
fn start_stor(raw: &mut Raw, name: &str) -> TcpStream {
    let addr = raw.pasv();
    let mut d = data_connect(raw, addr);
    prelim(&raw.cmd(&format!("STOR {name}")));
    d.write_all(&pattern(100_000)).unwrap();
    d
}

/// Wait (bounded) until the upload runs (not just queued behind the data
/// connection's accept) and has received bytes.
fn wait_upload_running(raw: &mut Raw) {
    for _ in 0..200 {
        let st = raw.cmd("STAT");
        if st.contains(" Data connection open:") && !st.contains("Total bytes received: 0\r") {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the upload never started");
}

fn abor_during_stor_fires_incomplete_file_received() {
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    let _d = start_stor(&mut raw, "part.bin");
    wait_upload_running(&mut raw);
    raw.send(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(raw.reply(), "426 Transfer aborted via ABOR.");
    assert_eq!(raw.reply(), "226 ABOR command successful.");
    let want = format!(
        "incomplete_file_received {}",
        real(&srv, "part.bin").display()
    );
    assert_eq!(srv.events.list(), ["connect", "login user", want.as_str()]);
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
}

fn control_connection_lost_during_stor_fires_incomplete_file_received() {
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    let d = start_stor(&mut raw, "part.bin");
    wait_upload_running(&mut raw);
    drop(raw);
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    let want = format!(
        "incomplete_file_received {}",
        real(&srv, "part.bin").display()
    );
    assert_eq!(ev, ["connect", "login user", want.as_str(), "disconnect"]);
    drop(d);
}

fn control_connection_lost_during_retr_fires_incomplete_file_sent() {
    let srv = common::start(|c| c.write_limit = 1 << 20);
    let mut raw = session(&srv);
    let d = start_slow_retr(&srv, &mut raw);
    drop(raw);
    let ev = srv.events.wait_for("disconnect", has_disconnect);
    let want = format!("incomplete_file_sent {}", real(&srv, "slow.bin").display());
    assert_eq!(ev, ["connect", "login user", want.as_str(), "disconnect"]);
    drop(d);
}

// --- log lines

/// `lines` holds each of `wanted` (as a substring), in this order.
fn assert_in_order(lines: &[String], wanted: &[String]) {
    let mut at = 0;
    for w in wanted {
        match lines[at..].iter().position(|l| l.contains(w.as_str())) {
            Some(i) => at += i + 1,
            None => panic!("missing (in order) {w:?} in:\n{}", lines.join("\n")),
        }
    }
}

fn session_log_lines_with_the_default_prefix() {
    let srv = common::start_setup(
        |c| c.banner = "logging test ready.".into(),
        |auth, home| {
            auth.add_user("logger", "Zq9-secret-Pw", home, "elradfmwMT")
                .unwrap()
        },
    );
    std::fs::write(srv.path("log.bin"), pattern(12_345)).unwrap();
    let mut raw = Raw::connect_own(srv.addr);
    let me = raw.stream.local_addr().unwrap();
    raw.cmd("USER logger");
    assert_eq!(raw.cmd("PASS Zq9-wrong-Pw"), "530 Authentication failed.");
    raw.login("logger", "Zq9-secret-Pw");
    raw.cmd("TYPE I");
    assert_eq!(download(&mut raw, "RETR log.bin").len(), 12_345);
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
    srv.events.wait_for("disconnect", has_disconnect);

    let p = format!("{me}-");
    let lines = common::log_lines(&p);
    let path = real(&srv, "log.bin");
    let wanted: Vec<String> = [
        format!("[I] {p}[] FTP session opened (connect)"),
        format!("[D] {p}[] -> 220 logging test ready."),
        format!("[D] {p}[] <- USER logger"),
        format!("[D] {p}[] -> 331 Username ok, send password."),
        format!("[D] {p}[logger] <- PASS ******"),
        format!("[D] {p}[logger] -> 530 Authentication failed."),
        format!("[I] {p}[logger] USER 'logger' failed login."),
        format!("[D] {p}[] <- USER logger"),
        format!("[D] {p}[logger] <- PASS ******"),
        format!("[D] {p}[logger] -> 230 Login successful."),
        format!("[I] {p}[logger] USER 'logger' logged in."),
        format!("[D] {p}[logger] <- RETR log.bin"),
        format!(
            "[I] {p}[logger] RETR {} completed=1 bytes=12345 seconds=",
            path.display()
        ),
        format!("[D] {p}[logger] -> 226 Transfer complete."),
        format!("[D] {p}[logger] <- QUIT"),
        format!("[D] {p}[logger] -> 221 Goodbye."),
        format!("[I] {p}[logger] FTP session closed (disconnect)."),
    ]
    .into();
    assert_in_order(&lines, &wanted);
    // Exact shape of some lines.
    assert!(lines.contains(&format!("[D] {p}[logger] <- PASS ******")));
    assert!(lines.contains(&format!("[I] {p}[] FTP session opened (connect)")));
    let retr = lines
        .iter()
        .find(|l| l.contains("completed=1"))
        .expect("transfer line");
    let secs = retr.rsplit("seconds=").next().unwrap();
    assert!(secs.parse::<f64>().is_ok(), "{retr}");
    // The session is closed exactly once.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("FTP session closed"))
            .count(),
        1
    );
    // No password ever reaches the log, right or wrong.
    for l in common::log_lines("") {
        assert!(
            !l.contains("Zq9-secret-Pw") && !l.contains("Zq9-wrong-Pw"),
            "password logged: {l}"
        );
    }
}

fn flushed_account_and_incomplete_transfer_log_lines() {
    let srv = common::start(|c| c.write_limit = 1 << 20);
    let mut raw = logged_in(Raw::connect_own(srv.addr));
    let me = raw.stream.local_addr().unwrap();
    let _d = start_slow_retr(&srv, &mut raw);
    raw.send(b"ABOR\r\n");
    assert_eq!(raw.reply(), "426 Transfer aborted via ABOR.");
    assert_eq!(raw.reply(), "226 ABOR command successful.");
    raw.cmd("USER reader");
    let p = format!("{me}-");
    let lines = common::log_lines(&p);
    let wanted: Vec<String> = [
        format!("{p}[user] <- ABOR"),
        format!(
            "{p}[user] RETR {} completed=0 bytes=",
            real(&srv, "slow.bin").display()
        ),
        format!("{p}[user] -> 426 Transfer aborted via ABOR."),
        format!("{p}[user] -> 226 ABOR command successful."),
        format!("{p}[user] <- USER reader"),
        format!("{p}[] -> 331 Previous account information was flushed, send password."),
    ]
    .into();
    assert_in_order(&lines, &wanted);
}

fn custom_log_prefix() {
    let srv = common::start_setup(
        |c| c.log_prefix = "XXX [%(username)s]@%(remote_ip)s".into(),
        |auth, home| auth.add_user("prefixer", "pw", home, "elr").unwrap(),
    );
    let mut raw = srv.raw();
    raw.login("prefixer", "pw");
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.");
    srv.events.wait_for("disconnect", has_disconnect);
    let lines = common::log_lines("XXX [");
    let wanted: Vec<String> = [
        "[I] XXX []@127.0.0.1 FTP session opened (connect)",
        "[D] XXX []@127.0.0.1 <- USER prefixer",
        "[D] XXX [prefixer]@127.0.0.1 <- PASS ******",
        "[I] XXX [prefixer]@127.0.0.1 USER 'prefixer' logged in.",
        "[D] XXX [prefixer]@127.0.0.1 -> 221 Goodbye.",
        "[I] XXX [prefixer]@127.0.0.1 FTP session closed (disconnect).",
    ]
    .map(String::from)
    .into();
    assert_in_order(&lines, &wanted);

    // The port placeholder.
    let srv = common::start(|c| c.log_prefix = "port=%(remote_port)s ip=%(remote_ip)s".into());
    let raw = Raw::connect_own(srv.addr);
    let me = raw.stream.local_addr().unwrap();
    let lines = common::log_lines(&format!("port={} ip={} ", me.port(), me.ip()));
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("FTP session opened (connect)")),
        "{lines:?}"
    );
}

fn ipv6_sessions_log_the_plain_address() {
    let srv = common::start_on("::1".parse().unwrap(), |_| {});
    let mut raw = srv.raw();
    let port = raw.stream.local_addr().unwrap().port();
    raw.login(common::USER, common::PASS);
    let lines = common::log_lines(&format!("::1:{port}-[user] USER 'user' logged in."));
    // (at least one: another test's client on ::1 may have had this port;
    // 127.64.0.0/16 gives IPv4 tests addresses of their own, ::1 has none)
    assert!(!lines.is_empty(), "{:?}", common::log_lines("::1:"));
}

// --- the logger itself

fn check_line_shape(line: &str, letter: char, msg: &str) {
    // "[I 13-02-01 19:04:56] message\n"
    assert!(line.starts_with(&format!("[{letter} ")), "{line:?}");
    assert!(line.ends_with(&format!("] {msg}\n")), "{line:?}");
    let stamp = &line[3..20];
    let t = chrono::NaiveDateTime::parse_from_str(stamp, "%y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let now = chrono::Local::now().naive_local();
    assert!((now - t).num_seconds().abs() < 60, "{line:?} vs {now}");
}

fn ftp_logger_line_format() {
    use ftpdlib::logging::FtpLogger;
    use log::Level;
    for (level, letter) in [
        (Level::Error, 'E'),
        (Level::Warn, 'W'),
        (Level::Info, 'I'),
        (Level::Debug, 'D'),
    ] {
        let line = FtpLogger::format_line(level, &format_args!("x {} y", 42));
        check_line_shape(&line, letter, "x 42 y");
    }
}

fn ftp_logger_writes_lines_to_a_file_at_its_level() {
    use ftpdlib::logging::FtpLogger;
    use log::{Level, LevelFilter, Log, Record};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ftpd.log");
    std::fs::write(&path, "old line\n").unwrap();
    let logger = FtpLogger::file(LevelFilter::Info, &path).unwrap();
    for (level, msg) in [
        (
            Level::Info,
            "127.0.0.1:2121-[] FTP session opened (connect)",
        ),
        (Level::Debug, "hidden at INFO"),
        (Level::Warn, "a warning"),
    ] {
        logger.log(
            &Record::builder()
                .level(level)
                .args(format_args!("{msg}"))
                .build(),
        );
    }
    logger.flush();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert_eq!(lines[0], "old line\n", "the log file is appended to");
    check_line_shape(
        lines[1],
        'I',
        "127.0.0.1:2121-[] FTP session opened (connect)",
    );
    check_line_shape(lines[2], 'W', "a warning");
}
