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

fn command(verb: Verb, arg: Option<&[u8]>) -> Result<Command, NotUnderstood> {
    Ok(Command {
        verb,
        arg: arg.map(<[u8]>::to_vec),
    })
}

fn not_understood(verb: &str) -> Result<Command, NotUnderstood> {
    Err(NotUnderstood { verb: verb.into() })
}

#[test]
fn every_row_round_trips_to_its_verb() {
    for (i, spec) in table().iter().enumerate() {
        let v = spec.verb;
        assert_eq!(v as usize, i, "{}", spec.name);
        assert_eq!(v.spec(), spec);
        assert_eq!(v.name(), spec.name);
        assert_eq!(v.to_string(), spec.name);
        assert_eq!(Verb::from_name(spec.name), Some(v));
        assert_eq!(lookup(spec.name).map(|c| c.verb), Some(v));
        // By its name, upper or lower case, with and without an argument.
        let line = spec.name.as_bytes();
        assert_eq!(Command::parse(line), command(v, None), "{}", spec.name);
        assert_eq!(
            Command::parse(&line.to_ascii_lowercase()),
            command(v, None),
            "{}",
            spec.name
        );
        let mut with_arg = line.to_vec();
        with_arg.extend_from_slice(b" a  B");
        if v == Verb::Site {
            // The argument of a bare SITE is its sub-command.
            assert_eq!(Command::parse(&with_arg), not_understood("SITE A"));
        } else {
            assert_eq!(Command::parse(&with_arg), command(v, Some(b"a  B")));
        }
        let parsed = Command::parse(line).unwrap();
        assert_eq!(parsed.spec(), spec);
    }
    assert_eq!(Verb::from_name("retr"), None);
    assert_eq!(Verb::from_name("SITE BOGUS"), None);
}

#[test]
fn aliases_are_verbs_of_their_own() {
    let pairs = [
        (Verb::Cwd, Verb::Xcwd, "XCWD"),
        (Verb::Cdup, Verb::Xcup, "XCUP"),
        (Verb::Mkd, Verb::Xmkd, "XMKD"),
        (Verb::Pwd, Verb::Xpwd, "XPWD"),
        (Verb::Rmd, Verb::Xrmd, "XRMD"),
    ];
    for (plain, alias, name) in pairs {
        assert_ne!(plain, alias);
        assert_eq!(Verb::from_name(name), Some(alias));
        let (p, a) = (plain.spec(), alias.spec());
        assert_eq!((p.perm, p.needs_auth, p.arg), (a.perm, a.needs_auth, a.arg));
    }
    assert_eq!(Command::parse(b"xmkd d"), command(Verb::Xmkd, Some(b"d")));
    assert_eq!(Command::parse(b"XCWD"), command(Verb::Xcwd, None));
}

#[test]
fn site_sub_commands() {
    assert_eq!(
        Command::parse(b"SITE chmod 755 f"),
        command(Verb::SiteChmod, Some(b"755 f"))
    );
    assert_eq!(Command::parse(b"site help"), command(Verb::SiteHelp, None));
    assert_eq!(
        Command::parse(b"Site Help chmod"),
        command(Verb::SiteHelp, Some(b"chmod"))
    );
    assert_eq!(Command::parse(b"SITE"), command(Verb::Site, None));
    assert_eq!(Command::parse(b"SITE "), command(Verb::Site, None));
    assert_eq!(
        Command::parse(b"SITE bogus x"),
        not_understood("SITE BOGUS")
    );
    assert_eq!(Command::parse(b"SITE  x"), not_understood("SITE "));
    assert_eq!(
        Command::parse(b"SITE \xffx y"),
        not_understood("SITE \\xffX")
    );
    assert_eq!(Command::parse(b"SITES chmod"), not_understood("SITES"));
}

#[test]
fn garbage_before_abor_stat_quit() {
    // Bytes that are not printable ASCII (what is left of Telnet IP/Synch).
    assert_eq!(Command::parse(b"\xf2ABOR"), command(Verb::Abor, None));
    assert_eq!(
        Command::parse(b"\xff\xf4\xff\xf2abor"),
        command(Verb::Abor, None)
    );
    assert_eq!(Command::parse(b"\x7fABOR"), command(Verb::Abor, None));
    assert_eq!(
        Command::parse(b"\xf2STAT x y"),
        command(Verb::Stat, Some(b"x y"))
    );
    assert_eq!(Command::parse(b"\x00QUIT"), command(Verb::Quit, None));
    assert_eq!(
        Command::parse(b"\xf2ABOR x"),
        command(Verb::Abor, Some(b"x"))
    );
    // Printable garbage: an unknown verb ending in one of them.
    assert_eq!(Command::parse(b"xxABOR"), command(Verb::Abor, None));
    assert_eq!(Command::parse(b"SITE xquit"), command(Verb::Quit, None));
    // Only ABOR, STAT and QUIT, and only at the end of the verb.
    assert_eq!(Command::parse(b"\xf2NOOP"), not_understood("\\xf2NOOP"));
    assert_eq!(Command::parse(b"xNOOP"), not_understood("XNOOP"));
    assert_eq!(Command::parse(b"\xf2ABORT"), not_understood("\\xf2ABORT"));
    assert_eq!(Command::parse(b"ABORT"), not_understood("ABORT"));
    assert_eq!(Command::parse(b"BOR"), not_understood("BOR"));
    assert_eq!(Command::parse(b"\xf2BOR"), not_understood("\\xf2BOR"));
}

#[test]
fn not_understood_lines() {
    assert_eq!(Command::parse(b""), not_understood(""));
    assert_eq!(Command::parse(b"   "), not_understood(""));
    assert_eq!(Command::parse(b" NOOP"), not_understood(""));
    assert_eq!(Command::parse(b"xyzzy 1"), not_understood("XYZZY"));
    assert_eq!(Command::parse(b"NO\x00OP"), not_understood("NO\\x00OP"));
    assert_eq!(Command::parse(b"NOOP\r"), not_understood("NOOP\\x0d"));
    assert_eq!(
        Command::parse(b"xyzzy").unwrap_err().reply_text(),
        "Command \"XYZZY\" not understood."
    );
    assert_eq!(
        Command::parse(b"").unwrap_err().reply_text(),
        "Command \"\" not understood."
    );
}

#[test]
fn argument_rules_and_login() {
    let p = |l: &[u8]| Command::parse(l).unwrap();
    assert_eq!(
        p(b"RETR").arg_refusal(),
        Some("Syntax error: command needs an argument.")
    );
    assert_eq!(
        p(b"NOOP x").arg_refusal(),
        Some("Syntax error: command does not accept arguments.")
    );
    assert_eq!(p(b"NOOP ").arg_refusal(), None);
    assert_eq!(p(b"LIST").arg_refusal(), None);
    assert_eq!(p(b"LIST x").arg_refusal(), None);
    assert!(p(b"RETR f").needs_login());
    assert!(!p(b"USER u").needs_login());
    assert!(!p(b"STAT").needs_login());
    assert!(p(b"STAT /").needs_login());
    assert!(!p(b"SITE HELP").needs_login());
    assert!(p(b"SITE CHMOD 755 f").needs_login());
}
