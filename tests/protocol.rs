//! Every command of the protocol driven by real clients (suppaftp and a raw
//! control connection), with reply codes asserted and file bytes compared,
//! in passive and active mode, on 127.0.0.1 and on ::1.
mod common;

each_model!(
    user_pass_good_bad_and_anonymous,
    too_many_failed_logins_disconnect,
    commands_before_login_are_refused,
    quit_closes_the_connection,
    rein_flushes_the_account,
    port_eprt_pasv_epsv_each_carry_a_transfer,
    pasv_and_epsv_replies,
    port_and_eprt_refusals,
    epsv_all_locks_out_the_other_modes,
    ipv6_epsv_and_eprt,
    dual_stack_listener_serves_ipv4_and_ipv6_clients,
    type_stru_mode_allo_replies,
    type_a_converts_line_endings_both_ways,
    retr_stor_appe_in_every_mode,
    retr_of_missing_file_and_directory,
    stou_creates_unique_files,
    rest_then_retr_resumes_a_download,
    rest_then_stor_resumes_an_upload,
    rnfr_rnto_dele,
    mkd_rmd_cwd_cdup_pwd_and_x_aliases,
    paths_cannot_escape_the_home,
    list_nlst_mlsd_in_every_mode,
    listings_over_raw_channels,
    patterns_over_raw_channels,
    mlst_and_opts_mlst,
    size_mdtm_mfmt,
    site_chmod_and_site_help,
    help_feat_opts_syst_noop,
    stat_without_and_with_path,
    abor_without_transfer_and_with_open_channel,
    stat_and_abor_during_a_running_download,
    abor_during_a_running_upload,
    quit_and_other_commands_during_an_upload,
    type_a_conversion_of_a_large_text_across_chunks,
    read_only_users_get_550_for_write_commands,
    large_download_without_sendfile,
    twenty_mib_both_ways_passive_and_active,
);

