use super::*;
use crate::proto::perm::Perms;
use tempfile::TempDir;

const PASSWORD: &str = "s3cret pass";

/// Hashes of [`PASSWORD`] made by other tools (as in `hash/tests.rs`).
const FAMILIES: &[(&str, &str)] = &[
    (
        "argon2id",
        "$argon2id$v=19$m=19456,t=2,p=1$1JPUNM4h839aYqhlgwr1ZA$vZ1cGB8qmY6Xc8Sawfqb9tnbXno61o+LLfvUoCtlJbo",
    ),
    (
        "argon2i",
        "$argon2i$v=19$m=4096,t=2,p=1$Uy+ftWS4TNdX3mZrhLJDeg$X6nA5VmoacnPoTa69ckAHmTobTG19GSefDs3aALt1nM",
    ),
    (
        "bcrypt",
        "$2b$12$7yrbzE4qBfObfldmgueHLeinNv/WRV4YnHpQqQjQepBaRA2EOefI2",
    ),
    (
        "sha512crypt",
        "$6$oQNn147N8A19n6f.$ZkseCKwreV86WXtu0639b7N05jsXeukBYfgJ8XkWKm1GBkdAu6yW1bqb5apSGjtIRkIQhdI1HKWV/ccJ358Ho/",
    ),
    (
        "sha256crypt",
        "$5$i.WadRRYhsrdKYCN$/013fYPcBzPxNWYLhCr5DhRPopwhkZHuRApj8X75kNA",
    ),
    (
        "yescrypt",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$9D5RovS/HuknGI0.ktF/JBj1lhaH1xkbCFp3CJ3OVL/",
    ),
    ("md5", "md5:5211da5c87b0c916f11bbeb561492eef"),
];

const MD5: &str = "md5:5211da5c87b0c916f11bbeb561492eef";

/// A directory with `home/`, `home/ro/deep`, `pub/` and the users file `users.toml` holding `text`.
fn setup(text: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir_all(tmp.path().join("home/ro/deep")).unwrap();
    std::fs::create_dir_all(tmp.path().join("pub")).unwrap();
    std::fs::write(tmp.path().join("home/file"), b"x").unwrap();
    let path = tmp.path().join("users.toml");
    std::fs::write(&path, text).unwrap();
    (tmp, path)
}

fn load_err(text: &str) -> UsersFileError {
    let (_tmp, path) = setup(text);
    let e = UsersFile::load(&path).unwrap_err();
    assert_eq!(e.path(), path);
    let shown = e.to_string();
    assert!(shown.starts_with(&path.display().to_string()), "{shown}");
    assert!(!shown.contains('\n'), "one line: {shown:?}");
    e
}

#[test]
fn every_key_of_the_format_lands_in_the_account() {
    let text = format!(
        r#"# the issue's example
[[user]]
name = "alice"
password = "{MD5}"
home = "home"
perm = "elradfmwMT"
msg_login = "Welcome, alice."
msg_quit = "Bye."
max_sessions = 2
read_limit = 1000
write_limit = 2000
allow_from = ["127.0.0.0/8", "::1/128", "192.0.2.7"]
tls_required = true
disabled = false

[[user.override]]
path = "ro"
perm = "elr"
recursive = true

[anonymous]
home = "pub"
perm = "elr"
msg_login = "Hello, stranger."
msg_quit = "So long."
"#
    );
    let (tmp, path) = setup(&text);
    let users = UsersFile::load(&path).unwrap();
    assert_eq!(users.usernames(), ["alice"]);
    assert!(users.has_anonymous());
    let a = users.authenticate("alice", PASSWORD).unwrap();
    let home = std::fs::canonicalize(tmp.path().join("home")).unwrap();
    assert_eq!(a.username, "alice");
    assert_eq!(a.home, home);
    assert_eq!(a.root, home);
    assert_eq!(a.msg_login, "Welcome, alice.");
    assert_eq!(a.msg_quit, "Bye.");
    assert_eq!(a.identity, None);
    assert_eq!(a.perms.base(), Perms::all());
    let at = |p: &[u8]| a.perms.at(p).resolve(|| true).letters();
    assert_eq!(at(b"/ro"), "elr");
    assert_eq!(at(b"/ro/deep"), "elr", "recursive");
    assert_eq!(at(b"/file"), "elradfmwMT");
    assert_eq!(a.limits.max_sessions, 2);
    assert_eq!(a.limits.read_limit, 1000);
    assert_eq!(a.limits.write_limit, 2000);
    assert!(a.limits.tls_required);
    let nets: Vec<String> = a.limits.allow_from.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["127.0.0.0/8", "::1/128", "192.0.2.7/32"]);

    let anon = users.authenticate("anonymous", "any@thing").unwrap();
    assert_eq!(
        anon.home,
        std::fs::canonicalize(tmp.path().join("pub")).unwrap()
    );
    assert_eq!(anon.perms.base().letters(), "elr");
    assert_eq!(anon.msg_login, "Hello, stranger.");
    assert_eq!(anon.msg_quit, "So long.");
    assert_eq!(anon.limits, AccountLimits::default());
    assert_eq!(
        users.authenticate("anonymous", "").unwrap().username,
        "anonymous"
    );
}

