//! Authorizers: who may log in, where their home is, and what they may do.

mod memory;

pub use memory::MemoryAuthorizer;

use std::path::PathBuf;

use crate::proto::perm::Perms;

/// A logged-in user, as an [`Authorizer`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name.
    pub username: String,
    /// The home directory (the virtual root for [`crate::fs::LocalFs`]).
    pub home: PathBuf,
    /// Text of the 230 reply.
    pub msg_login: String,
    /// Text of the 221 reply on QUIT.
    pub msg_quit: String,
    /// System uid/gid to run file operations as, for system users.
    pub uid_gid: Option<(u32, u32)>,
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown user or wrong password: the client is told the same thing either way.
    Failed,
    /// The authorizer itself failed (logged; the client gets a generic refusal).
    Internal(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Failed => f.write_str("authentication failed"),
            AuthError::Internal(e) => write!(f, "authorizer error: {e}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Decides logins and permissions (pyftpdlib's authorizer interface).
///
/// Implementations may block (a database query, password hashing): the
/// server never calls them while holding anything other sessions need.
pub trait Authorizer: Send + Sync {
    /// Check a username and password; on success describe the account.
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError>;
    /// The permission letters `username` has at virtual path `path`
    /// (per-directory overrides applied).
    fn perms(&self, username: &str, path: &[u8]) -> Perms;
    /// Whether `username` has permission `letter` at virtual path `path`.
    fn has_perm(&self, username: &str, letter: char, path: &[u8]) -> bool {
        self.perms(username, path).contains(letter)
    }
}