use std::io::{Cursor, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::{Raw, TestServer, PASS, RO_PASS, RO_USER, USER};
use suppaftp::types::{FileType, FormatControl};
use suppaftp::{FtpError, FtpStream, Mode, Status};

// ---------------------------------------------------------------- helpers

/// The three data-channel modes of suppaftp (PASV, EPSV, PORT/EPRT).
const MODES: [Mode; 3] = [Mode::Passive, Mode::ExtendedPassive, Mode::Active];

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Assert that a reply starts with `prefix` (a code, or a code and its text).
#[track_caller]
fn expect(reply: &str, prefix: &str) {
    assert!(
        reply.starts_with(prefix),
        "expected a reply starting with {prefix:?}, got {reply:?}"
    );
}

/// The status of a suppaftp error that carries a server reply.
#[track_caller]
fn status_of<T: std::fmt::Debug>(r: Result<T, FtpError>) -> Status {
    match r {
        Err(FtpError::UnexpectedResponse(resp)) => resp.status,
        other => panic!("expected a refusal from the server, got {other:?}"),
    }
}

/// The reply text of a suppaftp error that carries a server reply.
#[track_caller]
fn reply_of<T: std::fmt::Debug>(r: Result<T, FtpError>) -> String {
    match r {
        Err(FtpError::UnexpectedResponse(resp)) => {
            String::from_utf8_lossy(&resp.body).trim_end().to_string()
        }
        other => panic!("expected a refusal from the server, got {other:?}"),
    }
}

/// A suppaftp client logged in as `user`, binary mode, in data-channel `mode`.
fn client_as(srv: &TestServer, user: &str, pass: &str, mode: Mode) -> FtpStream {
    let mut c = FtpStream::connect(srv.addr).unwrap();
    c.login(user, pass).unwrap();
    c.transfer_type(FileType::Binary).unwrap();
    c.set_mode(mode);
    c
}

/// A logged-in raw connection.
fn raw_logged_in(srv: &TestServer) -> Raw {
    let mut r = srv.raw();
    r.login(USER, PASS);
    r
}

/// How a raw connection opens its data channel.
#[derive(Debug, Clone, Copy)]
enum Chan {
    Pasv,
    Epsv,
    Port,
    Eprt,
}

const V4_CHANS: [Chan; 4] = [Chan::Pasv, Chan::Epsv, Chan::Port, Chan::Eprt];

/// A data channel announced to the server, not yet connected on our side.
enum Setup {
    Passive(SocketAddr),
    Active(TcpListener),
}

/// A listener on the control connection's local address, for PORT/EPRT.
fn data_listener(raw: &Raw) -> TcpListener {
    let ip = raw.stream.local_addr().unwrap().ip();
    TcpListener::bind((ip, 0)).unwrap()
}

/// `PORT h,h,h,h,p,p` for a local IPv4 listener.
fn port_arg(addr: SocketAddr) -> String {
    let IpAddr::V4(ip) = addr.ip() else {
        panic!("PORT needs IPv4, have {addr}")
    };
    let o = ip.octets();
    let p = addr.port();
    format!("{},{},{},{},{},{}", o[0], o[1], o[2], o[3], p >> 8, p & 255)
}

/// `|1|ip|port|` or `|2|ip|port|`.
fn eprt_arg(addr: SocketAddr) -> String {
    let proto = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{proto}|{}|{}|", addr.ip(), addr.port())
}

/// Announce a data channel with `chan` and check the reply.
fn setup(raw: &mut Raw, chan: Chan) -> Setup {
    let server_ip = raw.stream.peer_addr().unwrap().ip();
    match chan {
        Chan::Pasv => Setup::Passive(raw.pasv()),
        Chan::Epsv => Setup::Passive(SocketAddr::new(server_ip, raw.epsv())),
        Chan::Port | Chan::Eprt => {
            let l = data_listener(raw);
            let a = l.local_addr().unwrap();
            let line = match chan {
                Chan::Port => format!("PORT {}", port_arg(a)),
                _ => format!("EPRT {}", eprt_arg(a)),
            };
            expect(&raw.cmd(&line), "200 Active data connection established.");
            Setup::Active(l)
        }
    }
}

/// Accept one connection within 10 s.
fn accept_bounded(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "no data connection from the server"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Our side of the data connection.
fn connect(s: Setup) -> TcpStream {
    let d = match s {
        Setup::Passive(a) => TcpStream::connect_timeout(&a, Duration::from_secs(10)).unwrap(),
        Setup::Active(l) => accept_bounded(&l),
    };
    d.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    d.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    d
}

/// Run a command that sends data to us (RETR, LIST, NLST, MLSD) over `chan`:
/// (preliminary reply, bytes, final reply). A refusal gives (reply, [], "").
fn download(raw: &mut Raw, chan: Chan, cmd: &str) -> (String, Vec<u8>, String) {
    let s = setup(raw, chan);
    let pre = raw.cmd(cmd);
    if !(pre.starts_with("125") || pre.starts_with("150")) {
        return (pre, Vec::new(), String::new());
    }
    let mut d = connect(s);
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    let fin = raw.reply();
    (pre, buf, fin)
}

/// Run a command that takes data from us (STOR, APPE, STOU) over `chan`:
/// (preliminary reply, final reply). A refusal gives (reply, "").
fn upload(raw: &mut Raw, chan: Chan, cmd: &str, bytes: &[u8]) -> (String, String) {
    let s = setup(raw, chan);
    let pre = raw.cmd(cmd);
    if !(pre.starts_with("125") || pre.starts_with("150")) {
        return (pre, String::new());
    }
    let mut d = connect(s);
    d.write_all(bytes).unwrap();
    d.shutdown(std::net::Shutdown::Write).unwrap();
    // wait for the server to close its side
    let mut sink = Vec::new();
    let _ = d.read_to_end(&mut sink);
    let fin = raw.reply();
    (pre, fin)
}

#[track_caller]
fn expect_transfer_ok(pre: &str, fin: &str) {
    assert!(
        pre.starts_with("125 ") || pre.starts_with("150 "),
        "preliminary reply {pre:?}"
    );
    assert_eq!(fin, "226 Transfer complete.");
}

fn mtime_secs(p: &std::path::Path) -> i64 {
    let m = std::fs::metadata(p).unwrap().modified().unwrap();
    m.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `YYYYMMDDHHMMSS` (UTC) of a Unix time.
fn utc_stamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn v6_available() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

// ---------------------------------------------------------------- login

fn user_pass_good_bad_and_anonymous() {
    let srv = common::start(|_| {});
    let mut r = srv.raw();
    expect(&r.greeting, "220 ");
    expect(&r.cmd("PWD"), "530 Log in with USER and PASS first.");
    expect(&r.cmd("PASS 12345"), "503 Login with USER first.");
    expect(
        &r.cmd("USER"),
        "501 Syntax error: command needs an argument.",
    );
    expect(&r.cmd("USER user"), "331 Username ok, send password.");
    assert_eq!(r.cmd("PASS wrong"), "530 Authentication failed.");
    // a failed login forgets the user name
    expect(&r.cmd("PASS 12345"), "503 Login with USER first.");
    expect(&r.cmd("USER user"), "331 ");
    expect(&r.cmd("PASS 12345"), "230 ");
    expect(&r.cmd("PASS 12345"), "503 User already authenticated.");
    assert_eq!(r.cmd("PWD"), "257 \"/\" is the current directory.");
    // USER while logged in flushes the account
    assert_eq!(
        r.cmd("USER anonymous"),
        "331 Previous account information was flushed, send password."
    );
    expect(&r.cmd("PWD"), "530 ");
    // PASS must immediately follow USER (RFC 959 §4.1.1)
    expect(&r.cmd("PASS guest@example.com"), "503 ");
    expect(&r.cmd("USER anonymous"), "331 ");
    expect(&r.cmd("PASS guest@example.com"), "230 ");
    expect(&r.cmd("PWD"), "257 ");
    expect(&r.cmd("QUIT"), "221 ");
    srv.events
        .wait_for("the whole session", |e| e.iter().any(|x| x == "disconnect"));
    let ev = srv.events.list();
    let pos = |s: &str| {
        ev.iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("no {s:?} in {ev:?}"))
    };
    assert!(pos("connect") < pos("login_failed user wrong"));
    assert!(pos("login_failed user wrong") < pos("login user"));
    assert!(pos("login user") < pos("logout user"));
    assert!(pos("logout user") < pos("login anonymous"));
    assert!(pos("login anonymous") < pos("logout anonymous"));

    // the same through suppaftp
    let mut c = FtpStream::connect(srv.addr).unwrap();
    assert_eq!(status_of(c.login(USER, "nope")), Status::NotLoggedIn);
    c.login(USER, PASS).unwrap();
    assert_eq!(c.pwd().unwrap(), "/");
    c.quit().unwrap();
    let mut a = FtpStream::connect(srv.addr).unwrap();
    a.login("anonymous", "me@").unwrap();
    assert_eq!(a.pwd().unwrap(), "/");
    a.quit().unwrap();
}

fn too_many_failed_logins_disconnect() {
    let srv = common::start(|_| {});
    let mut r = srv.raw();
    for _ in 0..2 {
        expect(&r.cmd("USER user"), "331 ");
        assert_eq!(r.cmd("PASS bad"), "530 Authentication failed.");
    }
    expect(&r.cmd("USER user"), "331 ");
    assert_eq!(
        r.cmd("PASS bad"),
        "530 Authentication failed. Disconnecting."
    );
    assert_eq!(r.reply(), "", "the server must close the connection");
}

fn commands_before_login_are_refused() {
    let srv = common::start(|_| {});
    let mut r = srv.raw();
    for c in [
        "CWD /", "LIST", "RETR x", "STOR x", "MKD d", "PASV", "EPSV", "TYPE I", "SIZE x", "STAT /",
    ] {
        assert_eq!(r.cmd(c), "530 Log in with USER and PASS first.", "{c}");
    }
    // these need no login
    expect(&r.cmd("NOOP"), "200 ");
    expect(&r.cmd("SYST"), "215 ");
    expect(&r.cmd("FEAT"), "211");
    expect(&r.cmd("HELP"), "214");
    expect(&r.cmd("STAT"), "211");
}

fn quit_closes_the_connection() {
    let srv = common::start(|_| {});
    let mut r = raw_logged_in(&srv);
    assert_eq!(r.cmd("QUIT"), "221 Goodbye.");
    assert_eq!(r.reply(), "");
    srv.events.wait_for("logout and disconnect", |e| {
        e.iter().any(|x| x == "logout user") && e.iter().any(|x| x == "disconnect")
    });
    // QUIT before login
    let mut r = srv.raw();
    assert_eq!(r.cmd("QUIT"), "221 Goodbye.");
    assert_eq!(r.reply(), "");
}

fn rein_flushes_the_account() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f"), b"data").unwrap();
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    expect(&r.cmd("MKD d"), "257 ");
    expect(&r.cmd("CWD d"), "250 ");
    let pasv = r.pasv();
    assert_eq!(r.cmd("REIN"), "220 Ready for new user.");
    // the passive listener is gone
    assert!(TcpStream::connect_timeout(&pasv, Duration::from_secs(2)).is_err());
    expect(&r.cmd("PWD"), "530 ");
    r.login(RO_USER, RO_PASS);
    // cwd and TYPE were reset
    assert_eq!(r.cmd("PWD"), "257 \"/\" is the current directory.");
    assert_eq!(r.cmd("SIZE f"), "550 SIZE not allowed in ASCII mode.");
    assert_eq!(r.cmd("MKD other"), "550 Not enough privileges.");
    srv.events.wait_for("logout user", |e| {
        e.iter().any(|x| x == "logout user") && e.iter().any(|x| x == "login reader")
    });
}

// ---------------------------------------------------------------- data channel set-up

fn port_eprt_pasv_epsv_each_carry_a_transfer() {
    let srv = common::start(|_| {});
    let data = random_bytes(100_000, 1);
    std::fs::write(srv.path("src.bin"), &data).unwrap();
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    for (i, chan) in V4_CHANS.into_iter().enumerate() {
        let (pre, got, fin) = download(&mut r, chan, "RETR src.bin");
        expect_transfer_ok(&pre, &fin);
        assert!(got == data, "RETR over {chan:?}: bytes differ");
        let name = format!("up{i}.bin");
        let (pre, fin) = upload(&mut r, chan, &format!("STOR {name}"), &data);
        expect_transfer_ok(&pre, &fin);
        assert!(
            std::fs::read(srv.path(&name)).unwrap() == data,
            "STOR over {chan:?}: bytes differ"
        );
    }
}

fn pasv_and_epsv_replies() {
    let srv = common::start(|_| {});
    let mut r = raw_logged_in(&srv);
    let rep = r.cmd("PASV");
    expect(&rep, "227 Entering passive mode (127,0,0,1,");
    assert!(rep.ends_with(")."), "{rep}");
    let rep = r.cmd("EPSV");
    expect(&rep, "229 Entering extended passive mode (|||");
    assert!(rep.ends_with("|)."), "{rep}");
    expect(&r.cmd("EPSV 1"), "229 ");
    assert_eq!(
        r.cmd("EPSV 2"),
        "522 Network protocol not supported (use 1)."
    );
    assert_eq!(r.cmd("EPSV 3"), "501 Unknown network protocol (use 1).");
    assert_eq!(
        r.cmd("PASV x"),
        "501 Syntax error: command does not accept arguments."
    );
    // the latest passive listener takes the transfer
    let (pre, got, fin) = download(&mut r, Chan::Pasv, "NLST");
    expect_transfer_ok(&pre, &fin);
    assert!(got.is_empty());
}

fn port_and_eprt_refusals() {
    let srv = common::start(|_| {});
    let mut r = raw_logged_in(&srv);
    assert_eq!(r.cmd("PORT 1,2,3"), "501 Invalid PORT format.");
    assert_eq!(r.cmd("PORT 127,0,0,1,300,1"), "501 Invalid PORT format.");
    assert_eq!(
        r.cmd("PORT 10,0,0,1,200,1"),
        "501 Rejected data connection to foreign address 10.0.0.1:51201."
    );
    assert_eq!(
        r.cmd("PORT 127,0,0,1,0,21"),
        "501 PORT against the privileged port \"21\" refused."
    );
    assert_eq!(r.cmd("EPRT garbage"), "501 Invalid EPRT format.");
    assert_eq!(
        r.cmd("EPRT |2|::1|5000|"),
        "522 Network protocol not supported (use 1)."
    );
    assert_eq!(
        r.cmd("EPRT |3|127.0.0.1|5000|"),
        "522 Network protocol not supported (use 1)."
    );
    // nobody listens there
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    assert_eq!(
        r.cmd(&format!("PORT {}", port_arg(closed))),
        "425 Can't connect to specified address."
    );
    // no data channel at all
    assert_eq!(r.cmd("LIST"), "425 Use PORT or PASV first.");
    expect(&r.cmd("NOOP"), "200 ");
}

fn epsv_all_locks_out_the_other_modes() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f"), b"hello").unwrap();
    let mut r = raw_logged_in(&srv);
    assert_eq!(
        r.cmd("EPSV ALL"),
        "200 Other commands other than EPSV are now disabled."
    );
    assert_eq!(r.cmd("PASV"), "501 PASV not allowed after EPSV ALL.");
    assert_eq!(
        r.cmd("PORT 127,0,0,1,200,1"),
        "501 PORT not allowed after EPSV ALL."
    );
    assert_eq!(
        r.cmd("EPRT |1|127.0.0.1|5000|"),
        "501 EPRT not allowed after EPSV ALL."
    );
    let (pre, got, fin) = download(&mut r, Chan::Epsv, "RETR f");
    expect_transfer_ok(&pre, &fin);
    assert_eq!(got, b"hello");
}

// ---------------------------------------------------------------- IPv6

