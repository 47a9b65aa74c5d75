use super::*;

fn m(pattern: &str, name: &str) -> bool {
    Pattern::new(pattern.as_bytes()).matches(name.as_bytes())
}

#[test]
fn literals() {
    assert!(m("a.txt", "a.txt"));
    assert!(!m("a.txt", "a.tx"));
    assert!(!m("a.txt", "a.txtx"));
    assert!(!m("a.txt", "A.txt"), "case-sensitive");
    assert!(m("", ""));
    assert!(!m("", "a"));
    assert!(!m("a", ""));
}

#[test]
fn star() {
    assert!(m("*", "anything"));
    assert!(m("*", "x"));
    assert!(m("*.txt", "a.txt"));
    assert!(!m("*.txt", ".txt.txt"), "leading dot");
    assert!(m("*.txt", "a.b.txt"));
    assert!(!m("*.txt", "a.txt.gz"));
    assert!(m("a*", "a"));
    assert!(m("a*b", "ab"));
    assert!(m("a*b", "axxxb"));
    assert!(!m("a*b", "axxxbc"));
    assert!(m("a*b*c", "abbbc"));
    assert!(m("a*b*c", "aXbYbZc"));
    assert!(!m("a*b*c", "acb"));
    assert!(m("**", "abc"));
    assert!(m("a**b", "ab"));
    assert!(m("*", ""), "a star matches the empty name");
    assert!(m("*a", "aaa"));
    assert!(m("*aab", "aaaab"), "backtrack inside a run");
    assert!(!m("*aab", "aaaa"));
}

#[test]
fn question_mark() {
    assert!(m("?", "a"));
    assert!(!m("?", ""));
    assert!(!m("?", "ab"));
    assert!(m("a?c", "abc"));
    assert!(m("??.txt", "ab.txt"));
    assert!(!m("??.txt", "a.txt"));
    assert!(m("*?", "a"));
    assert!(!m("*??", "a"));
}

#[test]
fn sets_and_ranges() {
    assert!(m("[abc]", "b"));
    assert!(!m("[abc]", "d"));
    assert!(!m("[abc]", "ab"));
    assert!(m("[a-c]x", "bx"));
    assert!(!m("[a-c]x", "dx"));
    assert!(m("file[0-9][0-9].txt", "file42.txt"));
    assert!(!m("file[0-9][0-9].txt", "file4a.txt"));
    assert!(m("[a-cx-z]", "y"));
    assert!(!m("[a-cx-z]", "m"));
    // a reversed range matches nothing
    assert!(!m("[z-a]", "m"));
    assert!(!m("[z-a]", "a"));
    // `-` first or last is a member
    assert!(m("[-a]", "-"));
    assert!(m("[a-]", "-"));
    assert!(m("[a-]", "a"));
    assert!(!m("[a-]", "b"));
    // a full byte range
    assert!(m("[\x01-\u{7f}]", "~"));
}

#[test]
fn negated_sets() {
    assert!(m("[!abc]", "d"));
    assert!(!m("[!abc]", "a"));
    assert!(m("[^abc]", "d"));
    assert!(!m("[^abc]", "c"));
    assert!(m("[!a-y]", "z"));
    assert!(!m("[!a-y]", "m"));
    assert!(!m("[!a]", ""), "a set needs one byte");
    assert!(m("*[!~]", "file"));
    assert!(!m("*[!~]", "file~"));
}

#[test]
fn bracket_first_in_a_set_is_literal() {
    assert!(m("[]]", "]"));
    assert!(!m("[]]", "a"));
    assert!(m("[]a]", "a"));
    assert!(m("[]a]", "]"));
    assert!(m("[!]]", "a"));
    assert!(!m("[!]]", "]"));
    assert!(m("[^]a]x", "bx"));
    assert!(!m("[^]a]x", "]x"));
    // `]-a`: a range from `]` (0x5d) to `a` (0x61): `^` (0x5e) is in it
    assert!(m("[]-a]", "^"));
}