#[test]
fn optional_keys_take_pyftpdlibs_defaults() {
    let (tmp, path) = setup(&format!(
        "[[user]]\nname = \"bob\"\npassword = \"{MD5}\"\nhome = \"home\"\n\n[[user.override]]\npath = \"ro\"\nperm = \"\"\n"
    ));
    let users = UsersFile::load(&path).unwrap();
    let a = users.authenticate("bob", PASSWORD).unwrap();
    assert_eq!(a.perms.base().letters(), "elr");
    assert_eq!(a.msg_login, "Login successful.");
    assert_eq!(a.msg_quit, "Goodbye.");
    assert_eq!(a.limits, AccountLimits::default());
    // not recursive: the directory and the files in it, not the directories below
    assert_eq!(a.perms.at(b"/ro").resolve(|| true).letters(), "");
    assert_eq!(a.perms.at(b"/ro/f").resolve(|| false).letters(), "");
    assert_eq!(a.perms.at(b"/ro/deep").resolve(|| true).letters(), "elr");
    drop(tmp);
}

#[test]
fn each_hash_family_logs_in_and_a_wrong_password_does_not() {
    let mut text = String::new();
    for (family, stored) in FAMILIES {
        text.push_str(&format!(
            "[[user]]\nname = \"{family}\"\npassword = \"{stored}\"\nhome = \"home\"\n\n"
        ));
    }
    let (_tmp, path) = setup(&text);
    let users = UsersFile::load(&path).unwrap();
    for (family, _) in FAMILIES {
        assert!(users.authenticate(family, PASSWORD).is_ok(), "{family}");
        assert_eq!(
            users.authenticate(family, "s3cret pasS"),
            Err(AuthError::Failed),
            "{family}"
        );
        assert_eq!(
            users.authenticate(family, ""),
            Err(AuthError::Failed),
            "{family}"
        );
    }
    assert_eq!(
        users.authenticate("nobody", PASSWORD),
        Err(AuthError::Failed)
    );
    // no [anonymous]: no anonymous login
    assert_eq!(users.authenticate("anonymous", "x"), Err(AuthError::Failed));
}

#[test]
fn a_disabled_user_is_refused_with_the_right_password() {
    let (_tmp, path) = setup(&format!(
        "[[user]]\nname = \"off\"\npassword = \"{MD5}\"\nhome = \"home\"\ndisabled = true\n"
    ));
    let users = UsersFile::load(&path).unwrap();
    assert_eq!(users.authenticate("off", PASSWORD), Err(AuthError::Failed));
    assert_eq!(users.authenticate("off", "wrong"), Err(AuthError::Failed));
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let e = load_err(&format!(
        "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\ncolour = \"blue\"\n"
    ));
    assert_eq!(e.line(), Some(5), "{e}");
    assert!(e.message().contains("colour"), "{e}");
    let e = load_err("[server]\nport = 21\n");
    assert_eq!(e.line(), Some(1), "{e}");
    assert!(e.message().contains("server"), "{e}");
    let e = load_err(&format!(
        "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\n[[user.override]]\npath = \"ro\"\nperm = \"elr\"\nrecurse = true\n"
    ));
    assert_eq!(e.line(), Some(8), "{e}");
    let e = load_err("[anonymous]\nhome = \"pub\"\npassword = \"x\"\n");
    assert_eq!(e.line(), Some(3), "{e}");
}