fn ipv6_epsv_and_eprt() {
    if !v6_available() {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    }
    let srv = common::start_on(IpAddr::V6(Ipv6Addr::LOCALHOST), |_| {});
    assert!(srv.addr.is_ipv6());
    let data = random_bytes(200_000, 2);
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    assert_eq!(
        r.cmd("PASV"),
        "425 Can't use PASV on an IPv6 connection; use EPSV."
    );
    assert_eq!(
        r.cmd("EPSV 1"),
        "522 Network protocol not supported (use 2)."
    );
    expect(&r.cmd("EPSV 2"), "229 ");
    assert_eq!(
        r.cmd("EPRT |1|127.0.0.1|5000|"),
        "522 Network protocol not supported (use 2)."
    );
    for chan in [Chan::Epsv, Chan::Eprt] {
        let (pre, fin) = upload(&mut r, chan, "STOR v6.bin", &data);
        expect_transfer_ok(&pre, &fin);
        assert!(std::fs::read(srv.path("v6.bin")).unwrap() == data);
        let (pre, got, fin) = download(&mut r, chan, "RETR v6.bin");
        expect_transfer_ok(&pre, &fin);
        assert!(got == data, "RETR over {chan:?} on ::1");
        let (pre, got, fin) = download(&mut r, chan, "NLST");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(got, b"v6.bin\r\n");
    }
    // more of the protocol over ::1
    for (i, chan) in [Chan::Epsv, Chan::Eprt].into_iter().enumerate() {
        expect(&r.cmd("REST 1000"), "350 ");
        let (pre, got, fin) = download(&mut r, chan, "RETR v6.bin");
        expect_transfer_ok(&pre, &fin);
        assert!(got == data[1000..], "REST+RETR over {chan:?} on ::1");
        let name = format!("appe{i}");
        let (pre, fin) = upload(&mut r, chan, &format!("APPE {name}"), b"abc");
        expect_transfer_ok(&pre, &fin);
        let (pre, fin) = upload(&mut r, chan, &format!("APPE {name}"), b"def");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(std::fs::read(srv.path(&name)).unwrap(), b"abcdef");
        let (pre, fin) = upload(&mut r, chan, "STOU", b"unique");
        assert!(pre.starts_with("150 FILE: ftpd.") || pre.starts_with("125 FILE: ftpd."));
        assert_eq!(fin, "226 Transfer complete.");
        let (pre, got, fin) = download(&mut r, chan, "LIST");
        expect_transfer_ok(&pre, &fin);
        assert!(String::from_utf8_lossy(&got).contains(" v6.bin\r\n"));
        let (pre, got, fin) = download(&mut r, chan, "MLSD");
        expect_transfer_ok(&pre, &fin);
        assert!(String::from_utf8_lossy(&got).contains("type=file;"));
    }
    let st = r.cmd("STAT");
    assert!(st.contains(" Connected to: [::1]:"), "{st}");
    // suppaftp: EPSV and (for an IPv6 control connection) EPRT
    for mode in [Mode::ExtendedPassive, Mode::Active] {
        let mut c = client_as(&srv, USER, PASS, mode);
        let name = format!("{mode:?}.bin");
        c.put_file(&name, &mut Cursor::new(&data)).unwrap();
        assert!(c.retr_as_buffer(&name).unwrap().into_inner() == data);
        assert!(c.nlst(None).unwrap().contains(&name));
        c.quit().unwrap();
    }
}

fn dual_stack_listener_serves_ipv4_and_ipv6_clients() {
    if !v6_available() {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    }
    // [::] also takes IPv4 connections (as IPv4-mapped addresses), like the
    // binary's default when no interface is given
    let srv = common::start_on(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |_| {});
    let port = srv.addr.port();
    let data = random_bytes(150_000, 3);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let Ok(probe) = TcpStream::connect_timeout(&v4, Duration::from_secs(5)) else {
        eprintln!("SKIP: no dual-stack sockets here");
        return;
    };
    drop(probe);
    // IPv4 client: PASV must announce the plain IPv4 address, EPRT |1| is accepted
    let mut r = Raw::connect(v4);
    r.login(USER, PASS);
    expect(&r.cmd("TYPE I"), "200 ");
    expect(&r.cmd("PASV"), "227 Entering passive mode (127,0,0,1,");
    expect(&r.cmd("ABOR"), "225 ");
    assert_eq!(
        r.cmd("EPRT |2|::1|5000|"),
        "522 Network protocol not supported (use 1)."
    );
    for (i, chan) in V4_CHANS.into_iter().enumerate() {
        let (pre, got, fin) = download(&mut r, chan, "RETR f.bin");
        expect_transfer_ok(&pre, &fin);
        assert!(got == data, "IPv4 over [::], {chan:?}");
        let name = format!("v4-{i}.bin");
        let (pre, fin) = upload(&mut r, chan, &format!("STOR {name}"), &data);
        expect_transfer_ok(&pre, &fin);
        assert!(std::fs::read(srv.path(&name)).unwrap() == data, "{chan:?}");
    }
    for mode in MODES {
        let mut c = FtpStream::connect(v4).unwrap();
        c.login(USER, PASS).unwrap();
        c.transfer_type(FileType::Binary).unwrap();
        c.set_mode(mode);
        assert!(
            c.retr_as_buffer("f.bin").unwrap().into_inner() == data,
            "{mode:?}"
        );
        c.quit().unwrap();
    }
    // IPv6 client on the same listener
    let mut r = Raw::connect(v6);
    r.login(USER, PASS);
    expect(&r.cmd("TYPE I"), "200 ");
    expect(&r.cmd("PASV"), "425 ");
    for chan in [Chan::Epsv, Chan::Eprt] {
        let (pre, got, fin) = download(&mut r, chan, "RETR f.bin");
        expect_transfer_ok(&pre, &fin);
        assert!(got == data, "IPv6 over [::], {chan:?}");
    }
}

// ---------------------------------------------------------------- TYPE, STRU, MODE, ALLO

fn type_stru_mode_allo_replies() {
    let srv = common::start(|_| {});
    let mut r = raw_logged_in(&srv);
    assert_eq!(r.cmd("TYPE A"), "200 Type set to: ASCII.");
    assert_eq!(r.cmd("TYPE A N"), "200 Type set to: ASCII.");
    assert_eq!(r.cmd("TYPE I"), "200 Type set to: Binary.");
    assert_eq!(r.cmd("TYPE L8"), "200 Type set to: Binary.");
    assert_eq!(r.cmd("TYPE L 8"), "200 Type set to: Binary.");
    assert_eq!(r.cmd("type a"), "200 Type set to: ASCII.");
    assert_eq!(r.cmd("TYPE E"), "504 Unsupported type \"E\".");
    assert_eq!(
        r.cmd("TYPE"),
        "501 Syntax error: command needs an argument."
    );
    assert_eq!(r.cmd("STRU F"), "200 File transfer structure set to: F.");
    assert_eq!(r.cmd("STRU f"), "200 File transfer structure set to: F.");
    assert_eq!(r.cmd("STRU P"), "504 Unimplemented STRU type.");
    assert_eq!(r.cmd("STRU R"), "504 Unimplemented STRU type.");
    assert_eq!(r.cmd("STRU X"), "501 Unrecognized STRU type.");
    assert_eq!(r.cmd("MODE S"), "200 Transfer mode set to: S");
    assert_eq!(r.cmd("MODE B"), "504 Unimplemented MODE type.");
    assert_eq!(r.cmd("MODE C"), "504 Unimplemented MODE type.");
    assert_eq!(r.cmd("MODE Z"), "501 Unrecognized MODE type.");
    assert_eq!(r.cmd("ALLO 1000"), "202 No storage allocation necessary.");
    // suppaftp's TYPE variants
    let mut c = srv.client();
    c.transfer_type(FileType::Ascii(FormatControl::Default))
        .unwrap();
    c.transfer_type(FileType::Local(8)).unwrap();
    c.transfer_type(FileType::Image).unwrap();
    assert_eq!(
        status_of(c.transfer_type(FileType::Ebcdic(FormatControl::Default))),
        Status::NotImplementedParameter
    );
}

fn type_a_converts_line_endings_both_ways() {
    let srv = common::start(|_| {});
    let file = b"one\ntwo\r\n\nthree\rfour\nend".to_vec();
    let net = b"one\r\ntwo\r\n\r\nthree\rfour\r\nend".to_vec();
    std::fs::write(srv.path("text.txt"), &file).unwrap();
    let mut r = raw_logged_in(&srv);
    for (i, chan) in V4_CHANS.into_iter().enumerate() {
        expect(&r.cmd("TYPE A"), "200 ");
        let (pre, got, fin) = download(&mut r, chan, "RETR text.txt");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&net),
            "{chan:?}"
        );
        let name = format!("up{i}.txt");
        let (pre, fin) = upload(
            &mut r,
            chan,
            &format!("STOR {name}"),
            b"a\r\nb\r\n\r\nc\rd\ne\r",
        );
        expect_transfer_ok(&pre, &fin);
        assert_eq!(
            String::from_utf8_lossy(&std::fs::read(srv.path(&name)).unwrap()),
            "a\nb\n\nc\rd\ne\r",
            "{chan:?}"
        );
        // TYPE I leaves bytes alone
        expect(&r.cmd("TYPE I"), "200 ");
        let (pre, got, fin) = download(&mut r, chan, "RETR text.txt");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(got, file, "{chan:?}");
    }
    // suppaftp in ASCII mode converts LF to CRLF itself; the server stores LF
    for mode in MODES {
        let mut c = client_as(&srv, USER, PASS, mode);
        c.transfer_type(FileType::Ascii(FormatControl::Default))
            .unwrap();
        let name = format!("{mode:?}.txt");
        c.put_file(&name, &mut Cursor::new(b"x\ny\n\nz".to_vec()))
            .unwrap();
        assert_eq!(std::fs::read(srv.path(&name)).unwrap(), b"x\ny\n\nz");
        assert_eq!(
            c.retr_as_buffer(&name).unwrap().into_inner(),
            b"x\r\ny\r\n\r\nz"
        );
        c.quit().unwrap();
    }
}

// ---------------------------------------------------------------- RETR, STOR, APPE, STOU, REST

