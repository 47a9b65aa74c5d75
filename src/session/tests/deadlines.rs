//! Every deadline of the session, on the fake clock (no sockets, no sleeps):
//! when it is armed, what stops it, what happens when it passes.

use super::*;

const S: fn(u64) -> Duration = Duration::from_secs;

fn is_close(a: &[Action]) -> bool {
    matches!(a.last(), Some(Action::Close))
}

#[test]
fn the_idle_timer_counts_from_the_last_complete_line() {
    let mut h = Scenario::new().logged_in().binary().build();
    assert!(h.after(S(299)).is_empty());
    assert_eq!(codes(&h.line("NOOP")), vec![200]);
    assert!(h.after(S(299)).is_empty(), "the NOOP restarted it");
    // an over-long line is a line too (answered 500, the timer restarts)
    assert_eq!(codes(&h.input(Input::LineTooLong)), vec![500]);
    assert!(h.after(S(299)).is_empty());
    let a = h.after(S(1));
    assert_eq!(texts(&a), vec!["421 Control connection timed out."]);
    assert!(is_close(&a));
    // nothing after the close but its linger
    assert!(h.after(S(9)).is_empty());
    assert!(matches!(h.after(S(1)).as_slice(), [Action::CloseNow]));
    assert_eq!(h.s.next_deadline(), None);
}

#[test]
fn the_idle_timer_waits_while_a_command_waits_for_the_driver() {
    let (mut h, task) = Scenario::new().pending_login();
    // a login check that takes long is not idleness
    assert_eq!(h.s.next_deadline(), None);
    assert!(h.after(S(3600)).is_empty());
    assert_eq!(codes(&h.input(Input::LoginDone(task.run()))), vec![230]);
    // it starts again when the wait ends
    assert_eq!(h.s.next_deadline(), Some(h.now + S(300)));
    // the same for filesystem work
    let a = h.s.handle(Input::Line(b"MKD d"), h.now);
    let Some(Action::Fs(task)) = a.into_iter().next() else {
        panic!("no filesystem task");
    };
    assert_eq!(h.s.next_deadline(), None);
    assert!(h.after(S(3600)).is_empty());
    assert_eq!(codes(&h.input(Input::FsDone(task.run()))), vec![257]);
    assert_eq!(h.s.next_deadline(), Some(h.now + S(300)));
}

#[test]
fn a_failed_login_holds_its_reply_and_the_lines_behind_it() {
    let mut h = Scenario::new().build();
    h.one("USER user");
    assert!(h.line("PASS wrong").is_empty());
    assert!(h.line("PWD").is_empty());
    assert_eq!(h.s.next_deadline(), Some(h.now + S(3)));
    // an early tick changes nothing
    assert!(h.after(S(1)).is_empty());
    let a = h.after(S(2));
    assert_eq!(codes(&a), vec![530, 530]);
    assert_eq!(
        events(&a),
        vec![Event::LoginFailed("user".into(), "wrong".into())]
    );
}

#[test]
fn a_client_gone_during_the_login_delay_still_fires_login_failed() {
    let mut h = Scenario::new().build();
    h.one("USER user");
    assert!(h.line("PASS wrong").is_empty());
    let a = h.input(Input::Disconnected);
    assert!(texts(&a).is_empty());
    assert_eq!(
        events(&a),
        vec![
            Event::LoginFailed("user".into(), "wrong".into()),
            Event::Disconnect
        ]
    );
    assert_eq!(h.s.next_deadline(), None);
}

#[test]
fn a_tls_change_on_the_control_connection_has_a_deadline() {
    let mut h = Scenario::new()
        .tls_config(|t| t.handshake_timeout = S(30))
        .build();
    assert!(matches!(h.line("AUTH TLS").last(), Some(Action::StartTls)));
    assert_eq!(h.s.next_deadline(), Some(h.now + S(30)));
    // nothing can be said before the handshake is done: close at once
    let a = h.after(S(30));
    assert!(texts(&a).is_empty(), "{a:?}");
    assert!(matches!(a.as_slice(), [Action::CloseNow]), "{a:?}");

    // done in time: the deadline ends
    let mut h = Scenario::new()
        .tls_config(|t| t.handshake_timeout = S(30))
        .build();
    h.line("AUTH TLS");
    h.after(S(29));
    assert!(h.input(Input::TlsSwitched).is_empty());
    // only the idle timer, from the AUTH line
    assert_eq!(h.s.next_deadline(), Some(h.now - S(29) + S(300)));
}

