//! Virtual path arithmetic. A virtual path is an absolute, normalised byte
//! string (`/`, `/a/b`) as the client sees it; `/` is the user's home.

/// Apply the components of `rel` to the component stack `stack`:
/// empty components and `.` vanish, `..` pops (never below the root).
fn apply<'a>(stack: &mut Vec<&'a [u8]>, rel: &'a [u8]) {
    for c in rel.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                stack.pop();
            }
            _ => stack.push(c),
        }
    }
}

/// Build `/a/b` from a component stack (`/` when empty).
fn build(stack: &[&[u8]]) -> Vec<u8> {
    if stack.is_empty() {
        return b"/".to_vec();
    }
    let len = stack.iter().map(|c| c.len() + 1).sum();
    let mut out = Vec::with_capacity(len);
    for c in stack {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

/// Normalise any byte string as an absolute virtual path.
fn normalize(p: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    apply(&mut stack, p);
    build(&stack)
}

/// Resolve a client argument against the current directory: absolute
/// arguments replace `cwd`, `.` and empty components vanish, `..` pops one
/// component and never goes above `/`. The result is normalised (no trailing
/// slash except for `/` itself).
pub fn resolve(cwd: &[u8], arg: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    if !arg.starts_with(b"/") {
        apply(&mut stack, cwd);
    }
    apply(&mut stack, arg);
    build(&stack)
}

/// The parent of a normalised virtual path (`/` for `/` itself).
pub fn parent(p: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    apply(&mut stack, p);
    stack.pop();
    build(&stack)
}

/// The last component of a normalised virtual path (empty for `/`).
pub fn file_name(p: &[u8]) -> &[u8] {
    components(p).last().unwrap_or(b"")
}

/// Join a normalised directory and one name component.
///
/// The name is applied like a relative path (so `.`/`..`/`/` inside it can
/// never lead above `/`); a plain name simply gets appended.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    apply(&mut stack, dir);
    apply(&mut stack, name);
    build(&stack)
}

/// Whether `p` is `base` or lies below it (component-wise, so `/ab` is not below `/a`).
pub fn is_within(base: &[u8], p: &[u8]) -> bool {
    let base = normalize(base);
    let p = normalize(p);
    let base: Vec<&[u8]> = components(&base).collect();
    let p: Vec<&[u8]> = components(&p).collect();
    p.starts_with(&base)
}

/// The components of a normalised path (none for `/`).
pub fn components(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
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
}
