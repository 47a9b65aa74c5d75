use super::*;

fn req(verb: &str, arg: Option<&[u8]>) -> Result<Request, ParseError> {
    Ok(Request {
        verb: verb.to_string(),
        arg: arg.map(<[u8]>::to_vec),
    })
}

#[test]
fn parse_simple() {
    assert_eq!(parse(b"NOOP"), req("NOOP", None));
    assert_eq!(parse(b"noop"), req("NOOP", None));
    assert_eq!(parse(b"RetR file.txt"), req("RETR", Some(b"file.txt")));
    assert_eq!(parse(b"USER anonymous"), req("USER", Some(b"anonymous")));
}

#[test]
fn parse_argument_keeps_spaces_and_case() {
    assert_eq!(parse(b"STOR a b  c "), req("STOR", Some(b"a b  c ")));
    assert_eq!(parse(b"CWD  lead"), req("CWD", Some(b" lead")));
    assert_eq!(parse(b"PASS MiXeD"), req("PASS", Some(b"MiXeD")));
    assert_eq!(parse(b"PWD "), req("PWD", None));
    assert_eq!(parse(b"PWD  "), req("PWD", Some(b" ")));
}

#[test]
fn parse_raw_argument_bytes() {
    assert_eq!(
        parse(b"RETR \xff\xfe\0x\r"),
        req("RETR", Some(b"\xff\xfe\0x\r"))
    );
    assert_eq!(parse(b"MKD caf\xc3\xa9"), req("MKD", Some(b"caf\xc3\xa9")));
}

#[test]
fn parse_empty() {
    assert_eq!(parse(b""), Err(ParseError::Empty));
    assert_eq!(parse(b" "), Err(ParseError::Empty));
    assert_eq!(parse(b"    "), Err(ParseError::Empty));
}

#[test]
fn parse_leading_space_gives_empty_verb() {
    assert_eq!(parse(b" NOOP"), req("", Some(b"NOOP")));
    assert_eq!(lookup(""), None);
}

#[test]
fn parse_bad_verb() {
    assert_eq!(
        parse(b"NO\xffOP"),
        Err(ParseError::BadVerb("NO\\xffOP".into()))
    );
    assert_eq!(
        parse(b"\x00\x01ab arg"),
        Err(ParseError::BadVerb("\\x00\\x01AB".into()))
    );
    assert_eq!(
        parse(b"NOOP\t"),
        Err(ParseError::BadVerb("NOOP\\x09".into()))
    );
    assert_eq!(
        parse(b"NOOP\r"),
        Err(ParseError::BadVerb("NOOP\\x0d".into()))
    );
    assert_eq!(
        parse(b"caf\xc3\xa9"),
        Err(ParseError::BadVerb("CAF\\xc3\\xa9".into()))
    );
    assert_eq!(parse(b"\x7f"), Err(ParseError::BadVerb("\\x7f".into())));
}

#[test]
fn parse_site() {
    assert_eq!(
        parse(b"SITE chmod 755 f"),
        req("SITE CHMOD", Some(b"755 f"))
    );
    assert_eq!(parse(b"site help"), req("SITE HELP", None));
    assert_eq!(parse(b"site help chmod"), req("SITE HELP", Some(b"chmod")));
    assert_eq!(parse(b"SITE"), req("SITE", None));
    assert_eq!(parse(b"SITE "), req("SITE", None));
    assert_eq!(parse(b"SITE chmod "), req("SITE CHMOD", None));
    assert_eq!(
        parse(b"SITE chmod 755  a b"),
        req("SITE CHMOD", Some(b"755  a b"))
    );
    assert_eq!(parse(b"SITE  x"), req("SITE ", Some(b"x")));
    assert_eq!(parse(b"SITE bogus"), req("SITE BOGUS", None));
    assert_eq!(
        parse(b"SITE \xffx y"),
        Err(ParseError::BadVerb("SITE \\xffX".into()))
    );
    // Only the verb SITE triggers the convention.
    assert_eq!(parse(b"SITES chmod"), req("SITES", Some(b"chmod")));
}

#[test]
fn lookup_known_and_unknown() {
    let retr = lookup("RETR").unwrap();
    assert_eq!(retr.perm, Some('r'));
    assert!(retr.needs_auth);
    assert_eq!(retr.arg, ArgRule::Required);
    assert_eq!(retr.help, "Syntax: RETR <SP> file-name (retrieve a file).");
    assert_eq!(lookup("retr"), None);
    assert_eq!(lookup("XYZ"), None);
    assert_eq!(lookup("SITE BOGUS"), None);
    assert_eq!(lookup("SITE CHMOD").unwrap().perm, Some('M'));
    assert_eq!(lookup("SITE HELP").unwrap().arg, ArgRule::Optional);
    assert!(!lookup("SITE HELP").unwrap().needs_auth);
    assert_eq!(lookup("SITE").unwrap().arg, ArgRule::Required);
}

#[test]
fn table_contains_required_commands() {
    let required = [
        "USER",
        "PASS",
        "QUIT",
        "REIN",
        "PORT",
        "PASV",
        "TYPE",
        "STRU",
        "MODE",
        "RETR",
        "STOR",
        "STOU",
        "APPE",
        "ALLO",
        "REST",
        "RNFR",
        "RNTO",
        "ABOR",
        "DELE",
        "RMD",
        "MKD",
        "PWD",
        "LIST",
        "NLST",
        "SITE",
        "SYST",
        "STAT",
        "HELP",
        "NOOP",
        "CWD",
        "CDUP",
        "XCUP",
        "XCWD",
        "XMKD",
        "XPWD",
        "XRMD",
        "AUTH",
        "PBSZ",
        "PROT",
        "CCC",
        "FEAT",
        "OPTS",
        "EPRT",
        "EPSV",
        "MDTM",
        "SIZE",
        "MLST",
        "MLSD",
        "MFMT",
        "SITE CHMOD",
        "SITE HELP",
    ];
    for name in required {
        assert!(lookup(name).is_some(), "{name}");
    }
    assert_eq!(table().len(), required.len());
    assert!(lookup("ACCT").is_none());
}