fn retr_stor_appe_in_every_mode() {
    let srv = common::start(|_| {});
    for (i, mode) in MODES.into_iter().enumerate() {
        let mut c = client_as(&srv, USER, PASS, mode);
        let a = random_bytes(70_000 + i, 10 + i as u64);
        let b = random_bytes(33_333, 20 + i as u64);
        let name = format!("f{i}.bin");
        c.put_file(&name, &mut Cursor::new(&a)).unwrap();
        assert!(
            std::fs::read(srv.path(&name)).unwrap() == a,
            "{mode:?} STOR"
        );
        assert!(
            c.retr_as_buffer(&name).unwrap().into_inner() == a,
            "{mode:?} RETR"
        );
        c.append_file(&name, &mut Cursor::new(&b)).unwrap();
        let ab = [a.clone(), b.clone()].concat();
        assert!(
            std::fs::read(srv.path(&name)).unwrap() == ab,
            "{mode:?} APPE"
        );
        assert!(c.retr_as_buffer(&name).unwrap().into_inner() == ab);
        // APPE creates a missing file
        let fresh = format!("fresh{i}.bin");
        c.append_file(&fresh, &mut Cursor::new(&b)).unwrap();
        assert!(std::fs::read(srv.path(&fresh)).unwrap() == b);
        // STOR replaces
        c.put_file(&name, &mut Cursor::new(&b)).unwrap();
        assert!(
            std::fs::read(srv.path(&name)).unwrap() == b,
            "{mode:?} STOR replace"
        );
        // empty file
        c.put_file("empty", &mut Cursor::new(Vec::new())).unwrap();
        assert_eq!(std::fs::metadata(srv.path("empty")).unwrap().len(), 0);
        assert!(c.retr_as_buffer("empty").unwrap().into_inner().is_empty());
        // missing file
        assert_eq!(
            status_of(c.retr_as_buffer("missing")),
            Status::FileUnavailable
        );
        // the data connection opened for the refused RETR does not disturb the next one
        assert!(
            c.retr_as_buffer(&name).unwrap().into_inner() == b,
            "{mode:?}"
        );
        assert!(c.list(None).unwrap().iter().any(|l| l.ends_with(" empty")));
        c.quit().unwrap();
    }
    let ev = srv.events.wait_for("file events", |e| {
        e.iter().filter(|x| x.starts_with("file_received")).count() >= 12
            && e.iter().filter(|x| x.starts_with("file_sent")).count() >= 9
    });
    let want = format!("file_received {}", srv.path("f0.bin").display());
    assert!(ev.contains(&want), "{want} not in {ev:?}");
}

fn retr_of_missing_file_and_directory() {
    let srv = common::start(|_| {});
    std::fs::create_dir(srv.path("dir")).unwrap();
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    let (pre, _, _) = download(&mut r, Chan::Pasv, "RETR nothere");
    assert_eq!(pre, "550 No such file or directory.");
    let (pre, _, _) = download(&mut r, Chan::Pasv, "RETR dir");
    expect(&pre, "550 ");
    assert_eq!(
        r.cmd("RETR"),
        "501 Syntax error: command needs an argument."
    );
    expect(&r.cmd("ABOR"), "225 ");
}

fn stou_creates_unique_files() {
    let srv = common::start(|_| {});
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    let mut names = Vec::new();
    for (i, chan) in V4_CHANS.into_iter().enumerate() {
        let body = random_bytes(5000 + i, 30 + i as u64);
        let (pre, fin) = upload(&mut r, chan, "STOU", &body);
        assert!(
            pre.starts_with("150 FILE: ftpd.") || pre.starts_with("125 FILE: ftpd."),
            "{pre}"
        );
        assert_eq!(fin, "226 Transfer complete.");
        let name = pre[pre.find("FILE: ").unwrap() + 6..].to_string();
        assert!(std::fs::read(srv.path(&name)).unwrap() == body, "{chan:?}");
        names.push(name);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "STOU reused a name: {names:?}");
    // with a name: that name as prefix
    std::fs::write(srv.path("report"), b"old").unwrap();
    let (pre, fin) = upload(&mut r, Chan::Epsv, "STOU report", b"new");
    expect(&pre, "150 FILE: report.");
    assert_eq!(fin, "226 Transfer complete.");
    let name = pre[pre.find("FILE: ").unwrap() + 6..].to_string();
    assert_eq!(std::fs::read(srv.path(&name)).unwrap(), b"new");
    assert_eq!(std::fs::read(srv.path("report")).unwrap(), b"old");
    // STOU after REST
    expect(&r.cmd("REST 10"), "350 ");
    assert_eq!(
        r.cmd("STOU"),
        "450 Can't STOU while REST request is pending."
    );
    // the REST was consumed
    let (pre, fin) = upload(&mut r, Chan::Pasv, "STOR x", b"x");
    expect_transfer_ok(&pre, &fin);
}

fn rest_then_retr_resumes_a_download() {
    let srv = common::start(|_| {});
    let data = random_bytes(150_000, 40);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let mut r = raw_logged_in(&srv);
    assert_eq!(
        r.cmd("REST 100"),
        "501 Resuming transfers not allowed in ASCII mode."
    );
    expect(&r.cmd("TYPE I"), "200 ");
    assert_eq!(r.cmd("REST abc"), "501 Invalid parameter.");
    assert_eq!(r.cmd("REST -1"), "501 Invalid parameter.");
    for (i, chan) in V4_CHANS.into_iter().enumerate() {
        let off = 1000 * (i + 1) + 7;
        assert_eq!(
            r.cmd(&format!("REST {off}")),
            format!("350 Restarting at position {off}.")
        );
        let (pre, got, fin) = download(&mut r, chan, "RETR big.bin");
        expect_transfer_ok(&pre, &fin);
        assert!(got == data[off..], "{chan:?}: resumed bytes differ");
        // the offset is used once
        let (_, got, _) = download(&mut r, chan, "RETR big.bin");
        assert_eq!(got.len(), data.len());
    }
    // at the very end: nothing left
    expect(&r.cmd(&format!("REST {}", data.len())), "350 ");
    let (pre, got, fin) = download(&mut r, Chan::Pasv, "RETR big.bin");
    expect_transfer_ok(&pre, &fin);
    assert!(got.is_empty());
    // beyond the end
    expect(&r.cmd(&format!("REST {}", data.len() + 1)), "350 ");
    let (pre, _, _) = download(&mut r, Chan::Pasv, "RETR big.bin");
    assert_eq!(
        pre,
        format!(
            "554 REST position ({}) > file size ({})",
            data.len() + 1,
            data.len()
        )
    );
    // APPE refuses a pending REST
    expect(&r.cmd("REST 5"), "350 ");
    assert_eq!(
        r.cmd("APPE big.bin"),
        "450 Can't APPE while REST request is pending."
    );

    // suppaftp in every mode
    for mode in MODES {
        let mut c = client_as(&srv, USER, PASS, mode);
        c.resume_transfer(12_345).unwrap();
        let got = c.retr_as_buffer("big.bin").unwrap().into_inner();
        assert!(got == data[12_345..], "{mode:?}");
        c.quit().unwrap();
    }
}

fn rest_then_stor_resumes_an_upload() {
    let srv = common::start(|_| {});
    let data = random_bytes(200_000, 50);
    for (i, mode) in MODES.into_iter().enumerate() {
        let name = format!("part{i}.bin");
        let cut = 60_000 + i * 1111;
        let mut c = client_as(&srv, USER, PASS, mode);
        c.put_file(&name, &mut Cursor::new(&data[..cut])).unwrap();
        assert_eq!(
            std::fs::metadata(srv.path(&name)).unwrap().len(),
            cut as u64
        );
        c.resume_transfer(cut).unwrap();
        c.put_file(&name, &mut Cursor::new(&data[cut..])).unwrap();
        assert!(
            std::fs::read(srv.path(&name)).unwrap() == data,
            "{mode:?}: resumed upload differs"
        );
        // resuming in the middle overwrites from there and keeps the rest
        c.resume_transfer(10).unwrap();
        c.put_file(&name, &mut Cursor::new(b"XYZ".to_vec()))
            .unwrap();
        let mut want = data.clone();
        want[10..13].copy_from_slice(b"XYZ");
        assert!(std::fs::read(srv.path(&name)).unwrap() == want, "{mode:?}");
        // beyond the end
        c.resume_transfer(data.len() + 10).unwrap();
        let err = reply_of(c.put_file(&name, &mut Cursor::new(b"x".to_vec())));
        assert_eq!(
            err,
            format!(
                "554 REST position ({}) > file size ({})",
                data.len() + 10,
                data.len()
            )
        );
        c.quit().unwrap();
    }
    // raw, over the four channels
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    for (i, chan) in V4_CHANS.into_iter().enumerate() {
        let name = format!("raw{i}.bin");
        let cut = 1000 + i;
        let (pre, fin) = upload(&mut r, chan, &format!("STOR {name}"), &data[..cut]);
        expect_transfer_ok(&pre, &fin);
        assert_eq!(
            r.cmd(&format!("REST {cut}")),
            format!("350 Restarting at position {cut}.")
        );
        let (pre, fin) = upload(&mut r, chan, &format!("STOR {name}"), &data[cut..]);
        expect_transfer_ok(&pre, &fin);
        assert!(std::fs::read(srv.path(&name)).unwrap() == data, "{chan:?}");
    }
}