#[test]
fn unusable_values_are_refused_with_their_line() {
    let user = |extra: &str| {
        format!("# users\n[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\n{extra}\n")
    };
    // (file, line, text the message must hold)
    let cases: Vec<(String, usize, &str)> = vec![
        (
            "[[user]]\nname = \"a\"\npassword = \"plaintext\"\nhome = \"home\"\n".into(),
            3,
            "hash",
        ),
        (
            "[[user]]\nname = \"a\"\npassword = \"md5:123\"\nhome = \"home\"\n".into(),
            3,
            "md5",
        ),
        (user("perm = \"elrz\""), 6, "'z'"),
        (
            format!("[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"nope\"\n"),
            4,
            "nope",
        ),
        (
            format!("[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home/file\"\n"),
            4,
            "file",
        ),
        (user("allow_from = [\"10.0.0.0/8\",\n  \"10.0.0.0/33\"]"), 7, "10.0.0.0/33"),
        (user("max_sessions = -1"), 6, "max_sessions"),
        (user("tls_required = \"yes\""), 6, "tls_required"),
        (user("\n[[user.override]]\npath = \"nope\"\nperm = \"elr\""), 8, "nope"),
        (user("\n[[user.override]]\npath = \".\"\nperm = \"elr\""), 8, "home directory"),
        (user("\n[[user.override]]\npath = \"/\"\nperm = \"elr\""), 8, "escapes"),
        (user("\n[[user.override]]\npath = \"ro\"\nperm = \"x\""), 9, "'x'"),
        (user("\n[[user]]\nname = \"a\"\npassword = \"md5:00000000000000000000000000000000\""), 8, "twice"),
        (user("\n[[user]]\nname = \"anonymous\"\npassword = \"md5:00000000000000000000000000000000\""), 8, "[anonymous]"),
        (user("\n[[user]]\nname = \"\"\npassword = \"md5:00000000000000000000000000000000\""), 8, "name"),
        (user("\n[[user]]\npassword = \"md5:00000000000000000000000000000000\""), 7, "name"),
        (user("[anonymous]\nhome = \"nope\""), 7, "nope"),
        (user("[anonymous]\nhome = \"pub\"\nperm = \"elrq\""), 8, "'q'"),
        ("[[user]]\nname = \"a\"\npassword = \"x\n".into(), 3, ""),
        ("user = 5\n".into(), 1, ""),
    ];
    for (text, line, says) in cases {
        let e = load_err(&text);
        assert_eq!(e.line(), Some(line), "{text}\n=> {e}");
        assert!(e.message().contains(says), "{text}\n=> {e}");
        assert!(e.to_string().contains(&format!(":{line}: ")), "{e}");
    }
}

#[test]
fn a_file_that_cannot_be_read_is_an_error_without_a_line() {
    let tmp = TempDir::new().unwrap();
    let e = UsersFile::load(tmp.path().join("missing.toml")).unwrap_err();
    assert_eq!(e.line(), None);
    assert!(e.to_string().contains("missing.toml"), "{e}");
    let path = tmp.path().join("bin.toml");
    std::fs::write(&path, b"# ok\n\xff\xfe\n").unwrap();
    let e = UsersFile::load(&path).unwrap_err();
    assert_eq!(e.line(), Some(2), "{e}");
}

#[test]
fn a_missing_home_is_the_default_home_or_an_error() {
    let text = format!("[[user]]\nname = \"a\"\npassword = \"{MD5}\"\n\n[anonymous]\n");
    let (tmp, path) = setup(&text);
    let e = UsersFile::load(&path).unwrap_err();
    assert_eq!(e.line(), Some(2), "{e}");
    assert!(e.message().contains("no home"), "{e}");
    let users = UsersFile::load_with_default_home(&path, tmp.path().join("pub")).unwrap();
    let pubdir = std::fs::canonicalize(tmp.path().join("pub")).unwrap();
    assert_eq!(users.authenticate("a", PASSWORD).unwrap().home, pubdir);
    assert_eq!(users.authenticate("anonymous", "").unwrap().home, pubdir);
    let e = UsersFile::load_with_default_home(&path, tmp.path().join("nope")).unwrap_err();
    assert!(e.message().contains("default home"), "{e}");
}

#[test]
fn reload_replaces_the_table_and_a_broken_file_keeps_the_old_one() {
    let (_tmp, path) = setup(&format!(
        "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\n"
    ));
    let users = UsersFile::load(&path).unwrap();
    let kept = users.authenticate("a", PASSWORD).unwrap();
    let new = hash::hash_password(b"new one").unwrap();
    std::fs::write(
        &path,
        format!("[[user]]\nname = \"a\"\npassword = \"{new}\"\nhome = \"home\"\nperm = \"elrw\"\n\n[[user]]\nname = \"b\"\npassword = \"{MD5}\"\nhome = \"home\"\n"),
    )
    .unwrap();
    Authorizer::reload(&users).unwrap();
    assert_eq!(users.authenticate("a", PASSWORD), Err(AuthError::Failed));
    assert_eq!(
        users
            .authenticate("a", "new one")
            .unwrap()
            .perms
            .base()
            .letters(),
        "elrw"
    );
    assert!(users.authenticate("b", PASSWORD).is_ok());
    assert_eq!(users.usernames(), ["a", "b"]);
    // what was handed out before stays as it was
    assert_eq!(kept.perms.base().letters(), "elr");

    std::fs::write(&path, "[[user]]\nname = \"a\"\noops\n").unwrap();
    let e = Authorizer::reload(&users).unwrap_err();
    match e {
        AuthError::Internal(text) => assert!(text.contains("users.toml:3: "), "{text}"),
        other => panic!("{other:?}"),
    }
    assert!(users.authenticate("a", "new one").is_ok(), "old table kept");
    assert!(users.authenticate("b", PASSWORD).is_ok(), "old table kept");
    std::fs::remove_file(&path).unwrap();
    assert!(users.reload().is_err());
    assert!(users.authenticate("b", PASSWORD).is_ok(), "old table kept");
}

