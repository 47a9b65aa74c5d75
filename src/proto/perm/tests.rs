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

#[test]
fn path_helpers() {
    assert_eq!(parent_of(b"/"), None);
    assert_eq!(parent_of(b"/a"), Some(&b"/"[..]));
    assert_eq!(parent_of(b"/a/b"), Some(&b"/a"[..]));
    assert!(is_subpath(b"/a/b", b"/a"));
    assert!(is_subpath(b"/a", b"/a"));
    assert!(!is_subpath(b"/ab", b"/a"));
    assert!(is_subpath(b"/x", b"/"));
    assert_eq!(trim_trailing_slashes(b"/a//"), b"/a");
    assert_eq!(trim_trailing_slashes(b"/"), b"/");
}

fn ov(dir: &str, perms: &str, recursive: bool) -> DirOverride {
    DirOverride {
        dir: dir.as_bytes().to_vec(),
        perms: Perms::parse(perms).unwrap(),
        recursive,
    }
}

fn p(s: &str) -> Perms {
    Perms::parse(s).unwrap()
}

#[test]
fn table_without_overrides_is_uniform() {
    let t = PermTable::uniform(p("elr"));
    assert_eq!(t.at(b"/"), PermsAt::Known(p("elr")));
    assert_eq!(t.at(b"/a/b/c"), PermsAt::Known(p("elr")));
    assert_eq!(t.base(), p("elr"));
}

#[test]
fn recursive_override_covers_its_tree_only() {
    let t = PermTable::with_overrides(p("elr"), vec![ov("/pub/", "elrw", true)]);
    assert_eq!(t.at(b"/pub"), PermsAt::Known(p("elrw")));
    assert_eq!(t.at(b"/pub/a/b"), PermsAt::Known(p("elrw")));
    assert_eq!(t.at(b"/public"), PermsAt::Known(p("elr")));
    assert_eq!(t.at(b"/"), PermsAt::Known(p("elr")));
}

#[test]
fn non_recursive_override_depends_on_the_kind_of_its_entries() {
    let t = PermTable::with_overrides(p("elr"), vec![ov("/in", "elrw", false)]);
    assert_eq!(t.at(b"/in"), PermsAt::Known(p("elrw")));
    let at = t.at(b"/in/file");
    assert_eq!(
        at,
        PermsAt::DependsOnKind {
            dir: p("elr"),
            other: p("elrw")
        }
    );
    assert_eq!(at.resolve(|| false), p("elrw"));
    assert_eq!(at.resolve(|| true), p("elr"));
    // two levels down: not covered
    assert_eq!(t.at(b"/in/sub/file"), PermsAt::Known(p("elr")));
    // a Known answer never asks
    assert_eq!(t.at(b"/in").resolve(|| unreachable!()), p("elrw"));
}

#[test]
fn deepest_override_wins() {
    let t = PermTable::with_overrides(
        p("elr"),
        vec![
            ov("/pub", "el", true),
            ov("/pub/sub", "elradfmwMT", true),
            ov("/pub/sub/deep", "e", false),
        ],
    );
    assert_eq!(t.at(b"/pub/x"), PermsAt::Known(p("el")));
    assert_eq!(t.at(b"/pub/sub/x"), PermsAt::Known(p("elradfmwMT")));
    assert_eq!(t.at(b"/pub/sub/deep"), PermsAt::Known(p("e")));
    assert_eq!(
        t.at(b"/pub/sub/deep/f"),
        PermsAt::DependsOnKind {
            dir: p("elradfmwMT"),
            other: p("e")
        }
    );
}

#[test]
fn case_folding_for_windows_names() {
    assert_eq!(fold(b"/ReadOnly/SUB"), b"/readonly/sub".to_vec());
    assert_eq!(
        fold("/ÉTÉ/Ärger".as_bytes()),
        "/été/ärger".as_bytes().to_vec()
    );
    // a character whose lower case is two characters is kept (NTFS maps one to one)
    assert_eq!(fold("/İ".as_bytes()), "/İ".as_bytes().to_vec());
    // bytes that are not UTF-8: ASCII letters only
    assert_eq!(fold(b"/A\xffB"), b"/a\xffb".to_vec());
}

#[test]
fn overrides_ignore_case_where_names_do() {
    let t = PermTable::with_overrides(
        p("elradfmwMT"),
        vec![ov("/ReadOnly", "elr", true), ov("/Pub", "el", false)],
    );
    // Windows (lookup with folding): any spelling of the directory is covered
    for path in [
        &b"/readonly/x"[..],
        b"/READONLY/x",
        b"/ReadOnly",
        b"/rEaDoNlY/a/b",
    ] {
        assert_eq!(t.lookup(path, true), PermsAt::Known(p("elr")), "{path:?}");
    }
    assert_eq!(
        t.lookup(b"/PUB/f", true),
        PermsAt::DependsOnKind {
            dir: p("elradfmwMT"),
            other: p("el")
        }
    );
    // Unix: case matters, /readonly is another directory
    assert_eq!(
        t.lookup(b"/readonly/x", false),
        PermsAt::Known(p("elradfmwMT"))
    );
    assert_eq!(t.lookup(b"/ReadOnly/x", false), PermsAt::Known(p("elr")));
    assert_eq!(t.at(b"/ReadOnly/x"), PermsAt::Known(p("elr")));
    assert_eq!(
        t.at(b"/readonly/x"),
        PermsAt::Known(if cfg!(windows) {
            p("elr")
        } else {
            p("elradfmwMT")
        })
    );
}
