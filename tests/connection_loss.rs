//! What becomes of a session's work when its client goes away, QUITs early
//! or ABORs behind other commands, end to end in every concurrency model
//! (the inputs of an attack round on the filesystem-as-task design).
mod common;

each_model!(
    a_reset_client_starts_no_more_queued_commands,
    quit_while_an_upload_waits_for_its_data_connection_keeps_the_upload,
    an_upload_sent_whole_before_quit_and_close_is_kept,
    abor_behind_queued_commands_answers_in_command_order,
    a_client_that_ends_its_side_after_pipelining_gets_every_reply,
);

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::delayfs::{DelayFsFactory, SlowAuthorizer};
use common::{Raw, PASS, USER};
use ftpdlib::ServerBuilder;

fn logged_in(addr: SocketAddr) -> Raw {
    let mut r = Raw::connect(addr);
    r.login(USER, PASS);
    assert!(r.cmd("TYPE I").starts_with("200"));
    r
}

fn has_disconnect(e: &[String]) -> bool {
    e.iter().any(|x| x == "disconnect")
}

/// 200 MKD lines pipelined on a filesystem that takes 50 ms per call, then
/// a reset: the directories made afterwards are at most the one whose task
/// was out (the lines held are dropped, no new work starts).
fn a_reset_client_starts_no_more_queued_commands() {
    let srv = common::start_fs(DelayFsFactory::new(Duration::from_millis(50)), |_| {});
    let mut r = logged_in(srv.addr);
    let batch: String = (0..200).map(|i| format!("MKD d{i}\r\n")).collect();
    r.send(batch.as_bytes());
    // the first one was made: the others wait behind it
    assert!(r.reply().starts_with("257"), "MKD d0");
    let made_before = std::fs::read_dir(srv.path("")).unwrap().count();
    // reset (RST): the session ends
    let sock = socket2::SockRef::from(&r.stream);
    sock.set_linger(Some(Duration::ZERO)).unwrap();
    drop(r);
    srv.events.wait_for("disconnect", has_disconnect);
    let made = std::fs::read_dir(srv.path("")).unwrap().count();
    assert!(
        made <= made_before + 2,
        "{made_before} directories before the reset, {made} after"
    );
}

/// PASV, STOR (150: waiting for its data connection), QUIT, and only then
/// the client connects and sends the file: the upload runs and is kept,
/// its 226 comes before the 221 (RFC 959: QUIT waits for the transfer).
fn quit_while_an_upload_waits_for_its_data_connection_keeps_the_upload() {
    let srv = common::start(|_| {});
    let mut r = logged_in(srv.addr);
    let addr = r.pasv();
    r.send(b"STOR late.bin\r\nQUIT\r\n");
    assert!(r.reply().starts_with("150"));
    let mut d = TcpStream::connect(addr).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    d.write_all(&data).unwrap();
    drop(d);
    assert_eq!(r.reply(), "226 Transfer complete.");
    assert!(r.reply().starts_with("221"));
    assert!(std::fs::read(srv.path("late.bin")).unwrap() == data);
}

/// The whole file sent and its data connection closed, then QUIT and the
/// control connection closed at once: the upload is committed (the client
/// did everything right), not thrown away with a 426 nobody reads.
fn an_upload_sent_whole_before_quit_and_close_is_kept() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f.bin"), b"old").unwrap();
    let mut r = logged_in(srv.addr);
    let mut d = TcpStream::connect(r.pasv()).unwrap();
    assert!(r.cmd("STOR f.bin").starts_with("1"));
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 249) as u8).collect();
    d.write_all(&data).unwrap();
    drop(d);
    let port = r.stream.local_addr().unwrap().port();
    r.send(b"QUIT\r\n");
    drop(r);
    srv.events.wait_for("disconnect", has_disconnect);
    let got = std::fs::read(srv.path("f.bin")).unwrap();
    assert!(
        got == data,
        "{} bytes kept; log: {:#?}",
        got.len(),
        common::log_lines(&format!(":{port}-"))
    );
}

/// During a RETR, SIZE and PWD then ABOR in one segment: the RETR's 426,
/// then SIZE's 213 and PWD's 257, then the ABOR's 226, in command order.
fn abor_behind_queued_commands_answers_in_command_order() {
    let srv = common::start(|c| c.write_limit = 64 * 1024);
    std::fs::write(srv.path("big"), vec![7u8; 1 << 20]).unwrap();
    std::fs::write(srv.path("small"), b"12345").unwrap();
    let mut r = logged_in(srv.addr);
    let mut d = TcpStream::connect(r.pasv()).unwrap();
    assert!(r.cmd("RETR big").starts_with("1"));
    // the transfer runs (throttled): some bytes arrive
    let mut first = [0u8; 1024];
    d.read_exact(&mut first).unwrap();
    r.send(b"SIZE small\r\nPWD\r\nABOR\r\n");
    assert_eq!(r.reply(), "426 Transfer aborted via ABOR.");
    assert_eq!(r.reply(), "213 5");
    assert!(r.reply().starts_with("257"));
    assert_eq!(r.reply(), "226 ABOR command successful.");
    assert!(r.cmd("NOOP").starts_with("200"));
}

/// A client that pipelines its commands right after connecting and then
/// ends its side of the control connection (a shutdown for writing, as
/// `nc -N` does) gets every reply, in command order, in every model: the
/// login check (slow here) and the MKD still out when the end of its input
/// is read finish, and the lines behind them run, as in the models that run
/// that work inline. (The poll models answered 331 and closed.)
fn a_client_that_ends_its_side_after_pipelining_gets_every_reply() {
    let srv = common::start_with(
        |_| {},
        |_, _| {},
        |auth| {
            ServerBuilder::with_shared_authorizer(Arc::new(SlowAuthorizer::new(
                auth,
                Duration::from_millis(300),
            )))
        },
    );
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("USER {USER}\r\nPASS {PASS}\r\nMKD made\r\nPWD\r\nQUIT\r\n").as_bytes())
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    let codes: Vec<&str> = got.lines().map(|l| l.get(..3).unwrap_or(l)).collect();
    assert_eq!(
        codes,
        ["220", "331", "230", "257", "257", "221"],
        "{:?}: {got}",
        common::model()
    );
    assert!(srv.path("made").is_dir());
}
