//! Hardening end to end, in every concurrency model: deadlines that hold
//! against clients that trickle or stall, and the client quirks real FTP
//! clients depend on (state that lasts one command, commands valid before
//! login, REST in TYPE A, EPSV ALL, machine-readable times in UTC).
mod common;

each_model!(
    partial_lines_do_not_keep_a_session_alive,
    an_open_data_connection_without_a_transfer_times_out,
    rnto_renames_only_right_after_a_successful_rnfr,
    opts_utf8_and_friends_before_login,
    rest_0_in_ascii_mode_with_ftplib,
    epsv_all_is_a_success_reply,
    machine_readable_times_are_utc_with_localtime_listings,
    commands_pipelined_behind_a_transfer_are_all_answered_in_order,
    commands_pipelined_behind_a_login_are_all_answered_in_order,
    a_command_waiting_for_its_data_channel_is_not_idle,
);

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Raw, PASS, USER};

fn logged_in(addr: SocketAddr) -> Raw {
    let mut r = Raw::connect(addr);
    r.login(USER, PASS);
    assert!(r.cmd("TYPE I").starts_with("200"));
    r
}

/// Slowloris: 60 clients each send one byte of a command line every 500 ms
/// and never finish it. Only complete lines restart the idle timer, so each
/// is told `421` and closed once the idle timeout (2 s) passes.
fn partial_lines_do_not_keep_a_session_alive() {
    let srv = common::start(|c| c.timeout = Some(Duration::from_secs(2)));
    let started = Instant::now();
    let mut clients: Vec<(TcpStream, Vec<u8>, Option<Duration>)> = (0..60)
        .map(|_| {
            let r = Raw::connect(srv.addr);
            assert!(r.greeting.starts_with("220"), "{}", r.greeting);
            r.stream.set_nonblocking(true).unwrap();
            (r.stream, Vec::new(), None)
        })
        .collect();
    let deadline = started + Duration::from_secs(15);
    while Instant::now() < deadline && clients.iter().any(|c| c.2.is_none()) {
        for (s, got, closed) in clients.iter_mut().filter(|c| c.2.is_none()) {
            let _ = s.write(b"N");
            let mut buf = [0u8; 512];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        *closed = Some(started.elapsed());
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        *closed = Some(started.elapsed());
                        break;
                    }
                }
            }
        }
        // the client's pace, not a synchronisation
        std::thread::sleep(Duration::from_millis(500));
    }
    for (i, (_, got, closed)) in clients.iter().enumerate() {
        let took = closed.unwrap_or_else(|| panic!("client {i} is still connected after 15 s"));
        assert!(
            took >= Duration::from_secs(2),
            "client {i} closed after {took:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(got).trim_end(),
            "421 Control connection timed out.",
            "client {i}"
        );
    }
    // a well-behaved client is served meanwhile and after
    let mut r = logged_in(srv.addr);
    assert!(r.cmd("NOOP").starts_with("200"));
}

/// A data connection opened and left without a transfer command is closed
/// after the data timeout, even with no control idle timeout (pyftpdlib's
/// data channel timeout: 421, and the session ends).
fn an_open_data_connection_without_a_transfer_times_out() {
    let srv = common::start(|c| {
        c.timeout = None;
        c.data_timeout = Some(Duration::from_secs(1));
    });
    let mut r = logged_in(srv.addr);
    let started = Instant::now();
    let mut d = TcpStream::connect(r.pasv()).unwrap();
    d.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(r.reply(), "421 Data connection timed out.");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(
        d.read(&mut [0u8; 16]).unwrap_or(0),
        0,
        "the data connection is closed"
    );
    assert_eq!(r.reply(), "", "the control connection is closed");
}

/// RFC 959 §4.1.3: RNTO must immediately follow a successful RNFR.
fn rnto_renames_only_right_after_a_successful_rnfr() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("keep.txt"), b"keep").unwrap();
    let mut r = logged_in(srv.addr);
    assert!(r.cmd("RNFR keep.txt").starts_with("350"));
    assert!(r.cmd("RNFR missing.txt").starts_with("550"));
    assert_eq!(
        r.cmd("RNTO new.txt"),
        "503 Bad sequence of commands: use RNFR first."
    );
    assert!(r.cmd("RNFR keep.txt").starts_with("350"));
    assert!(r.cmd("NOOP").starts_with("200"));
    assert!(r.cmd("RNTO new.txt").starts_with("503"));
    assert_eq!(std::fs::read(srv.path("keep.txt")).unwrap(), b"keep");
    assert!(!srv.path("new.txt").exists());
    assert!(r.cmd("RNFR keep.txt").starts_with("350"));
    assert_eq!(r.cmd("RNTO new.txt"), "250 Renaming ok.");
    assert_eq!(std::fs::read(srv.path("new.txt")).unwrap(), b"keep");
}

