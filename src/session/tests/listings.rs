//! LIST, NLST and MLSD: of a directory, of one entry, of a pattern.

use super::*;

#[test]
fn list_nlst_mlsd() {
    let mut h = Scenario::new()
        .file("one", b"1")
        .dir("dir")
        .logged_in()
        .binary()
        .build();
    let out = String::from_utf8(h.fetch("LIST")).unwrap();
    assert!(
        out.lines()
            .any(|l| l.starts_with('-') && l.ends_with(" one")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" dir")),
        "{out}"
    );
    assert!(out.ends_with("\r\n"));
    let out = String::from_utf8(h.fetch("LIST -la")).unwrap();
    assert_eq!(out.lines().count(), 2);
    let mut names: Vec<String> = String::from_utf8(h.fetch("NLST"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(names, vec!["dir", "one"]);
    let out = String::from_utf8(h.fetch("MLSD")).unwrap();
    assert!(
        out.contains("type=dir;") && out.contains("type=file;") && out.contains(" one\r\n"),
        "{out}"
    );
    let out = String::from_utf8(h.fetch("LIST one")).unwrap();
    assert_eq!(out.lines().count(), 1);
    assert_eq!(h.one("MLSD one"), "501 No such directory.");
    assert_eq!(h.one("LIST nope"), "550 No such file or directory.");
}

/// The lines of a listing, in the order sent.
fn lines_of(bytes: Vec<u8>) -> Vec<String> {
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.is_empty() || text.ends_with("\r\n"), "{text:?}");
    text.lines().map(String::from).collect()
}

/// a.txt b.txt c.bin .hidden.txt in the home, sub/ with x.txt y.txt z.dat.
fn glob_tree(h: &H) {
    for (name, body) in [
        ("b.txt", "bee"),
        ("a.txt", "ay"),
        ("c.bin", "sea"),
        (".hidden.txt", "hidden"),
        ("sub/y.txt", "why"),
        ("sub/x.txt", "ex"),
        ("sub/z.dat", "zed"),
    ] {
        if let Some(dir) = h.path(name).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(h.path(name), body).unwrap();
    }
}

#[test]
fn nlst_pattern_lists_sorted_matches_named_as_retr_arguments() {
    let mut h = Scenario::new().logged_in().binary().build();
    glob_tree(&h);
    assert_eq!(lines_of(h.fetch("NLST *.txt")), ["a.txt", "b.txt"]);
    assert_eq!(
        lines_of(h.fetch("NLST sub/*.txt")),
        ["sub/x.txt", "sub/y.txt"]
    );
    assert_eq!(
        lines_of(h.fetch("NLST /sub/*.txt")),
        ["/sub/x.txt", "/sub/y.txt"]
    );
    assert_eq!(
        lines_of(h.fetch("NLST ./sub//?.*")),
        ["./sub//x.txt", "./sub//y.txt", "./sub//z.dat"]
    );
    assert_eq!(lines_of(h.fetch("NLST [a-b].txt")), ["a.txt", "b.txt"]);
    assert_eq!(lines_of(h.fetch("NLST [!a].*")), ["b.txt", "c.bin"]);
    assert_eq!(
        lines_of(h.fetch("NLST *")),
        ["a.txt", "b.txt", "c.bin", "sub"]
    );
    assert_eq!(
        lines_of(h.fetch("NLST .*")),
        [".hidden.txt"],
        "hidden files need a literal dot"
    );
    assert_eq!(
        lines_of(h.fetch("NLST -l *.bin")),
        ["c.bin"],
        "options are still skipped"
    );
    // every name is a RETR argument relative to the cwd
    for (cwd, pattern) in [
        ("/", "*.txt"),
        ("/", "sub/*.txt"),
        ("/sub", "../*.txt"),
        ("/sub", "/sub/*"),
    ] {
        assert!(h.one(&format!("CWD {cwd}")).starts_with("250"));
        let names = lines_of(h.fetch(&format!("NLST {pattern}")));
        assert!(!names.is_empty(), "{pattern}");
        for name in names {
            let vpath = crate::proto::path::resolve(cwd.as_bytes(), name.as_bytes());
            let on_disk = h.path(std::str::from_utf8(&vpath).unwrap().trim_start_matches('/'));
            let want = std::fs::read(on_disk).unwrap();
            assert_eq!(h.fetch(&format!("RETR {name}")), want, "{cwd} {name}");
        }
    }
}

