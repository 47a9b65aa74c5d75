use super::*;

#[test]
fn allowed_and_rejected_users_are_exclusive() {
    let a = UnixAuthorizer::new().allowed_users(["alice"]);
    assert!(a.is_ok(), "root, rejected by default, does not count");
    assert!(a.unwrap().rejected_users(["bob"]).is_err());
    let r = UnixAuthorizer::new()
        .rejected_users(["root", "bob"])
        .unwrap();
    assert!(r.allowed_users(["alice"]).is_err());
}

#[test]
fn bad_letters_and_unknown_users_are_configuration_errors() {
    assert!(UnixAuthorizer::new().global_perm("elrX").is_err());
    assert!(UnixAuthorizer::new()
        .anonymous_user("no-such-user-ftpdlib-test")
        .is_err());
    let a = UnixAuthorizer::new();
    assert!(a.override_user("x", Some("Z"), None, None, None).is_err());
    assert!(a
        .override_user(
            "x",
            None,
            Some(Path::new("/no/such/dir/ftpdlib")),
            None,
            None
        )
        .is_err());
}

#[test]
fn unknown_users_and_odd_names_are_refused_not_errors() {
    let a = UnixAuthorizer::new();
    for name in ["no-such-user-ftpdlib-test", "", "a\0b", "../root"] {
        assert_eq!(
            a.authenticate(name, "pw"),
            Err(AuthError::Failed),
            "{name:?}"
        );
    }
    // root is refused whatever the password
    assert_eq!(a.authenticate("root", ""), Err(AuthError::Failed));
}

#[test]
fn anonymous_maps_to_a_system_user_read_only() {
    let Ok(a) = UnixAuthorizer::new().anonymous_user("nobody") else {
        eprintln!("skipped: no user nobody");
        return;
    };
    let acc = a.authenticate("anonymous", "any@example.com").unwrap();
    let nobody = User::from_name("nobody").unwrap().unwrap();
    let id = acc.identity.clone().unwrap();
    assert_eq!((id.uid, id.gid), (nobody.uid.as_raw(), nobody.gid.as_raw()));
    assert_eq!(acc.home, nobody.dir);
    assert_eq!(acc.root, PathBuf::from("/"));
    assert!(acc.perms.at(b"/").resolve(|| true).contains('r'));
    assert!(!acc.perms.at(b"/").resolve(|| true).contains('w'));
    // confined: the home is the root
    let c = UnixAuthorizer::new()
        .anonymous_user("nobody")
        .unwrap()
        .confine_to_home(true);
    let acc = c.authenticate("anonymous", "x").unwrap();
    assert_eq!(acc.root, acc.home);
    assert_eq!(acc.start_dir(), b"/");
}

#[test]
fn shadow_aging_refuses_as_pam_unix_does() {
    let entry = |last: Option<i64>, max: Option<i64>, inact: Option<i64>, expire: Option<i64>| {
        crate::sys::ShadowEntry {
            hash: "$y$x".into(),
            last_change: last,
            max_days: max,
            inactive_days: inact,
            expire,
        }
    };
    let today = 20_000;
    // no aging at all; a password changed yesterday with a 99999-day limit
    assert_eq!(aging_refusal(&entry(None, None, None, None), today), None);
    assert_eq!(
        aging_refusal(&entry(Some(today - 1), Some(99_999), None, None), today),
        None
    );
    // an account that expires tomorrow still logs in today, not on the day
    assert_eq!(
        aging_refusal(&entry(Some(1), None, None, Some(today + 1)), today),
        None
    );
    for refused in [
        entry(Some(1), Some(99_999), None, Some(0)), // chage -E 0
        entry(Some(1), None, None, Some(today)),     // expires today
        entry(Some(0), Some(99_999), None, None),    // passwd -e, chage -d 0
        entry(Some(today - 31), Some(30), None, None), // password too old
        entry(Some(today - 50), Some(30), Some(10), None), // and inactive
    ] {
        assert!(aging_refusal(&refused, today).is_some(), "{refused:?}");
    }
}

#[test]
fn anonymous_is_never_root() {
    // any password would give a root session
    assert!(UnixAuthorizer::new().anonymous_user("root").is_err());
    // mapped to a user that is then rejected: refused at login
    let Ok(Some(daemon)) = User::from_name("daemon") else {
        return;
    };
    let _ = daemon;
    let a = UnixAuthorizer::new()
        .anonymous_user("daemon")
        .unwrap()
        .rejected_users(["root", "daemon"])
        .unwrap();
    assert!(a.authenticate("anonymous", "x").is_err());
}
