//! RETR, STOR, APPE, STOU: how transfers start and end, upload events.

use super::*;

#[test]
fn passive_and_retr_flow() {
    let mut h = Scenario::new()
        .file("f.bin", b"0123456789")
        .logged_in()
        .binary()
        .build();
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
fn stor_appe_stou_and_upload_events() {
    let (mut h, t) = Scenario::new()
        .logged_in()
        .binary()
        .transfer_running("STOR up.txt");
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
    let (mut h, t) = Scenario::new()
        .logged_in()
        .binary()
        .transfer_running("STOR big");
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
fn disconnect_mid_transfer_fires_incomplete_and_no_reply() {
    let (mut h, t) = Scenario::new()
        .logged_in()
        .binary()
        .transfer_running("STOR part");
    let _ = h.input(Input::Disconnected);
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let a = h.done(t, Err(TransferError::Network(e)));
    assert!(texts(&a).is_empty());
}
