//! Windows system users (pyftpdlib's `WindowsAuthorizer`): passwords
//! checked by Windows (`LogonUserW`), the home directory from the user's
//! profile, and every file operation of the session made while the
//! serving thread impersonates the user, so that Windows' own access
//! checks decide what the user may read and write.
//!
//! [`WindowsAuthorizer`] checks the login and keeps the logon token;
//! [`WindowsFsFactory`] (from [`WindowsAuthorizer::filesystem`]) opens the
//! session's filesystem with it and wraps every call in an impersonation
//! of that token. Impersonation belongs to a thread, and a session's work
//! may run on any worker thread: each call impersonates and reverts around
//! itself on the thread that runs it. Both are Windows-only; the rules
//! (allowed and rejected users, the anonymous guest, permissions,
//! messages) are plain code, tested on every system.

// Off Windows only the rules are built, for their tests.
#![cfg_attr(not(windows), allow(unreachable_pub, dead_code))]

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Account, AuthError, DEFAULT_MSG_LOGIN, DEFAULT_MSG_QUIT};
use crate::proto::perm::{PermTable, Perms};

/// The login name that maps to the guest account, when there is one.
const ANONYMOUS: &str = "anonymous";

/// How a Windows user's account differs from the authorizer's defaults
/// (pyftpdlib's `WindowsAuthorizer.override_user`); `None` keeps the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowsUserOverride {
    /// The home directory (the user's root) instead of the profile directory.
    pub home: Option<PathBuf>,
    /// Permission letters (`elradfmwMT`) instead of the global ones.
    pub perm: Option<String>,
    /// The text of the `230` reply.
    pub msg_login: Option<String>,
    /// The text of the `221` reply to QUIT.
    pub msg_quit: Option<String>,
}

/// The decisions of [`WindowsAuthorizer`] that need no Windows call: who
/// may try to log in, as which Windows account, and the account a login
/// opens.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    global_perm: Perms,
    /// Bare account names, lowercase; empty: everyone.
    allowed: Vec<String>,
    /// Bare account names, lowercase.
    rejected: Vec<String>,
    /// The Windows account and password `anonymous` logs in as.
    anonymous: Option<(String, String)>,
    msg_login: String,
    msg_quit: String,
    /// By login name, lowercase.
    overrides: HashMap<String, WindowsUserOverride>,
}

/// A Windows account name without its domain (`DOMAIN\alice` and
/// `alice@example.org` are both `alice`), lowercase: Windows compares
/// account names without regard to case, and so must the allowed and
/// rejected lists, or `Administrator` would get past a rejected
/// `administrator`.
pub(crate) fn bare_name(user: &str) -> String {
    let name = user.rsplit('\\').next().unwrap_or(user);
    let name = name.split('@').next().unwrap_or(name);
    name.to_lowercase()
}

/// `DOMAIN\user` as (`user`, `Some("DOMAIN")`); any other form (a local
/// name, a `user@domain` UPN) as itself with no domain, which
/// `LogonUserW` reads as the local machine or the UPN's domain.
pub(crate) fn split_domain(user: &str) -> (&str, Option<&str>) {
    match user.split_once('\\') {
        Some((domain, name)) if !domain.is_empty() => (name, Some(domain)),
        _ => (user, None),
    }
}

fn internal(msg: impl Into<String>) -> AuthError {
    AuthError::Internal(msg.into())
}

fn parse_perm(perm: &str) -> Result<Perms, AuthError> {
    Perms::parse(perm).map_err(|e| internal(e.to_string()))
}

impl Rules {
    /// pyftpdlib's defaults: every permission, no allowed or rejected
    /// list, no anonymous login, `Login successful.` and `Goodbye.`.
    pub(crate) fn new() -> Self {
        Rules {
            global_perm: Perms::all(),
            allowed: Vec::new(),
            rejected: Vec::new(),
            anonymous: None,
            msg_login: DEFAULT_MSG_LOGIN.into(),
            msg_quit: DEFAULT_MSG_QUIT.into(),
            overrides: HashMap::new(),
        }
    }

    pub(crate) fn set_global_perm(&mut self, perm: &str) -> Result<(), AuthError> {
        self.global_perm = parse_perm(perm)?;
        Ok(())
    }

