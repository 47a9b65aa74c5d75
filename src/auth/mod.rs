//! Authorizers: who may log in, where their home is, and what they may do.

mod entry;
pub mod hash;
mod memory;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(unix)]
mod unix;
mod users_file;
#[cfg(any(windows, test))]
mod windows;

pub use memory::MemoryAuthorizer;
#[cfg(feature = "postgres")]
pub use pg::PgAuthorizer;
#[cfg(unix)]
pub use unix::UnixAuthorizer;
pub use users_file::{UsersFile, UsersFileError};
#[cfg(windows)]
pub use windows::{WindowsAuthorizer, WindowsFsFactory, WindowsUserOverride};

use std::path::PathBuf;

use crate::proto::perm::PermTable;

/// pyftpdlib's default login message.
const DEFAULT_MSG_LOGIN: &str = "Login successful.";
/// pyftpdlib's default quit message.
const DEFAULT_MSG_QUIT: &str = "Goodbye.";

/// A system identity file operations run as: the kernel then decides
/// what the user may do (pyftpdlib's `UnixAuthorizer` switches its
/// effective ids the same way around each operation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary group ids (`getgrouplist(3)` of the user).
    pub groups: Vec<u32>,
}

impl Identity {
    /// An identity with these ids.
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>) -> Self {
        Identity { uid, gid, groups }
    }
}

/// Limits an account sets on its own sessions, beyond the server's.
/// The default sets none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountLimits {
    /// Most sessions logged in as this user at once, across every process
    /// of the server; one more is refused with `421`. `0`: no limit.
    pub max_sessions: u32,
    /// Upload bandwidth in bytes per second, shared by every session of
    /// this user (pyftpdlib #597). `0`: no limit.
    pub read_limit: u64,
    /// Download bandwidth in bytes per second, shared by every session of
    /// this user. `0`: no limit.
    pub write_limit: u64,
    /// Client networks the user may log in from; empty: any.
    pub allow_from: Vec<ipnet::IpNet>,
    /// The user may log in only over a TLS-protected control connection.
    pub tls_required: bool,
}

/// A logged-in user, as an [`Authorizer`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    /// The login name.
    pub username: String,
    /// The directory the client sees as `/` (the root of
    /// [`crate::fs::LocalFs`]): the home directory for a confined user,
    /// `/` for a system user who sees the real paths.
    pub root: PathBuf,
    /// The home directory, where the session starts (inside `root`).
    pub home: PathBuf,
    /// Text of the 230 reply.
    pub msg_login: String,
    /// Text of the 221 reply on QUIT.
    pub msg_quit: String,
    /// The system identity every file operation of the session runs as;
    /// `None` runs them as the server.
    pub identity: Option<Identity>,
    /// What the user may do where (letters and per-directory overrides);
    /// the session applies it, see [`PermTable`].
    pub perms: PermTable,
    /// The account's own limits.
    pub limits: AccountLimits,
}

impl Account {
    /// An account confined to `home` (its root and start directory), with
    /// pyftpdlib's default messages (`Login successful.`, `Goodbye.`), no
    /// system identity and no limits of its own.
    pub fn new(username: impl Into<String>, home: impl Into<PathBuf>, perms: PermTable) -> Self {
        let home = home.into();
        Account {
            username: username.into(),
            root: home.clone(),
            home,
            msg_login: DEFAULT_MSG_LOGIN.into(),
            msg_quit: DEFAULT_MSG_QUIT.into(),
            identity: None,
            perms,
            limits: AccountLimits::default(),
        }
    }

    /// The same account seeing `root` as `/` and starting in its home
    /// directory (pyftpdlib's `UnixFilesystem`: `root` = `/`).
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The same account running its file operations as `identity`.
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The same account with these limits.
    pub fn with_limits(mut self, limits: AccountLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The virtual path the session starts in: the home directory seen
    /// from the root (`/` when the home is the root, or is outside it).
    pub fn start_dir(&self) -> Vec<u8> {
        use crate::sys::OsStrExt;
        let Ok(rel) = self.home.strip_prefix(&self.root) else {
            return b"/".to_vec();
        };
        let mut out = Vec::new();
        for c in rel.components() {
            if let std::path::Component::Normal(name) = c {
                out.push(b'/');
                out.extend_from_slice(name.as_bytes());
            } else {
                return b"/".to_vec();
            }
        }
        if out.is_empty() {
            out.push(b'/');
        }
        out
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

    /// Read the accounts again from where they are kept (a file), as the
    /// server does on `SIGHUP`. Sessions already logged in keep the
    /// [`Account`] they got; logins after the call see the new accounts.
    /// The default does nothing (an authorizer that asks its store at each
    /// login, or keeps its users in memory, has nothing to reload).
    ///
    /// Called by the server's signal handling in every process that checks
    /// logins: once in the thread and poll models, in the parent first in
    /// the forking ones (its children fork from it, or are told to reload
    /// only when the parent's reload succeeded).
    ///
    /// # Errors
    /// [`AuthError::Internal`] saying why (for a file: its path, the line
    /// and what is wrong there); the accounts in force before the call must
    /// then stay in force.
    fn reload(&self) -> Result<(), AuthError> {
        Ok(())
    }
}