// ---------------------------------------------------------------- files and directories

fn rnfr_rnto_dele() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("a"), b"content").unwrap();
    std::fs::create_dir(srv.path("d")).unwrap();
    let mut r = raw_logged_in(&srv);
    assert_eq!(
        r.cmd("RNTO b"),
        "503 Bad sequence of commands: use RNFR first."
    );
    assert_eq!(r.cmd("RNFR nothere"), "550 No such file or directory.");
    assert_eq!(r.cmd("RNFR /"), "550 Can't rename home directory.");
    assert_eq!(r.cmd("RNFR a"), "350 Ready for destination name.");
    assert_eq!(r.cmd("RNTO b"), "250 Renaming ok.");
    assert!(!srv.path("a").exists());
    assert_eq!(std::fs::read(srv.path("b")).unwrap(), b"content");
    // the RNFR is used once
    assert_eq!(
        r.cmd("RNTO c"),
        "503 Bad sequence of commands: use RNFR first."
    );
    // into a directory, and a directory itself
    assert_eq!(r.cmd("RNFR b"), "350 Ready for destination name.");
    assert_eq!(r.cmd("RNTO /d/b2"), "250 Renaming ok.");
    assert_eq!(std::fs::read(srv.path("d/b2")).unwrap(), b"content");
    assert_eq!(r.cmd("RNFR d"), "350 Ready for destination name.");
    assert_eq!(r.cmd("RNTO e"), "250 Renaming ok.");
    assert!(srv.path("e/b2").is_file());
    assert_eq!(r.cmd("RNFR e"), "350 Ready for destination name.");
    assert_eq!(r.cmd("RNTO /"), "550 Can't overwrite the home directory.");
    // DELE
    assert_eq!(r.cmd("DELE e/b2"), "250 File removed.");
    assert!(!srv.path("e/b2").exists());
    assert_eq!(r.cmd("DELE e/b2"), "550 No such file or directory.");
    expect(&r.cmd("DELE e"), "550 ");
    assert!(srv.path("e").is_dir());
    // suppaftp
    let mut c = srv.client();
    c.put_file("x", &mut Cursor::new(b"1".to_vec())).unwrap();
    c.rename("x", "y").unwrap();
    assert_eq!(std::fs::read(srv.path("y")).unwrap(), b"1");
    c.rm("y").unwrap();
    assert!(!srv.path("y").exists());
    assert_eq!(status_of(c.rm("y")), Status::FileUnavailable);
    assert_eq!(status_of(c.rename("y", "z")), Status::FileUnavailable);
}

fn mkd_rmd_cwd_cdup_pwd_and_x_aliases() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("file"), b"x").unwrap();
    let mut r = raw_logged_in(&srv);
    assert_eq!(r.cmd("PWD"), "257 \"/\" is the current directory.");
    assert_eq!(r.cmd("XPWD"), "257 \"/\" is the current directory.");
    assert_eq!(r.cmd("MKD a"), "257 \"/a\" directory created.");
    assert!(srv.path("a").is_dir());
    assert_eq!(r.cmd("XMKD a/b"), "257 \"/a/b\" directory created.");
    assert!(srv.path("a/b").is_dir());
    assert_eq!(r.cmd("MKD a"), "550 File exists.");
    assert_eq!(
        r.cmd("MKD no/such/parent"),
        "550 No such file or directory."
    );
    assert_eq!(
        r.cmd("MKD with\"quote"),
        "257 \"/with\"\"quote\" directory created."
    );
    assert_eq!(r.cmd("CWD a"), "250 \"/a\" is the current directory.");
    assert_eq!(r.cmd("XCWD b"), "250 \"/a/b\" is the current directory.");
    assert_eq!(r.cmd("PWD"), "257 \"/a/b\" is the current directory.");
    assert_eq!(r.cmd("CDUP"), "250 \"/a\" is the current directory.");
    assert_eq!(r.cmd("XCUP"), "250 \"/\" is the current directory.");
    // CDUP at the root stays at the root
    assert_eq!(r.cmd("CDUP"), "250 \"/\" is the current directory.");
    assert_eq!(r.cmd("CWD ../../.."), "250 \"/\" is the current directory.");
    assert_eq!(r.cmd("CWD /a/b"), "250 \"/a/b\" is the current directory.");
    assert_eq!(r.cmd("CWD"), "250 \"/\" is the current directory.");
    assert_eq!(r.cmd("CWD file"), "550 Not a directory.");
    assert_eq!(r.cmd("CWD nothere"), "550 No such file or directory.");
    assert_eq!(r.cmd("PWD"), "257 \"/\" is the current directory.");
    // relative MKD inside a cwd
    expect(&r.cmd("CWD a"), "250 ");
    assert_eq!(r.cmd("MKD c"), "257 \"/a/c\" directory created.");
    assert!(srv.path("a/c").is_dir());
    // RMD
    assert_eq!(r.cmd("RMD /a"), "550 Directory not empty.");
    assert_eq!(r.cmd("XRMD c"), "250 Directory removed.");
    assert!(!srv.path("a/c").exists());
    expect(&r.cmd("CWD b"), "250 ");
    // removing the cwd moves it to the parent
    assert_eq!(r.cmd("RMD /a/b"), "250 Directory removed.");
    assert_eq!(r.cmd("PWD"), "257 \"/a\" is the current directory.");
    assert_eq!(r.cmd("RMD /"), "550 Can't remove root directory.");
    assert_eq!(r.cmd("RMD /file"), "550 Not a directory.");
    assert_eq!(r.cmd("RMD /nothere"), "550 No such file or directory.");
    // suppaftp
    let mut c = srv.client();
    c.mkdir("s").unwrap();
    c.cwd("s").unwrap();
    assert_eq!(c.pwd().unwrap(), "/s");
    c.cdup().unwrap();
    assert_eq!(c.pwd().unwrap(), "/");
    c.rmdir("s").unwrap();
    assert!(!srv.path("s").exists());
    assert_eq!(status_of(c.cwd("s")), Status::FileUnavailable);
    assert_eq!(status_of(c.rmdir("s")), Status::FileUnavailable);
}

fn paths_cannot_escape_the_home() {
    let srv = common::start(|_| {});
    let mut r = raw_logged_in(&srv);
    assert_eq!(
        r.cmd("CWD /../../.."),
        "250 \"/\" is the current directory."
    );
    expect(&r.cmd("MKD ../escape"), "257 \"/escape\"");
    assert!(srv.path("escape").is_dir());
    assert!(!srv.dir.path().parent().unwrap().join("escape").exists());
}

// ---------------------------------------------------------------- listings

fn list_nlst_mlsd_in_every_mode() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("alpha.txt"), b"12345").unwrap();
    std::fs::create_dir(srv.path("sub")).unwrap();
    std::fs::write(srv.path("sub/inner"), b"").unwrap();
    for mode in MODES {
        let mut c = client_as(&srv, USER, PASS, mode);
        let list = c.list(None).unwrap();
        assert_eq!(list.len(), 2, "{mode:?}: {list:?}");
        let file_line = list.iter().find(|l| l.ends_with(" alpha.txt")).unwrap();
        assert!(file_line.starts_with("-rw"), "{file_line}");
        assert!(file_line.contains(" 5 "), "{file_line}");
        let dir_line = list.iter().find(|l| l.ends_with(" sub")).unwrap();
        assert!(dir_line.starts_with('d'), "{dir_line}");
        let mut nlst = c.nlst(None).unwrap();
        nlst.sort();
        assert_eq!(nlst, ["alpha.txt", "sub"], "{mode:?}");
        assert_eq!(c.nlst(Some("sub")).unwrap(), ["inner"]);
        let mlsd = c.mlsd(None).unwrap();
        assert_eq!(mlsd.len(), 2, "{mode:?}: {mlsd:?}");
        let f = mlsd.iter().find(|l| l.ends_with(" alpha.txt")).unwrap();
        assert!(f.contains("type=file;"), "{f}");
        assert!(f.contains("size=5;"), "{f}");
        assert!(f.contains("perm="), "{f}");
        assert!(f.contains("modify="), "{f}");
        let d = mlsd.iter().find(|l| l.ends_with(" sub")).unwrap();
        assert!(d.contains("type=dir;"), "{d}");
        // LIST of a file and of a sub-directory
        let one = c.list(Some("alpha.txt")).unwrap();
        assert_eq!(one.len(), 1);
        assert!(one[0].ends_with(" alpha.txt"));
        let sub = c.list(Some("sub")).unwrap();
        assert_eq!(sub.len(), 1);
        assert!(sub[0].ends_with(" inner"));
        assert_eq!(status_of(c.list(Some("nothere"))), Status::FileUnavailable);
        c.quit().unwrap();
    }
}