    pub(crate) fn set_allowed(&mut self, users: Vec<String>) -> Result<(), AuthError> {
        if !self.rejected.is_empty() && !users.is_empty() {
            return Err(internal(
                "allowed users and rejected users are mutually exclusive",
            ));
        }
        self.allowed = users.iter().map(|u| bare_name(u)).collect();
        Ok(())
    }

    pub(crate) fn set_rejected(&mut self, users: Vec<String>) -> Result<(), AuthError> {
        if !self.allowed.is_empty() && !users.is_empty() {
            return Err(internal(
                "allowed users and rejected users are mutually exclusive",
            ));
        }
        self.rejected = users.iter().map(|u| bare_name(u)).collect();
        Ok(())
    }

    pub(crate) fn set_anonymous(&mut self, user: &str, password: &str) {
        if self.global_perm.has_write() && !self.overrides.contains_key(ANONYMOUS) {
            log::warn!("write permissions assigned to anonymous user.");
        }
        self.anonymous = Some((user.into(), password.into()));
    }

    pub(crate) fn set_messages(&mut self, msg_login: &str, msg_quit: &str) {
        self.msg_login = msg_login.into();
        self.msg_quit = msg_quit.into();
    }

    pub(crate) fn set_override(
        &mut self,
        username: &str,
        o: WindowsUserOverride,
    ) -> Result<(), AuthError> {
        if let Some(p) = &o.perm {
            let perms = parse_perm(p)?;
            if username.eq_ignore_ascii_case(ANONYMOUS) && perms.has_write() {
                log::warn!("write permissions assigned to anonymous user.");
            }
        }
        if let Some(home) = &o.home {
            if !home.is_dir() {
                return Err(internal(format!("no such directory: {home:?}")));
            }
        }
        self.overrides.insert(username.to_lowercase(), o);
        Ok(())
    }

    /// The Windows account and password a login as `username` with
    /// `password` is checked with: the user's own, or the guest's for
    /// `anonymous`.
    ///
    /// # Errors
    /// [`AuthError::Failed`] for `anonymous` without a guest account, a
    /// user outside the allowed list or in the rejected one (the client
    /// is told no more than for a wrong password; the reason is logged).
    pub(crate) fn logon_for<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> Result<(&'a str, &'a str), AuthError> {
        if username == ANONYMOUS {
            return match &self.anonymous {
                Some((user, pass)) => Ok((user, pass)),
                None => {
                    log::info!("anonymous access not allowed");
                    Err(AuthError::Failed)
                }
            };
        }
        let name = bare_name(username);
        if !self.allowed.is_empty() && !self.allowed.contains(&name) {
            log::info!("user {username:?} is not in the allowed users");
            return Err(AuthError::Failed);
        }
        if self.rejected.contains(&name) {
            log::info!("user {username:?} is a rejected user");
            return Err(AuthError::Failed);
        }
        Ok((username, password))
    }

    /// The home directory `username` gets, when it is overridden.
    pub(crate) fn home_override(&self, username: &str) -> Option<PathBuf> {
        self.overrides
            .get(&username.to_lowercase())
            .and_then(|o| o.home.clone())
    }

    /// The account of a login as `username` whose home is `home`
    /// (confined to it, as pyftpdlib serves a Windows user).
    pub(crate) fn account(&self, username: &str, home: PathBuf) -> Account {
        let o = self.overrides.get(&username.to_lowercase());
        let perms = o
            .and_then(|o| o.perm.as_deref())
            .and_then(|p| Perms::parse(p).ok())
            .unwrap_or(self.global_perm);
        let msg_login = o
            .and_then(|o| o.msg_login.as_deref())
            .unwrap_or(&self.msg_login);
        let msg_quit = o
            .and_then(|o| o.msg_quit.as_deref())
            .unwrap_or(&self.msg_quit);
        Account::new(username, home, PermTable::uniform(perms)).with_messages(msg_login, msg_quit)
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new()
    }
}

#[cfg(windows)]
pub use self::imp::{WindowsAuthorizer, WindowsFsFactory};

#[cfg(windows)]
mod imp {
    use std::collections::{HashMap, VecDeque};
    use std::io::{self, Write};
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::{split_domain, Rules, WindowsUserOverride};
    use crate::auth::{Account, AuthError, Authorizer};
    use crate::fs::{
        DirEntries, Filesystem, FilesystemFactory, LocalFsFactory, ReadFile, WriteFile, WriteMode,
    };
    use crate::proto::listing::EntryInfo;
    use crate::sys::Token;

