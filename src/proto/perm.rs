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
mod tests {
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
}