/// Windows' ftp.exe sends `OPTS UTF8 ON` before USER; FEAT, HELP, SYST,
/// NOOP and STAT are valid before login too (RFC 2389, RFC 2640).
fn opts_utf8_and_friends_before_login() {
    let srv = common::start(|_| {});
    let mut r = Raw::connect(srv.addr);
    assert_eq!(r.cmd("OPTS UTF8 ON"), "200 Always in UTF8 mode.");
    assert!(r.cmd("FEAT").contains(" UTF8"));
    assert!(r.cmd("SYST").starts_with("215"));
    assert!(r.cmd("HELP").starts_with("214"));
    assert!(r.cmd("STAT").starts_with("211"));
    assert!(r.cmd("NOOP").starts_with("200"));
    assert!(r.cmd("LIST").starts_with("530"));
    r.login(USER, PASS);
    assert!(r.cmd("PWD").starts_with("257"));
}

/// `REST 0` is exact in any TYPE: ftplib's `transfercmd(cmd, rest=0)` in
/// TYPE A stores the file; a non-zero offset in TYPE A stays refused.
fn rest_0_in_ascii_mode_with_ftplib() {
    if !common::have("python3") {
        println!("SKIP: python3 is not installed");
        return;
    }
    let srv = common::start(|_| {});
    let script = r#"
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=20)
ftp.login("user", "12345")
ftp.voidcmd("TYPE A")
conn = ftp.transfercmd("STOR a.txt", rest=0)
conn.sendall(b"line one\r\nline two\r\n")
conn.close()
print(ftp.voidresp())
try:
    ftp.sendcmd("REST 5")
    print("REST 5 accepted")
except ftplib.error_perm as e:
    print(e)
ftp.quit()
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &srv.addr.port().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("226"), "{text}");
    assert_eq!(
        lines[1], "501 Resuming transfers not allowed in ASCII mode.",
        "{text}"
    );
    assert_eq!(
        std::fs::read(srv.path("a.txt")).unwrap(),
        b"line one\nline two\n"
    );
}

/// RFC 2428 §4: `EPSV ALL` is a success reply to a command, 200; then only
/// EPSV sets up data connections.
fn epsv_all_is_a_success_reply() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f.txt"), b"epsv only").unwrap();
    let mut r = logged_in(srv.addr);
    assert_eq!(
        r.cmd("EPSV ALL"),
        "200 Other commands other than EPSV are now disabled."
    );
    assert!(r.cmd("PASV").starts_with("501"));
    let port = r.epsv();
    let mut d = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(r.cmd("RETR f.txt").starts_with("1"));
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"epsv only");
    assert!(r.reply().starts_with("226"));
}

/// RFC 3659 §2.3: MDTM, MFMT and the MLSx `modify` fact are UTC whatever
/// the server's zone; `--use-localtime` changes LIST only. The daemon runs
/// with TZ=JST-9 (UTC+9).
fn machine_readable_times_are_utc_with_localtime_listings() {
    let model = common::model().cli_name();
    let d = common::daemon_env(
        &["--use-localtime", "--concurrency", model],
        &[("TZ", "JST-9")],
    );
    std::fs::write(d.dir.path().join("f"), b"x").unwrap();
    let mut r = logged_in(d.addr);
    // an hour ago, so LIST shows the time of day
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let utc = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap();
    let stamp = utc.format("%Y%m%d%H%M%S").to_string();
    assert_eq!(
        r.cmd(&format!("MFMT {stamp} f")),
        format!("213 Modify={stamp}; /f.")
    );
    assert_eq!(r.cmd("MDTM f"), format!("213 {stamp}"));
    assert!(r.cmd("MLST f").contains(&format!("modify={stamp};")));
    let port = r.epsv();
    let mut dc = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(r.cmd("LIST f").starts_with("1"));
    let mut listing = String::new();
    dc.read_to_string(&mut listing).unwrap();
    assert!(r.reply().starts_with("226"));
    let jst = utc + chrono::Duration::hours(9);
    let shown = jst.format("%H:%M").to_string();
    assert!(
        listing.contains(&shown),
        "LIST in local time ({shown}): {listing}"
    );
}

