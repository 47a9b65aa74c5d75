use super::*;
use tempfile::TempDir;

fn setup() -> (TempDir, MemoryAuthorizer) {
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir_all(tmp.path().join("pub/sub/deep")).unwrap();
    std::fs::create_dir_all(tmp.path().join("incoming")).unwrap();
    std::fs::write(tmp.path().join("pub/file.txt"), b"x").unwrap();
    std::fs::write(tmp.path().join("pub/sub/f2"), b"x").unwrap();
    let auth = MemoryAuthorizer::new();
    auth.add_user("u", "secret", tmp.path(), "elr").unwrap();
    (tmp, auth)
}

#[test]
fn add_user_and_authenticate() {
    let (tmp, auth) = setup();
    assert!(auth.has_user("u"));
    assert!(!auth.has_user("v"));
    let acc = auth.authenticate("u", "secret").unwrap();
    assert_eq!(acc.username, "u");
    assert_eq!(acc.home, std::fs::canonicalize(tmp.path()).unwrap());
    assert!(acc.home.is_absolute());
    assert_eq!(acc.msg_login, "Login successful.");
    assert_eq!(acc.msg_quit, "Goodbye.");
    assert_eq!(acc.identity, None);
    assert_eq!(acc.root, acc.home);
    assert_eq!(acc.start_dir(), b"/");
}

#[test]
fn auth_failures_are_indistinguishable() {
    let (_tmp, auth) = setup();
    assert_eq!(auth.authenticate("u", "wrong"), Err(AuthError::Failed));
    assert_eq!(auth.authenticate("u", "secre"), Err(AuthError::Failed));
    assert_eq!(auth.authenticate("u", "secret2"), Err(AuthError::Failed));
    assert_eq!(auth.authenticate("u", ""), Err(AuthError::Failed));
    assert_eq!(
        auth.authenticate("nobody", "secret"),
        Err(AuthError::Failed)
    );
    // No anonymous user defined: refused too.
    assert_eq!(auth.authenticate("anonymous", "x"), Err(AuthError::Failed));
}

#[test]
fn custom_messages() {
    let (tmp, auth) = setup();
    auth.add_user_with_messages("m", "p", tmp.path(), "elr", "hi", "bye")
        .unwrap();
    let acc = auth.authenticate("m", "p").unwrap();
    assert_eq!(acc.msg_login, "hi");
    assert_eq!(acc.msg_quit, "bye");
}

#[test]
fn add_user_errors() {
    let (tmp, auth) = setup();
    assert!(matches!(
        auth.add_user("u", "x", tmp.path(), "elr"),
        Err(AuthError::Internal(_))
    ));
    assert!(matches!(
        auth.add_user("v", "x", tmp.path().join("nope"), "elr"),
        Err(AuthError::Internal(_))
    ));
    assert!(matches!(
        auth.add_user("v", "x", tmp.path().join("pub/file.txt"), "elr"),
        Err(AuthError::Internal(_))
    ));
    assert!(matches!(
        auth.add_user("v", "x", tmp.path(), "elrz"),
        Err(AuthError::Internal(_))
    ));
    assert!(!auth.has_user("v"));
    auth.add_user("v", "x", tmp.path(), "elradfmwMT").unwrap();
    auth.add_user("w", "x", tmp.path(), "").unwrap();
    assert_eq!(auth.perm_letters("w", b"/").as_deref(), Some(""));
}

#[test]
fn home_is_canonicalized() {
    let (tmp, auth) = setup();
    let odd = tmp.path().join("pub/../pub/./sub");
    auth.add_user("c", "x", &odd, "elr").unwrap();
    let acc = auth.authenticate("c", "x").unwrap();
    assert_eq!(
        acc.home,
        std::fs::canonicalize(tmp.path().join("pub/sub")).unwrap()
    );
    std::os::unix::fs::symlink(tmp.path().join("pub"), tmp.path().join("ln")).unwrap();
    auth.add_user("s", "x", tmp.path().join("ln"), "elr")
        .unwrap();
    let acc = auth.authenticate("s", "x").unwrap();
    assert_eq!(
        acc.home,
        std::fs::canonicalize(tmp.path().join("pub")).unwrap()
    );
}

