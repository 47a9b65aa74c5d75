//! Accounts from a TOML file with hashed passwords (`--users-file`).
//!
//! The format is fixed (issue 12), one `[[user]]` table per account and an
//! optional `[anonymous]` table; a key this module does not know is an
//! error, as is any value it cannot use, each reported with the file and
//! the line:
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."   # PHC/crypt string, or "md5:<hex>" (legacy)
//! home = "/srv/ftp/alice"                            # optional: the default home
//! perm = "elradfmwMT"                                # optional: "elr"
//! msg_login = "Welcome, alice."                      # optional
//! msg_quit = "Bye."                                  # optional
//! max_sessions = 2                                   # optional, 0 = unlimited
//! read_limit = 0                                     # optional, bytes/s shared by the user's sessions
//! write_limit = 0                                    # optional, bytes/s shared by the user's sessions
//! allow_from = ["127.0.0.0/8", "::1/128"]            # optional client networks
//! tls_required = false                               # optional
//! disabled = false                                   # optional
//!
//! [[user.override]]                                  # pyftpdlib's override_perm
//! path = "/srv/ftp/alice/readonly"
//! perm = "elr"
//! recursive = true
//!
//! [anonymous]                                        # optional: the anonymous account
//! home = "/srv/ftp/pub"
//! perm = "elr"
//! ```
//!
//! Passwords are checked by [`super::hash::verify`] (argon2, bcrypt,
//! sha-crypt, yescrypt and the rest of libxcrypt, legacy `md5:<hex>`); every
//! stored hash is checked for a usable form when the file is read
//! ([`super::hash::check_format`]), not at the first login.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use toml::Spanned;

use super::entry::{self, Entry, ANONYMOUS};
use super::{hash, Account, AccountLimits, AuthError, Authorizer};

/// Why a users file could not be used: the file, the line (when the
/// problem has one) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersFileError {
    path: PathBuf,
    line: Option<usize>,
    message: String,
}

impl UsersFileError {
    fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        // one line, whatever the parser says
        let message: String = message.into();
        let message = message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        UsersFileError {
            path: path.to_path_buf(),
            line,
            message,
        }
    }

    /// The users file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line (1-based) the problem is on; `None` when the file could not
    /// be read at all.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What is wrong, without the file and line.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for UsersFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for UsersFileError {}

impl From<UsersFileError> for AuthError {
    fn from(e: UsersFileError) -> Self {
        AuthError::Internal(e.to_string())
    }
}

/// Accounts read from a users file (see the module docs for the format),
/// read again by [`UsersFile::reload`] (the server calls it on `SIGHUP`
/// through [`Authorizer::reload`]).
///
/// - A password is any stored form [`super::hash::verify`] takes; a user
///   name that does not exist costs the time of checking a stored hash of
///   the file all the same (one of the method most users have: in a file
///   whose hashes share a method and cost, exactly a wrong password's
///   time), so the reply's timing does not tell whether a name exists.
/// - `home` is an existing directory (a relative path is taken from the
///   file's directory); without it, the default home given to
///   [`UsersFile::load_with_default_home`] (the CLI's `-d`, or the current
///   directory). Each user is confined to their home, as with
///   [`super::MemoryAuthorizer`].
/// - `perm` are pyftpdlib's letters (`elradfmwMT`, default `elr`);
///   `[[user.override]]` tables are pyftpdlib's `override_perm(user, path,
///   perm, recursive)`: `path` is a directory strictly below the home
///   (absolute, or relative to the home), `recursive` defaults to `false`.
/// - `max_sessions`, `read_limit`, `write_limit`, `allow_from` (networks in
///   CIDR form, or single addresses) and `tls_required` fill the account's
///   [`AccountLimits`], which the server enforces.
/// - A `disabled` user is refused like a wrong password (the refusal of the
///   right password is logged).
/// - The `[anonymous]` table (`home`, `perm`, `msg_login`, `msg_quit`)
///   adds pyftpdlib's anonymous user, which takes any password; without it
///   `anonymous` cannot log in. A `[[user]]` cannot be named `anonymous`.
///
/// ```no_run
/// use ftpdlib::auth::UsersFile;
/// use ftpdlib::ServerBuilder;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let users = UsersFile::load("/etc/ftpdlib/users.toml")?;
/// ServerBuilder::new(users).bind("0.0.0.0:2121")?.serve_until_signalled()?;
/// # Ok(())
/// # }
/// ```
pub struct UsersFile {
    path: PathBuf,
    default_home: Option<PathBuf>,
    table: RwLock<Arc<Table>>,
}