/// A directory name of about 100 bytes, so that a batch of lines outgrows
/// what the server reads ahead (64 KiB).
fn dir_name(i: usize) -> String {
    format!("d{i}-{}", "x".repeat(96))
}

/// The replies to `MKD` of `dir_name(0..n)`, in order.
fn expect_mkd_replies(r: &mut Raw, n: usize) {
    for i in 0..n {
        assert_eq!(
            r.reply(),
            format!("257 \"/{}\" directory created.", dir_name(i)),
            "reply {i} of {n}"
        );
    }
}

fn mkd_batch(n: usize) -> String {
    (0..n).map(|i| format!("MKD {}\r\n", dir_name(i))).collect()
}

/// Send `bytes` from a thread (the server reads them only as it answers).
fn send_in_background(r: &Raw, bytes: String) -> std::thread::JoinHandle<()> {
    let mut s = r.stream.try_clone().unwrap();
    std::thread::spawn(move || s.write_all(bytes.as_bytes()).unwrap())
}

/// 1000 commands (100 KiB) pipelined behind a transfer the client does not
/// read yet: 64 wait in the session, the rest stay unread in the connection
/// (backpressure, nothing dropped); once the transfer ends every one is
/// answered, in order.
fn commands_pipelined_behind_a_transfer_are_all_answered_in_order() {
    let srv = common::start(|_| {});
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(srv.path("big"), &data).unwrap();
    let mut r = logged_in(srv.addr);
    let mut d = TcpStream::connect(r.pasv()).unwrap();
    assert!(r.cmd("RETR big").starts_with("1"));
    let sender = send_in_background(&r, mkd_batch(1000));
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert!(got == data, "the download differs");
    assert_eq!(r.reply(), "226 Transfer complete.");
    expect_mkd_replies(&mut r, 1000);
    sender.join().unwrap();
    assert!(r.cmd("NOOP").starts_with("200"));
}

/// The same behind a login check (run off the loop in the poll models).
fn commands_pipelined_behind_a_login_are_all_answered_in_order() {
    let srv = common::start(|_| {});
    let mut r = Raw::connect(srv.addr);
    let batch = format!("USER {USER}\r\nPASS {PASS}\r\n{}", mkd_batch(1000));
    let sender = send_in_background(&r, batch);
    assert!(r.reply().starts_with("331"));
    assert!(r.reply().starts_with("230"));
    expect_mkd_replies(&mut r, 1000);
    sender.join().unwrap();
    assert!(r.cmd("NOOP").starts_with("200"));
}

/// A PORT whose connect never completes, or a transfer command waiting for
/// a client that never connects, is answered by the data-channel deadline
/// (425, 421 Passive data channel timed out) and the lines behind it run:
/// the control idle timeout (the same length here, as the CLI sets it) does
/// not fire while a command waits for the data channel.
fn a_command_waiting_for_its_data_channel_is_not_idle() {
    let srv = common::start(|c| {
        c.timeout = Some(Duration::from_secs(1));
        c.data_timeout = Some(Duration::from_secs(1));
    });
    std::fs::write(srv.path("f"), b"x").unwrap();
    // a port that accepts no more connections: its queue is full
    let hole = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    hole.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    hole.listen(0).unwrap();
    let hole_addr = hole.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&hole_addr.into());
        fillers.push(s);
    }
    let mut r = logged_in(srv.addr);
    let port = hole_addr.port();
    r.send(
        format!(
            "PORT 127,0,0,1,{},{}\r\nPWD\r\nNOOP\r\n",
            port >> 8,
            port & 0xff
        )
        .as_bytes(),
    );
    assert_eq!(r.reply(), "425 Can't connect to specified address.");
    assert!(r.reply().starts_with("257"));
    assert!(r.reply().starts_with("200"));
    // a transfer waiting for its data connection
    let _ = r.pasv();
    r.send(b"RETR f\r\nPWD\r\n");
    assert!(r.reply().starts_with("150"));
    assert_eq!(r.reply(), "421 Passive data channel timed out.");
    assert!(r.reply().starts_with("257"));
    assert!(r.cmd("NOOP").starts_with("200"));
    drop(fillers);
}