    /// Tokens waiting for their session's filesystem, per login name.
    const MAX_WAITING_PER_USER: usize = 64;

    /// Logon tokens handed from [`WindowsAuthorizer::authenticate`] to
    /// [`WindowsFsFactory::open`], which the server calls right after it
    /// for the same login (one token per login; any token of a user serves
    /// any of that user's logins).
    #[derive(Debug, Default)]
    struct Tokens {
        waiting: Mutex<HashMap<String, VecDeque<Arc<Token>>>>,
    }

    impl Tokens {
        fn put(&self, username: &str, token: Token) {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            let q = w.entry(username.to_owned()).or_default();
            if q.len() >= MAX_WAITING_PER_USER {
                // logins whose filesystem was never opened (refused after
                // the password check): their tokens go
                q.pop_front();
            }
            q.push_back(Arc::new(token));
        }

        fn take(&self, username: &str) -> Option<Arc<Token>> {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            let q = w.get_mut(username)?;
            let t = q.pop_front();
            if q.is_empty() {
                w.remove(username);
            }
            t
        }
    }

    /// Windows accounts as FTP users (pyftpdlib's `WindowsAuthorizer`).
    ///
    /// A user logs in with a Windows account name (`alice`,
    /// `DOMAIN\alice` or `alice@domain`) and its password, checked by
    /// `LogonUserW` (an interactive logon, as pyftpdlib makes it: the
    /// account needs the "log on locally" right). The session is confined
    /// to the user's profile directory (`C:\Users\alice`, from
    /// `GetUserProfileDirectoryW`) unless [`WindowsUserOverride::home`] says
    /// otherwise. Serve it with [`WindowsAuthorizer::filesystem`], so
    /// that every file operation runs impersonating the user.
    ///
    /// Options, as pyftpdlib's: global permission letters (default all,
    /// `elradfmwMT`) with per-user overrides; an allowed list or a
    /// rejected list of account names (compared without domain and case,
    /// as Windows compares them); the `anonymous` login mapped to a guest
    /// account and its password (pyftpdlib's `anonymous_user` and
    /// `anonymous_password`; the account must be enabled and have a
    /// profile directory, or a home given by an override of
    /// `anonymous`); the login and quit messages.
    ///
    /// ```no_run
    /// use ftpdlib::auth::{WindowsUserOverride, WindowsAuthorizer};
    /// use ftpdlib::server::ServerBuilder;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut auth = WindowsAuthorizer::new()
    ///     .with_rejected_users(["Administrator"])?
    ///     .with_anonymous_user("Guest", "")?;
    /// auth.override_user(
    ///     "anonymous",
    ///     WindowsUserOverride { perm: Some("elr".into()), ..WindowsUserOverride::default() },
    /// )?;
    /// let fs = auth.filesystem();
    /// ServerBuilder::new(auth).filesystem(fs).bind("0.0.0.0:2121")?.serve_forever()?;
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct WindowsAuthorizer {
        rules: Rules,
        tokens: Arc<Tokens>,
    }

    impl Default for WindowsAuthorizer {
        fn default() -> Self {
            Self::new()
        }
    }

    impl WindowsAuthorizer {
        /// pyftpdlib's defaults: every permission, no allowed or rejected
        /// list, no anonymous login, `Login successful.` and `Goodbye.`.
        pub fn new() -> Self {
            WindowsAuthorizer {
                rules: Rules::new(),
                tokens: Arc::default(),
            }
        }

        /// The permission letters of every user without an override.
        ///
        /// # Errors
        /// [`AuthError::Internal`] for a letter outside `elradfmwMT`.
        pub fn with_global_perm(mut self, perm: &str) -> Result<Self, AuthError> {
            self.rules.set_global_perm(perm)?;
            Ok(self)
        }

        /// Only these accounts may log in (names without domain, any case).
        ///
        /// # Errors
        /// [`AuthError::Internal`] when rejected users are set too
        /// (pyftpdlib: the options are mutually exclusive).
        pub fn with_allowed_users<I, S>(mut self, users: I) -> Result<Self, AuthError>
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.rules
                .set_allowed(users.into_iter().map(Into::into).collect())?;
            Ok(self)
        }

