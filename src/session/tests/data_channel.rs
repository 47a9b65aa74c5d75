//! Setting up the data channel: PORT, EPRT, PASV, EPSV (ALL), REST, ABOR.

use super::*;

#[test]
fn rest_and_retr_offsets() {
    let mut h = Scenario::new()
        .file("f", b"0123456789")
        .logged_in()
        .binary()
        .build();
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
fn port_and_eprt_validation() {
    let mut h = Scenario::new().logged_in().binary().build();
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
    let mut h = Scenario::new().logged_in().binary().build();
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
    let mut h = Scenario::new()
        .addresses("[::1]:40000", "[::1]:2121")
        .logged_in()
        .binary()
        .build();
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
    let mut h = Scenario::new()
        .config(|c| c.masquerade_address = Some("203.0.113.9".parse().unwrap()))
        .logged_in()
        .binary()
        .build();
    h.line("PASV");
    assert_eq!(
        texts(&h.input(Input::PassiveListening(256))),
        vec!["227 Entering passive mode (203,0,113,9,1,0)."]
    );
    let mut h = Scenario::new()
        .config(|c| {
            c.masquerade_address_map.insert(
                "127.0.0.1".parse().unwrap(),
                "198.51.100.7".parse().unwrap(),
            );
        })
        .logged_in()
        .binary()
        .build();
    h.line("PASV");
    assert_eq!(
        texts(&h.input(Input::PassiveListening(256))),
        vec!["227 Entering passive mode (198,51,100,7,1,0)."]
    );
}

#[test]
fn passive_failure_and_timeout() {
    let mut h = Scenario::new().logged_in().binary().build();
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
    let h = Scenario::new().before_greeting().build();
    assert!(h.s.permit_data_peer("127.0.0.1".parse().unwrap()));
    assert!(h.s.permit_data_peer("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!h.s.permit_data_peer("127.0.0.2".parse().unwrap()));
    let h = Scenario::new()
        .config(|c| c.permit_foreign_addresses = true)
        .before_greeting()
        .build();
    assert!(h.s.permit_data_peer("127.0.0.2".parse().unwrap()));
}

#[test]
fn abor_in_every_state() {
    let mut h = Scenario::new().logged_in().binary().build();
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
fn rest_is_for_the_next_transfer_command_only() {
    let mut h = Scenario::new()
        .file("f", b"0123456789")
        .logged_in()
        .binary()
        .build();
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
fn rest_zero_is_exact_in_ascii_mode() {
    let mut h = Scenario::new().logged_in().ascii().build();
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
fn epsv_all_is_a_200_and_refuses_the_others() {
    let mut h = Scenario::new().logged_in().binary().build();
    assert_eq!(
        h.one("EPSV ALL"),
        "200 Other commands other than EPSV are now disabled."
    );
    assert!(h.one("PASV").starts_with("501"));
    assert!(h.one("PORT 127,0,0,1,200,10").starts_with("501"));
}