impl fmt::Debug for UsersFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // never the hashes
        f.debug_struct("UsersFile")
            .field("path", &self.path)
            .field("default_home", &self.default_home)
            .field("users", &self.usernames())
            .field("anonymous", &self.has_anonymous())
            .finish()
    }
}

impl UsersFile {
    /// Read the accounts of the users file at `path`; every `[[user]]` and
    /// the `[anonymous]` table must give a `home`.
    ///
    /// # Errors
    /// [`UsersFileError`]: the file cannot be read, is not TOML, has an
    /// unknown key, or a value that cannot be used (an unknown hash form, a
    /// permission letter outside `elradfmwMT`, a home or override directory
    /// that does not exist, a network that is not CIDR, a user twice).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, UsersFileError> {
        Self::open(path.as_ref(), None)
    }

    /// [`UsersFile::load`], with `default_home` as the home of the accounts
    /// that give none.
    ///
    /// # Errors
    /// As [`UsersFile::load`].
    pub fn load_with_default_home(
        path: impl AsRef<Path>,
        default_home: impl AsRef<Path>,
    ) -> Result<Self, UsersFileError> {
        Self::open(path.as_ref(), Some(default_home.as_ref().to_path_buf()))
    }

    fn open(path: &Path, default_home: Option<PathBuf>) -> Result<Self, UsersFileError> {
        let table = Table::read(path, default_home.as_deref(), false)?;
        Ok(UsersFile {
            path: path.to_path_buf(),
            default_home,
            table: RwLock::new(Arc::new(table)),
        })
    }

    /// Read the file again and put its accounts in force. On an error the
    /// accounts read before stay in force. Sessions already logged in keep
    /// their account. An empty file (no byte but white space) is an error
    /// here: it is what a reload sees while the file is being rewritten in
    /// place (`>` truncates it before the new text is written), and taking
    /// it would refuse every login until the next reload.
    ///
    /// # Errors
    /// As [`UsersFile::load`].
    pub fn reload(&self) -> Result<(), UsersFileError> {
        let table = Table::read(&self.path, self.default_home.as_deref(), true)?;
        log::debug!(
            "{}: {} users{}",
            self.path.display(),
            table.users.len(),
            if table.anonymous.is_some() {
                " and anonymous"
            } else {
                ""
            }
        );
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        Ok(())
    }

    /// The users file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the `[[user]]` accounts in force, sorted (`anonymous`
    /// is not among them: see [`UsersFile::has_anonymous`]).
    pub fn usernames(&self) -> Vec<String> {
        let mut names: Vec<String> = self.current().users.keys().cloned().collect();
        names.sort();
        names
    }

    /// Whether the file has an `[anonymous]` table.
    pub fn has_anonymous(&self) -> bool {
        self.current().anonymous.is_some()
    }

    fn current(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Authorizer for UsersFile {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        let table = self.current();
        if username == ANONYMOUS {
            // pyftpdlib: anonymous takes any password, when there is one
            return match &table.anonymous {
                Some(anon) => Ok(anon.account(ANONYMOUS)),
                None => {
                    table.spend_time(password);
                    Err(AuthError::Failed)
                }
            };
        }
        let Some(user) = table.users.get(username) else {
            table.spend_time(password);
            return Err(AuthError::Failed);
        };
        match hash::verify(&user.hash, password.as_bytes()) {
            Ok(true) if user.disabled => {
                log::warn!("{}: user {username:?} is disabled", self.path.display());
                Err(AuthError::Failed)
            }
            Ok(true) => Ok(user.entry.account(username)),
            Ok(false) => Err(AuthError::Failed),
            Err(e) => Err(AuthError::Internal(format!(
                "{}: user {username:?}: {e}",
                self.path.display()
            ))),
        }
    }

    fn reload(&self) -> Result<(), AuthError> {
        UsersFile::reload(self).map_err(AuthError::from)
    }
}

/// The accounts of one reading of the file.
struct Table {
    users: HashMap<String, FileUser>,
    anonymous: Option<Entry>,
    /// A stored hash of the file, checked against the password of a user
    /// name that does not exist.
    decoy: Option<String>,
}

impl Table {
    /// Spend the time of a password check that cannot succeed.
    fn spend_time(&self, password: &str) {
        match &self.decoy {
            Some(stored) => {
                let _ = hash::verify(stored, password.as_bytes());
            }
            None => hash::verify_nobody(password.as_bytes()),
        }
    }
}

/// A `[[user]]` of the file.
struct FileUser {
    hash: String,
    entry: Entry,
    disabled: bool,
}