#[test]
fn implicit_tls_starts_with_its_handshake_deadline() {
    let mut h = Scenario::new()
        .tls_config(|t| t.handshake_timeout = S(5))
        .implicit_tls()
        .before_greeting()
        .build();
    h.input(Input::Connected);
    assert_eq!(h.s.next_deadline(), Some(h.now + S(5)));
    assert!(matches!(h.after(S(5)).as_slice(), [Action::CloseNow]));
}

#[test]
fn rein_under_tls_waits_for_the_close_notify_with_a_deadline() {
    let mut h = Scenario::new()
        .tls_config(|t| t.handshake_timeout = S(30))
        .build();
    h.line("AUTH TLS");
    h.input(Input::TlsSwitched);
    let a = h.line("REIN");
    assert!(matches!(a.last(), Some(Action::StopTls)), "{a:?}");
    assert_eq!(h.s.next_deadline(), Some(h.now + S(30)));
    assert!(matches!(h.after(S(30)).as_slice(), [Action::CloseNow]));
}

#[test]
fn the_data_handshake_has_a_deadline_before_and_during_a_transfer() {
    // before a transfer: the data connection times out (421, close)
    let mut h = Scenario::new()
        .tls_config(|t| t.handshake_timeout = S(30))
        .tls()
        .logged_in()
        .connected()
        .build();
    assert_eq!(h.s.next_deadline(), Some(h.now + S(30)));
    let a = h.after(S(30));
    assert!(a.iter().any(|x| matches!(x, Action::CloseData)), "{a:?}");
    assert_eq!(texts(&a), vec!["421 Data connection timed out."]);
    assert!(is_close(&a));

    // during a transfer: the transfer fails with 522, the session goes on
    let mut h = Scenario::new()
        .file("f", b"x")
        .tls_config(|t| t.handshake_timeout = S(30))
        .tls()
        .logged_in()
        .build();
    h.one("TYPE I");
    h.open_data();
    let t = h.start("RETR f");
    let a = h.after(S(30));
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]), "{a:?}");
    let a = h.done(t, Err(TransferError::Aborted));
    assert_eq!(texts(&a), vec!["522 SSL handshake failed."]);
    assert_eq!(h.one("NOOP"), "200 I successfully did nothing.");

    // done in time: no deadline but the transfer's own
    let mut h = Scenario::new()
        .tls_config(|t| t.handshake_timeout = S(30))
        .tls()
        .logged_in()
        .connected()
        .build();
    assert!(h.input(Input::DataSecured).is_empty());
    assert_eq!(h.s.next_deadline(), Some(h.now + S(300)));
}

#[test]
fn nobody_connecting_to_the_passive_listener_gets_421_and_the_session_goes_on() {
    let mut h = Scenario::new()
        .config(|c| c.data_timeout = Some(S(60)))
        .logged_in()
        .binary()
        .passive()
        .build();
    assert_eq!(h.s.next_deadline(), Some(h.now + S(60)));
    let a = h.after(S(60));
    assert!(matches!(a.first(), Some(Action::CloseData)), "{a:?}");
    assert_eq!(texts(&a), vec!["421 Passive data channel timed out."]);
    assert!(!is_close(&a));
    assert_eq!(h.one("NOOP"), "200 I successfully did nothing.");
}

#[test]
fn an_active_connect_that_hangs_gets_425_and_a_late_answer_is_ignored() {
    let mut h = Scenario::new()
        .config(|c| c.data_timeout = Some(S(60)))
        .logged_in()
        .binary()
        .build();
    let a = h.line("PORT 127,0,0,1,195,80");
    assert!(matches!(a.as_slice(), [Action::ConnectActive { .. }]));
    // lines wait behind the connect, and the idle timer with them
    assert!(h.line("NOOP").is_empty());
    assert_eq!(h.s.next_deadline(), Some(h.now + S(60)));
    let a = h.after(S(60));
    assert!(matches!(a.first(), Some(Action::CloseData)), "{a:?}");
    assert_eq!(
        texts(&a),
        vec![
            "425 Can't connect to specified address.",
            "200 I successfully did nothing."
        ]
    );
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert!(h.input(Input::ActiveFailed(e)).is_empty());
}

