//! Permission letters, as pyftpdlib defines them:
//!
//! Read: `e` change directory (CWD, CDUP), `l` list (LIST, NLST, STAT, MLSD, MLST, SIZE, MDTM),
//! `r` retrieve (RETR).
//! Write: `a` append (APPE), `d` delete (DELE, RMD), `f` rename (RNFR, RNTO),
//! `m` make directory (MKD), `w` store (STOR, STOU), `M` change mode (SITE CHMOD),
//! `T` change modification time (MFMT).

/// All valid letters, in pyftpdlib's order.
pub const ALL_PERMS: &str = "elradfmwMT";
/// The read-only letters.
pub const READ_PERMS: &str = "elr";
/// The letters that allow changing the filesystem.
pub const WRITE_PERMS: &str = "adfmwMT";

/// A set of permission letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Perms(u16);

/// An invalid permission string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermError(pub char);

impl std::fmt::Display for PermError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no such permission {:?}", self.0)
    }
}

impl std::error::Error for PermError {}

impl Perms {
    /// The empty set.
    pub const NONE: Perms = Perms(0);

    /// The bit for one letter, `None` if it is not a permission letter.
    fn bit(letter: char) -> Option<u16> {
        ALL_PERMS
            .chars()
            .position(|c| c == letter)
            .map(|i| 1u16 << i)
    }

    /// Parse letters such as `"elradfmwMT"`; duplicates allowed, unknown letters refused.
    pub fn parse(s: &str) -> Result<Perms, PermError> {
        let mut bits = 0u16;
        for c in s.chars() {
            bits |= Self::bit(c).ok_or(PermError(c))?;
        }
        Ok(Perms(bits))
    }

    /// Every letter.
    pub fn all() -> Perms {
        Perms((1u16 << ALL_PERMS.len()) - 1)
    }

    /// Whether the set holds `letter`.
    pub fn contains(self, letter: char) -> bool {
        Self::bit(letter).is_some_and(|b| self.0 & b != 0)
    }

    /// Whether any write letter (`adfmwMT`) is in the set.
    pub fn has_write(self) -> bool {
        WRITE_PERMS.chars().any(|c| self.contains(c))
    }

    /// The letters, in canonical order (`"elradfmwMT"` order).
    pub fn letters(self) -> String {
        ALL_PERMS.chars().filter(|&c| self.contains(c)).collect()
    }
}

#[cfg(test)]
mod tests;

/// One per-directory override of a [`PermTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirOverride {
    /// The directory, a virtual path (`/sub/dir`), normalised, without a trailing slash.
    pub dir: Vec<u8>,
    /// The letters in force there.
    pub perms: Perms,
    /// Whether the override also covers everything below the directory.
    pub recursive: bool,
}

/// What [`PermTable::at`] can tell without looking at the filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermsAt {
    /// These letters apply.
    Known(Perms),
    /// A non-recursive override of the parent directory applies only when
    /// the path is not a directory itself: the letters depend on that.
    DependsOnKind {
        /// The letters when the path is a directory.
        dir: Perms,
        /// The letters otherwise.
        other: Perms,
    },
}

impl PermsAt {
    /// The letters, given whether the path is a directory (asked only when
    /// the answer depends on it).
    pub fn resolve(self, is_dir: impl FnOnce() -> bool) -> Perms {
        match self {
            PermsAt::Known(p) => p,
            PermsAt::DependsOnKind { dir, other } => {
                if is_dir() {
                    dir
                } else {
                    other
                }
            }
        }
    }
}

/// A user's permissions: the letters of the account plus per-directory
/// overrides. This is the one place that decides what a user may do where;
/// authorizers describe the table (in [`crate::auth::Account`]), the
/// session applies it.
///
/// pyftpdlib's rules (`DummyAuthorizer.has_perm` / `override_perm`): a
/// recursive override applies to its directory and everything below it; a
/// non-recursive one to its directory and to the entries directly inside it
/// that are not directories. Among the overrides that apply, the deepest
/// one wins; where none applies, the account's letters do.
///
/// On Windows, whose file names do not differ by case, paths are matched
/// without regard to case (`/ReadOnly/x` is under an override of
/// `/readonly`), as pyftpdlib matches them there (`os.path.normcase`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermTable {
    base: Perms,
    overrides: Vec<DirOverride>,
}