// --- the file, as serde reads it

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    user: Vec<UserDoc>,
    anonymous: Option<Spanned<AnonymousDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserDoc {
    name: Spanned<String>,
    password: Spanned<String>,
    home: Option<Spanned<String>>,
    perm: Option<Spanned<String>>,
    #[serde(rename = "override", default)]
    overrides: Vec<OverrideDoc>,
    msg_login: Option<String>,
    msg_quit: Option<String>,
    #[serde(default)]
    max_sessions: u32,
    #[serde(default)]
    read_limit: u64,
    #[serde(default)]
    write_limit: u64,
    #[serde(default)]
    allow_from: Vec<Spanned<String>>,
    #[serde(default)]
    tls_required: bool,
    #[serde(default)]
    disabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideDoc {
    path: Spanned<String>,
    perm: Spanned<String>,
    #[serde(default)]
    recursive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnonymousDoc {
    home: Option<Spanned<String>>,
    perm: Option<Spanned<String>>,
    msg_login: Option<String>,
    msg_quit: Option<String>,
}

/// Reports problems at a position of one file.
struct Reader<'a> {
    path: &'a Path,
    text: &'a str,
    /// Relative homes are taken from here (the file's directory).
    base: PathBuf,
    default_home: Option<&'a Path>,
}

impl Reader<'_> {
    /// The 1-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The key set on line `line` (`key = value`), if it is one.
    fn key_on_line(&self, line: usize) -> Option<&str> {
        let text = self.text.lines().nth(line.checked_sub(1)?)?;
        let (key, _) = text.split_once('=')?;
        let key = key.trim();
        let bare = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        bare.then_some(key)
    }

    fn err_at<T>(&self, at: &Spanned<T>, message: impl Into<String>) -> UsersFileError {
        UsersFileError::new(self.path, Some(self.line_of(at.span().start)), message)
    }

    /// The home of an account: its `home`, else the default; `at` is where
    /// to report a missing one.
    fn home<T>(
        &self,
        username: &str,
        home: Option<&Spanned<String>>,
        at: &Spanned<T>,
    ) -> Result<PathBuf, UsersFileError> {
        match (home, self.default_home) {
            (Some(h), _) => {
                if h.get_ref().is_empty() {
                    return Err(self.err_at(h, "home must not be empty"));
                }
                Ok(self.base.join(h.get_ref()))
            }
            (None, Some(d)) => Ok(d.to_path_buf()),
            (None, None) => Err(self.err_at(
                at,
                format!("user {username:?} has no home (and no default home was given)"),
            )),
        }
    }

    /// An [`Entry`] for `username`, reporting a bad home or letters at their lines.
    fn entry<T>(
        &self,
        username: &str,
        home: Option<&Spanned<String>>,
        perm: Option<&Spanned<String>>,
        at: &Spanned<T>,
    ) -> Result<Entry, UsersFileError> {
        let dir = self.home(username, home, at)?;
        let letters = perm.map_or("elr", |p| p.get_ref().as_str());
        if let Some(p) = perm {
            entry::parse_perm(username, letters).map_err(|e| self.err_at(p, e))?;
        }
        Entry::new(username, &dir, letters).map_err(|e| match home {
            Some(h) => self.err_at(h, format!("home: {e}")),
            None => self.err_at(at, format!("default home: {e}")),
        })
    }

    fn user(&self, doc: UserDoc) -> Result<(String, FileUser), UsersFileError> {
        let name = doc.name.get_ref().clone();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(self.err_at(
                &doc.name,
                "a user name must be non-empty, without control characters",
            ));
        }
        if name == ANONYMOUS {
            return Err(self.err_at(
                &doc.name,
                "the anonymous user is set by an [anonymous] table, not a [[user]]",
            ));
        }
        hash::check_format(doc.password.get_ref())
            .map_err(|e| self.err_at(&doc.password, format!("user {name:?}: {e}")))?;
        let mut entry = self.entry(&name, doc.home.as_ref(), doc.perm.as_ref(), &doc.name)?;
        for o in &doc.overrides {
            let perms = entry::parse_perm(&name, o.perm.get_ref())
                .map_err(|e| self.err_at(&o.perm, format!("override: {e}")))?;
            let dir = entry::override_dir(&entry.home, Path::new(o.path.get_ref()))
                .map_err(|e| self.err_at(&o.path, format!("override path: {e}")))?;
            entry.set_override(dir, perms, o.recursive);
        }
        if let Some(m) = doc.msg_login {
            entry.msg_login = m;
        }
        if let Some(m) = doc.msg_quit {
            entry.msg_quit = m;
        }
        let mut allow_from = Vec::with_capacity(doc.allow_from.len());
        for net in &doc.allow_from {
            allow_from.push(parse_net(net.get_ref()).ok_or_else(|| {
                self.err_at(
                    net,
                    format!(
                        "allow_from: {:?} is not a network (CIDR such as \"192.0.2.0/24\" or \"::1/128\") or an address",
                        net.get_ref()
                    ),
                )
            })?);
        }
        entry.limits = AccountLimits {
            max_sessions: doc.max_sessions,
            read_limit: doc.read_limit,
            write_limit: doc.write_limit,
            allow_from,
            tls_required: doc.tls_required,
            ..AccountLimits::default()
        };
        let user = FileUser {
            hash: doc.password.into_inner(),
            entry,
            disabled: doc.disabled,
        };
        Ok((name, user))
    }

    fn table(&self) -> Result<Table, UsersFileError> {
        let doc: FileDoc = toml::from_str(self.text).map_err(|e| {
            let line = e.span().map(|s| self.line_of(s.start));
            let mut message = e.message().to_string();
            // serde's type errors do not name the key: the line does
            if let Some(key) = line.and_then(|l| self.key_on_line(l)) {
                if !message.contains(key) {
                    message = format!("{key}: {message}");
                }
            }
            UsersFileError::new(self.path, line, message)
        })?;
        let mut users = HashMap::with_capacity(doc.user.len());
        for u in doc.user {
            if users.contains_key(u.name.get_ref()) {
                let name = u.name.get_ref();
                return Err(self.err_at(&u.name, format!("user {name:?} appears twice")));
            }
            let (name, user) = self.user(u)?;
            users.insert(name, user);
        }
        let anonymous = match doc.anonymous {
            Some(a) => {
                let mut e = self.entry(
                    ANONYMOUS,
                    a.get_ref().home.as_ref(),
                    a.get_ref().perm.as_ref(),
                    &a,
                )?;
                let a = a.into_inner();
                if let Some(m) = a.msg_login {
                    e.msg_login = m;
                }
                if let Some(m) = a.msg_quit {
                    e.msg_quit = m;
                }
                Some(e)
            }
            None => None,
        };
        let decoy = decoy(&users);
        Ok(Table {
            users,
            anonymous,
            decoy,
        })
    }
}

