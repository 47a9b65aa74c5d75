//! Authorizers: who may log in, where their home is, and what they may do.

mod memory;

pub use memory::MemoryAuthorizer;

use std::path::PathBuf;

use crate::proto::perm::PermTable;

/// pyftpdlib's default login message.
const DEFAULT_MSG_LOGIN: &str = "Login successful.";
/// pyftpdlib's default quit message.
const DEFAULT_MSG_QUIT: &str = "Goodbye.";

/// A logged-in user, as an [`Authorizer`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// What the user may do where (letters and per-directory overrides);
    /// the session applies it, see [`PermTable`].
    pub perms: PermTable,
}

impl Account {
    /// An account with pyftpdlib's default messages (`Login successful.`,
    /// `Goodbye.`) and no system identity.
    pub fn new(username: impl Into<String>, home: impl Into<PathBuf>, perms: PermTable) -> Self {
        Account {
            username: username.into(),
            home: home.into(),
            msg_login: DEFAULT_MSG_LOGIN.into(),
            msg_quit: DEFAULT_MSG_QUIT.into(),
            uid_gid: None,
            perms,
        }
    }

    /// The same account with these texts for the 230 (login) and 221 (QUIT) replies.
    pub fn with_messages(mut self, msg_login: &str, msg_quit: &str) -> Self {
        self.msg_login = msg_login.into();
        self.msg_quit = msg_quit.into();
        self
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// Decides logins (pyftpdlib's authorizer interface): who may log in, and
/// the account a login opens, permissions included.
///
/// Called once per login attempt, never on the thread of a poll loop: an
/// implementation may block (a database query, password hashing). What a
/// user may do where is then decided by the session from
/// [`Account::perms`], so that permission checks need no further call.
pub trait Authorizer: Send + Sync {
    /// Check a username and password; on success describe the account.
    ///
    /// # Errors
    /// [`AuthError::Failed`] for an unknown user or a wrong password (the
    /// client gets `530` either way); [`AuthError::Internal`] when the
    /// authorizer itself failed (logged at error level; `530` too).
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError>;
}