        /// These accounts may not log in (names without domain, any case).
        ///
        /// # Errors
        /// [`AuthError::Internal`] when allowed users are set too.
        pub fn with_rejected_users<I, S>(mut self, users: I) -> Result<Self, AuthError>
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.rules
                .set_rejected(users.into_iter().map(Into::into).collect())?;
            Ok(self)
        }

        /// Let `anonymous` log in (with any password) as the Windows
        /// account `user` with `password` (pyftpdlib's `anonymous_user`
        /// and `anonymous_password`, typically `Guest` and `""`).
        ///
        /// # Errors
        /// [`AuthError::Internal`] when Windows knows no account `user`.
        pub fn with_anonymous_user(
            mut self,
            user: &str,
            password: &str,
        ) -> Result<Self, AuthError> {
            if !crate::sys::account_exists(user) {
                return Err(AuthError::Internal(format!("no such user {user:?}")));
            }
            self.rules.set_anonymous(user, password);
            Ok(self)
        }

        /// The texts of the `230` (login) and `221` (QUIT) replies.
        pub fn with_messages(mut self, msg_login: &str, msg_quit: &str) -> Self {
            self.rules.set_messages(msg_login, msg_quit);
            self
        }

        /// Give `username` (an account name, or `anonymous`) its own home,
        /// permissions or messages (pyftpdlib's `override_user`).
        ///
        /// # Errors
        /// [`AuthError::Internal`] for an account Windows does not know,
        /// a permission letter outside `elradfmwMT` or a home that is not
        /// a directory.
        pub fn override_user(
            &mut self,
            username: &str,
            o: WindowsUserOverride,
        ) -> Result<(), AuthError> {
            if username != super::ANONYMOUS && !crate::sys::account_exists(username) {
                return Err(AuthError::Internal(format!("no such user {username:?}")));
            }
            self.rules.set_override(username, o)
        }

        /// Whether `username` names an account to serve: `anonymous` when
        /// a guest account is set, else an account Windows knows
        /// (pyftpdlib's `has_user`; the allowed and rejected lists and the
        /// password are decided at login).
        pub fn has_user(&self, username: &str) -> bool {
            if username == super::ANONYMOUS {
                return self.rules.anonymous.is_some();
            }
            crate::sys::account_exists(username)
        }

        /// The filesystem factory that serves this authorizer's users: a
        /// [`LocalFsFactory`] whose every call impersonates the user.
        pub fn filesystem(&self) -> WindowsFsFactory {
            WindowsFsFactory {
                tokens: Arc::clone(&self.tokens),
                inner: Arc::new(LocalFsFactory::default()),
            }
        }
    }

    impl Authorizer for WindowsAuthorizer {
        fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
            let (system_user, system_password) = self.rules.logon_for(username, password)?;
            let (user, domain) = split_domain(system_user);
            let token = match crate::sys::logon_user(user, domain, system_password) {
                Ok(t) => t,
                Err(None) => return Err(AuthError::Failed),
                Err(Some(e)) => return Err(AuthError::Internal(format!("LogonUserW: {e}"))),
            };
            let home = match self.rules.home_override(username) {
                Some(h) => h,
                None => token.profile_directory().map_err(|e| {
                    AuthError::Internal(format!(
                        "no profile directory for user {system_user:?}: {e}"
                    ))
                })?,
            };
            let account = self.rules.account(username, home);
            self.tokens.put(username, token);
            Ok(account)
        }
    }

    /// Opens the filesystem of a [`WindowsAuthorizer`]'s user with the
    /// logon token of that login, every call made impersonating the user.
    #[derive(Clone)]
    pub struct WindowsFsFactory {
        tokens: Arc<Tokens>,
        inner: Arc<dyn FilesystemFactory>,
    }

    impl std::fmt::Debug for WindowsFsFactory {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("WindowsFsFactory").finish_non_exhaustive()
        }
    }

    impl WindowsFsFactory {
        /// Impersonate around another filesystem than [`LocalFsFactory`]'s.
        pub fn with_inner(mut self, inner: impl FilesystemFactory + 'static) -> Self {
            self.inner = Arc::new(inner);
            self
        }
    }

    impl FilesystemFactory for WindowsFsFactory {
        /// The inner factory's filesystem, opened while impersonating.
        ///
        /// # Errors
        /// [`io::ErrorKind::PermissionDenied`] when the account did not log
        /// in through this factory's [`WindowsAuthorizer`]; the OS error
        /// when impersonation fails; the inner factory's errors.
        fn open(&self, account: &Account) -> io::Result<Box<dyn Filesystem>> {
            let token = self.tokens.take(&account.username).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "no Windows logon for this account (WindowsFsFactory serves \
                     WindowsAuthorizer's logins only)",
                )
            })?;
            let inner = {
                let _as_user = token.impersonate()?;
                self.inner.open(account)?
            };
            Ok(Box::new(AsUser { inner, token }))
        }
    }

    /// A filesystem whose every call runs impersonating a user.
    struct AsUser {
        inner: Box<dyn Filesystem>,
        token: Arc<Token>,
    }

    impl AsUser {
        fn run<T>(&self, op: impl FnOnce(&dyn Filesystem) -> io::Result<T>) -> io::Result<T> {
            let _as_user = self.token.impersonate()?;
            op(&*self.inner)
        }
    }

    impl Filesystem for AsUser {
        fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
            self.run(|fs| fs.metadata(path))
        }
        fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
            self.run(|fs| fs.symlink_metadata(path))
        }
        fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries> {
            let inner = self.run(|fs| fs.read_dir(path))?;
            Ok(Box::new(EntriesAsUser {
                inner,
                token: Arc::clone(&self.token),
            }))
        }
        fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>> {
            // reads of an open handle need no further check
            self.run(|fs| fs.open_read(path))
        }
        fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>> {
            let inner = self.run(|fs| fs.open_write(path, mode))?;
            Ok(Box::new(WriteAsUser {
                inner,
                token: Arc::clone(&self.token),
            }))
        }
        fn create_unique(
            &self,
            dir: &[u8],
            prefix: &str,
        ) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)> {
            let (path, inner) = self.run(|fs| fs.create_unique(dir, prefix))?;
            let file = WriteAsUser {
                inner,
                token: Arc::clone(&self.token),
            };
            Ok((path, Box::new(file)))
        }
        fn mkdir(&self, path: &[u8]) -> io::Result<()> {
            self.run(|fs| fs.mkdir(path))
        }
        fn rmdir(&self, path: &[u8]) -> io::Result<()> {
            self.run(|fs| fs.rmdir(path))
        }
        fn remove_file(&self, path: &[u8]) -> io::Result<()> {
            self.run(|fs| fs.remove_file(path))
        }
        fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
            self.run(|fs| fs.rename(from, to))
        }
        fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
            self.run(|fs| fs.chmod(path, mode))
        }
        fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()> {
            self.run(|fs| fs.set_mtime(path, secs))
        }
        fn display_path(&self, path: &[u8]) -> PathBuf {
            self.inner.display_path(path)
        }
        fn is_local_fast(&self) -> bool {
            self.inner.is_local_fast()
        }
    }

    /// Directory entries read impersonating the user (each entry's
    /// metadata is an access-checked call).
    struct EntriesAsUser {
        inner: DirEntries,
        token: Arc<Token>,
    }

    impl Iterator for EntriesAsUser {
        type Item = EntryInfo;

        fn next(&mut self) -> Option<EntryInfo> {
            match self.token.impersonate() {
                Ok(_as_user) => self.inner.next(),
                Err(e) => {
                    log::warn!("impersonation failed during a listing: {e}");
                    None
                }
            }
        }
    }

    /// An upload whose commit (a rename) and abort (a removal) run
    /// impersonating the user; writes go to the handle opened as the user.
    struct WriteAsUser {
        inner: Box<dyn WriteFile>,
        token: Arc<Token>,
    }

    impl Write for WriteAsUser {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.inner.write(buf)
        }
        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            self.inner.write_vectored(bufs)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }

    impl WriteFile for WriteAsUser {
        fn raw_fd(&self) -> Option<std::os::windows::io::RawHandle> {
            self.inner.raw_fd()
        }
        fn commit(self: Box<Self>) -> io::Result<()> {
            let _as_user = self.token.impersonate()?;
            self.inner.commit()
        }
        fn abort(self: Box<Self>) -> io::Result<()> {
            let _as_user = self.token.impersonate()?;
            self.inner.abort()
        }
    }
}

#[cfg(test)]
mod tests;
