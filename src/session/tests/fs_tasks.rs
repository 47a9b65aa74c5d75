//! The filesystem as actions: the session never calls a filesystem itself.
//! Each command that needs one returns an [`Action::Fs`] task; only running
//! the task touches the (in-memory, recording) tree, and the session goes on
//! when its result comes back as [`Input::FsDone`].

use super::*;

/// The filesystem tasks among `actions`.
fn tasks(actions: Vec<Action>) -> Vec<FsTask> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Fs(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// The one action of `actions`, a filesystem task.
fn only_task(actions: Vec<Action>) -> FsTask {
    assert!(
        matches!(actions.as_slice(), [Action::Fs(_)]),
        "one task and nothing else: {actions:?}"
    );
    tasks(actions).pop().unwrap()
}

/// Whether `t` aborts an upload that no reply waits for.
fn is_upload_abort(t: &FsTask) -> bool {
    format!("{t:?}") == "Finish(commit=false)"
}

#[test]
fn a_command_gives_a_task_and_nothing_touches_the_filesystem_until_it_runs() {
    let mut h = Scenario::new()
        .memory_fs()
        .file("f", b"hello")
        .dir("d")
        .logged_in()
        .binary()
        .build();
    h.seen(); // the login's
    for (line, code) in [
        ("CWD d", 250),
        ("CDUP", 250),
        ("MKD new", 257),
        ("RMD new", 250),
        ("SIZE f", 213),
        ("MDTM f", 213),
        ("MFMT 20200102030405 f", 213),
        ("MLST f", 250),
        ("STAT /", 213),
        ("SITE CHMOD 600 f", 200),
        ("RNFR f", 350),
        ("RNTO g", 250),
        ("DELE g", 250),
    ] {
        let task = only_task(h.raw_line(line));
        assert_eq!(
            h.seen(),
            Vec::<String>::new(),
            "{line}: before the task ran"
        );
        let done = task.run();
        assert!(!h.seen().is_empty(), "{line}: the task made the calls");
        let a = h.raw(Input::FsDone(done));
        assert_eq!(codes(&a), vec![code], "{line}: {a:?}");
        assert!(h.seen().is_empty(), "{line}: nothing after the result");
    }
    // what needs no filesystem gets its reply at once
    for l in ["PWD", "NOOP", "TYPE A", "TYPE I", "REST 0", "STAT", "FEAT"] {
        let a = h.raw_line(l);
        assert_eq!(codes(&a).len(), 1, "{l}: {a:?}");
        assert!(tasks(a).is_empty(), "{l}");
    }
    assert!(h.seen().is_empty());
}

#[test]
fn a_transfer_command_opens_its_file_or_listing_in_a_task() {
    for line in [
        "RETR f",
        "STOR up",
        "APPE f",
        "STOU",
        "LIST",
        "NLST",
        "MLSD",
        "NLST *.txt",
    ] {
        let mut h = Scenario::new()
            .memory_fs()
            .file("f", b"hello")
            .file("a.txt", b"a")
            .logged_in()
            .binary()
            .connected()
            .build();
        h.seen();
        let task = only_task(h.raw_line(line));
        assert!(h.seen().is_empty(), "{line}");
        let a = h.raw(Input::FsDone(task.run()));
        assert!(!h.seen().is_empty(), "{line}");
        assert_eq!(codes(&a), vec![125], "{line}: {a:?}");
        let Some(Action::StartTransfer(mut t)) = a.into_iter().last() else {
            panic!("{line}: no transfer");
        };
        if t.direction() == crate::data::Direction::Send {
            assert!(!drain(&mut t).is_empty(), "{line}");
        }
        assert_eq!(codes(&h.done(t, Ok(()))), vec![226], "{line}");
    }
}

#[test]
fn lines_sent_while_a_task_is_out_wait_and_are_answered_in_order() {
    let mut h = Scenario::new().memory_fs().logged_in().build();
    h.seen();
    let task = only_task(h.raw_line("MKD d"));
    // even the commands served during a transfer wait for the result
    for l in ["PWD", "NOOP", "STAT", "ABOR", "CWD d", "PWD", "QUIT"] {
        assert!(h.raw_line(l).is_empty(), "{l}");
    }
    assert!(h.seen().is_empty(), "no call for the queued lines");
    let a = h.raw(Input::FsDone(task.run()));
    assert_eq!(h.seen(), ["/d"]);
    assert_eq!(codes(&a), vec![257, 257, 200, 211, 225], "{a:?}");
    // CWD is the next task; what follows it waits again
    let task = only_task(a.into_iter().skip(5).collect());
    let a = h.raw(Input::FsDone(task.run()));
    assert_eq!(
        texts(&a),
        vec![
            "250 \"/d\" is the current directory.",
            "257 \"/d\" is the current directory.",
            "221 Goodbye."
        ]
    );
    assert!(matches!(a.last(), Some(Action::Close)), "{a:?}");
}

#[test]
fn an_upload_opened_for_a_session_that_ended_is_aborted_unanswered() {
    for end in ["disconnect", "shutdown"] {
        let mut h = Scenario::new()
            .memory_fs()
            .file("old", b"keep")
            .logged_in()
            .binary()
            .connected()
            .build();
        let task = only_task(h.raw_line("STOR old"));
        let a = if end == "disconnect" {
            h.raw(Input::Disconnected)
        } else {
            h.raw(Input::Shutdown)
        };
        assert_eq!(
            codes(&a),
            if end == "shutdown" { vec![421] } else { vec![] }
        );
        assert!(tasks(a).is_empty(), "{end}");
        // the result comes back once the session ended (disconnected, or
        // closing after the 421 of the shutdown)
        let a = h.raw(Input::FsDone(task.run()));
        assert!(texts(&a).is_empty(), "{end}: {a:?}");
        let abort = only_task(a);
        assert!(is_upload_abort(&abort), "{end}: {abort:?}");
        assert!(h.raw(Input::FsDone(abort.run())).is_empty(), "{end}");
        assert_eq!(h.mem().read_file(b"/old").unwrap(), b"keep", "{end}");
    }
}

#[test]
fn a_result_that_comes_back_after_the_shutdown_reply_says_nothing() {
    let mut h = Scenario::new().memory_fs().logged_in().build();
    let task = only_task(h.raw_line("MKD d"));
    let a = h.raw(Input::Shutdown);
    assert_eq!(codes(&a), vec![421], "{a:?}");
    assert!(matches!(a.last(), Some(Action::Close)), "{a:?}");
    let a = h.raw(Input::FsDone(task.run()));
    assert!(a.is_empty(), "{a:?}");
    // the directory was made all the same: the task had run
    assert!(h.mem().create_dir_all(b"/d").is_ok());
}

#[test]
fn quit_waits_for_an_upload_waiting_for_its_data_connection() {
    let mut h = Scenario::new()
        .memory_fs()
        .file("old", b"keep")
        .logged_in()
        .binary()
        .passive()
        .build();
    assert_eq!(codes(&h.line("STOR old")), vec![150]);
    // the STOR gets its final reply before the 221 (RFC 959: QUIT waits
    // for the transfer); here its data connection never comes
    assert!(h.raw_line("QUIT").is_empty());
    let d = h.s.next_deadline().expect("the passive deadline");
    h.now = d;
    let a = h.raw(Input::Tick);
    assert_eq!(codes(&a), vec![421, 221], "{a:?}");
    assert!(a.iter().any(|a| matches!(a, Action::Close)), "{a:?}");
    let abort = tasks(a).pop().expect("the upload's abort");
    assert!(is_upload_abort(&abort), "{abort:?}");
    // its result comes back after the close: nothing more is said
    let done = abort.run();
    h.raw(Input::Disconnected);
    assert!(h.raw(Input::FsDone(done)).is_empty());
    assert_eq!(h.mem().read_file(b"/old").unwrap(), b"keep");
}

#[test]
fn a_permission_that_depends_on_the_kind_of_the_path_is_checked_by_the_task() {
    // `sub` overridden to read-only, not recursively: its files are
    // read-only, its subdirectories keep the user's permissions
    let mut h = Scenario::new()
        .memory_fs()
        .dir("sub/inner")
        .file("sub/f", b"x")
        .dir("ro")
        .file("ro/f", b"x")
        .authorizer(|auth, _| {
            auth.override_perm("user", "sub", "elr", false).unwrap();
            auth.override_perm("user", "ro", "elr", true).unwrap();
        })
        .logged_in()
        .cwd("sub")
        .build();
    h.seen();
    // whether sub/f is a directory is not known before the task asks
    let task = only_task(h.raw_line("DELE f"));
    assert!(h.seen().is_empty());
    let a = h.raw(Input::FsDone(task.run()));
    assert_eq!(texts(&a), vec!["550 Not enough privileges."]);
    assert_eq!(h.seen(), ["/sub/f"], "one stat, no remove");
    assert_eq!(h.mem().read_file(b"/sub/f").unwrap(), b"x");
    // a directory there is not covered by the override
    let task = only_task(h.raw_line("RMD inner"));
    assert!(h.seen().is_empty());
    let a = h.raw(Input::FsDone(task.run()));
    assert_eq!(texts(&a), vec!["250 Directory removed."]);
    assert_eq!(
        h.seen(),
        ["/sub/inner", "/sub/inner"],
        "a stat, then the remove"
    );
    // a permission that does not depend on the kind is checked at once
    assert_eq!(
        texts(&h.raw_line("DELE /ro/f")),
        vec!["550 Not enough privileges."]
    );
    assert!(h.seen().is_empty());
}

#[test]
fn an_upload_is_committed_by_a_task_before_the_226() {
    let (mut h, mut t) = Scenario::new()
        .memory_fs()
        .file("old", b"keep")
        .logged_in()
        .binary()
        .transfer_running("STOR old");
    fill(&mut t, b"new content");
    let a = h.raw(Input::TransferDone {
        transfer: t,
        result: Ok(()),
        seconds: 0.1,
    });
    let commit = only_task(a);
    assert_eq!(format!("{commit:?}"), "Finish(commit=true)");
    assert_eq!(h.mem().read_file(b"/old").unwrap(), b"keep", "not yet");
    // a line sent meanwhile waits for the commit
    assert!(h.raw_line("SIZE old").is_empty());
    let a = h.raw(Input::FsDone(commit.run()));
    assert_eq!(h.mem().read_file(b"/old").unwrap(), b"new content");
    assert_eq!(texts(&a), vec!["226 Transfer complete."]);
    assert!(matches!(events(&a).as_slice(), [Event::FileReceived(_)]));
    // then SIZE runs, and sees the new file
    let a = h.raw(Input::FsDone(tasks(a).pop().expect("SIZE").run()));
    assert_eq!(texts(&a), vec!["213 11"]);
}

#[test]
fn a_failed_upload_is_aborted_by_a_task_before_the_426() {
    let (mut h, mut t) = Scenario::new()
        .memory_fs()
        .file("old", b"keep")
        .logged_in()
        .binary()
        .transfer_running("STOR old");
    fill(&mut t, b"half");
    let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let a = h.raw(Input::TransferDone {
        transfer: t,
        result: Err(TransferError::Network(e)),
        seconds: 0.1,
    });
    let abort = only_task(a);
    assert_eq!(format!("{abort:?}"), "Finish(commit=false)");
    let a = h.raw(Input::FsDone(abort.run()));
    assert_eq!(texts(&a), vec!["426 Connection closed; transfer aborted."]);
    assert_eq!(h.mem().read_file(b"/old").unwrap(), b"keep");
}

#[test]
fn one_session_never_has_two_tasks_out() {
    let mut h = Scenario::new()
        .memory_fs()
        .file("f", b"x")
        .logged_in()
        .binary()
        .build();
    let lines = [
        "MKD a", "CWD a", "MKD b", "CWD /", "SIZE f", "MLST f", "RNFR f", "RNTO g", "DELE g",
        "RMD a/b", "STAT /", "PWD",
    ];
    let mut out = Vec::new();
    let mut replies = Vec::new();
    for l in lines {
        let a = h.raw_line(l);
        replies.extend(codes(&a));
        out.extend(tasks(a));
        assert!(out.len() <= 1, "{l}: {out:?}");
    }
    while let Some(task) = out.pop() {
        let a = h.raw(Input::FsDone(task.run()));
        replies.extend(codes(&a));
        out.extend(tasks(a));
        assert!(out.len() <= 1, "{out:?}");
    }
    assert_eq!(
        replies,
        vec![257, 250, 257, 250, 213, 250, 350, 250, 250, 250, 213, 257]
    );
}

#[test]
fn an_upload_abort_is_the_one_task_that_may_run_beside_another() {
    let mut h = Scenario::new()
        .memory_fs()
        .file("old", b"keep")
        .logged_in()
        .binary()
        .passive()
        .build();
    assert_eq!(codes(&h.line("STOR old")), vec![150]);
    // MKD waits behind the upload; ABOR cancels the upload (426) and MKD
    // runs; the ABOR's 226 comes after MKD's reply
    assert!(h.raw_line("MKD d").is_empty());
    let a = h.raw_line("ABOR");
    assert_eq!(codes(&a), vec![426], "{a:?}");
    let out = tasks(a);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(is_upload_abort(&out[0]), "{out:?}");
    assert!(!is_upload_abort(&out[1]), "{out:?}");
    let mut out = out.into_iter();
    let (abort, mkd) = (out.next().unwrap(), out.next().unwrap());
    // the results may come back in any order: the abort's is not awaited
    assert_eq!(codes(&h.raw(Input::FsDone(mkd.run()))), vec![257, 226]);
    assert!(h.raw(Input::FsDone(abort.run())).is_empty());
    assert_eq!(h.mem().read_file(b"/old").unwrap(), b"keep");
    assert!(h.one("PWD").starts_with("257"), "nothing hangs");
}

#[test]
fn a_lost_control_connection_starts_no_more_work_and_drops_the_lines_held() {
    let mut h = Scenario::new().memory_fs().logged_in().build();
    // MKD a is out; MKD b and MKD c wait behind it
    let first = tasks(h.raw_line("MKD a")).pop().expect("a task");
    assert!(h.raw_line("MKD b").is_empty());
    assert!(h.raw_line("MKD c").is_empty());
    // the client resets the connection
    let a = h.raw(Input::ControlLost { upload_sent: false });
    assert!(codes(&a).is_empty(), "{a:?}");
    // the task already out comes back: nothing is said, nothing new starts
    let a = h.raw(Input::FsDone(first.run()));
    assert!(a.is_empty(), "{a:?}");
    assert!(h.mem().create_dir_all(b"/b").is_ok(), "MKD b never ran");
    assert_eq!(h.s.next_deadline(), Some(h.now + CLOSE_LINGER));
    let a = h.raw(Input::Disconnected);
    assert_eq!(events(&a), vec![Event::Disconnect]);
}

#[test]
fn a_lost_control_connection_keeps_an_upload_sent_whole_and_stops_the_rest() {
    // an upload whose client sent everything: it is committed
    let (mut h, mut t) = Scenario::new()
        .memory_fs()
        .file("old", b"keep")
        .logged_in()
        .binary()
        .transfer_running("STOR old");
    let a = h.raw(Input::ControlLost { upload_sent: true });
    assert!(a.is_empty(), "{a:?}");
    fill(&mut t, b"new");
    let a = h.raw(Input::TransferDone {
        transfer: t,
        result: Ok(()),
        seconds: 0.1,
    });
    assert!(codes(&a).is_empty(), "{a:?}");
    let commit = tasks(a).pop().expect("the commit");
    let a = h.raw(Input::FsDone(commit.run()));
    assert!(codes(&a).is_empty(), "nothing is said: {a:?}");
    assert!(matches!(events(&a)[..], [Event::FileReceived(_)]), "{a:?}");
    assert_eq!(h.mem().read_file(b"/old").unwrap(), b"new");

    // an upload whose data connection stays open: stopped after
    // UPLOAD_GRACE, the old file stays whole
    let (mut h, t) = Scenario::new()
        .memory_fs()
        .file("old", b"keep")
        .logged_in()
        .binary()
        .transfer_running("STOR old");
    let a = h.raw(Input::ControlLost { upload_sent: false });
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(h.s.next_deadline(), Some(h.now + UPLOAD_GRACE));
    h.now += UPLOAD_GRACE;
    let a = h.raw(Input::Tick);
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]), "{a:?}");
    let a = h.raw(Input::TransferDone {
        transfer: t,
        result: Err(TransferError::Aborted),
        seconds: 0.1,
    });
    let abort = tasks(a).pop().expect("the abort");
    let a = h.raw(Input::FsDone(abort.run()));
    assert!(
        matches!(events(&a)[..], [Event::IncompleteFileReceived(_)]),
        "{a:?}"
    );
    assert_eq!(h.mem().read_file(b"/old").unwrap(), b"keep");

    // a download is stopped at once
    let (mut h, t) = Scenario::new()
        .file("f", b"x")
        .logged_in()
        .binary()
        .transfer_running("RETR f");
    let a = h.raw(Input::ControlLost { upload_sent: false });
    assert!(matches!(a.as_slice(), [Action::AbortTransfer]), "{a:?}");
    let a = h.done(t, Err(TransferError::Aborted));
    assert!(codes(&a).is_empty(), "{a:?}");
    assert!(
        matches!(events(&a)[..], [Event::IncompleteFileSent(_)]),
        "{a:?}"
    );
}

#[test]
fn quit_while_a_transfer_waits_for_its_data_connection_lets_it_run_first() {
    let mut h = Scenario::new()
        .file("f", b"abc")
        .logged_in()
        .binary()
        .passive()
        .build();
    assert_eq!(codes(&h.line("RETR f")), vec![150]);
    assert!(h.line("QUIT").is_empty());
    // the client connects after all: the transfer runs, then goodbye
    let a = h.input(Input::DataConnected);
    let Some(Action::StartTransfer(t)) = a.into_iter().last() else {
        panic!("no transfer");
    };
    let a = h.done(t, Ok(()));
    assert_eq!(codes(&a), vec![226, 221]);
    assert!(matches!(a.last(), Some(Action::Close)), "{a:?}");
}
