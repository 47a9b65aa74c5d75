//! Commands that need no filesystem: bad lines, TYPE/STRU/MODE, HELP, FEAT,
//! OPTS, STAT without a path.

use super::*;

#[test]
fn bad_lines_get_replies() {
    let mut h = Scenario::new().build();
    assert_eq!(h.one("XYZZY"), "500 Command \"XYZZY\" not understood.");
    assert_eq!(h.one(""), "500 Command \"\" not understood.");
    let t = texts(&h.s.handle(Input::Line(b"NO\x00OP"), h.now));
    assert!(t[0].starts_with("500"), "{t:?}");
    let t = texts(&h.s.handle(Input::Line(b"\xff\xfe\xfd"), h.now));
    assert!(t[0].starts_with("500"), "{t:?}");
    let t = texts(&h.s.handle(Input::Line(b"NOOP\rX"), h.now));
    assert!(t[0].starts_with("500"), "{t:?}");
    assert_eq!(
        texts(&h.input(Input::LineTooLong)),
        vec!["500 Command too long."]
    );
    assert_eq!(
        h.one("USER"),
        "501 Syntax error: command needs an argument."
    );
    assert_eq!(
        h.one("NOOP x"),
        "501 Syntax error: command does not accept arguments."
    );
    // Telnet garbage before ABOR still means ABOR
    h.login();
    assert_eq!(h.one("\u{7f}ABOR"), "225 No transfer to abort.");
}

#[test]
fn type_stru_mode() {
    let mut h = Scenario::new().logged_in().binary().build();
    assert_eq!(h.one("TYPE A"), "200 Type set to: ASCII.");
    assert_eq!(h.one("TYPE L8"), "200 Type set to: Binary.");
    assert_eq!(h.one("TYPE a n"), "200 Type set to: ASCII.");
    assert_eq!(h.one("TYPE X"), "504 Unsupported type \"X\".");
    assert_eq!(h.one("STRU F"), "200 File transfer structure set to: F.");
    assert_eq!(h.one("STRU R"), "504 Unimplemented STRU type.");
    assert_eq!(h.one("STRU Q"), "501 Unrecognized STRU type.");
    assert_eq!(h.one("MODE S"), "200 Transfer mode set to: S");
    assert_eq!(h.one("MODE B"), "504 Unimplemented MODE type.");
    assert_eq!(h.one("MODE Z"), "501 Unrecognized MODE type.");
    assert_eq!(h.one("ALLO 100"), "202 No storage allocation necessary.");
    assert_eq!(h.one("SYST"), "215 UNIX Type: L8");
}

#[test]
fn help_feat_opts_stat() {
    let mut h = Scenario::new().build();
    let feat = h.one("FEAT");
    assert!(feat.starts_with("211-Features supported:\r\n"), "{feat}");
    for f in [
        " EPRT",
        " EPSV",
        " MDTM",
        " MFMT",
        " MLST type*;perm*;size*;modify*;unique*;",
        " REST STREAM",
        " SIZE",
        " TVFS",
        " UTF8",
    ] {
        assert!(feat.contains(f), "{f} missing in {feat}");
    }
    assert!(feat.ends_with("211 End FEAT."));
    assert!(!feat.contains("AUTH"), "no TLS configured: {feat}");
    assert_eq!(
        h.one("HELP RETR"),
        "214 Syntax: RETR <SP> file-name (retrieve a file)."
    );
    assert_eq!(h.one("HELP NOPE"), "501 Unrecognized command.");
    let help = h.one("HELP");
    assert!(help.contains("RETR") && help.ends_with("214 Help command successful."));
    h.login();
    assert!(h.one("SITE HELP").contains("CHMOD"));
    assert_eq!(h.one("SITE HELP NOPE"), "501 Unrecognized SITE command.");
    assert!(h
        .one("SITE HELP chmod")
        .starts_with("214 Syntax: SITE CHMOD"));
    assert_eq!(h.one("OPTS UTF8 ON"), "200 Always in UTF8 mode.");
    assert_eq!(h.one("OPTS MLST type;size;"), "200 MLST OPTS type;size;");
    assert!(h.one("FEAT").contains(" MLST type*;perm;size*;modify;"));
    assert_eq!(h.one("OPTS MLST type"), "501 Invalid argument.");
    assert_eq!(h.one("OPTS FOO"), "501 Unsupported command \"FOO\".");
    let stat = h.one("STAT");
    assert!(
        stat.contains("Logged in as: user")
            && stat.contains("TYPE: Binary")
            && stat.ends_with("211 End of status.")
    );
    std::fs::write(h.path("x"), b"abc").unwrap();
    let stat = h.one("STAT /");
    assert!(
        stat.starts_with("213-Status of \"/\":")
            && stat.contains(" x\r\n")
            && stat.ends_with("213 End of status."),
        "{stat}"
    );
    assert_eq!(h.one("STAT *.txt"), "550 Globbing not supported.");
}