#[test]
fn a_transfer_may_finish_for_the_shutdown_grace_then_is_cut() {
    let (mut h, t) = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .transfer_running("RETR f");
    assert!(h.input(Input::Shutdown).is_empty());
    assert_eq!(h.s.next_deadline(), Some(h.now + S(5)));
    assert!(h.after(S(4)).is_empty());
    let a = h.after(S(1));
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]), "{a:?}");
    let a = h.done(t, Err(TransferError::Aborted));
    assert_eq!(
        texts(&a),
        vec![
            "426 Transfer aborted: the server is shutting down.",
            "421 Server is shutting down."
        ]
    );
    assert!(is_close(&a));

    // one that ends in time gets its 226 first
    let (mut h, t) = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .transfer_running("RETR f");
    h.input(Input::Shutdown);
    let a = h.done(t, Ok(()));
    assert_eq!(codes(&a), vec![226, 421]);
    assert!(h
        .after(S(5))
        .iter()
        .all(|a| !matches!(a, Action::AbortTransfer)));
}

#[test]
fn a_closing_session_lingers_for_the_client_to_read_then_drops_it() {
    let mut h = Scenario::new().logged_in().binary().build();
    let a = h.line("QUIT");
    assert!(is_close(&a));
    assert_eq!(h.s.next_deadline(), Some(h.now + CLOSE_LINGER));
    // lines after QUIT are not run, and do not move the deadline
    assert!(h.line("NOOP").is_empty());
    assert!(h.after(CLOSE_LINGER - S(1)).is_empty());
    assert!(matches!(h.after(S(1)).as_slice(), [Action::CloseNow]));
    h.input(Input::Disconnected);
    assert_eq!(h.s.next_deadline(), None);
}

#[test]
fn no_timeout_configured_means_no_deadline() {
    let mut h = Scenario::new()
        .config(|c| {
            c.timeout = None;
            c.data_timeout = None;
        })
        .logged_in()
        .binary()
        .build();
    assert_eq!(h.s.next_deadline(), None);
    h.line("PASV");
    h.input(Input::PassiveListening(50000));
    assert_eq!(
        h.s.next_deadline(),
        None,
        "a listener waits as long as it takes"
    );
    h.input(Input::DataConnected);
    std::fs::write(h.path("f"), b"x").unwrap();
    let _t = h.start("RETR f");
    assert_eq!(h.s.next_deadline(), None);
    assert!(h.after(S(100_000)).is_empty());
}

#[test]
fn idle_timeout() {
    let mut h = Scenario::new().logged_in().binary().build();
    assert_eq!(h.s.next_deadline(), Some(h.now + Duration::from_secs(300)));
    let a = h.expire();
    assert_eq!(texts(&a), vec!["421 Control connection timed out."]);
    assert!(matches!(a.last(), Some(Action::Close)));
}

#[test]
fn idle_timeout_ignored_during_transfer_and_data_timeout_closes() {
    let (mut h, t) = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .transfer_running("RETR f");
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
fn an_idle_data_connection_times_out_with_421() {
    let mut h = Scenario::new().logged_in().binary().connected().build();
    let a = h.expire();
    assert_eq!(texts(&a), vec!["421 Data connection timed out."]);
    assert!(matches!(a.last(), Some(Action::Close)), "{a:?}");
}

#[test]
fn nothing_is_said_after_the_reply_that_closes_the_session() {
    let mut h = Scenario::new()
        .config(|c| c.timeout = Some(Duration::from_secs(60)))
        .logged_in()
        .binary()
        .passive()
        .build();
    let a = h.expire();
    assert_eq!(texts(&a), vec!["421 Control connection timed out."]);
    // the listener's deadline comes after that: no second reply
    assert!(texts(&h.after(Duration::from_secs(600))).is_empty());
    let mut h = Scenario::new()
        .logged_in()
        .binary()
        .active("PORT 127,0,0,1,195,80")
        .build();
    h.input(Input::Shutdown);
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert!(texts(&h.input(Input::ActiveFailed(e))).is_empty());
}