fn listings_over_raw_channels() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("alpha.txt"), b"12345").unwrap();
    std::fs::create_dir(srv.path("sub")).unwrap();
    let mut r = raw_logged_in(&srv);
    for chan in V4_CHANS {
        let (pre, got, fin) = download(&mut r, chan, "NLST");
        expect_transfer_ok(&pre, &fin);
        let mut names: Vec<&[u8]> = got.split_inclusive(|&b| b == b'\n').collect();
        names.sort();
        assert_eq!(names, [b"alpha.txt\r\n".as_slice(), b"sub\r\n"], "{chan:?}");
        // ls-style options are ignored
        let (pre, got, fin) = download(&mut r, chan, "LIST -la");
        expect_transfer_ok(&pre, &fin);
        let text = String::from_utf8(got).unwrap();
        assert_eq!(text.matches("\r\n").count(), 2, "{text:?}");
        assert!(text.contains(" alpha.txt\r\n"));
        let (pre, got, fin) = download(&mut r, chan, "MLSD /");
        expect_transfer_ok(&pre, &fin);
        let text = String::from_utf8(got).unwrap();
        assert!(text.contains("type=dir;"), "{text:?}");
        assert!(text.contains(" sub\r\n"), "{text:?}");
    }
    let (pre, _, _) = download(&mut r, Chan::Pasv, "MLSD alpha.txt");
    assert_eq!(pre, "501 No such directory.");
    expect(&r.cmd("ABOR"), "225 ");
}

fn patterns_over_raw_channels() {
    let srv = common::start(|_| {});
    for name in ["b.txt", "a.txt", "c.bin", ".hidden.txt"] {
        std::fs::write(srv.path(name), name).unwrap();
    }
    let mut r = raw_logged_in(&srv);
    for chan in V4_CHANS {
        let (pre, got, fin) = download(&mut r, chan, "NLST *.txt");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(got, b"a.txt\r\nb.txt\r\n", "{chan:?}");
        let (pre, got, fin) = download(&mut r, chan, "LIST /*.bin");
        expect_transfer_ok(&pre, &fin);
        let text = String::from_utf8(got).unwrap();
        assert!(
            text.starts_with('-') && text.ends_with(" /c.bin\r\n"),
            "{text:?}"
        );
        assert_eq!(text.matches("\r\n").count(), 1, "{text:?}");
    }
    let (pre, _, _) = download(&mut r, Chan::Pasv, "NLST *.none");
    assert_eq!(pre, "550 No such file or directory.");
    expect(&r.cmd("ABOR"), "225 ");
}

/// More than 10,000 matches: refused with a warning in the log. The bound is
/// the session's, the same in every concurrency model, and 10,001 files take
/// seconds to create on a slow disk, so this runs in one model only.
#[test]
fn pattern_match_bound_is_refused_and_logged() {
    common::with_model(ftpdlib::ConcurrencyModel::ThreadPool, || {
        let srv = common::start(|_| {});
        std::fs::create_dir(srv.path("many")).unwrap();
        for i in 0..=10_000 {
            std::fs::File::create(srv.path(&format!("many/n{i}"))).unwrap();
        }
        let mut r = raw_logged_in(&srv);
        let (pre, _, _) = download(&mut r, Chan::Pasv, "NLST many/n*");
        assert_eq!(pre, "550 Too many matches; narrow the pattern.");
        expect(&r.cmd("ABOR"), "225 ");
        let port = r.stream.local_addr().unwrap().port();
        let logged = common::log_lines(&format!("127.0.0.1:{port}-"));
        let wanted = "NLST many/n*: more than 10000 entries of /many match; refused";
        assert!(
            logged
                .iter()
                .any(|l| l.starts_with("[W] ") && l.ends_with(wanted)),
            "{logged:#?}"
        );
        // at the bound it is listed, sorted by name
        std::fs::remove_file(srv.path("many/n0")).unwrap();
        let (pre, got, fin) = download(&mut r, Chan::Epsv, "NLST many/n*");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(
            got.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count(),
            10_000
        );
        assert!(
            got.starts_with(b"many/n1\r\nmany/n10\r\n"),
            "sorted by name"
        );
    });
}

fn mlst_and_opts_mlst() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f.txt"), b"hello").unwrap();
    let mut r = raw_logged_in(&srv);
    let rep = r.cmd("MLST f.txt");
    let lines: Vec<&str> = rep.lines().collect();
    assert_eq!(lines.len(), 3, "{rep}");
    assert_eq!(lines[0], "250-Listing \"/f.txt\":");
    assert!(lines[1].starts_with(' '), "{rep}");
    assert!(lines[1].contains("type=file;"), "{rep}");
    assert!(lines[1].contains("size=5;"), "{rep}");
    assert!(lines[1].ends_with("; /f.txt"), "{rep}");
    let stamp = utc_stamp(mtime_secs(&srv.path("f.txt")));
    assert!(lines[1].contains(&format!("modify={stamp};")), "{rep}");
    assert_eq!(lines[2].trim_end(), "250 End MLST.");
    let rep = r.cmd("MLST");
    assert!(rep.contains("type=dir;"), "{rep}");
    assert!(rep.contains(" /\r\n"), "{rep}");
    assert_eq!(r.cmd("MLST nothere"), "550 No such file or directory.");
    // OPTS MLST selects the facts
    assert_eq!(r.cmd("OPTS MLST type;size;"), "200 MLST OPTS type;size;");
    let rep = r.cmd("MLST f.txt");
    assert!(rep.contains("\r\n size=5;type=file; /f.txt\r\n"), "{rep}");
    let feat = r.cmd("FEAT");
    assert!(
        feat.contains(" MLST type*;perm;size*;modify;unique;unix.mode;unix.uid;unix.gid;"),
        "{feat}"
    );
    assert_eq!(r.cmd("OPTS MLST bogus;"), "200 MLST OPTS");
    let rep = r.cmd("MLST f.txt");
    assert!(rep.contains("\r\n  /f.txt\r\n"), "{rep}");
    assert_eq!(r.cmd("OPTS MLST nosemicolon"), "501 Invalid argument.");
    // suppaftp
    let mut c = srv.client();
    let line = c.mlst(Some("f.txt")).unwrap();
    assert!(
        line.contains("type=file;") && line.ends_with("/f.txt"),
        "{line}"
    );
}

fn size_mdtm_mfmt() {
    let srv = common::start(|_| {});
    let data = random_bytes(12_345, 60);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    std::fs::create_dir(srv.path("d")).unwrap();
    let mut r = raw_logged_in(&srv);
    assert_eq!(r.cmd("SIZE f.bin"), "550 SIZE not allowed in ASCII mode.");
    expect(&r.cmd("TYPE I"), "200 ");
    assert_eq!(r.cmd("SIZE f.bin"), "213 12345");
    assert_eq!(r.cmd("SIZE d"), "550 /d is not retrievable.");
    assert_eq!(r.cmd("SIZE nothere"), "550 /nothere is not retrievable.");
    let stamp = utc_stamp(mtime_secs(&srv.path("f.bin")));
    assert_eq!(r.cmd("MDTM f.bin"), format!("213 {stamp}"));
    assert_eq!(r.cmd("MDTM d"), "550 /d is not retrievable");
    // MFMT sets the time on disk
    assert_eq!(
        r.cmd("MFMT 20200102030405 f.bin"),
        "213 Modify=20200102030405; /f.bin."
    );
    assert_eq!(mtime_secs(&srv.path("f.bin")), 1_577_934_245);
    assert_eq!(r.cmd("MDTM f.bin"), "213 20200102030405");
    assert_eq!(
        r.cmd("MFMT 2020 f.bin"),
        "501 Invalid time format; expected: YYYYMMDDHHMMSS."
    );
    assert_eq!(
        r.cmd("MFMT 20200102030405"),
        "501 Syntax error: command needs two arguments."
    );
    assert_eq!(r.cmd("MFMT 20200102030405 d"), "550 /d is not retrievable");
    // suppaftp
    let mut c = srv.client();
    assert_eq!(c.size("f.bin").unwrap(), 12_345);
    let t = c.mdtm("f.bin").unwrap();
    assert_eq!(t.format("%Y%m%d%H%M%S").to_string(), "20200102030405");
    assert_eq!(status_of(c.size("nothere")), Status::FileUnavailable);
}

fn site_chmod_and_site_help() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f"), b"x").unwrap();
    let mode = |p: &str| std::fs::metadata(srv.path(p)).unwrap().permissions().mode() & 0o7777;
    let mut r = raw_logged_in(&srv);
    assert_eq!(r.cmd("SITE CHMOD 751 f"), "200 SITE CHMOD successful.");
    assert_eq!(mode("f"), 0o751);
    assert_eq!(r.cmd("site chmod 0600 f"), "200 SITE CHMOD successful.");
    assert_eq!(mode("f"), 0o600);
    assert_eq!(r.cmd("SITE CHMOD 999 f"), "501 Invalid SITE CHMOD format.");
    assert_eq!(r.cmd("SITE CHMOD rwx f"), "501 Invalid SITE CHMOD format.");
    assert_eq!(
        r.cmd("SITE CHMOD 755"),
        "501 Syntax error: command needs two arguments."
    );
    assert_eq!(
        r.cmd("SITE CHMOD 755 nothere"),
        "550 No such file or directory."
    );
    assert_eq!(mode("f"), 0o600);
    let help = r.cmd("SITE HELP");
    assert_eq!(
        help.lines().map(str::trim_end).collect::<Vec<_>>(),
        [
            "214-The following SITE commands are recognized:",
            " CHMOD",
            " HELP",
            "214 Help SITE command successful."
        ]
    );
    assert_eq!(
        r.cmd("SITE HELP CHMOD"),
        "214 Syntax: SITE CHMOD <SP> mode path (change file mode)."
    );
    assert_eq!(r.cmd("SITE HELP BOGUS"), "501 Unrecognized SITE command.");
    assert_eq!(
        r.cmd("SITE BOGUS"),
        "500 Command \"SITE BOGUS\" not understood."
    );
    expect(&r.cmd("SITE"), "501 ");
    // suppaftp
    let mut c = srv.client();
    c.site("CHMOD 644 f").unwrap();
    assert_eq!(mode("f"), 0o644);
}

