//! In-memory users (pyftpdlib's `DummyAuthorizer`).

use std::path::Path;

use super::{Account, AuthError, Authorizer};
use crate::proto::perm::Perms;

/// Users kept in memory, with per-directory permission overrides.
///
/// ```no_run
/// use ftpdlib::auth::MemoryAuthorizer;
/// let auth = MemoryAuthorizer::new();
/// auth.add_user("user", "12345", ".", "elradfmwMT").unwrap();
/// auth.add_anonymous("/srv/pub").unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryAuthorizer {
    _private: (),
}

impl MemoryAuthorizer {
    /// An authorizer with no users.
    pub fn new() -> Self {
        todo!("auth helper")
    }

    /// Add a user with pyftpdlib's default messages (`Login successful.`, `Goodbye.`).
    /// Fails if the user exists, `home` is not a directory, or `perm` has an unknown letter.
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        home: impl AsRef<Path>,
        perm: &str,
    ) -> Result<(), AuthError> {
        let _ = (username, password, home, perm);
        todo!("auth helper")
    }

    /// Add a user with custom login and quit messages.
    pub fn add_user_with_messages(
        &self,
        username: &str,
        password: &str,
        home: impl AsRef<Path>,
        perm: &str,
        msg_login: &str,
        msg_quit: &str,
    ) -> Result<(), AuthError> {
        let _ = (username, password, home, perm, msg_login, msg_quit);
        todo!("auth helper")
    }

    /// Add the `anonymous` user (any password) with read-only permissions `elr`.
    pub fn add_anonymous(&self, home: impl AsRef<Path>) -> Result<(), AuthError> {
        let _ = home;
        todo!("auth helper")
    }

    /// Add the `anonymous` user with explicit permissions (a warning is logged when they allow writing).
    pub fn add_anonymous_with_perm(
        &self,
        home: impl AsRef<Path>,
        perm: &str,
    ) -> Result<(), AuthError> {
        let _ = (home, perm);
        todo!("auth helper")
    }

    /// Remove a user (no-op if absent).
    pub fn remove_user(&self, username: &str) {
        let _ = username;
        todo!("auth helper")
    }

    /// Whether the user exists.
    pub fn has_user(&self, username: &str) -> bool {
        let _ = username;
        todo!("auth helper")
    }

    /// Give `username` permissions `perm` in `directory` (a real directory inside the user's
    /// home, or a path relative to the home), and in its sub-directories too when `recursive`.
    /// The most specific override wins.
    pub fn override_perm(
        &self,
        username: &str,
        directory: impl AsRef<Path>,
        perm: &str,
        recursive: bool,
    ) -> Result<(), AuthError> {
        let _ = (username, directory, perm, recursive);
        todo!("auth helper")
    }
}

impl Authorizer for MemoryAuthorizer {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        let _ = (username, password);
        todo!("auth helper")
    }

    fn perms(&self, username: &str, path: &[u8]) -> Perms {
        let _ = (username, path);
        todo!("auth helper")
    }
}