impl PermTable {
    /// The same letters everywhere.
    pub fn uniform(base: Perms) -> Self {
        PermTable {
            base,
            overrides: Vec::new(),
        }
    }

    /// `base` letters with per-directory `overrides` (virtual paths).
    pub fn with_overrides(base: Perms, overrides: Vec<DirOverride>) -> Self {
        let overrides = overrides
            .into_iter()
            .map(|mut o| {
                let keep = trim_trailing_slashes(&o.dir).len();
                o.dir.truncate(keep);
                if o.dir.is_empty() {
                    o.dir = b"/".to_vec();
                }
                o
            })
            .collect();
        PermTable { base, overrides }
    }

    /// The account's letters (where no override applies).
    pub fn base(&self) -> Perms {
        self.base
    }

    /// The letters in force at virtual path `path` (absolute, normalised).
    pub fn at(&self, path: &[u8]) -> PermsAt {
        self.lookup(path, cfg!(windows))
    }

    /// [`PermTable::at`], comparing paths without regard to case when `fold_case`.
    fn lookup(&self, path: &[u8], fold_case: bool) -> PermsAt {
        let folded;
        let path = if fold_case {
            folded = fold(path);
            &folded[..]
        } else {
            path
        };
        let path = trim_trailing_slashes(path);
        let parent = parent_of(path);
        // the deepest override for the path itself (or recursive above it),
        // and the deepest non-recursive one of its parent directory, with
        // the length of the directory as compared (its depth)
        let mut whole: Option<(&DirOverride, usize)> = None;
        let mut unless_dir: Option<(&DirOverride, usize)> = None;
        for o in &self.overrides {
            let folded_dir;
            let dir = if fold_case {
                folded_dir = fold(&o.dir);
                &folded_dir[..]
            } else {
                &o.dir[..]
            };
            if !is_subpath(path, dir) {
                continue;
            }
            if o.recursive || path == dir {
                if whole.map_or(true, |(_, len)| dir.len() > len) {
                    whole = Some((o, dir.len()));
                }
            } else if parent == Some(dir) && unless_dir.map_or(true, |(_, len)| dir.len() > len) {
                unless_dir = Some((o, dir.len()));
            }
        }
        let fallback = whole.map_or(self.base, |(o, _)| o.perms);
        match unless_dir {
            // the parent's override is deeper than any other candidate
            Some((u, depth)) if whole.map_or(true, |(_, len)| depth > len) => {
                PermsAt::DependsOnKind {
                    dir: fallback,
                    other: u.perms,
                }
            }
            _ => PermsAt::Known(fallback),
        }
    }
}

/// `path` in lower case, for comparisons that ignore case: each character
/// of UTF-8 text mapped alone (as NTFS compares names, one UTF-16 unit at a
/// time), ASCII letters only in bytes that are not UTF-8.
fn fold(path: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(path) {
        Ok(text) => text
            .chars()
            .map(|c| {
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) => l,
                    _ => c,
                }
            })
            .collect::<String>()
            .into_bytes(),
        Err(_) => path.to_ascii_lowercase(),
    }
}

fn trim_trailing_slashes(mut path: &[u8]) -> &[u8] {
    while path.len() > 1 && path.ends_with(b"/") {
        path = &path[..path.len() - 1];
    }
    path
}

fn parent_of(path: &[u8]) -> Option<&[u8]> {
    if path == b"/" {
        return None;
    }
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => Some(b"/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// Whether `a` is `b` or below it.
fn is_subpath(a: &[u8], b: &[u8]) -> bool {
    if b == b"/" {
        return true;
    }
    a == b || (a.len() > b.len() && a.starts_with(b) && a[b.len()] == b'/')
}
