//! The account's own limits (sessions, shared bandwidth) and the ban
//! policy's offences, as the session decides them.

use super::*;

use crate::auth::AccountLimits;
use crate::config::BanPolicy;

fn limited(
    max_sessions: u32,
    write_limit: u64,
) -> impl FnOnce(&MemoryAuthorizer, &std::path::Path) {
    move |a, _| {
        let l = AccountLimits {
            max_sessions,
            write_limit,
            ..AccountLimits::default()
        };
        a.set_limits("user", l).unwrap();
    }
}

fn offences(actions: &[Action]) -> Vec<Offence> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Offence(o) => Some(o.offence()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_login_beyond_max_sessions_is_refused_with_421_and_closes() {
    let (mut h, task) = Scenario::new().authorizer(limited(1, 0)).pending_login();
    // another session of the user holds the only place
    let other = h.s.ctx.shared.claim("user", 1).unwrap();
    let a = h.input(Input::LoginDone(task.run()));
    assert_eq!(texts(&a), vec!["421 Too many connections for this user."]);
    assert!(matches!(a.last(), Some(Action::Close)), "{a:?}");
    assert!(events(&a).is_empty(), "not a failed login: {a:?}");
    assert!(h.s.account().is_none());
    drop(other);
    assert_eq!(h.s.ctx.shared.sessions("user"), 0);
}

#[test]
fn a_limited_session_holds_its_slot_until_rein_user_or_the_end() {
    let mut h = Scenario::new()
        .authorizer(limited(2, 0))
        .logged_in()
        .build();
    assert_eq!(h.s.ctx.shared.sessions("user"), 1);
    assert_eq!(codes(&h.line("REIN")), vec![220]);
    assert_eq!(h.s.ctx.shared.sessions("user"), 0);
    h.one("USER user");
    assert_eq!(codes(&h.line("PASS 12345")), vec![230]);
    assert_eq!(h.s.ctx.shared.sessions("user"), 1);
    h.one("USER reader");
    assert_eq!(h.s.ctx.shared.sessions("user"), 0);
    h.one("PASS pw");
    h.one("USER user");
    h.line("PASS 12345");
    assert_eq!(h.s.ctx.shared.sessions("user"), 1);
    let shared = Arc::clone(&h.s.ctx.shared);
    drop(h);
    assert_eq!(shared.sessions("user"), 0, "the session's end frees it");
}

#[test]
fn an_account_without_limits_takes_no_slot() {
    let h = Scenario::new().logged_in().build();
    assert_eq!(h.s.ctx.shared.sessions("user"), 0);
    assert!(h.s.login.as_ref().unwrap().slot.is_none());
}

#[test]
fn a_download_of_a_user_with_a_bandwidth_is_throttled_and_not_zero_copy() {
    let (_h, t) = Scenario::new()
        .authorizer(limited(0, 100_000))
        .file("f", vec![7u8; 10])
        .logged_in()
        .binary()
        .transfer_running("RETR f");
    assert!(!t.uses_zero_copy());
    let (_h, t) = Scenario::new()
        .file("f", vec![7u8; 10])
        .logged_in()
        .binary()
        .transfer_running("RETR f");
    assert!(t.uses_zero_copy());
}

#[test]
fn failed_logins_are_offences_only_under_a_ban_policy() {
    let mut h = Scenario::new()
        .config(|c| c.auth_failed_delay = Duration::ZERO)
        .build();
    h.one("USER user");
    assert!(offences(&h.line("PASS wrong")).is_empty());
    let mut h = Scenario::new()
        .config(|c| {
            c.auth_failed_delay = Duration::from_secs(3);
            c.ban = Some(BanPolicy::default());
        })
        .build();
    h.one("USER user");
    // reported at once, while the 530 waits for the delay
    let a = h.line("PASS wrong");
    assert_eq!(offences(&a), vec![Offence::FailedLogin]);
    assert!(codes(&a).is_empty());
    // a right password is none
    h.after(Duration::from_secs(3));
    h.one("USER user");
    assert!(offences(&h.line("PASS 12345")).is_empty());
}

#[test]
fn a_command_flood_is_reported_answered_421_and_closed() {
    let mut h = Scenario::new()
        .config(|c| {
            c.ban = Some(BanPolicy {
                max_commands: 5,
                commands_window: Duration::from_secs(1),
                ban_time: Duration::from_secs(60),
                ..BanPolicy::default()
            })
        })
        .logged_in()
        .build();
    // the login's two lines counted too; let them age out
    h.after(Duration::from_secs(2));
    for _ in 0..5 {
        assert_eq!(codes(&h.line("NOOP")), vec![200]);
    }
    let a = h.line("NOOP");
    assert_eq!(offences(&a), vec![Offence::CommandFlood]);
    assert_eq!(
        texts(&a),
        vec!["421 Too many commands: you are banned for 60 seconds."]
    );
    assert!(matches!(a.last(), Some(Action::Close)), "{a:?}");
    assert!(h.line("NOOP").is_empty());
}

#[test]
fn commands_at_the_allowed_rate_are_no_flood() {
    let mut h = Scenario::new()
        .config(|c| {
            c.ban = Some(BanPolicy {
                max_commands: 5,
                commands_window: Duration::from_secs(1),
                ..BanPolicy::default()
            })
        })
        .logged_in()
        .build();
    for _ in 0..50 {
        h.after(Duration::from_millis(200));
        assert_eq!(codes(&h.line("NOOP")), vec![200]);
    }
}

#[test]
fn a_recorded_flood_bans_the_address_in_the_shared_table() {
    let mut h = Scenario::new()
        .config(|c| {
            c.ban = Some(BanPolicy {
                max_commands: 1,
                ban_time: Duration::from_secs(60),
                ..BanPolicy::default()
            })
        })
        .addresses("[::ffff:192.0.2.9]:4000", "[::ffff:192.0.2.1]:21")
        .build();
    let a = h.line("NOOP");
    let a = if offences(&a).is_empty() {
        h.line("NOOP")
    } else {
        a
    };
    let report = a
        .into_iter()
        .find_map(|a| match a {
            Action::Offence(o) => Some(o),
            _ => None,
        })
        .unwrap();
    assert!(report.record());
    let left =
        h.s.ctx
            .shared
            .banned("192.0.2.9".parse().unwrap(), h.now)
            .unwrap();
    assert!(left > Duration::from_secs(59), "{left:?}");
}

#[test]
fn quit_frees_the_slot_before_the_goodbye_goes_out() {
    let mut h = Scenario::new()
        .authorizer(limited(1, 0))
        .logged_in()
        .build();
    assert_eq!(h.s.ctx.shared.sessions("user"), 1);
    assert_eq!(codes(&h.line("QUIT")), vec![221]);
    assert_eq!(h.s.ctx.shared.sessions("user"), 0);
}