// ---------------------------------------------------------------- informational

fn help_feat_opts_syst_noop() {
    let srv = common::start(|_| {});
    let mut r = srv.raw();
    let help = r.cmd("HELP");
    let lines: Vec<&str> = help.lines().collect();
    assert_eq!(lines[0], "214-The following commands are recognized:");
    assert_eq!(*lines.last().unwrap(), "214 Help command successful.");
    let body = lines[1..lines.len() - 1].join(" ");
    for c in [
        "ABOR", "ALLO", "APPE", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT", "HELP", "LIST",
        "MDTM", "MFMT", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV",
        "PORT", "PWD", "QUIT", "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE",
        "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCUP", "XCWD", "XMKD", "XPWD",
        "XRMD",
    ] {
        assert!(body.split_whitespace().any(|w| w == c), "HELP lacks {c}");
    }
    assert_eq!(
        r.cmd("HELP RETR"),
        "214 Syntax: RETR <SP> file-name (retrieve a file)."
    );
    assert_eq!(
        r.cmd("help stor"),
        "214 Syntax: STOR <SP> file-name (store a file)."
    );
    assert_eq!(r.cmd("HELP BOGUS"), "501 Unrecognized command.");
    let feat = r.cmd("FEAT");
    let lines: Vec<&str> = feat.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "211-Features supported:",
            " EPRT",
            " EPSV",
            " MDTM",
            " MFMT",
            " MLST type*;perm*;size*;modify*;unique*;unix.mode;unix.uid;unix.gid;",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
            "211 End FEAT."
        ]
    );
    assert_eq!(r.cmd("SYST"), "215 UNIX Type: L8");
    assert_eq!(r.cmd("NOOP"), "200 I successfully did nothing.");
    assert_eq!(
        r.cmd("NOOP x"),
        "501 Syntax error: command does not accept arguments."
    );
    assert_eq!(r.cmd("BOGUS"), "500 Command \"BOGUS\" not understood.");
    r.login(USER, PASS);
    assert_eq!(r.cmd("OPTS UTF8 ON"), "200 Always in UTF8 mode.");
    assert_eq!(r.cmd("OPTS utf8"), "200 Always in UTF8 mode.");
    assert_eq!(r.cmd("OPTS FOO"), "501 Unsupported command \"FOO\".");
    assert_eq!(r.cmd("OPTS A B C"), "501 Invalid number of arguments.");
    assert_eq!(
        r.cmd("OPTS"),
        "501 Syntax error: command needs an argument."
    );
    // suppaftp
    let mut c = srv.client();
    let f = c.feat().unwrap();
    for k in [
        "EPRT", "EPSV", "MDTM", "MFMT", "MLST", "REST", "SIZE", "TVFS", "UTF8",
    ] {
        assert!(f.contains_key(k), "FEAT lacks {k}: {f:?}");
    }
    c.opts("UTF8", Some("ON")).unwrap();
    c.noop().unwrap();
}

fn stat_without_and_with_path() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f.txt"), b"hello").unwrap();
    std::fs::create_dir(srv.path("d")).unwrap();
    std::fs::write(srv.path("d/inner"), b"").unwrap();
    let mut r = srv.raw();
    let s = r.cmd("STAT");
    expect(&s, "211-FTP server status:");
    assert!(s.contains(" Waiting for username."), "{s}");
    assert!(s.ends_with("211 End of status."), "{s}");
    r.login(USER, PASS);
    let s = r.cmd("STAT");
    assert!(s.contains(&format!(" Connected to: {}", srv.addr)), "{s}");
    assert!(s.contains(" Logged in as: user"), "{s}");
    assert!(
        s.contains(" TYPE: ASCII; STRUcture: File; MODE: Stream"),
        "{s}"
    );
    assert!(s.contains(" Data connection closed."), "{s}");
    let _ = r.pasv();
    let s = r.cmd("STAT");
    assert!(
        s.contains(" Passive data channel waiting for connection."),
        "{s}"
    );
    expect(&r.cmd("ABOR"), "225 ");
    let s = r.cmd("STAT /");
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "213-Status of \"/\":");
    assert_eq!(lines.len(), 4, "{s}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(" d") && l.ends_with(" d")),
        "{s}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(" -") && l.ends_with(" f.txt")),
        "{s}"
    );
    assert_eq!(lines[3], "213 End of status.");
    let s = r.cmd("STAT f.txt");
    assert_eq!(s.lines().count(), 3, "{s}");
    assert!(s.contains(" 5 "), "{s}");
    let s = r.cmd("STAT d");
    assert!(s.contains(" inner\r\n"), "{s}");
    assert_eq!(r.cmd("STAT *.txt"), "550 Globbing not supported.");
    assert_eq!(r.cmd("STAT nothere"), "550 No such file or directory.");
}

// ---------------------------------------------------------------- ABOR

fn abor_without_transfer_and_with_open_channel() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f"), b"abc").unwrap();
    let mut r = raw_logged_in(&srv);
    assert_eq!(r.cmd("ABOR"), "225 No transfer to abort.");
    // a passive listener is closed
    let a = r.pasv();
    assert_eq!(
        r.cmd("ABOR"),
        "225 ABOR command successful; data channel closed."
    );
    assert!(TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_err());
    let port = r.epsv();
    assert_eq!(
        r.cmd("ABOR"),
        "225 ABOR command successful; data channel closed."
    );
    assert!(TcpStream::connect_timeout(
        &SocketAddr::new(srv.addr.ip(), port),
        Duration::from_secs(2)
    )
    .is_err());
    // an active connection is closed
    let l = data_listener(&r);
    let rep = r.cmd(&format!("PORT {}", port_arg(l.local_addr().unwrap())));
    assert_eq!(rep, "200 Active data connection established.");
    let mut d = accept_bounded(&l);
    assert_eq!(
        r.cmd("ABOR"),
        "225 ABOR command successful; data channel closed."
    );
    d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    assert_eq!(d.read_to_end(&mut buf).unwrap(), 0);
    // a transfer waiting for its data connection
    let _ = r.pasv();
    assert_eq!(
        r.cmd("RETR f"),
        "150 File status okay. About to open data connection."
    );
    assert_eq!(r.cmd("ABOR"), "426 Transfer aborted via ABOR.");
    assert_eq!(r.reply(), "226 ABOR command successful.");
    // the session goes on
    let (pre, got, fin) = download(&mut r, Chan::Pasv, "RETR f");
    expect_transfer_ok(&pre, &fin);
    assert_eq!(got, b"abc");
    srv.events.wait_for("incomplete_file_sent", |e| {
        e.iter().any(|x| x.starts_with("incomplete_file_sent"))
    });
}

/// How a client sends ABOR during a transfer.
#[derive(Debug, Clone, Copy)]
enum AborStyle {
    /// `ABOR\r\n`.
    Plain,
    /// Telnet IP and Synch inline, then ABOR (what many clients send).
    TelnetInline,
    /// Telnet IP, the Synch's DM byte as TCP urgent data, then ABOR (RFC 959, ftp(1)).
    TelnetSynch,
    /// The whole line as urgent data (Python's `ftplib.FTP.abort`).
    UrgentLine,
}

fn send_abor(r: &mut Raw, style: AborStyle) {
    let urgent = |r: &Raw, b: &[u8]| {
        let n = socket2::SockRef::from(&r.stream)
            .send_out_of_band(b)
            .unwrap();
        assert_eq!(n, b.len());
    };
    match style {
        AborStyle::Plain => r.send(b"ABOR\r\n"),
        AborStyle::TelnetInline => r.send(b"\xff\xf4\xff\xf2ABOR\r\n"),
        AborStyle::TelnetSynch => {
            r.send(b"\xff\xf4\xff");
            urgent(r, b"\xf2");
            r.send(b"ABOR\r\n");
        }
        AborStyle::UrgentLine => urgent(r, b"ABOR\r\n"),
    }
}

