use super::*;

#[test]
fn networks_with_and_without_a_prefix() {
    assert_eq!(
        parse_net("10.0.0.0/8").unwrap(),
        "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap()
    );
    assert_eq!(
        parse_net(" 192.0.2.7 ").unwrap(),
        "192.0.2.7/32".parse::<ipnet::IpNet>().unwrap()
    );
    assert_eq!(
        parse_net("::1").unwrap(),
        "::1/128".parse::<ipnet::IpNet>().unwrap()
    );
    assert!(parse_net("10.0.0.0/33").is_err());
    assert!(parse_net("localhost").is_err());
}

#[test]
fn override_directories_become_virtual_paths() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("a/b")).unwrap();
    let written = home.path();
    let real = std::fs::canonicalize(written).unwrap();
    let v = |p: &str| virtual_dir(written, &real, Path::new(p));
    // absolute inside the home, relative to it, with dots, missing dirs too
    assert_eq!(
        v(&written.join("a/b").display().to_string()),
        Some(b"/a/b".to_vec())
    );
    assert_eq!(v("a/b"), Some(b"/a/b".to_vec()));
    assert_eq!(v("./a/../a/b/"), Some(b"/a/b".to_vec()));
    assert_eq!(v("not/yet"), Some(b"/not/yet".to_vec()));
    assert_eq!(v("."), Some(b"/".to_vec()));
    // outside the home: refused
    assert_eq!(v(".."), None);
    assert_eq!(v("../elsewhere"), None);
    assert_eq!(v("/etc"), None);
}

#[test]
fn override_through_a_symlinked_home() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir_all(real.join("ro")).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let canon = std::fs::canonicalize(&link).unwrap();
    // the row names the home by its link, the override by the real path
    let got = virtual_dir(&link, &canon, &canon.join("ro"));
    assert_eq!(got, Some(b"/ro".to_vec()));
}

#[test]
fn bad_urls_are_config_errors() {
    assert!(matches!(
        PgAuthorizer::new("postgresql://host:notaport/db"),
        Err(PgError::Config(_))
    ));
    let ok = PgAuthorizer::new("postgresql://ftpd:secret@127.0.0.1:1/ftpd").unwrap();
    assert!(!format!("{ok:?}").contains("secret"));
}

#[test]
fn an_unreachable_database_is_an_internal_error_within_the_timeout() {
    // a port nothing listens on: refused at once, retried until the timeout
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = PgOptions {
        connect_timeout: Duration::from_millis(500),
        ..PgOptions::default()
    };
    for size in [0, 2] {
        options.pool_size = size;
        let auth = PgAuthorizer::with_options(
            &format!("postgresql://ftpd@127.0.0.1:{port}/ftpd?sslmode=disable"),
            options.clone(),
        )
        .unwrap();
        let start = std::time::Instant::now();
        let got = auth.authenticate("alice", "pw");
        assert!(matches!(got, Err(AuthError::Internal(_))), "{got:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}
