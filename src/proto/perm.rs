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