#[test]
fn table_is_sorted_unique_and_consistent() {
    let names: Vec<&str> = table().iter().map(|c| c.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
    for c in table() {
        assert_eq!(c.name, c.name.to_ascii_uppercase());
        assert!(c.help.starts_with("Syntax: "), "{}", c.name);
        assert!(
            c.help.ends_with(").") || c.help.ends_with("."),
            "{}",
            c.name
        );
        if let Some(p) = c.perm {
            assert!(crate::proto::perm::ALL_PERMS.contains(p), "{}", c.name);
            // Every command that touches the filesystem needs a login,
            // except STAT (which only lists with an argument).
            assert!(c.needs_auth || c.name == "STAT", "{}", c.name);
        }
    }
}

#[test]
fn table_rows_match_pyftpdlib() {
    use ArgRule::*;
    let expect = [
        ("ABOR", None, true, Forbidden),
        ("ALLO", None, true, Required),
        ("APPE", Some('a'), true, Required),
        ("CDUP", Some('e'), true, Forbidden),
        ("CWD", Some('e'), true, Optional),
        ("DELE", Some('d'), true, Required),
        ("EPSV", None, true, Optional),
        ("FEAT", None, false, Forbidden),
        ("HELP", None, false, Optional),
        ("LIST", Some('l'), true, Optional),
        ("MDTM", Some('l'), true, Required),
        ("MFMT", Some('T'), true, Required),
        ("MKD", Some('m'), true, Required),
        ("NOOP", None, false, Forbidden),
        ("OPTS", None, false, Required),
        ("PASS", None, false, Optional),
        ("QUIT", None, false, Forbidden),
        ("RNFR", Some('f'), true, Required),
        ("SITE", None, false, Required),
        ("STAT", Some('l'), false, Optional),
        ("STOU", Some('w'), true, Optional),
        ("SYST", None, false, Forbidden),
        ("USER", None, false, Required),
        ("XPWD", None, true, Forbidden),
        ("XRMD", Some('d'), true, Required),
        ("AUTH", None, false, Required),
        ("PBSZ", None, false, Required),
        ("PROT", None, false, Required),
    ];
    for (name, perm, auth, arg) in expect {
        let c = lookup(name).unwrap();
        assert_eq!((c.perm, c.needs_auth, c.arg), (perm, auth, arg), "{name}");
    }
    assert_eq!(
        lookup("EPSV").unwrap().help,
        "Syntax: EPSV [<SP> proto/\"ALL\"] (extended passive mode)."
    );
    assert_eq!(
        lookup("MFMT").unwrap().help,
        "Syntax: MFMT <SP> timeval <SP> path (file update last modification time)."
    );
}

#[test]
fn feat() {
    let mlst = "MLST type*;perm*;size*;modify*;unique;unix.mode;unix.uid;unix.gid;";
    assert_eq!(
        feat_lines(mlst),
        vec![
            " EPRT",
            " EPSV",
            " MDTM",
            " MFMT",
            " MLST type*;perm*;size*;modify*;unique;unix.mode;unix.uid;unix.gid;",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
        ]
    );
    assert_eq!(feat_lines("").len(), 8);
    assert!(!feat_lines("").iter().any(|l| l.starts_with(" MLST")));
}

#[test]
fn feat_with_tls() {
    let lines = feat_lines_with("MLST type*;", &TLS_FEAT_LINES);
    assert_eq!(
        lines,
        vec![
            " AUTH SSL",
            " AUTH TLS",
            " EPRT",
            " EPSV",
            " MDTM",
            " MFMT",
            " MLST type*;",
            " PBSZ",
            " PROT",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
        ]
    );
    // Duplicates collapse.
    assert_eq!(feat_lines_with("", &["SIZE", "TVFS"]).len(), 8);
}

#[test]
fn help_layout() {
    assert_eq!(
        help_lines(),
        vec![
            " ABOR   ALLO   APPE   AUTH   CCC    CDUP   CWD    DELE  ",
            " EPRT   EPSV   FEAT   HELP   LIST   MDTM   MFMT   MKD   ",
            " MLSD   MLST   MODE   NLST   NOOP   OPTS   PASS   PASV  ",
            " PBSZ   PORT   PROT   PWD    QUIT   REIN   REST   RETR  ",
            " RMD    RNFR   RNTO   SITE   SIZE   STAT   STOR   STOU  ",
            " STRU   SYST   TYPE   USER   XCUP   XCWD   XMKD   XPWD  ",
            " XRMD  ",
        ]
    );
}

#[test]
fn site_help_layout() {
    assert_eq!(site_help_lines(), vec![" CHMOD", " HELP"]);
}

#[test]
fn parse_never_panics_on_any_short_input() {
    let alphabet: &[u8] = b" aS\xff\x00\r\n";
    let mut buf = Vec::new();
    for a in alphabet {
        for b in alphabet {
            for c in alphabet {
                buf.clear();
                buf.extend_from_slice(b"SITE");
                buf.extend_from_slice(&[*a, *b, *c]);
                let _ = parse(&buf);
                let _ = parse(&buf[4..]);
            }
        }
    }
}