#[test]
fn remove_user() {
    let (_tmp, auth) = setup();
    auth.remove_user("u");
    auth.remove_user("u");
    assert!(!auth.has_user("u"));
    assert_eq!(auth.authenticate("u", "secret"), Err(AuthError::Failed));
    assert_eq!(auth.perm_letters("u", b"/"), None);
    assert!(!auth.has_perm("u", 'r', b"/"));
}

#[test]
fn anonymous_any_password() {
    let (tmp, auth) = setup();
    auth.add_anonymous(tmp.path()).unwrap();
    assert!(auth.authenticate("anonymous", "").is_ok());
    assert!(auth.authenticate("anonymous", "me@example.com").is_ok());
    assert_eq!(auth.perm_letters("anonymous", b"/").as_deref(), Some("elr"));
    assert!(matches!(
        auth.add_anonymous(tmp.path()),
        Err(AuthError::Internal(_))
    ));
}

#[test]
fn anonymous_with_write_perms() {
    let (tmp, auth) = setup();
    auth.add_anonymous_with_perm(tmp.path(), "elrw").unwrap();
    assert!(auth.has_perm("anonymous", 'w', b"/x"));
    assert!(auth.has_perm("anonymous", 'r', b"/x"));
    assert!(!auth.has_perm("anonymous", 'd', b"/x"));
    let auth2 = MemoryAuthorizer::new();
    assert!(auth2.add_anonymous_with_perm(tmp.path(), "elX").is_err());
}

#[test]
fn base_perms_and_unknown_user() {
    let (_tmp, auth) = setup();
    assert_eq!(auth.perm_letters("u", b"/").as_deref(), Some("elr"));
    assert_eq!(auth.perm_letters("u", b"/pub/x").as_deref(), Some("elr"));
    assert_eq!(auth.perm_letters("nobody", b"/"), None);
    assert!(auth.has_perm("u", 'r', b"/pub"));
    assert!(!auth.has_perm("u", 'w', b"/pub"));
    assert!(!auth.has_perm("nobody", 'r', b"/"));
}

#[test]
fn override_non_recursive() {
    let (_tmp, auth) = setup();
    auth.override_perm("u", "pub", "elradfmw", false).unwrap();
    let p = |path: &[u8]| auth.perm_letters("u", path).unwrap();
    // The directory itself.
    assert_eq!(p(b"/pub"), "elradfmw");
    assert_eq!(p(b"/pub/"), "elradfmw");
    // A file directly inside it (existing or not).
    assert_eq!(p(b"/pub/file.txt"), "elradfmw");
    assert_eq!(p(b"/pub/newfile"), "elradfmw");
    // A sub-directory directly inside: not covered.
    assert_eq!(p(b"/pub/sub"), "elr");
    // Deeper: not covered.
    assert_eq!(p(b"/pub/sub/f2"), "elr");
    assert_eq!(p(b"/pub/sub/deep"), "elr");
    // Elsewhere / prefix-but-not-subpath.
    assert_eq!(p(b"/"), "elr");
    assert_eq!(p(b"/pubx"), "elr");
    assert_eq!(p(b"/pubx/file"), "elr");
    assert_eq!(p(b"/incoming"), "elr");
}

#[test]
fn override_recursive() {
    let (_tmp, auth) = setup();
    auth.override_perm("u", "pub", "elrw", true).unwrap();
    let p = |path: &[u8]| auth.perm_letters("u", path).unwrap();
    assert_eq!(p(b"/pub"), "elrw");
    assert_eq!(p(b"/pub/file.txt"), "elrw");
    assert_eq!(p(b"/pub/sub"), "elrw");
    assert_eq!(p(b"/pub/sub/deep/x/y"), "elrw");
    assert_eq!(p(b"/pubx"), "elr");
    assert_eq!(p(b"/"), "elr");
}

