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
