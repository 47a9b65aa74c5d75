//! Commands on files and directories: CWD, MKD, RMD, DELE, RNFR/RNTO, SIZE,
//! MDTM, MFMT, SITE CHMOD, MLST, STAT of a path, and their permissions.

use super::*;

#[test]
fn directories() {
    let mut h = Scenario::new().logged_in().binary().build();
    assert_eq!(h.one("PWD"), "257 \"/\" is the current directory.");
    assert_eq!(h.one("MKD sub"), "257 \"/sub\" directory created.");
    assert!(h.path("sub").is_dir());
    assert_eq!(h.one("XMKD sub"), "550 File exists.");
    assert_eq!(h.one("CWD sub"), "250 \"/sub\" is the current directory.");
    assert_eq!(h.one("XPWD"), "257 \"/sub\" is the current directory.");
    assert_eq!(h.one("CDUP"), "250 \"/\" is the current directory.");
    assert_eq!(h.one("CDUP"), "250 \"/\" is the current directory.");
    assert_eq!(h.one("CWD ../../.."), "250 \"/\" is the current directory.");
    assert_eq!(h.one("CWD nope"), "550 No such file or directory.");
    std::fs::write(h.path("f"), b"x").unwrap();
    assert_eq!(h.one("CWD f"), "550 Not a directory.");
    assert_eq!(h.one("MKD a\"b"), "257 \"/a\"\"b\" directory created.");
    assert_eq!(h.one("RMD sub"), "250 Directory removed.");
    assert!(!h.path("sub").exists());
    assert_eq!(h.one("RMD /"), "550 Can't remove root directory.");
    assert_eq!(h.one("XRMD nope"), "550 No such file or directory.");
    assert_eq!(h.one("CWD"), "250 \"/\" is the current directory.");
}

#[test]
fn files_dele_rename_size_mdtm_mfmt_chmod() {
    let mut h = Scenario::new()
        .file("a.txt", b"hello")
        .logged_in()
        .binary()
        .build();
    assert_eq!(h.one("SIZE a.txt"), "213 5");
    assert_eq!(h.one("SIZE nope"), "550 /nope is not retrievable.");
    h.one("TYPE A");
    assert_eq!(h.one("SIZE a.txt"), "550 SIZE not allowed in ASCII mode.");
    h.one("TYPE I");
    assert_eq!(
        h.one("MFMT 20200102030405 a.txt"),
        "213 Modify=20200102030405; /a.txt."
    );
    assert_eq!(h.one("MDTM a.txt"), "213 20200102030405");
    assert_eq!(h.one("MDTM nope"), "550 /nope is not retrievable");
    assert_eq!(
        h.one("MFMT 2020 a.txt"),
        "501 Invalid time format; expected: YYYYMMDDHHMMSS."
    );
    assert_eq!(
        h.one("MFMT 20201302030405 a.txt"),
        "501 Invalid time format; expected: YYYYMMDDHHMMSS."
    );
    assert_eq!(
        h.one("MFMT 20200102030405"),
        "501 Syntax error: command needs two arguments."
    );
    assert_eq!(h.one("SITE CHMOD 600 a.txt"), "200 SITE CHMOD successful.");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(h.path("a.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        h.one("SITE CHMOD 999 a.txt"),
        "501 Invalid SITE CHMOD format."
    );
    assert_eq!(
        h.one("SITE CHMOD 600"),
        "501 Syntax error: command needs two arguments."
    );
    assert_eq!(
        h.one("RNTO b.txt"),
        "503 Bad sequence of commands: use RNFR first."
    );
    assert_eq!(h.one("RNFR nope"), "550 No such file or directory.");
    assert_eq!(h.one("RNFR /"), "550 Can't rename home directory.");
    assert_eq!(h.one("RNFR a.txt"), "350 Ready for destination name.");
    assert_eq!(h.one("RNTO b.txt"), "250 Renaming ok.");
    assert!(h.path("b.txt").exists() && !h.path("a.txt").exists());
    assert_eq!(h.one("DELE b.txt"), "250 File removed.");
    assert_eq!(h.one("DELE b.txt"), "550 No such file or directory.");
}

#[test]
fn permissions_are_checked_per_command() {
    let mut h = Scenario::new().file("f", b"x").user("reader").build();
    for c in [
        "DELE f",
        "MKD d",
        "RMD d",
        "RNFR f",
        "STOR g",
        "APPE f",
        "SITE CHMOD 644 f",
        "MFMT 20200101000000 f",
    ] {
        assert_eq!(h.one(c), "550 Not enough privileges.", "{c}");
    }
    assert_eq!(h.one("STOU"), "550 Not enough privileges.");
    assert!(h.path("f").exists());
}

#[test]
fn mlst() {
    let mut h = Scenario::new()
        .file("m", b"12345")
        .logged_in()
        .binary()
        .build();
    let r = h.one("MLST m");
    assert!(r.starts_with("250-Listing \"/m\":\r\n "), "{r}");
    assert!(
        r.contains("size=5;") && r.contains("type=file;") && r.contains(" /m\r\n250 End MLST."),
        "{r}"
    );
    assert_eq!(h.one("MLST nope"), "550 No such file or directory.");
}

#[test]
fn rnto_must_immediately_follow_a_successful_rnfr() {
    let mut h = Scenario::new()
        .file("keep.txt", b"k")
        .logged_in()
        .binary()
        .build();
    // a failed RNFR leaves nothing behind, not even an older RNFR
    assert!(h.one("RNFR keep.txt").starts_with("350"));
    assert!(h.one("RNFR missing.txt").starts_with("550"));
    assert_eq!(
        h.one("RNTO new.txt"),
        "503 Bad sequence of commands: use RNFR first."
    );
    assert!(h.path("keep.txt").exists() && !h.path("new.txt").exists());
    // any command in between drops it
    for between in ["NOOP", "PWD", "TYPE I", "BOGUS", "SIZE keep.txt"] {
        assert!(h.one("RNFR keep.txt").starts_with("350"));
        h.one(between);
        assert!(h.one("RNTO new.txt").starts_with("503"), "{between}");
        assert!(!h.path("new.txt").exists(), "{between}");
    }
    assert!(h.one("RNFR keep.txt").starts_with("350"));
    assert_eq!(h.one("RNTO new.txt"), "250 Renaming ok.");
    assert!(h.path("new.txt").exists() && !h.path("keep.txt").exists());
    assert!(h.one("RNTO again.txt").starts_with("503"), "consumed");
}

#[test]
fn machine_readable_times_are_utc_even_with_local_listings() {
    let mut h = Scenario::new()
        .file("f", b"x")
        .config(|c| c.use_gmt_times = false)
        .logged_in()
        .binary()
        .build();
    assert_eq!(
        h.one("MFMT 20200102030405 f"),
        "213 Modify=20200102030405; /f."
    );
    assert_eq!(h.one("MDTM f"), "213 20200102030405");
    let mlst = texts(&h.line("MLST f")).join("\n");
    assert!(mlst.contains("modify=20200102030405;"), "{mlst}");
    let mlsd = String::from_utf8(h.fetch("MLSD")).unwrap();
    assert!(mlsd.contains("modify=20200102030405;"), "{mlsd}");
}
