//! Logging in and out: the greeting, USER/PASS (failed, anonymous), REIN, QUIT,
//! what needs a login and what does not.

use super::*;

#[test]
fn greeting_fires_connect_then_banner() {
    let mut h = Scenario::new().before_greeting().build();
    let a = h.input(Input::Connected);
    assert_eq!(events(&a), vec![Event::Connect]);
    assert_eq!(
        texts(&a),
        vec![format!("220 ftpdlib {} ready.", env!("CARGO_PKG_VERSION"))]
    );
}

#[test]
fn long_banner_is_multiline() {
    let mut h = Scenario::new()
        .config(|c| c.banner = "x".repeat(100))
        .before_greeting()
        .build();
    let a = h.input(Input::Connected);
    assert_eq!(texts(&a), vec![format!("220-{}\r\n220", "x".repeat(100))]);
}

#[test]
fn login_success_and_events() {
    let mut h = Scenario::new().build();
    assert_eq!(h.one("USER user"), "331 Username ok, send password.");
    let a = h.line("PASS 12345");
    assert_eq!(texts(&a), vec!["230 Login successful."]);
    assert_eq!(events(&a), vec![Event::Login("user".into())]);
    assert_eq!(h.one("PASS 12345"), "503 User already authenticated.");
    assert_eq!(h.s.info().username.as_deref(), Some("user"));
}

#[test]
fn pass_before_user() {
    let mut h = Scenario::new().build();
    assert_eq!(h.one("PASS x"), "503 Login with USER first.");
}

#[test]
fn failed_login_delays_and_disconnects_after_max_attempts() {
    let mut h = Scenario::new().build();
    for i in 1..=3 {
        h.one("USER user");
        assert!(h.line("PASS wrong").is_empty(), "the 530 waits");
        assert_eq!(h.s.next_deadline(), Some(h.now + Duration::from_secs(3)));
        // nothing runs meanwhile
        assert!(h.line("NOOP").is_empty());
        assert!(h.after(Duration::from_millis(2999)).is_empty());
        let a = h.after(Duration::from_millis(1));
        if i < 3 {
            assert_eq!(codes(&a), vec![530, 200], "{a:?}");
        }
        assert_eq!(
            events(&a),
            vec![Event::LoginFailed("user".into(), "wrong".into())]
        );
        if i < 3 {
            assert_eq!(
                texts(&a),
                vec![
                    "530 Authentication failed.",
                    "200 I successfully did nothing."
                ]
            );
            assert!(!a.iter().any(|x| matches!(x, Action::Close)));
        } else {
            assert_eq!(texts(&a), vec!["530 Authentication failed. Disconnecting."]);
            assert!(a.iter().any(|x| matches!(x, Action::Close)));
        }
    }
}

#[test]
fn unknown_user_and_bad_password_get_the_same_reply() {
    let mut h = Scenario::new().build();
    h.one("USER nobody");
    assert!(h.line("PASS x").is_empty());
    let a = texts(&h.expire());
    h.one("USER user");
    assert!(h.line("PASS x").is_empty());
    let b = texts(&h.expire());
    assert_eq!(a, b);
    assert_eq!(a, ["530 Authentication failed."]);
}

#[test]
fn anonymous_login_with_any_password_is_read_only() {
    let mut h = Scenario::new().user("anonymous").build();
    assert_eq!(h.one("MKD x"), "550 Not enough privileges.");
    assert_eq!(h.one("STOR x"), "550 Not enough privileges.");
    assert!(h.one("PWD").starts_with("257"));
}

#[test]
fn commands_need_login() {
    let mut h = Scenario::new().build();
    for c in [
        "PWD",
        "CWD /",
        "LIST",
        "RETR x",
        "STOR x",
        "MKD d",
        "PASV",
        "PORT 127,0,0,1,1,1",
        "STAT /",
        "SIZE x",
    ] {
        assert_eq!(h.one(c), "530 Log in with USER and PASS first.", "{c}");
    }
    // these don't
    assert!(h.one("OPTS UTF8 ON").starts_with("200"));
    assert!(h.one("FEAT").starts_with("211-"));
    assert!(h.one("HELP").starts_with("214-"));
    assert!(h.one("NOOP").starts_with("200"));
    assert!(h.one("SYST").starts_with("215"));
    assert!(h.one("STAT").starts_with("211-"));
}

