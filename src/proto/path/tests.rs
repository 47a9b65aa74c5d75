use super::*;

fn r(cwd: &str, arg: &str) -> String {
    String::from_utf8(resolve(cwd.as_bytes(), arg.as_bytes())).unwrap()
}

#[test]
fn resolve_relative_and_absolute() {
    assert_eq!(r("/", "a"), "/a");
    assert_eq!(r("/a", "b"), "/a/b");
    assert_eq!(r("/a", "b/c"), "/a/b/c");
    assert_eq!(r("/a", "/x"), "/x");
    assert_eq!(r("/a/b", "/"), "/");
    assert_eq!(r("/a/b", ""), "/a/b");
    assert_eq!(r("/", ""), "/");
}

#[test]
fn resolve_dots() {
    assert_eq!(r("/a/b", "."), "/a/b");
    assert_eq!(r("/a/b", ".."), "/a");
    assert_eq!(r("/a/b", "../.."), "/");
    assert_eq!(r("/a/b", "../../../../.."), "/");
    assert_eq!(r("/", ".."), "/");
    assert_eq!(r("/", "../../etc/passwd"), "/etc/passwd");
    assert_eq!(r("/a", "/../.."), "/");
    assert_eq!(r("/a", "./b/./c/.."), "/a/b");
    assert_eq!(r("/a", "..."), "/a/...");
    assert_eq!(r("/a", ".hidden"), "/a/.hidden");
    assert_eq!(r("/a", "b/../../../x"), "/x");
}

#[test]
fn resolve_slashes() {
    assert_eq!(r("/a", "b/"), "/a/b");
    assert_eq!(r("/a", "b//c///"), "/a/b/c");
    assert_eq!(r("/a", "//x//y"), "/x/y");
    assert_eq!(r("/a", "///"), "/");
    assert_eq!(r("/a", "/./"), "/");
}

#[test]
fn resolve_tolerates_unnormalised_cwd() {
    assert_eq!(r("//a//b/", "c"), "/a/b/c");
    assert_eq!(r("/a/../..", "c"), "/c");
    assert_eq!(r("", "c"), "/c");
    assert_eq!(r("a/b", "c"), "/a/b/c");
}

#[test]
fn resolve_non_utf8_and_odd_bytes() {
    let got = resolve(b"/d\xff", b"\xfe\x00x/..\\y");
    assert_eq!(got, b"/d\xff/\xfe\x00x/..\\y".to_vec());
    let got = resolve(b"/", b"a\r\nb");
    assert_eq!(got, b"/a\r\nb".to_vec());
    let got = resolve(b"/\xc3", b"..");
    assert_eq!(got, b"/".to_vec());
}

#[test]
fn resolve_never_escapes_root() {
    let args: &[&[u8]] = &[
        b"..",
        b"../..",
        b"/..",
        b"a/../../..",
        b"./../.",
        b"//..//..//",
        b"...//..",
    ];
    for cwd in [&b"/"[..], b"/a", b"/a/b/c"] {
        for arg in args {
            let got = resolve(cwd, arg);
            assert!(got.starts_with(b"/"));
            assert!(!components(&got).any(|c| c == b".." || c == b"."));
            assert!(got == b"/" || !got.ends_with(b"/"));
        }
    }
}

#[test]
fn parent_cases() {
    assert_eq!(parent(b"/"), b"/".to_vec());
    assert_eq!(parent(b"/a"), b"/".to_vec());
    assert_eq!(parent(b"/a/b"), b"/a".to_vec());
    assert_eq!(parent(b"/a/b/"), b"/a".to_vec());
    assert_eq!(parent(b""), b"/".to_vec());
    assert_eq!(parent(b"/a/\xff"), b"/a".to_vec());
}

#[test]
fn file_name_cases() {
    assert_eq!(file_name(b"/"), b"");
    assert_eq!(file_name(b""), b"");
    assert_eq!(file_name(b"/a"), b"a");
    assert_eq!(file_name(b"/a/b"), b"b");
    assert_eq!(file_name(b"/a/b/"), b"b");
    assert_eq!(file_name(b"/a/\xff\xfe"), b"\xff\xfe");
}

#[test]
fn join_cases() {
    assert_eq!(join(b"/", b"a"), b"/a".to_vec());
    assert_eq!(join(b"/a", b"b"), b"/a/b".to_vec());
    assert_eq!(join(b"/a/", b"b"), b"/a/b".to_vec());
    assert_eq!(join(b"/a", b""), b"/a".to_vec());
    assert_eq!(join(b"/a", b"."), b"/a".to_vec());
    assert_eq!(join(b"/a", b".."), b"/".to_vec());
    assert_eq!(join(b"/", b".."), b"/".to_vec());
    assert_eq!(join(b"/a", b"/b"), b"/a/b".to_vec());
    assert_eq!(join(b"/a", b"\xff"), b"/a/\xff".to_vec());
}

#[test]
fn is_within_cases() {
    assert!(is_within(b"/", b"/"));
    assert!(is_within(b"/", b"/a/b"));
    assert!(is_within(b"/a", b"/a"));
    assert!(is_within(b"/a", b"/a/b"));
    assert!(is_within(b"/a/", b"/a/b/"));
    assert!(!is_within(b"/a", b"/ab"));
    assert!(!is_within(b"/a", b"/"));
    assert!(!is_within(b"/a/b", b"/a"));
    assert!(!is_within(b"/a", b"/b/a"));
    assert!(!is_within(b"/a", b"/a/../b"));
    assert!(is_within(b"/\xff", b"/\xff/x"));
    assert!(!is_within(b"/\xff", b"/\xfe/x"));
}

#[test]
fn components_cases() {
    assert_eq!(components(b"/").count(), 0);
    let v: Vec<&[u8]> = components(b"/a//b/").collect();
    assert_eq!(v, vec![&b"a"[..], &b"b"[..]]);
}