fn stat_and_abor_during_a_running_download() {
    let srv = common::start(|_| {});
    let data = random_bytes(20 << 20, 70);
    std::fs::write(srv.path("big"), &data).unwrap();
    let styles = [
        AborStyle::Plain,
        AborStyle::TelnetInline,
        AborStyle::TelnetSynch,
        AborStyle::UrgentLine,
    ];
    for (i, style) in styles.into_iter().enumerate() {
        let chan = if i % 2 == 0 { Chan::Pasv } else { Chan::Port };
        let mut r = raw_logged_in(&srv);
        expect(&r.cmd("TYPE I"), "200 ");
        let s = setup(&mut r, chan);
        let pre = r.cmd("RETR big");
        assert!(pre.starts_with("125") || pre.starts_with("150"), "{pre}");
        let mut d = connect(s);
        let mut buf = vec![0u8; 64 * 1024];
        d.read_exact(&mut buf).unwrap();
        assert!(buf[..] == data[..buf.len()]);
        // STAT and NOOP are answered while the transfer runs
        let st = r.cmd("STAT");
        assert!(st.contains(" Data connection open:"), "{st}");
        assert!(st.contains(" Total bytes sent: "), "{st}");
        assert_eq!(r.cmd("NOOP"), "200 I successfully did nothing.");
        // the server can't have pushed 20 MiB into the socket buffers: it is still sending
        send_abor(&mut r, style);
        assert_eq!(
            r.reply(),
            "426 Transfer aborted via ABOR.",
            "{style:?} {chan:?}"
        );
        assert_eq!(r.reply(), "226 ABOR command successful.", "{style:?}");
        // the data connection ends early
        let mut rest = Vec::new();
        let _ = d.read_to_end(&mut rest);
        assert!(rest.len() + buf.len() < data.len(), "{style:?}");
        expect(&r.cmd("NOOP"), "200 ");
        // and the session can transfer again
        let (pre, got, fin) = download(&mut r, chan, "NLST");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(got, b"big\r\n");
    }
    // suppaftp's abort() closes the data connection right after sending ABOR: the
    // server may see the broken connection first (426 for the transfer, then
    // 225 for ABOR, as pyftpdlib answers); either way the session stays in sync.
    let mut c = srv.client();
    let mut t = c.retr_as_stream("big").unwrap();
    let mut buf = vec![0u8; 1000];
    t.read_exact(&mut buf).unwrap();
    assert!(buf[..] == data[..1000]);
    match c.abort(t) {
        Ok(()) => {}
        Err(FtpError::UnexpectedResponse(resp)) => {
            assert_eq!(resp.body, b"225 No transfer to abort.\r\n")
        }
        Err(e) => panic!("abort: {e}"),
    }
    assert_eq!(c.pwd().unwrap(), "/");
    srv.events.wait_for("incomplete sends", |e| {
        e.iter()
            .filter(|x| x.starts_with("incomplete_file_sent"))
            .count()
            >= 5
    });
}

fn abor_during_a_running_upload() {
    let srv = common::start(|_| {});
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    for chan in [Chan::Epsv, Chan::Eprt] {
        let s = setup(&mut r, chan);
        let pre = r.cmd("STOR partial.bin");
        assert!(pre.starts_with("125") || pre.starts_with("150"), "{pre}");
        let mut d = connect(s);
        d.write_all(&random_bytes(100_000, 71)).unwrap();
        // the transfer is running (the server has taken bytes) before we abort
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = r.cmd("STAT");
            if st.contains(" Data connection open:") && !st.contains(" Total bytes received: 0\r\n")
            {
                break;
            }
            assert!(Instant::now() < deadline, "upload not running: {st}");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(r.cmd("ABOR"), "426 Transfer aborted via ABOR.", "{chan:?}");
        assert_eq!(r.reply(), "226 ABOR command successful.");
        let mut rest = Vec::new();
        let _ = d.read_to_end(&mut rest);
        assert_eq!(r.cmd("NOOP"), "200 I successfully did nothing.");
    }
    srv.events.wait_for("incomplete_file_received", |e| {
        e.iter()
            .filter(|x| x.starts_with("incomplete_file_received"))
            .count()
            == 2
    });
}

fn quit_and_other_commands_during_an_upload() {
    let srv = common::start(|_| {});
    let data = random_bytes(500_000, 72);
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE I"), "200 ");
    let s = setup(&mut r, Chan::Pasv);
    let pre = r.cmd("STOR q.bin");
    assert!(pre.starts_with("125") || pre.starts_with("150"), "{pre}");
    let mut d = connect(s);
    d.write_all(&data[..200_000]).unwrap();
    // NOOP and STAT are answered at once, also once the upload runs
    assert_eq!(r.cmd("NOOP"), "200 I successfully did nothing.");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = r.cmd("STAT");
        assert!(st.starts_with("211-"), "{st}");
        if st.contains(" Total bytes received: ") {
            break;
        }
        assert!(Instant::now() < deadline, "upload never started: {st}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // PWD waits for the transfer, and so does what comes after it; QUIT is
    // deferred until the transfer ends and the commands before it are answered
    r.send(b"PWD\r\nNOOP\r\nQUIT\r\n");
    d.write_all(&data[200_000..]).unwrap();
    d.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(r.reply(), "226 Transfer complete.");
    assert_eq!(r.reply(), "257 \"/\" is the current directory.");
    assert_eq!(r.reply(), "200 I successfully did nothing.");
    assert_eq!(r.reply(), "221 Goodbye.");
    assert_eq!(r.reply(), "");
    assert!(std::fs::read(srv.path("q.bin")).unwrap() == data);
}

fn type_a_conversion_of_a_large_text_across_chunks() {
    let srv = common::start(|_| {});
    // 3 MiB of text with LF line ends of every length, including empty lines
    let noise = random_bytes(3 << 20, 73);
    let text: Vec<u8> = noise
        .iter()
        .map(|&b| if b % 17 == 0 { b'\n' } else { b'a' + b % 26 })
        .collect();
    let mut net = Vec::with_capacity(text.len() * 2);
    for &b in &text {
        if b == b'\n' {
            net.push(b'\r');
        }
        net.push(b);
    }
    std::fs::write(srv.path("t.txt"), &text).unwrap();
    let mut r = raw_logged_in(&srv);
    expect(&r.cmd("TYPE A"), "200 ");
    for (i, chan) in [Chan::Pasv, Chan::Port].into_iter().enumerate() {
        let (pre, got, fin) = download(&mut r, chan, "RETR t.txt");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(got.len(), net.len(), "{chan:?}");
        assert!(got == net, "{chan:?}: ASCII download differs");
        let name = format!("t{i}.txt");
        let (pre, fin) = upload(&mut r, chan, &format!("STOR {name}"), &net);
        expect_transfer_ok(&pre, &fin);
        assert!(
            std::fs::read(srv.path(&name)).unwrap() == text,
            "{chan:?}: ASCII upload differs"
        );
    }
}

// ---------------------------------------------------------------- permissions

fn read_only_users_get_550_for_write_commands() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f"), b"data").unwrap();
    std::fs::create_dir(srv.path("d")).unwrap();
    for (user, pass) in [(RO_USER, RO_PASS), ("anonymous", "x@y")] {
        let mut r = srv.raw();
        r.login(user, pass);
        expect(&r.cmd("TYPE I"), "200 ");
        for c in [
            "DELE f",
            "RMD d",
            "XRMD d",
            "MKD new",
            "XMKD new",
            "RNFR f",
            "SITE CHMOD 777 f",
            "MFMT 20200101000000 f",
        ] {
            assert_eq!(r.cmd(c), "550 Not enough privileges.", "{user}: {c}");
        }
        for c in ["STOR f", "APPE f", "STOU", "STOU f"] {
            let (pre, _) = upload(&mut r, Chan::Pasv, c, b"x");
            assert_eq!(pre, "550 Not enough privileges.", "{user}: {c}");
            expect(&r.cmd("ABOR"), "225 ");
        }
        // reading works
        let (pre, got, fin) = download(&mut r, Chan::Pasv, "RETR f");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(got, b"data");
        let (pre, _, fin) = download(&mut r, Chan::Epsv, "LIST");
        expect_transfer_ok(&pre, &fin);
        assert_eq!(r.cmd("CWD d"), "250 \"/d\" is the current directory.");
        expect(&r.cmd("SIZE /f"), "213 4");
        expect(&r.cmd("QUIT"), "221 ");
    }
    // nothing changed on disk
    assert_eq!(std::fs::read(srv.path("f")).unwrap(), b"data");
    assert!(srv.path("d").is_dir());
    assert!(!srv.path("new").exists());
    let names: Vec<_> = std::fs::read_dir(srv.dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // and suppaftp sees the refusals too
    let mut c = client_as(&srv, RO_USER, RO_PASS, Mode::Passive);
    assert_eq!(
        status_of(c.put_file("g", &mut Cursor::new(b"1".to_vec()))),
        Status::FileUnavailable
    );
    assert_eq!(status_of(c.mkdir("g")), Status::FileUnavailable);
    assert_eq!(status_of(c.rm("f")), Status::FileUnavailable);
    assert_eq!(c.retr_as_buffer("f").unwrap().into_inner(), b"data");
}

// ---------------------------------------------------------------- large files

fn large_download_without_sendfile() {
    let srv = common::start(|c| c.use_sendfile = false);
    let data = random_bytes(8 << 20, 81);
    std::fs::write(srv.path("big"), &data).unwrap();
    for mode in [Mode::Passive, Mode::Active] {
        let mut c = client_as(&srv, USER, PASS, mode);
        let got = c.retr_as_buffer("big").unwrap().into_inner();
        assert!(got == data, "{mode:?}");
        c.quit().unwrap();
    }
}

fn twenty_mib_both_ways_passive_and_active() {
    let srv = common::start(|_| {});
    let data = random_bytes(20 << 20, 80);
    for mode in [Mode::Passive, Mode::Active] {
        let mut c = client_as(&srv, USER, PASS, mode);
        let name = format!("big-{mode:?}.bin");
        let sent = c.put_file(&name, &mut Cursor::new(&data)).unwrap();
        assert_eq!(sent, data.len() as u64);
        let on_disk = std::fs::read(srv.path(&name)).unwrap();
        assert!(on_disk == data, "{mode:?}: upload differs");
        let got = c.retr_as_buffer(&name).unwrap().into_inner();
        assert_eq!(got.len(), data.len(), "{mode:?}");
        assert!(got == data, "{mode:?}: download differs");
        c.quit().unwrap();
    }
}