#[test]
fn unterminated_set_is_literal() {
    assert!(m("[", "["));
    assert!(m("a[b", "a[b"));
    assert!(!m("a[b", "ab"));
    assert!(m("[abc", "[abc"));
    assert!(m("[!abc", "[!abc"));
    assert!(m("*[", "x["));
    assert!(
        m("[]", "[]"),
        "`]` first is a member, so nothing closes the set"
    );
    assert!(m("[*", "[xyz"), "the star after a literal `[` still works");
    assert!(m("[a\\", "[a\\"));
    assert!(m("[a-", "[a-"));
}

#[test]
fn escapes() {
    assert!(m("\\*", "*"));
    assert!(!m("\\*", "a"));
    assert!(m("a\\?c", "a?c"));
    assert!(!m("a\\?c", "abc"));
    assert!(m("\\[x]", "[x]"));
    assert!(!m("\\[x]", "x"));
    assert!(m("\\a", "a"));
    assert!(m("a\\", "a\\"), "a trailing backslash matches itself");
    assert!(m("\\\\", "\\"));
    // inside a set
    assert!(m("[\\]]", "]"));
    assert!(m("[a\\-z]", "-"));
    assert!(!m("[a\\-z]", "m"), "an escaped `-` is no range");
    assert!(m("[\\!a]", "!"));
}

#[test]
fn leading_dot_needs_a_literal_dot() {
    assert!(!m("*", ".hidden"));
    assert!(!m("?hidden", ".hidden"));
    assert!(!m("[.]hidden", ".hidden"));
    assert!(!m("[!a]hidden", ".hidden"));
    assert!(m(".*", ".hidden"));
    assert!(m(".h*", ".hidden"));
    assert!(m("\\.*", ".hidden"), "an escaped dot is a literal dot");
    assert!(m(".*", "."));
    // only the leading dot is special
    assert!(m("a*", "a.b"));
    assert!(m("a?b", "a.b"));
    assert!(m("*.txt", "a.txt"));
}

#[test]
fn non_utf8_bytes() {
    let name: &[u8] = b"caf\xe9.txt"; // Latin-1, invalid UTF-8
    assert!(Pattern::new(b"*.txt").matches(name));
    assert!(Pattern::new(b"caf?.txt").matches(name));
    assert!(Pattern::new(b"caf\xe9*").matches(name));
    assert!(Pattern::new(b"caf[\xe0-\xef].txt").matches(name));
    assert!(!Pattern::new(b"caf[!\xe9].txt").matches(name));
    assert!(Pattern::new(b"\xff*").matches(b"\xff\xfe"));
    assert!(Pattern::new(b"[\xff]").matches(b"\xff"));
    assert!(!Pattern::new(b"[\xfe]").matches(b"\xff"));
    // byte-oriented: `?` is one byte, so a two-byte UTF-8 character needs two
    assert!(!m("caf?.txt", "café.txt"));
    assert!(m("caf??.txt", "café.txt"));
    assert!(m("caf*.txt", "café.txt"));
}

#[test]
fn pathological_patterns_stay_polynomial() {
    let long = "a".repeat(10_000);
    for pattern in [
        "*a*a*a*a*a*a*b",
        "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
    ] {
        let p = Pattern::new(pattern.as_bytes());
        let (matched, steps) = p.run(long.as_bytes());
        assert!(!matched);
        let bound = (pattern.len() + 1) * (long.len() + 1);
        assert!(steps <= bound, "{pattern}: {steps} steps > {bound}");
    }
    // sets and `?` between the stars do not break the bound
    let p = Pattern::new(b"*[a]*?*[!b]*[a-a]*b");
    let (matched, steps) = p.run(long.as_bytes());
    assert!(!matched);
    assert!(steps <= 20 * 10_001, "{steps}");
    // and a match at the very end is still found
    let name = format!("{long}b");
    assert!(Pattern::new(b"*a*a*a*a*a*a*b").matches(name.as_bytes()));
    assert!(Pattern::new(b"*[a]*?*[!b]*[a-a]*b").matches(name.as_bytes()));
}

