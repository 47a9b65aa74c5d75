//! In-memory users (pyftpdlib's `DummyAuthorizer`).

use crate::sys::OsStrExt;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::sync::RwLock;

use super::entry::{self, Entry, ANONYMOUS};
use super::hash::constant_time_eq;
use super::{Account, AccountLimits, AuthError, Authorizer};
use super::{DEFAULT_MSG_LOGIN, DEFAULT_MSG_QUIT};
use crate::proto::perm::PermTable;

/// One user of the table.
struct User {
    password: String,
    entry: Entry,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("User")
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// Users kept in memory, with per-directory permission overrides.
///
/// ```no_run
/// use ftpdlib::auth::MemoryAuthorizer;
/// # fn main() -> Result<(), ftpdlib::auth::AuthError> {
/// let auth = MemoryAuthorizer::new();
/// auth.add_user("user", "12345", ".", "elradfmwMT")?;
/// auth.add_anonymous("/srv/pub")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryAuthorizer {
    users: RwLock<HashMap<String, User>>,
}

impl MemoryAuthorizer {
    /// An authorizer with no users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a user with pyftpdlib's default messages (`Login successful.`, `Goodbye.`).
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the user exists, `home` is not a directory,
    /// or `perm` has a letter outside `elradfmwMT`.
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        home: impl AsRef<Path>,
        perm: &str,
    ) -> Result<(), AuthError> {
        self.add_user_with_messages(
            username,
            password,
            home,
            perm,
            DEFAULT_MSG_LOGIN,
            DEFAULT_MSG_QUIT,
        )
    }

    /// Add a user with custom login (`230`) and quit (`221`) messages.
    ///
    /// # Errors
    /// As [`MemoryAuthorizer::add_user`].
    pub fn add_user_with_messages(
        &self,
        username: &str,
        password: &str,
        home: impl AsRef<Path>,
        perm: &str,
        msg_login: &str,
        msg_quit: &str,
    ) -> Result<(), AuthError> {
        if self.has_user(username) {
            return Err(AuthError::Internal(format!(
                "user {username:?} already exists"
            )));
        }
        let mut entry = Entry::new(username, home.as_ref(), perm).map_err(AuthError::Internal)?;
        entry.msg_login = msg_login.to_owned();
        entry.msg_quit = msg_quit.to_owned();
        let user = User {
            password: password.to_owned(),
            entry,
        };
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if users.contains_key(username) {
            return Err(AuthError::Internal(format!(
                "user {username:?} already exists"
            )));
        }
        users.insert(username.to_owned(), user);
        Ok(())
    }

    /// Add the `anonymous` user (any password) with read-only permissions `elr`.
    ///
    /// # Errors
    /// As [`MemoryAuthorizer::add_user`].
    pub fn add_anonymous(&self, home: impl AsRef<Path>) -> Result<(), AuthError> {
        self.add_anonymous_with_perm(home, "elr")
    }

    /// Add the `anonymous` user with explicit permissions (a warning is logged when they allow writing).
    ///
    /// # Errors
    /// As [`MemoryAuthorizer::add_user`].
    pub fn add_anonymous_with_perm(
        &self,
        home: impl AsRef<Path>,
        perm: &str,
    ) -> Result<(), AuthError> {
        self.add_user(ANONYMOUS, "", home, perm)
    }

    /// Remove a user (no-op if absent).
    pub fn remove_user(&self, username: &str) {
        self.users
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(username);
    }

    /// Whether the user exists.
    pub fn has_user(&self, username: &str) -> bool {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(username)
    }

    /// Give `username` permissions `perm` in `directory` (a real directory inside the user's
    /// home, or a path relative to the home), and in its sub-directories too when `recursive`.
    /// The most specific override wins.
    ///
    /// # Errors
    /// [`AuthError::Internal`] for an unknown user, an unknown permission
    /// letter, or a directory that does not exist or is not strictly below
    /// the user's home.
    pub fn override_perm(
        &self,
        username: &str,
        directory: impl AsRef<Path>,
        perm: &str,
        recursive: bool,
    ) -> Result<(), AuthError> {
        let perms = entry::parse_perm(username, perm).map_err(AuthError::Internal)?;
        let home = self
            .users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(username)
            .map(|u| u.entry.home.clone())
            .ok_or_else(|| AuthError::Internal(format!("no such user {username:?}")))?;
        // the disk is looked at without the lock held
        let vpath = entry::override_dir(&home, directory.as_ref()).map_err(AuthError::Internal)?;
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let user = users
            .get_mut(username)
            .ok_or_else(|| AuthError::Internal(format!("no such user {username:?}")))?;
        if user.entry.home != home {
            // The user was replaced while we looked at the disk.
            return Err(AuthError::Internal(format!(
                "user {username:?} changed concurrently"
            )));
        }
        user.entry.set_override(vpath, perms, recursive);
        Ok(())
    }

    /// Set the limits `username`'s sessions get ([`AccountLimits`]: the
    /// networks it may log in from, TLS required, its own session count
    /// and bandwidth).
    ///
    /// # Errors
    /// [`AuthError::Internal`] for an unknown user.
    pub fn set_limits(&self, username: &str, limits: AccountLimits) -> Result<(), AuthError> {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let user = users
            .get_mut(username)
            .ok_or_else(|| AuthError::Internal(format!("no such user {username:?}")))?;
        user.entry.limits = limits;
        Ok(())
    }

    /// The permission table of `username` (its letters and per-directory
    /// overrides), `None` for an unknown user. The session applies it
    /// ([`PermTable::at`]): this authorizer only describes it.
    pub fn permissions(&self, username: &str) -> Option<PermTable> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(username).map(|u| u.entry.perm_table())
    }

    /// The letters `username` has at `path`, `None` for an unknown user.
    #[cfg(test)]
    fn perm_letters(&self, username: &str, path: &[u8]) -> Option<String> {
        let home = {
            let users = self.users.read().unwrap_or_else(|e| e.into_inner());
            users.get(username)?.entry.home.clone()
        };
        let table = self.permissions(username)?;
        Some(
            table
                .at(path)
                .resolve(|| is_dir_below(&home, path))
                .letters(),
        )
    }

    /// Whether `username` has permission `letter` at virtual path `path`,
    /// by the user's [`PermTable`], looking at the disk below the home
    /// directory when the answer depends on whether `path` is a directory.
    pub fn has_perm(&self, username: &str, letter: char, path: &[u8]) -> bool {
        let Some((table, home)) = ({
            let users = self.users.read().unwrap_or_else(|e| e.into_inner());
            users
                .get(username)
                .map(|u| (u.entry.perm_table(), u.entry.home.clone()))
        }) else {
            return false;
        };
        table
            .at(path)
            .resolve(|| is_dir_below(&home, path))
            .contains(letter)
    }
}

impl Authorizer for MemoryAuthorizer {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        let Some(user) = users.get(username) else {
            // Spend about as long as a real comparison would.
            let _ = constant_time_eq(b"not-a-real-password-0123456789", password.as_bytes());
            return Err(AuthError::Failed);
        };
        let ok = constant_time_eq(user.password.as_bytes(), password.as_bytes());
        if username != ANONYMOUS && !ok {
            return Err(AuthError::Failed);
        }
        Ok(user.entry.account(username))
    }
}

/// Whether virtual path `path` is a directory below `home` (symlinks followed,
/// but only within `home`). Any error counts as "not a directory".
fn is_dir_below(home: &Path, path: &[u8]) -> bool {
    let rel = &path[1.min(path.len())..];
    let rel: &Path = if rel.is_empty() {
        Path::new(".")
    } else {
        Path::new(OsStr::from_bytes(rel))
    };
    cap_std::fs::Dir::open_ambient_dir(home, cap_std::ambient_authority())
        .and_then(|d| d.metadata(rel))
        .map(|m| m.is_dir())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