#[test]
fn list_pattern_gives_ls_lines_of_the_matches() {
    let mut h = Scenario::new().logged_in().binary().build();
    glob_tree(&h);
    let lines = lines_of(h.fetch("LIST sub/*.txt"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with('-') && lines[0].ends_with(" sub/x.txt"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with('-') && lines[1].ends_with(" sub/y.txt"),
        "{lines:?}"
    );
    // a matching directory is listed itself, not entered
    let lines = lines_of(h.fetch("LIST -la s*"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with('d') && lines[0].ends_with(" sub"),
        "{lines:?}"
    );
    let lines = lines_of(h.fetch("LIST /*.bin"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" 3 ") && lines[0].ends_with(" /c.bin"),
        "{lines:?}"
    );
}

#[test]
fn pattern_without_match_or_directory_is_550() {
    let mut h = Scenario::new().logged_in().binary().build();
    glob_tree(&h);
    h.open_data();
    for c in [
        "NLST *.none",
        "LIST *.none",
        "NLST sub/*.bin",
        "NLST nope/*.txt",
        "LIST nope/*",
    ] {
        assert_eq!(h.one(c), "550 No such file or directory.", "{c}");
    }
    assert_eq!(h.one("NLST a.txt/*"), "550 Not a directory.");
    // no transfer was started: the data connection is still there for this one
    let mut t = h.start("NLST *.bin");
    assert_eq!(drain(&mut t), b"c.bin\r\n");
    assert_eq!(codes(&h.done(t, Ok(()))), vec![226]);
    // patterns in directory components are not expanded
    assert_eq!(h.one("NLST */x.txt"), "550 No such file or directory.");
    // STAT and MLSD do not expand patterns
    assert_eq!(h.one("STAT *.txt"), "550 Globbing not supported.");
}

#[test]
fn mlsd_does_not_expand_patterns() {
    let mut h = Scenario::new().logged_in().binary().build();
    glob_tree(&h);
    h.open_data();
    assert_eq!(h.one("MLSD *.txt"), "501 No such directory.");
}

#[test]
fn a_name_that_exists_literally_is_not_a_pattern() {
    let mut h = Scenario::new().logged_in().binary().build();
    for name in ["a*b", "ab", "axb", "sub/[x]", "sub/x"] {
        if let Some(dir) = h.path(name).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(h.path(name), name).unwrap();
    }
    assert_eq!(lines_of(h.fetch("NLST a*b")), ["a*b"]);
    assert_eq!(lines_of(h.fetch("NLST sub/[x]")), ["[x]"]);
    let lines = lines_of(h.fetch("LIST a*b"));
    assert!(lines.len() == 1 && lines[0].ends_with(" a*b"), "{lines:?}");
    // otherwise the same text is a pattern
    std::fs::remove_file(h.path("a*b")).unwrap();
    assert_eq!(lines_of(h.fetch("NLST a*b")), ["ab", "axb"]);
    std::fs::remove_file(h.path("sub/[x]")).unwrap();
    assert_eq!(lines_of(h.fetch("NLST sub/[x]")), ["sub/x"]);
    // an escaped wildcard is no pattern
    assert_eq!(h.one("NLST a\\*b"), "550 No such file or directory.");
}

#[test]
fn patterns_stay_inside_the_root() {
    let mut h = Scenario::new().logged_in().binary().build();
    glob_tree(&h);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "s").unwrap();
    std::os::unix::fs::symlink(outside.path(), h.path("out")).unwrap();
    // `..` stops at the root, as for any path: the names stay valid RETR arguments
    assert_eq!(
        lines_of(h.fetch("NLST ../../*.txt")),
        ["../../a.txt", "../../b.txt"]
    );
    assert_eq!(h.fetch("RETR ../../a.txt"), b"ay");
    // a directory part leading outside through a symlink is refused
    h.open_data();
    let r = h.one("NLST out/*");
    assert!(r.starts_with("550 "), "{r}");
    assert!(!r.contains("secret"), "{r}");
}

#[test]
fn pattern_needs_list_permission_on_its_directory() {
    let mut h = Scenario::new()
        .file("closed/a.txt", "a")
        .authorizer(|auth, _| auth.override_perm("user", "closed", "er", false).unwrap())
        .logged_in()
        .binary()
        .connected()
        .build();
    glob_tree(&h);
    assert_eq!(h.one("NLST closed/*.txt"), "550 Not enough privileges.");
    assert_eq!(h.one("LIST closed/*"), "550 Not enough privileges.");
    assert!(h.one("CWD closed").starts_with("250"));
    assert_eq!(h.one("NLST *"), "550 Not enough privileges.");
    assert!(h.one("CWD /").starts_with("250"));
    let mut t = h.start("NLST *.txt");
    assert_eq!(drain(&mut t), b"a.txt\r\nb.txt\r\n");
}

#[test]
fn pattern_matches_non_utf8_names() {
    use std::os::unix::ffi::OsStrExt;
    let mut h = Scenario::new().logged_in().binary().build();
    let name: &[u8] = b"caf\xe9.txt";
    std::fs::write(
        h.dir.path().join(std::ffi::OsStr::from_bytes(name)),
        "latin1",
    )
    .unwrap();
    std::fs::write(h.path("other.txt"), "o").unwrap();
    h.open_data();
    let a = h.input(Input::Line(b"NLST caf[\xe0-\xef]*"));
    assert_eq!(codes(&a), vec![125], "{a:?}");
    let Some(Action::StartTransfer(mut t)) = a.into_iter().last() else {
        panic!("no transfer");
    };
    assert_eq!(drain(&mut t), [name, b"\r\n"].concat());
}

#[test]
fn too_many_matches_are_refused_without_a_transfer() {
    let mut h = Scenario::new().dir("many").logged_in().binary().build();
    for i in 0..=super::MAX_GLOB_MATCHES {
        std::fs::File::create(h.path(&format!("many/f{i:05}"))).unwrap();
    }
    std::fs::File::create(h.path("many/other")).unwrap();
    h.open_data();
    assert_eq!(
        h.one("NLST many/f*"),
        "550 Too many matches; narrow the pattern."
    );
    assert_eq!(
        h.one("LIST many/*"),
        "550 Too many matches; narrow the pattern."
    );
    // exactly at the bound is fine
    std::fs::remove_file(h.path("many/f00000")).unwrap();
    let mut t = h.start("NLST many/f*");
    let names = lines_of(drain(&mut t));
    assert_eq!(names.len(), super::MAX_GLOB_MATCHES);
    assert_eq!(names.first().map(String::as_str), Some("many/f00001"));
    assert_eq!(names.last().map(String::as_str), Some("many/f10000"));
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted");
}

#[test]
fn ascii_list_source_is_not_converted_twice() {
    // a listing is already CRLF: TYPE A must not turn it into CRCRLF
    let t = Transfer::send(
        TransferCmd::List,
        Source::Lines(Box::new(std::iter::once(b"x\r\n".to_vec()))),
        true,
        false,
        0,
    );
    let mut t = t;
    assert_eq!(drain(&mut t), b"x\r\n");
}

#[test]
fn a_pattern_with_only_escaped_wildcards_lists_the_literal_name() {
    let mut h = Scenario::new().logged_in().binary().build();
    for f in ["?.txt", "a.txt", "a*b.txt", "[x].txt", "x.txt"] {
        std::fs::write(h.path(f), b"x").unwrap();
    }
    assert_eq!(h.fetch("NLST \\?.txt"), b"?.txt\r\n");
    assert_eq!(h.fetch("NLST a\\*b.txt"), b"a*b.txt\r\n");
    assert_eq!(h.fetch("NLST \\[x\\].txt"), b"[x].txt\r\n");
}