#[test]
fn escapes_and_wildcards_make_a_pattern() {
    assert!(has_wildcards(b"*.txt"));
    assert!(has_wildcards(b"a?"));
    assert!(has_wildcards(b"[ab]"));
    assert!(has_wildcards(b"a[b"), "an unterminated `[` counts");
    assert!(has_wildcards(b"\\**"));
    // escaped only: still a pattern, for the literal name
    assert!(has_wildcards(b"a\\*b"));
    assert!(has_wildcards(b"\\[x]"));
    assert!(has_wildcards(b"\\?"));
    assert!(has_wildcards(b"trailing\\"));
    assert!(!has_wildcards(b"a.txt"));
    assert!(!has_wildcards(b""));
    assert!(!has_wildcards(b"a]b"));
    let p = Pattern::new(b"\\?.txt");
    assert!(p.matches(b"?.txt") && !p.matches(b"a.txt"));
}

#[test]
fn split_pattern_keeps_the_directory_as_written() {
    let s = |a: &str| {
        split_pattern(a.as_bytes()).map(|(d, p)| {
            (
                String::from_utf8(d.to_vec()).unwrap(),
                String::from_utf8(p.to_vec()).unwrap(),
            )
        })
    };
    let pair = |d: &str, p: &str| Some((d.to_string(), p.to_string()));
    assert_eq!(s("*.txt"), pair("", "*.txt"));
    assert_eq!(s("sub/*.txt"), pair("sub/", "*.txt"));
    assert_eq!(s("/pub/*.txt"), pair("/pub/", "*.txt"));
    assert_eq!(s("/*"), pair("/", "*"));
    assert_eq!(s("a//b/?"), pair("a//b/", "?"));
    assert_eq!(s("../x[0-9]"), pair("../", "x[0-9]"));
    // the directory part is never a pattern
    assert_eq!(s("*/a.txt"), None);
    assert_eq!(s("sub/"), None);
    assert_eq!(s("*/"), None);
    assert_eq!(s("plain"), None);
    assert_eq!(
        s("a\\*b"),
        pair("", "a\\*b"),
        "escaped only: the literal name"
    );
    assert_eq!(s(""), None);
}

/// libc's fnmatch(3) with FNM_PERIOD, the reference the shells and FTP
/// servers use; the test process runs in the C locale, so it compares bytes.
fn libc_fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    crate::sys::fnmatch_period(pattern, name)
}

#[test]
fn agrees_with_libc_fnmatch() {
    // xorshift64*: deterministic, no crate needed
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    };
    let pat_alphabet = b"ab.*?[]!^-\\";
    let name_alphabet = b"ab.-]![^\\*";
    let (mut checked, mut matched) = (0, 0);
    for _ in 0..200_000 {
        let pattern: Vec<u8> = (0..next(9))
            .map(|_| pat_alphabet[next(pat_alphabet.len())])
            .collect();
        let name: Vec<u8> = (0..next(7))
            .map(|_| name_alphabet[next(name_alphabet.len())])
            .collect();
        // Left out: a trailing backslash, an error for glibc (we match it
        // literally); `[.`, which opens a POSIX collating symbol (`[[.a.]]`)
        // inside a set for glibc (we support no collating symbols,
        // equivalence classes or character classes); and a `[` with a `-` at
        // the very end, where glibc (and bash) take `[*-` as an unfinished
        // range that matches nothing, not as the literal `[` that an
        // unterminated set is everywhere else.
        let trailing_backslashes = pattern.iter().rev().take_while(|&&b| b == b'\\').count();
        if trailing_backslashes % 2 == 1
            || pattern.windows(2).any(|w| w == b"[.")
            || (pattern.contains(&b'[') && pattern.last() == Some(&b'-'))
        {
            continue;
        }
        checked += 1;
        let ours = Pattern::new(&pattern).matches(&name);
        matched += usize::from(ours);
        assert_eq!(
            ours,
            libc_fnmatch(&pattern, &name),
            "pattern {:?} name {:?}",
            String::from_utf8_lossy(&pattern),
            String::from_utf8_lossy(&name)
        );
    }
    assert!(checked > 100_000, "{checked}");
    assert!(matched > 5_000, "too few matches to compare: {matched}");
}