#[test]
fn most_specific_override_wins() {
    let (tmp, auth) = setup();
    auth.override_perm("u", "pub/sub", "elradfmwMT", true)
        .unwrap();
    // Absolute path form.
    auth.override_perm("u", tmp.path().join("pub"), "el", true)
        .unwrap();
    let p = |path: &[u8]| auth.perm_letters("u", path).unwrap();
    assert_eq!(p(b"/pub"), "el");
    assert_eq!(p(b"/pub/file.txt"), "el");
    assert_eq!(p(b"/pub/sub"), "elradfmwMT");
    assert_eq!(p(b"/pub/sub/deep/z"), "elradfmwMT");
    // A non-recursive override deeper than a recursive one.
    auth.override_perm("u", "pub/sub/deep", "e", false).unwrap();
    assert_eq!(p(b"/pub/sub/deep"), "e");
    assert_eq!(p(b"/pub/sub/deep/file"), "e");
    // ...only for files directly inside; a deeper dir falls back to the recursive one.
    std::fs::create_dir(tmp.path().join("pub/sub/deep/d")).unwrap();
    assert_eq!(p(b"/pub/sub/deep/d"), "elradfmwMT");
    assert_eq!(p(b"/pub/sub/deep/d/f"), "elradfmwMT");
    // Re-overriding the same directory replaces the previous override.
    auth.override_perm("u", "pub", "elm", true).unwrap();
    assert_eq!(p(b"/pub"), "elm");
}

#[test]
fn override_errors() {
    let (tmp, auth) = setup();
    let outside = TempDir::new().unwrap();
    // Outside the home (absolute).
    assert!(auth
        .override_perm("u", outside.path(), "elr", false)
        .is_err());
    // Escaping with `..`.
    assert!(auth.override_perm("u", "../", "elr", false).is_err());
    // The home itself.
    assert!(auth.override_perm("u", tmp.path(), "elr", false).is_err());
    assert!(auth.override_perm("u", ".", "elr", false).is_err());
    // Not a directory / missing.
    assert!(auth
        .override_perm("u", "pub/file.txt", "elr", false)
        .is_err());
    assert!(auth.override_perm("u", "missing", "elr", false).is_err());
    // Bad letters, unknown user.
    assert!(auth.override_perm("u", "pub", "elrQ", false).is_err());
    assert!(auth.override_perm("nobody", "pub", "elr", false).is_err());
    // A symlink inside the home pointing outside.
    std::os::unix::fs::symlink(outside.path(), tmp.path().join("out")).unwrap();
    assert!(auth.override_perm("u", "out", "elrw", true).is_err());
    assert_eq!(auth.perm_letters("u", b"/out").as_deref(), Some("elr"));
}

#[test]
fn override_for_anonymous_write_perms_accepted() {
    let (tmp, auth) = setup();
    auth.add_anonymous(tmp.path()).unwrap();
    auth.override_perm("anonymous", "incoming", "elrw", false)
        .unwrap();
    assert!(auth.has_perm("anonymous", 'w', b"/incoming/upload.bin"));
    assert!(!auth.has_perm("anonymous", 'w', b"/pub/upload.bin"));
}

#[test]
fn helpers() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(constant_time_eq(b"", b""));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"ab", b"abc"));
    assert!(!constant_time_eq(b"abc\0", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abc\0"));
}

#[test]
fn non_utf8_override_dir() {
    let (tmp, auth) = setup();
    let name = OsStr::from_bytes(b"caf\xe9");
    std::fs::create_dir(tmp.path().join(name)).unwrap();
    auth.override_perm("u", tmp.path().join(name), "elrw", false)
        .unwrap();
    assert!(auth.has_perm("u", 'w', b"/caf\xe9/x"));
    assert!(!auth.has_perm("u", 'w', b"/cafe/x"));
}

#[test]
fn debug_hides_password() {
    let (_tmp, auth) = setup();
    let s = format!("{auth:?}");
    assert!(!s.contains("secret"), "{s}");
}