#[test]
fn quit_rein_user_flush() {
    let mut h = Scenario::new().logged_in().binary().build();
    let a = h.line("REIN");
    assert_eq!(texts(&a), vec!["220 Ready for new user."]);
    assert_eq!(events(&a), vec![Event::Logout("user".into())]);
    assert_eq!(h.one("PWD"), "530 Log in with USER and PASS first.");
    h.one("USER user");
    h.one("PASS 12345");
    let a = h.line("USER reader");
    assert_eq!(
        texts(&a),
        vec!["331 Previous account information was flushed, send password."]
    );
    assert_eq!(events(&a), vec![Event::Logout("user".into())]);
    h.one("PASS pw");
    let a = h.line("QUIT");
    assert_eq!(texts(&a), vec!["221 Goodbye."]);
    assert_eq!(events(&a), vec![Event::Logout("reader".into())]);
    assert!(matches!(a.last(), Some(Action::Close)));
    // after Close, lines are ignored; Disconnected fires on_disconnect once
    assert!(h.line("NOOP").is_empty());
    assert_eq!(
        events(&h.input(Input::Disconnected)),
        vec![Event::Disconnect]
    );
    assert!(h.input(Input::Disconnected).is_empty());
}

#[test]
fn custom_login_and_quit_messages() {
    let mut h = Scenario::new()
        .authorizer(|auth, home| {
            auth.add_user_with_messages("u", "p", home, "elr", "Welcome aboard.", "See you.")
                .unwrap();
        })
        .build();
    h.one("USER u");
    assert_eq!(h.one("PASS p"), "230 Welcome aboard.");
    assert_eq!(h.one("QUIT"), "221 See you.");
}

#[test]
fn log_prefix_substitution() {
    let mut h = Scenario::new()
        .config(|c| c.log_prefix = "XXX [%(username)s]@%(remote_ip)s:%(remote_port)s".into())
        .before_greeting()
        .build();
    assert_eq!(h.s.log_prefix(), "XXX []@127.0.0.1:40000");
    h.input(Input::Connected);
    h.one("USER user");
    assert_eq!(h.s.log_prefix(), "XXX [user]@127.0.0.1:40000");
}

#[test]
fn pass_must_immediately_follow_user() {
    let mut h = Scenario::new().build();
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("NOOP").starts_with("200"));
    assert_eq!(h.one("PASS 12345"), "503 Login with USER first.");
    assert!(h.one("PWD").starts_with("530"));
    // STAT no longer shows a pending name
    assert!(texts(&h.line("STAT"))[0].contains("Waiting for username."));
    assert!(h.one("USER user").starts_with("331"));
    assert!(h.one("PASS 12345").starts_with("230"));
}

#[test]
fn commands_valid_before_login() {
    let mut h = Scenario::new().build();
    assert_eq!(h.one("OPTS UTF8 ON"), "200 Always in UTF8 mode.");
    assert_eq!(h.one("OPTS MLST type;"), "200 MLST OPTS type;");
    assert!(h.one("REIN").starts_with("220"));
    assert!(h.one("SITE HELP").starts_with("214"));
    for c in ["FEAT", "HELP", "SYST", "NOOP", "STAT"] {
        assert!(!h.one(c).starts_with("530"), "{c}");
    }
    for c in [
        "STAT /", "ABOR", "TYPE I", "REST 0", "RNFR x", "PASV", "EPSV ALL",
    ] {
        assert!(h.one(c).starts_with("530"), "{c}");
    }
}

/// `user` may log in from these networks only.
fn allow_from(nets: &[&str]) -> crate::auth::AccountLimits {
    crate::auth::AccountLimits {
        allow_from: nets.iter().map(|n| n.parse().unwrap()).collect(),
        ..Default::default()
    }
}