#[test]
fn an_unknown_user_costs_a_hash_check_of_the_file() {
    // with bcrypt cost 12 (~0.2 s) in the file, a missing name takes as long
    // as a wrong password, not the few milliseconds of a cheaper hash
    let (_tmp, path) = setup(
        "[[user]]\nname = \"b\"\npassword = \"$2b$12$7yrbzE4qBfObfldmgueHLeinNv/WRV4YnHpQqQjQepBaRA2EOefI2\"\nhome = \"home\"\n",
    );
    let users = UsersFile::load(&path).unwrap();
    // the fastest of a few tries: a stall of the machine only lengthens one
    let time = |name: &str| {
        (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                assert_eq!(users.authenticate(name, "wrong"), Err(AuthError::Failed));
                t.elapsed()
            })
            .min()
            .unwrap()
    };
    let wrong = time("b");
    let missing = time("nobody");
    // the default argon2id of `verify_nobody` alone is about 10 times faster
    assert!(
        missing * 3 > wrong,
        "wrong password {wrong:?}, unknown user {missing:?}"
    );
}

#[test]
fn debug_output_holds_no_hash() {
    let (_tmp, path) = setup(&format!(
        "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\n"
    ));
    let users = UsersFile::load(&path).unwrap();
    let s = format!("{users:?}");
    assert!(s.contains("\"a\""), "{s}");
    assert!(!s.contains("5211da5c"), "{s}");
}

#[test]
fn the_decoy_hash_is_of_the_most_common_method() {
    let argon = hash::hash_password(b"x").unwrap();
    let (_tmp, path) = setup(&format!(
        "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\n\
         [[user]]\nname = \"b\"\npassword = \"{argon}\"\nhome = \"home\"\n\
         [[user]]\nname = \"c\"\npassword = \"{argon}\"\nhome = \"home\"\n\
         [[user]]\nname = \"d\"\npassword = \"$6$abcdefgh$x\"\nhome = \"home\"\n"
    ));
    let users = UsersFile::load(&path).unwrap();
    assert_eq!(users.current().decoy.as_deref(), Some(argon.as_str()));
    let (_tmp, path) = setup("");
    let users = UsersFile::load(&path).unwrap();
    assert_eq!(users.current().decoy, None);
    assert_eq!(users.authenticate("x", "y"), Err(AuthError::Failed));
}

/// A FIFO or a device put where the users file was is refused, not read:
/// the forking models' parent reloads in the loop that accepts
/// connections, and a FIFO blocked it in `open(2)` for good (no new
/// connection was accepted), `/dev/zero` would fill the memory.
#[cfg(unix)]
#[test]
fn a_users_file_that_is_no_regular_file_is_refused_at_once() {
    let (tmp, path) = setup(&format!(
        "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\n"
    ));
    let users = Arc::new(UsersFile::load(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let zero = tmp.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let u = Arc::clone(&users);
    std::thread::spawn(move || {
        let fifo = u.reload();
        let _ = tx.send((fifo, UsersFile::load(&zero).map(|_| ())));
    });
    let (fifo, zero) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("reading a FIFO in place of the users file blocked");
    assert!(fifo.unwrap_err().message().contains("not a regular file"));
    assert!(zero.unwrap_err().message().contains("not a regular file"));
    assert!(users.authenticate("a", PASSWORD).is_ok(), "old table kept");
}

/// A users file beyond the size limit is refused without reading it all.
#[test]
fn a_huge_users_file_is_refused() {
    let (_tmp, path) = setup("");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    let e = UsersFile::load(&path).unwrap_err();
    assert!(e.message().contains("larger than"), "{e}");
}

/// A reload that finds the file empty keeps the accounts in force: the
/// file is being rewritten in place (`cat new > users.toml` truncates it
/// first), and taking it refused every login until the next SIGHUP. At
/// start an empty file is still a valid one (no accounts).
#[test]
fn a_reload_of_an_emptied_file_keeps_the_accounts() {
    let (_tmp, path) = setup(&format!(
        "[[user]]\nname = \"a\"\npassword = \"{MD5}\"\nhome = \"home\"\n"
    ));
    let users = UsersFile::load(&path).unwrap();
    for empty in ["", "\n", " \r\n\t\n"] {
        std::fs::write(&path, empty).unwrap();
        let e = users.reload().unwrap_err();
        assert!(e.message().contains("empty"), "{e}");
        assert!(users.authenticate("a", PASSWORD).is_ok(), "old table kept");
    }
    assert!(UsersFile::load(&path).unwrap().usernames().is_empty());
}
