//! The rules of `WindowsAuthorizer` (no Windows call: they run everywhere).

use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn bare_names_drop_the_domain_and_the_case() {
    assert_eq!(bare_name("Administrator"), "administrator");
    assert_eq!(bare_name(r"MACHINE\Administrator"), "administrator");
    assert_eq!(bare_name("Administrator@example.org"), "administrator");
    assert_eq!(bare_name(r"CORP\Alice@corp.example"), "alice");
    assert_eq!(bare_name("ÉLODIE"), "élodie");
}

#[test]
fn domain_is_split_off_only_in_the_backslash_form() {
    assert_eq!(split_domain(r"CORP\alice"), ("alice", Some("CORP")));
    assert_eq!(
        split_domain("alice@corp.example"),
        ("alice@corp.example", None)
    );
    assert_eq!(split_domain("alice"), ("alice", None));
    assert_eq!(split_domain(r"\alice"), (r"\alice", None));
}

#[test]
fn defaults_are_pyftpdlibs() {
    let r = Rules::new();
    assert_eq!(r.logon_for("alice", "pw").unwrap(), ("alice", "pw"));
    let acc = r.account("alice", PathBuf::from("/home/alice"));
    assert_eq!(acc.username, "alice");
    assert_eq!(acc.root, PathBuf::from("/home/alice"));
    assert_eq!(acc.home, acc.root);
    assert_eq!(acc.perms, PermTable::uniform(Perms::all()));
    assert_eq!(acc.msg_login, "Login successful.");
    assert_eq!(acc.msg_quit, "Goodbye.");
    assert_eq!(acc.identity, None);
}

#[test]
fn anonymous_needs_a_guest_account() {
    let mut r = Rules::new();
    assert_eq!(r.logon_for("anonymous", "x@y"), Err(AuthError::Failed));
    r.set_anonymous("Guest", "");
    // any password: the guest's own is used
    assert_eq!(r.logon_for("anonymous", "x@y").unwrap(), ("Guest", ""));
    // the account is still called anonymous
    let acc = r.account("anonymous", PathBuf::from("/guest"));
    assert_eq!(acc.username, "anonymous");
}

#[test]
fn rejected_users_are_refused_in_any_case_and_domain() {
    let mut r = Rules::new();
    r.set_rejected(strings(&["Administrator"])).unwrap();
    for name in [
        "Administrator",
        "administrator",
        "ADMINISTRATOR",
        r"MACHINE\Administrator",
        "administrator@example.org",
    ] {
        assert_eq!(r.logon_for(name, "pw"), Err(AuthError::Failed), "{name}");
    }
    assert!(r.logon_for("alice", "pw").is_ok());
}

#[test]
fn only_allowed_users_may_try() {
    let mut r = Rules::new();
    r.set_allowed(strings(&["alice", r"CORP\Bob"])).unwrap();
    assert!(r.logon_for("Alice", "pw").is_ok());
    assert!(r.logon_for(r"CORP\bob", "pw").is_ok());
    assert!(r.logon_for("bob@corp.example", "pw").is_ok());
    assert_eq!(r.logon_for("carol", "pw"), Err(AuthError::Failed));
}

#[test]
fn allowed_and_rejected_are_mutually_exclusive() {
    let mut r = Rules::new();
    r.set_allowed(strings(&["alice"])).unwrap();
    assert!(matches!(
        r.set_rejected(strings(&["bob"])),
        Err(AuthError::Internal(_))
    ));
    let mut r = Rules::new();
    r.set_rejected(strings(&["bob"])).unwrap();
    assert!(matches!(
        r.set_allowed(strings(&["alice"])),
        Err(AuthError::Internal(_))
    ));
    // an empty list clears nothing and conflicts with nothing
    r.set_allowed(Vec::new()).unwrap();
}

#[test]
fn global_permissions_and_per_user_overrides() {
    let tmp = tempfile::TempDir::new().unwrap();
    let mut r = Rules::new();
    assert!(matches!(
        r.set_global_perm("elrx"),
        Err(AuthError::Internal(_))
    ));
    r.set_global_perm("elr").unwrap();
    r.set_messages("Hi.", "Bye.");
    r.set_override(
        "Alice",
        WindowsUserOverride {
            home: Some(tmp.path().to_path_buf()),
            perm: Some("elradfmwMT".into()),
            msg_login: Some("Welcome, Alice.".into()),
            msg_quit: None,
        },
    )
    .unwrap();
    // overrides are found whatever the case of the login name
    assert_eq!(r.home_override("alice"), Some(tmp.path().to_path_buf()));
    let alice = r.account("alice", tmp.path().to_path_buf());
    assert_eq!(alice.perms, PermTable::uniform(Perms::all()));
    assert_eq!(alice.msg_login, "Welcome, Alice.");
    assert_eq!(alice.msg_quit, "Bye.");
    let bob = r.account("bob", PathBuf::from("/home/bob"));
    assert_eq!(r.home_override("bob"), None);
    assert_eq!(bob.perms, PermTable::uniform(Perms::parse("elr").unwrap()));
    assert_eq!(
        (bob.msg_login.as_str(), bob.msg_quit.as_str()),
        ("Hi.", "Bye.")
    );
}

#[test]
fn overrides_are_checked() {
    let mut r = Rules::new();
    let bad_perm = WindowsUserOverride {
        perm: Some("elrZ".into()),
        ..WindowsUserOverride::default()
    };
    assert!(matches!(
        r.set_override("alice", bad_perm),
        Err(AuthError::Internal(_))
    ));
    let no_dir = WindowsUserOverride {
        home: Some(PathBuf::from("/nonexistent/ftpdlib-home")),
        ..WindowsUserOverride::default()
    };
    assert!(matches!(
        r.set_override("alice", no_dir),
        Err(AuthError::Internal(_))
    ));
    assert_eq!(r.home_override("alice"), None);
}
