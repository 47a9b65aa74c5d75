use super::*;

#[test]
fn parse_all_and_letters() {
    let p = Perms::parse(ALL_PERMS).unwrap();
    assert_eq!(p, Perms::all());
    assert_eq!(p.letters(), ALL_PERMS);
    for c in ALL_PERMS.chars() {
        assert!(p.contains(c));
    }
}

#[test]
fn parse_empty_and_none() {
    let p = Perms::parse("").unwrap();
    assert_eq!(p, Perms::NONE);
    assert_eq!(p, Perms::default());
    assert_eq!(p.letters(), "");
    assert!(!p.has_write());
    for c in ALL_PERMS.chars() {
        assert!(!p.contains(c));
    }
}

#[test]
fn parse_duplicates_and_order() {
    let p = Perms::parse("rrleel").unwrap();
    assert_eq!(p.letters(), "elr");
    let p = Perms::parse("TMwmfdarle").unwrap();
    assert_eq!(p.letters(), ALL_PERMS);
}

#[test]
fn parse_refuses_unknown() {
    assert_eq!(Perms::parse("elx"), Err(PermError('x')));
    assert_eq!(Perms::parse("E"), Err(PermError('E')));
    assert_eq!(Perms::parse("t"), Err(PermError('t')));
    assert_eq!(Perms::parse("el r"), Err(PermError(' ')));
    assert_eq!(Perms::parse("é"), Err(PermError('é')));
    assert_eq!(
        PermError('x').to_string(),
        "no such permission 'x'".to_string()
    );
}

#[test]
fn case_sensitive_letters() {
    let p = Perms::parse("m").unwrap();
    assert!(p.contains('m'));
    assert!(!p.contains('M'));
    let p = Perms::parse("M").unwrap();
    assert!(!p.contains('m'));
    assert!(p.contains('M'));
    assert!(!p.contains('z'));
}

#[test]
fn write_detection() {
    assert!(!Perms::parse(READ_PERMS).unwrap().has_write());
    for c in WRITE_PERMS.chars() {
        assert!(Perms::parse(&c.to_string()).unwrap().has_write(), "{c}");
    }
    assert!(Perms::all().has_write());
    assert_eq!(format!("{READ_PERMS}{WRITE_PERMS}").len(), ALL_PERMS.len());
}
