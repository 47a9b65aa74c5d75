//! What the table-based authorizers ([`super::MemoryAuthorizer`],
//! [`super::UsersFile`]) keep for each account, and the checks they share:
//! pyftpdlib's `DummyAuthorizer` rules for homes, permission letters and
//! `override_perm`.

use crate::sys::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::{Account, AccountLimits, DEFAULT_MSG_LOGIN, DEFAULT_MSG_QUIT};
use crate::proto::perm::{DirOverride, PermTable, Perms};

/// The name of the user that accepts any password (pyftpdlib's anonymous user).
pub(super) const ANONYMOUS: &str = "anonymous";

/// One account of a table: everything but the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The home directory, canonical (an existing directory when added).
    pub(super) home: PathBuf,
    /// The letters where no override applies.
    pub(super) perm: Perms,
    /// Per-directory overrides, at most one per directory (virtual paths).
    overrides: Vec<DirOverride>,
    /// Text of the 230 reply.
    pub(super) msg_login: String,
    /// Text of the 221 reply.
    pub(super) msg_quit: String,
    /// The account's own limits.
    pub(super) limits: AccountLimits,
}

impl Entry {
    /// An account at home in `home` (which must be a directory) with the
    /// letters `perm` and pyftpdlib's default messages.
    ///
    /// # Errors
    /// The text of what is wrong: `home` is not a directory, or `perm` holds
    /// a letter outside `elradfmwMT`.
    pub(super) fn new(username: &str, home: &Path, perm: &str) -> Result<Entry, String> {
        let home = canonical_dir(home)?;
        let perm = parse_perm(username, perm)?;
        Ok(Entry {
            home,
            perm,
            overrides: Vec::new(),
            msg_login: DEFAULT_MSG_LOGIN.into(),
            msg_quit: DEFAULT_MSG_QUIT.into(),
            limits: AccountLimits::default(),
        })
    }

    /// Give the letters `perms` in the directory at virtual path `dir` (from
    /// [`override_dir`]), and below it when `recursive`; replaces an earlier
    /// override of the same directory.
    pub(super) fn set_override(&mut self, dir: Vec<u8>, perms: Perms, recursive: bool) {
        self.overrides.retain(|o| o.dir != dir);
        self.overrides.push(DirOverride {
            dir,
            perms,
            recursive,
        });
    }

    /// The permission table the session applies.
    pub(super) fn perm_table(&self) -> PermTable {
        PermTable::with_overrides(self.perm, self.overrides.clone())
    }

    /// The account a login as `username` opens.
    pub(super) fn account(&self, username: &str) -> Account {
        Account::new(username, self.home.clone(), self.perm_table())
            .with_messages(&self.msg_login, &self.msg_quit)
            .with_limits(self.limits.clone())
    }
}

/// The letters of `perm`; warns when the anonymous user gets write
/// permissions (as pyftpdlib does).
///
/// # Errors
/// `no such permission 'x'` for a letter outside `elradfmwMT`.
pub(super) fn parse_perm(username: &str, perm: &str) -> Result<Perms, String> {
    let perms = Perms::parse(perm).map_err(|e| e.to_string())?;
    if username == ANONYMOUS && perms.has_write() {
        log::warn!("write permissions assigned to anonymous user.");
    }
    Ok(perms)
}

/// The virtual path (`/a/b`, relative to `home`) of the directory an
/// override names: `directory` is absolute or relative to `home`, and must
/// be an existing directory strictly below `home` (pyftpdlib's
/// `override_perm`). `home` must be canonical.
///
/// # Errors
/// The text of what is wrong: no such directory, the home itself, or a
/// directory outside the home.
pub(super) fn override_dir(home: &Path, directory: &Path) -> Result<Vec<u8>, String> {
    let joined = if directory.is_absolute() {
        directory.to_path_buf()
    } else {
        home.join(directory)
    };
    let dir = canonical_dir(&joined)?;
    if dir == home {
        return Err("can't override home directory permissions".into());
    }
    let rel = dir
        .strip_prefix(home)
        .map_err(|_| "path escapes user home directory".to_string())?;
    virtual_path(rel)
}

/// The canonical form of an existing directory.
///
/// # Errors
/// `no such directory: "..."` naming `dir`.
pub(super) fn canonical_dir(dir: &Path) -> Result<PathBuf, String> {
    let not_dir = || format!("no such directory: {:?}", dir);
    let canon = std::fs::canonicalize(dir).map_err(|_| not_dir())?;
    match std::fs::metadata(&canon) {
        Ok(m) if m.is_dir() => Ok(canon),
        _ => Err(not_dir()),
    }
}

/// `/a/b` from the relative path `a/b`.
fn virtual_path(rel: &Path) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => {
                out.push(b'/');
                out.extend_from_slice(name.as_bytes());
            }
            Component::CurDir => {}
            _ => return Err("path escapes user home directory".into()),
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