/// USER and PASS with `user`'s right password; the replies after the failed-login delay.
fn right_password_refused(h: &mut H) -> Vec<Action> {
    assert_eq!(h.one("USER user"), "331 Username ok, send password.");
    assert!(
        h.line("PASS 12345").is_empty(),
        "a refusal waits like a failure"
    );
    h.expire()
}

#[test]
fn an_account_is_refused_from_outside_its_networks() {
    let mut h = Scenario::new()
        .authorizer(|a, _| {
            a.set_limits("user", allow_from(&["10.0.0.0/8", "::1/128"]))
                .unwrap()
        })
        .build();
    let a = right_password_refused(&mut h);
    assert_eq!(texts(&a), ["530 Login not allowed from this address."]);
    assert_eq!(
        events(&a),
        vec![Event::LoginFailed("user".into(), "12345".into())]
    );
    assert!(h.s.account().is_none());
    assert_eq!(h.one("PWD"), "530 Log in with USER and PASS first.");
    // the other accounts have no such limit
    h.login_as("reader", "pw");
}

#[test]
fn an_account_logs_in_from_inside_its_networks() {
    for (nets, remote) in [
        (&["127.0.0.0/8"][..], "127.0.0.1:40000"),
        (&["192.0.2.0/24", "127.0.0.1/32"][..], "127.0.0.1:40000"),
        // a dual-stack listener sees IPv4 clients as mapped addresses
        (&["127.0.0.0/8"][..], "[::ffff:127.0.0.1]:40000"),
        (&["::1/128"][..], "[::1]:40000"),
        // and a network written in the mapped form admits the IPv4 client
        (&["::ffff:127.0.0.0/104"][..], "127.0.0.1:40000"),
        (&["::ffff:127.0.0.1/128"][..], "[::ffff:127.0.0.1]:40000"),
    ] {
        let limits = allow_from(nets);
        let mut h = Scenario::new()
            .addresses(remote, "127.0.0.1:2121")
            .authorizer(move |a, _| a.set_limits("user", limits).unwrap())
            .build();
        h.login_as("user", "12345");
    }
}

/// `::/0` is every IPv6 client, not the IPv4 ones (whose mapped forms it
/// holds too).
#[test]
fn an_ipv6_network_outside_the_mapped_range_does_not_admit_ipv4() {
    let mut h = Scenario::new()
        .authorizer(|a, _| a.set_limits("user", allow_from(&["::/0"])).unwrap())
        .build();
    let a = right_password_refused(&mut h);
    assert_eq!(texts(&a), ["530 Login not allowed from this address."]);
}

#[test]
fn refusals_count_as_failed_logins() {
    let mut h = Scenario::new()
        .authorizer(|a, _| a.set_limits("user", allow_from(&["10.0.0.0/8"])).unwrap())
        .build();
    right_password_refused(&mut h);
    right_password_refused(&mut h);
    let a = right_password_refused(&mut h);
    assert_eq!(
        texts(&a),
        ["530 Login not allowed from this address. Disconnecting."]
    );
    assert!(a.iter().any(|x| matches!(x, Action::Close)));
}

#[test]
fn an_account_that_requires_tls_is_refused_on_a_clear_connection() {
    let tls_required = || crate::auth::AccountLimits {
        tls_required: true,
        ..Default::default()
    };
    let mut h = Scenario::new()
        .tls_config(|_| {})
        .authorizer(move |a, _| a.set_limits("user", tls_required()).unwrap())
        .build();
    let a = right_password_refused(&mut h);
    assert_eq!(
        texts(&a),
        ["530 SSL/TLS required on the control channel for this user."]
    );
    assert!(h.s.account().is_none());
    // after AUTH TLS the same login works; so does implicit TLS
    let mut h = Scenario::new()
        .auth("TLS", false)
        .authorizer(move |a, _| a.set_limits("user", tls_required()).unwrap())
        .logged_in()
        .build();
    assert!(h.one("PWD").starts_with("257"));
    let mut h = Scenario::new()
        .implicit_tls()
        .authorizer(move |a, _| a.set_limits("user", tls_required()).unwrap())
        .logged_in()
        .build();
    assert!(h.one("PWD").starts_with("257"));
}
