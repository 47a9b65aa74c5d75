//! In-memory users (pyftpdlib's `DummyAuthorizer`).

use crate::sys::OsStrExt;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;

use super::{Account, AuthError, Authorizer};
use crate::proto::perm::{DirOverride, PermTable, Perms};

/// Every valid permission letter (pyftpdlib's `read_perms + write_perms`).
const VALID_LETTERS: &str = "elradfmwMT";
/// The letters that allow changing the filesystem.
const WRITE_LETTERS: &str = "adfmwMT";
/// The name of the user that accepts any password.
const ANONYMOUS: &str = "anonymous";
use super::{DEFAULT_MSG_LOGIN, DEFAULT_MSG_QUIT};

/// A per-directory permission override.
#[derive(Debug, Clone)]
struct Override {
    perm: String,
    recursive: bool,
}

/// One user of the table.
struct User {
    password: String,
    home: PathBuf,
    perm: String,
    /// Overrides keyed by virtual directory path (`/sub/dir`, relative to the home).
    overrides: HashMap<Vec<u8>, Override>,
    msg_login: String,
    msg_quit: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("User")
            .field("home", &self.home)
            .field("perm", &self.perm)
            .field("overrides", &self.overrides)
            .field("msg_login", &self.msg_login)
            .field("msg_quit", &self.msg_quit)
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
        let home = home.as_ref();
        if self.has_user(username) {
            return Err(AuthError::Internal(format!(
                "user {username:?} already exists"
            )));
        }
        let home = canonical_dir(home)?;
        check_permissions(username, perm)?;
        let user = User {
            password: password.to_owned(),
            home,
            perm: perm.to_owned(),
            overrides: HashMap::new(),
            msg_login: msg_login.to_owned(),
            msg_quit: msg_quit.to_owned(),
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
        check_permissions(username, perm)?;
        let home = self
            .users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(username)
            .map(|u| u.home.clone())
            .ok_or_else(|| AuthError::Internal(format!("no such user {username:?}")))?;
        let directory = directory.as_ref();
        let joined = if directory.is_absolute() {
            directory.to_path_buf()
        } else {
            home.join(directory)
        };
        let dir = canonical_dir(&joined)?;
        if dir == home {
            return Err(AuthError::Internal(
                "can't override home directory permissions".into(),
            ));
        }
        let rel = dir
            .strip_prefix(&home)
            .map_err(|_| AuthError::Internal("path escapes user home directory".into()))?;
        let vpath = virtual_path(rel)?;
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let user = users
            .get_mut(username)
            .ok_or_else(|| AuthError::Internal(format!("no such user {username:?}")))?;
        if user.home != home {
            // The user was replaced while we looked at the disk.
            return Err(AuthError::Internal(format!(
                "user {username:?} changed concurrently"
            )));
        }
        user.overrides.insert(
            vpath,
            Override {
                perm: perm.to_owned(),
                recursive,
            },
        );
        Ok(())
    }

    /// The permission table of `username` (its letters and per-directory
    /// overrides), `None` for an unknown user. The session applies it
    /// ([`PermTable::at`]): this authorizer only describes it.
    pub fn permissions(&self, username: &str) -> Option<PermTable> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(username).map(User::perm_table)
    }

    /// The letters `username` has at `path`, `None` for an unknown user.
    #[cfg(test)]
    fn perm_letters(&self, username: &str, path: &[u8]) -> Option<String> {
        let home = {
            let users = self.users.read().unwrap_or_else(|e| e.into_inner());
            users.get(username)?.home.clone()
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
                .map(|u| (u.perm_table(), u.home.clone()))
        }) else {
            return false;
        };
        table
            .at(path)
            .resolve(|| is_dir_below(&home, path))
            .contains(letter)
    }
}

impl User {
    fn perm_table(&self) -> PermTable {
        let base = Perms::parse(&self.perm).unwrap_or_default();
        let overrides = self
            .overrides
            .iter()
            .map(|(dir, o)| DirOverride {
                dir: dir.clone(),
                perms: Perms::parse(&o.perm).unwrap_or_default(),
                recursive: o.recursive,
            })
            .collect();
        PermTable::with_overrides(base, overrides)
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
        Ok(Account::new(username, user.home.clone(), user.perm_table())
            .with_messages(&user.msg_login, &user.msg_quit))
    }
}

/// Refuse unknown letters; warn when the anonymous user gets write permissions.
fn check_permissions(username: &str, perm: &str) -> Result<(), AuthError> {
    if let Some(bad) = perm.chars().find(|c| !VALID_LETTERS.contains(*c)) {
        return Err(AuthError::Internal(format!("no such permission {bad:?}")));
    }
    if username == ANONYMOUS && perm.chars().any(|c| WRITE_LETTERS.contains(c)) {
        log::warn!("write permissions assigned to anonymous user.");
    }
    Ok(())
}

/// The canonical form of an existing directory, or an error naming it.
fn canonical_dir(dir: &Path) -> Result<PathBuf, AuthError> {
    let not_dir = || AuthError::Internal(format!("no such directory: {:?}", dir));
    let canon = std::fs::canonicalize(dir).map_err(|_| not_dir())?;
    match std::fs::metadata(&canon) {
        Ok(m) if m.is_dir() => Ok(canon),
        _ => Err(not_dir()),
    }
}

/// `/a/b` from the relative path `a/b`.
fn virtual_path(rel: &Path) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => {
                out.push(b'/');
                out.extend_from_slice(name.as_bytes());
            }
            Component::CurDir => {}
            _ => {
                return Err(AuthError::Internal(
                    "path escapes user home directory".into(),
                ))
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
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

/// Compare two byte strings without stopping at the first difference
/// (the time taken depends only on the length of `given`).
fn constant_time_eq(stored: &[u8], given: &[u8]) -> bool {
    let mut diff = stored.len() ^ given.len();
    for (i, &g) in given.iter().enumerate() {
        let s = stored.get(i).copied().unwrap_or(0);
        diff |= usize::from(s ^ g);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests;
