//! Shell wildcard patterns for NLST and LIST arguments (`NLST *.txt`).
//!
//! Pure and byte-oriented: a pattern and a name are raw bytes (names may be
//! invalid UTF-8), nothing here touches a filesystem. The syntax is the
//! shell's, POSIX `fnmatch(3)` with `FNM_PERIOD` (proftpd expands NLST
//! arguments with `glob(3)`, which matches the same way), without the
//! `[[:class:]]`, `[[.x.]]` and `[[=x=]]` forms:
//!
//! - `*` matches any run of bytes, `?` exactly one byte (so one byte of a
//!   multi-byte UTF-8 character, not the whole character);
//! - `[...]` matches one byte of the set: single bytes and ranges `a-z`
//!   (bytes compared by value; a reversed range like `z-a` matches nothing),
//!   negated by a leading `!` or `^`; a `]` first in the set (after the
//!   negation, if any) is a member, as is a `-` first or last; a `[` without
//!   its closing `]` is a literal `[`;
//! - `\` makes the next byte literal, inside a set too; a trailing `\`
//!   matches itself;
//! - a name starting with `.` is matched only when the pattern starts with a
//!   literal `.` (so `*` and `?*` leave hidden files out, like the shell).
//!
//! Matching is case-sensitive and runs in O(len(pattern) × len(name)) steps
//! at worst: a set is a 256-bit table tested in one step, and `*` uses the
//! two-pointer backtrack that only ever returns to the most recent star, so
//! a pattern like `*a*a*a*a*b` cannot make it exponential.

/// A set of bytes, one bit per byte value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    fn invert(&mut self) {
        for w in &mut self.0 {
            *w = !*w;
        }
    }
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// This byte.
    Byte(u8),
    /// `?`: any one byte.
    Any,
    /// `*`: any run of bytes, empty too.
    Star,
    /// `[...]`: one byte of the set (negation already applied).
    Set(ByteSet),
}

impl Token {
    /// Whether this single-byte token matches `b` (never called for `Star`).
    fn matches(&self, b: u8) -> bool {
        match self {
            Token::Byte(c) => *c == b,
            Token::Any => true,
            Token::Set(s) => s.contains(b),
            Token::Star => false,
        }
    }
}

/// A compiled wildcard pattern for one path component (see the module docs
/// for the syntax). Compiling never fails: what is not valid wildcard syntax
/// (an unterminated `[`, a trailing `\`) matches literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compile `pattern`.
    pub(crate) fn new(pattern: &[u8]) -> Pattern {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut i = 0;
        while let Some(&c) = pattern.get(i) {
            i += 1;
            let token = match c {
                b'\\' => match pattern.get(i) {
                    Some(&next) => {
                        i += 1;
                        Token::Byte(next)
                    }
                    None => Token::Byte(b'\\'),
                },
                b'*' => {
                    // `**` is `*`: one star is enough for the backtrack
                    if tokens.last() == Some(&Token::Star) {
                        continue;
                    }
                    Token::Star
                }
                b'?' => Token::Any,
                b'[' => match parse_set(pattern.get(i..).unwrap_or_default()) {
                    Some((set, used)) => {
                        i += used;
                        Token::Set(set)
                    }
                    None => Token::Byte(b'['),
                },
                other => Token::Byte(other),
            };
            tokens.push(token);
        }
        Pattern { tokens }
    }

    /// Whether `name` (one path component, as a directory listing gives it)
    /// matches the pattern as a whole.
    pub(crate) fn matches(&self, name: &[u8]) -> bool {
        self.run(name).0
    }

    /// The match, and how many steps it took (one step = one token tried
    /// against one byte, or one return to the last star).
    fn run(&self, name: &[u8]) -> (bool, usize) {
        let toks = &self.tokens;
        // A leading dot is matched only by a literal dot (FNM_PERIOD).
        if name.first() == Some(&b'.') && toks.first() != Some(&Token::Byte(b'.')) {
            return (false, 0);
        }
        let (mut p, mut n) = (0, 0);
        // After the last star seen: the token after it, and the name position
        // that star's run currently ends at.
        let mut star: Option<(usize, usize)> = None;
        let mut steps = 0;
        while let Some(&b) = name.get(n) {
            steps += 1;
            match toks.get(p) {
                Some(Token::Star) => {
                    star = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                Some(t) if t.matches(b) => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            // Mismatch: let the last star swallow one more byte and retry.
            // Earlier stars never need to be revisited: every other token
            // matches exactly one byte, so what an earlier star could take
            // the last star can take too.
            match star {
                Some((after, end)) => {
                    star = Some((after, end + 1));
                    p = after;
                    n = end + 1;
                }
                None => return (false, steps),
            }
        }
        // The name is used up; only stars may be left in the pattern.
        let rest_is_stars = toks
            .get(p..)
            .unwrap_or_default()
            .iter()
            .all(|t| *t == Token::Star);
        (rest_is_stars, steps)
    }
}

/// Parse a set after its opening `[`: returns it (negation applied) and how
/// many bytes it took, the closing `]` included; `None` when unterminated.
fn parse_set(rest: &[u8]) -> Option<(ByteSet, usize)> {
    let mut set = ByteSet([0; 4]);
    let mut j = 0;
    let negate = matches!(rest.first(), Some(b'!' | b'^'));
    if negate {
        j += 1;
    }
    let start = j;
    // One member byte at `at`, `\` escaping: (the byte, bytes used).
    let member = |at: usize| -> Option<(u8, usize)> {
        match *rest.get(at)? {
            b'\\' => Some((*rest.get(at + 1)?, 2)),
            c => Some((c, 1)),
        }
    };
    loop {
        if rest.get(j) == Some(&b']') && j > start {
            j += 1;
            break;
        }
        let (lo, used) = member(j)?;
        j += used;
        // `a-z`, but not `a-]` (there the `-` is a member and `]` closes)
        let is_range = rest.get(j) == Some(&b'-') && rest.get(j + 1).is_some_and(|&c| c != b']');
        if is_range {
            let (hi, used) = member(j + 1)?;
            j += 1 + used;
            for b in lo..=hi {
                set.insert(b);
            }
        } else {
            set.insert(lo);
        }
    }
    if negate {
        set.invert();
    }
    Some((set, j))
}

/// Whether one path component is meant as a pattern: it has a `*`, `?`,
/// `[` or a `\` escape. A pattern whose wildcards are all escaped
/// (`\?.txt`) is still a pattern: it matches the literal name `?.txt`, as
/// in a shell, while the argument as written (backslash included) names no
/// file.
pub(crate) fn has_wildcards(component: &[u8]) -> bool {
    component
        .iter()
        .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
}

/// Split an NLST/LIST argument whose last component is a pattern into the
/// directory part as the client wrote it (up to and including the last `/`,
/// empty when there is none) and the pattern. `None` when the last
/// component has no wildcard (directory components are never patterns) or
/// is empty (`sub/`).
///
/// `sub/*.txt` gives `("sub/", "*.txt")`, `/pub/*.txt` gives `("/pub/", "*.txt")`,
/// `*.txt` gives `("", "*.txt")`.
pub(crate) fn split_pattern(arg: &[u8]) -> Option<(&[u8], &[u8])> {
    let cut = arg.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let (dir, last) = arg.split_at(cut);
    (!last.is_empty() && has_wildcards(last)).then_some((dir, last))
}

#[cfg(test)]
mod tests;
