//! Pipelining: lines that wait behind a login check, a transfer or the
//! driver, the queue limit, the order of replies, urgent commands.

use super::*;

#[test]
fn commands_during_a_transfer() {
    let (mut h, t) = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .transfer_running("RETR f");
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
    let (mut h, t) = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .transfer_running("RETR f");
    // STAT with an argument, an unknown verb and a line too long wait their turn
    assert!(h.line("STAT /").is_empty());
    assert!(h.line("XNOOP").is_empty());
    assert!(h.input(Input::LineTooLong).is_empty());
    // ABOR after Telnet garbage still jumps the queue
    let a = h.s.handle(Input::Line(b"\xf2ABOR"), h.now);
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]), "{a:?}");
    let a = h.done(t, Err(TransferError::Aborted));
    let t = texts(&a);
    // the transfer's 426 first, then the commands sent before the ABOR,
    // then the ABOR's own 226: every reply in the order of the commands
    assert_eq!(t[0], "426 Transfer aborted via ABOR.");
    assert!(t[1].starts_with("213-Status of \"/\""), "{t:?}");
    assert_eq!(
        t[2..],
        [
            "500 Command \"XNOOP\" not understood.",
            "500 Command too long.",
            "226 ABOR command successful."
        ]
    );
}

#[test]
fn queued_commands_run_after_the_transfer() {
    let (mut h, t) = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .transfer_running("RETR f");
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
fn login_is_an_action_and_commands_wait_for_it() {
    let mut h = Scenario::new().build();
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

#[test]
fn a_full_queue_pushes_back_and_never_drops_a_line_silently() {
    let (mut h, task) = Scenario::new().pending_login();
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
fn a_line_too_long_ends_one_command_state_and_waits_its_turn() {
    let mut h = Scenario::new().file("a", b"A").logged_in().binary().build();
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
    let (mut h, task) = Scenario::new().pending_login();
    assert!(h.s.handle(Input::LineTooLong, h.now).is_empty());
    assert!(h.s.handle(Input::Line(b"PWD"), h.now).is_empty());
    let a = h.s.handle(Input::LoginDone(task.run()), h.now);
    assert_eq!(codes(&a), vec![230, 500, 257]);
}

#[test]
fn a_command_after_port_waits_for_the_connect() {
    let mut h = Scenario::new().logged_in().binary().build();
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
    let mut h = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .active("PORT 127,0,0,1,195,80")
        .build();
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
    let mut h = Scenario::new().file("f", b"x").logged_in().binary().build();
    // ABOR of a transfer waiting for its data connection
    h.line("PASV");
    h.input(Input::PassiveListening(50000));
    assert_eq!(codes(&h.line("RETR f")), vec![150]);
    assert!(h.line("PWD").is_empty());
    // the RETR's 426, the PWD's 257, the ABOR's 226: in command order
    assert_eq!(codes(&h.line("ABOR")), vec![426, 257, 226]);
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
    let (mut h, task) = Scenario::new().file("f", b"x").pending_login();
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
