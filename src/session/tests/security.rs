//! FTPS (RFC 4217): AUTH, PBSZ, PROT, CCC, implicit TLS, the required
//! levels, and the lines around a change of security state.

use super::*;

#[test]
fn auth_tls_switches_the_control_connection() {
    let mut h = Scenario::new().tls_config(|_| {}).build();
    let a = h.line("AUTH TLS");
    assert_eq!(texts(&a), vec!["234 AUTH TLS successful."]);
    assert!(matches!(a.last(), Some(Action::StartTls)), "{a:?}");
    assert!(h.s.control_secured());
    assert_eq!(h.one("AUTH SSL"), "503 Already using TLS.");
}

#[test]
fn auth_variants_and_bad_mechanism() {
    for kind in ["SSL", "tls-c", "TLS-P"] {
        let mut h = Scenario::new().tls_config(|_| {}).build();
        let t = h.one(&format!("AUTH {kind}"));
        assert_eq!(
            t,
            format!("234 AUTH {} successful.", kind.to_ascii_uppercase())
        );
    }
    let mut h = Scenario::new().tls_config(|_| {}).build();
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
    let mut h = Scenario::new().tls_config(|_| {}).build();
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
    let mut h = Scenario::new().tls_config(|_| {}).build();
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
    let (mut h, t) = Scenario::new()
        .file("f", b"data")
        .tls()
        .logged_in()
        .transfer_running("RETR f");
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
    let mut h = Scenario::new()
        .tls_config(|t| t.control_required = true)
        .build();
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
    let mut h = Scenario::new()
        .tls_config(|t| t.data_required = true)
        .build();
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
    let mut h = Scenario::new()
        .tls_config(|_| {})
        .logged_in()
        .binary()
        .build();
    let a = h.line("AUTH TLS");
    assert_eq!(texts(&a), vec!["234 AUTH TLS successful."]);
    assert!(events(&a).contains(&Event::Logout("user".into())), "{a:?}");
    assert!(h.one("PWD").starts_with("530"));
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("PASS 12345").starts_with("230"));
}

#[test]
fn rein_ends_tls_and_forgets_protection() {
    let mut h = Scenario::new().tls().logged_in().build();
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
    let mut h = Scenario::new().implicit_tls().before_greeting().build();
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
    let mut h = Scenario::new().tls_config(|_| {}).build();
    let feat = texts(&h.line("FEAT")).join("\n");
    for l in [" AUTH TLS", " AUTH SSL", " PBSZ", " PROT"] {
        assert!(feat.contains(l), "{l}: {feat}");
    }
    let mut plain = Scenario::new().build();
    assert!(plain.one("AUTH TLS").starts_with("502"));
    assert!(plain.one("PBSZ 0").starts_with("502"));
}

#[test]
fn data_required_is_checked_when_each_transfer_starts() {
    let mut h = Scenario::new()
        .file("file", b"secret")
        .tls_config(|t| t.data_required = true)
        .tls()
        .logged_in()
        .connected()
        .build();
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
    let mut h = Scenario::new()
        .file("file", b"secret")
        .tls()
        .logged_in()
        .build();
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
        let mut h = Scenario::new().tls_config(|_| {}).build();
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

#[test]
fn lines_queued_before_auth_are_never_run_inside_tls() {
    let (mut h, task) = Scenario::new()
        .tls_config(|_| {})
        .login_with("user", "wrong")
        .pending_login();
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
    let mut h = Scenario::new().tls_config(|_| {}).build();
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
fn nothing_is_framed_behind_a_queued_auth_or_rein() {
    let (mut h, task) = Scenario::new().tls_config(|_| {}).pending_login();
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