impl Table {
    /// Read and check the whole file; when `refuse_empty`, a file of
    /// nothing but white space is an error.
    fn read(
        path: &Path,
        default_home: Option<&Path>,
        refuse_empty: bool,
    ) -> Result<Table, UsersFileError> {
        let bytes = read_regular(path).map_err(|e| UsersFileError::new(path, None, e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            UsersFileError::new(path, Some(line), "not UTF-8 text")
        })?;
        if refuse_empty && text.trim().is_empty() {
            return Err(UsersFileError::new(
                path,
                None,
                "the file is empty (being rewritten?)",
            ));
        }
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Reader {
            path,
            text,
            base,
            default_home,
        }
        .table()
    }
}

/// The largest users file read (64 MiB: hundreds of thousands of users).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The bytes of the regular file at `path` (symbolic links followed), at
/// most [`MAX_FILE_BYTES`]. Anything else is refused rather than read: the
/// file is read again on SIGHUP by the loop that accepts connections (in
/// the forking models), and a FIFO put in its place blocked that loop in
/// `open(2)`, a device such as `/dev/zero` would never end.
///
/// # Errors
/// The OS error's text, or what the file is instead.
fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // a FIFO opens at once instead of waiting for a writer
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

/// The stored hash a user name that does not exist is checked against: one
/// of the method most users have (`$argon2id`, `$2b`, `$6`, `$y`, `md5:`,
/// ...), so that a refusal takes the time most wrong passwords take.
fn decoy(users: &HashMap<String, FileUser>) -> Option<String> {
    fn method(stored: &str) -> &str {
        match stored.strip_prefix('$') {
            Some(rest) => rest.split('$').next().unwrap_or(""),
            None => stored.split(':').next().unwrap_or(""),
        }
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for u in users.values() {
        *count.entry(method(&u.hash)).or_default() += 1;
    }
    // the most common method; among equals, the first in name order
    let mut names: Vec<&String> = users.keys().collect();
    names.sort();
    let mut best: Option<(usize, &str)> = None;
    for u in names.into_iter().filter_map(|n| users.get(n)) {
        let c = count.get(method(&u.hash)).copied().unwrap_or(0);
        if best.map_or(true, |(b, _)| c > b) {
            best = Some((c, &u.hash));
        }
    }
    best.map(|(_, stored)| stored.to_string())
}

/// A network in CIDR form, or one address (a `/32` or `/128` network).
fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

#[cfg(test)]
mod tests;
