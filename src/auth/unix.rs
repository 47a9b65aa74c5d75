//! System users (pyftpdlib's `UnixAuthorizer` with its `UnixFilesystem`).
//!
//! Users and homes come from the system's user database (`getpwnam(3)`),
//! passwords from the shadow database, checked by the system's libxcrypt
//! (every method Debian uses, yescrypt included) or, optionally, by PAM.
//! Each session's file operations run as its user (uid, gid and
//! supplementary groups; see [`crate::fs`]), so the kernel's permissions
//! decide what the user may do, and the permission letters only narrow
//! them. The client sees the real paths (`/` is the system's root) and
//! starts in the home directory, as with pyftpdlib's `UnixFilesystem` and
//! vsftpd's default; [`UnixAuthorizer::confine_to_home`] shows each user
//! only their home instead.
//!
//! The server must run as root to read the shadow database and to act as
//! other users.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use nix::unistd::{Gid, User};

use super::hash;
use super::{Account, AuthError, Authorizer, Identity, DEFAULT_MSG_LOGIN, DEFAULT_MSG_QUIT};
use crate::proto::perm::{PermTable, Perms};

/// The name of the anonymous login.
const ANONYMOUS: &str = "anonymous";
/// Where valid login shells are listed (shells(5)).
const SHELLS: &str = "/etc/shells";
/// A yescrypt hash at Debian's default cost, checked for a user that does
/// not exist or cannot log in, so that the refusal takes as long.
const DUMMY_HASH: &str =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$9D5RovS/HuknGI0.ktF/JBj1lhaH1xkbCFp3CJ3OVL/";

/// Per-user settings that replace the global ones (pyftpdlib's
/// `UnixAuthorizer.override_user`).
#[derive(Debug, Clone, Default)]
struct UserOverride {
    perm: Option<Perms>,
    home: Option<PathBuf>,
    msg_login: Option<String>,
    msg_quit: Option<String>,
}

/// Who may log in among the system's users, and how their passwords are checked.
#[derive(Debug, Clone)]
enum Passwords {
    /// The shadow database, through libxcrypt.
    Shadow,
    /// A PAM service (`/etc/pam.d/<name>`).
    #[cfg(feature = "pam")]
    Pam(String),
}

/// Logins of the system's users (see the module docs).
///
/// ```no_run
/// use ftpdlib::auth::UnixAuthorizer;
/// use ftpdlib::ServerBuilder;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = UnixAuthorizer::new()
///     .rejected_users(["root", "daemon"])?
///     .anonymous_user("ftp")?;
/// ServerBuilder::new(auth).bind("0.0.0.0:21")?.serve_forever()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct UnixAuthorizer {
    global_perm: Perms,
    allowed: Option<HashSet<String>>,
    rejected: HashSet<String>,
    require_valid_shell: bool,
    anonymous_user: Option<String>,
    confine_to_home: bool,
    msg_login: String,
    msg_quit: String,
    passwords: Passwords,
    overrides: RwLock<HashMap<String, UserOverride>>,
}

impl Default for UnixAuthorizer {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixAuthorizer {
    /// pyftpdlib's defaults: every permission letter (`elradfmwMT`; the
    /// kernel decides), `root` refused, a valid shell required, no
    /// anonymous login, real paths, passwords from the shadow database.
    pub fn new() -> Self {
        UnixAuthorizer {
            global_perm: Perms::all(),
            allowed: None,
            rejected: HashSet::from(["root".to_owned()]),
            require_valid_shell: true,
            anonymous_user: None,
            confine_to_home: false,
            msg_login: DEFAULT_MSG_LOGIN.into(),
            msg_quit: DEFAULT_MSG_QUIT.into(),
            passwords: Passwords::Shadow,
            overrides: RwLock::new(HashMap::new()),
        }
    }

    /// The permission letters of every user without an override.
    ///
    /// # Errors
    /// [`AuthError::Internal`] for a letter outside `elradfmwMT`.
    pub fn global_perm(mut self, perm: &str) -> Result<Self, AuthError> {
        self.global_perm = parse_perm(perm)?;
        Ok(self)
    }

    /// Only these users may log in (pyftpdlib's `allowed_users`; exclusive
    /// with [`UnixAuthorizer::rejected_users`] beyond the default `root`).
    ///
    /// # Errors
    /// [`AuthError::Internal`] when rejected users other than `root` are set.
    pub fn allowed_users<I, S>(mut self, users: I) -> Result<Self, AuthError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if self.rejected.iter().any(|u| u != "root") {
            return Err(AuthError::Internal(
                "allowed_users and rejected_users options are mutually exclusive".into(),
            ));
        }
        self.allowed = Some(users.into_iter().map(Into::into).collect());
        Ok(self)
    }

    /// These users may never log in (pyftpdlib's `rejected_users`); replaces
    /// the default (`root`). While `root` is in the list, so is every other
    /// name of uid 0.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when allowed users are set.
    pub fn rejected_users<I, S>(mut self, users: I) -> Result<Self, AuthError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if self.allowed.is_some() {
            return Err(AuthError::Internal(
                "allowed_users and rejected_users options are mutually exclusive".into(),
            ));
        }
        self.rejected = users.into_iter().map(Into::into).collect();
        Ok(self)
    }

    /// Whether a user's login shell must be listed in `/etc/shells`
    /// (pyftpdlib's `require_valid_shell`, default `true`: a
    /// `/usr/sbin/nologin` account cannot log in).
    pub fn require_valid_shell(mut self, required: bool) -> Self {
        self.require_valid_shell = required;
        self
    }

    /// Let `anonymous` log in with any password, as system user `user`
    /// (e.g. `ftp`), in that user's home, with the letters `elr` unless
    /// overridden (pyftpdlib's `anonymous_user`).
    ///
    /// # Errors
    /// [`AuthError::Internal`] when the system has no such user, or it has
    /// uid 0: anonymous logs in with any password, and as root its
    /// sessions would read and write anything (`/etc/shadow`...).
    pub fn anonymous_user(mut self, user: &str) -> Result<Self, AuthError> {
        match User::from_name(user) {
            Ok(Some(u)) if u.uid.is_root() => {
                return Err(AuthError::Internal(format!(
                    "anonymous user {user:?} has uid 0: anonymous would be root"
                )))
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(AuthError::Internal(format!("no such user {user:?}"))),
            Err(e) => return Err(AuthError::Internal(format!("looking up {user:?}: {e}"))),
        }
        self.anonymous_user = Some(user.to_owned());
        self.overrides
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .entry(ANONYMOUS.to_owned())
            .or_default()
            .perm
            .get_or_insert_with(|| {
                Perms::parse(crate::proto::perm::READ_PERMS).unwrap_or(Perms::NONE)
            });
        Ok(self)
    }

    /// Show each user only their home directory, as `/` (instead of the
    /// real paths).
    pub fn confine_to_home(mut self, confine: bool) -> Self {
        self.confine_to_home = confine;
        self
    }

    /// The texts of the `230` (login) and `221` (QUIT) replies.
    pub fn messages(mut self, msg_login: &str, msg_quit: &str) -> Self {
        self.msg_login = msg_login.into();
        self.msg_quit = msg_quit.into();
        self
    }

    /// Check passwords through the PAM service `service`
    /// (`/etc/pam.d/<service>`) instead of reading the shadow database.
    #[cfg(feature = "pam")]
    pub fn pam_service(mut self, service: &str) -> Self {
        self.passwords = Passwords::Pam(service.to_owned());
        self
    }

    /// Settings of one user that replace the global ones (pyftpdlib's
    /// `override_user`): permission letters, home directory, messages.
    /// `None` keeps the global setting.
    ///
    /// # Errors
    /// [`AuthError::Internal`] for an unknown letter, or a home that is not
    /// an existing directory.
    pub fn override_user(
        &self,
        username: &str,
        perm: Option<&str>,
        home: Option<&Path>,
        msg_login: Option<&str>,
        msg_quit: Option<&str>,
    ) -> Result<(), AuthError> {
        let perm = perm.map(parse_perm).transpose()?;
        if let Some(h) = home {
            if !h.is_dir() {
                return Err(AuthError::Internal(format!(
                    "no such directory: {}",
                    h.display()
                )));
            }
        }
        let mut overrides = self.overrides.write().unwrap_or_else(|e| e.into_inner());
        let o = overrides.entry(username.to_owned()).or_default();
        if perm.is_some() {
            o.perm = perm;
        }
        if let Some(h) = home {
            o.home = Some(h.to_path_buf());
        }
        if let Some(m) = msg_login {
            o.msg_login = Some(m.to_owned());
        }
        if let Some(m) = msg_quit {
            o.msg_quit = Some(m.to_owned());
        }
        Ok(())
    }

    /// Why `username` may not log in whatever the password, if so.
    fn refusal(&self, username: &str, user: &User) -> Option<String> {
        if self.rejected.contains(username) {
            return Some("is a rejected user".into());
        }
        // root is refused by what it is, not only by its name: another name
        // of uid 0 (toor, a second root account) would run as root
        if user.uid.is_root() && self.rejected.contains("root") {
            return Some("has uid 0, as root, which is a rejected user".into());
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(username) {
                return Some("is not an allowed user".into());
            }
        }
        if self.require_valid_shell && !valid_shell(&user.shell) {
            return Some(format!(
                "has no valid shell ({} is not in {SHELLS})",
                user.shell.display()
            ));
        }
        None
    }

    /// Whether `password` is `username`'s.
    fn password_ok(&self, username: &str, password: &str) -> Result<bool, AuthError> {
        match &self.passwords {
            Passwords::Shadow => {
                let entry = crate::sys::shadow_entry(username)
                    .map_err(|e| AuthError::Internal(format!("shadow database: {e}")))?;
                match entry {
                    // locked ("!..."), disabled ("*") or password-less: no login
                    Some(e) if e.hash.starts_with('$') => {
                        let ok = hash::verify_crypt(&e.hash, password.as_bytes())
                            .map_err(|e| AuthError::Internal(e.to_string()))?;
                        if !ok {
                            return Ok(false);
                        }
                        // checked once the password is known right, so that
                        // the refusal tells nothing to who does not know it
                        match aging_refusal(&e, days_since_epoch()) {
                            Some(why) => {
                                log::info!("system user '{username}' refused: {why}");
                                Ok(false)
                            }
                            None => Ok(true),
                        }
                    }
                    _ => {
                        let _ = hash::verify_crypt(DUMMY_HASH, password.as_bytes());
                        Ok(false)
                    }
                }
            }
            #[cfg(feature = "pam")]
            Passwords::Pam(service) => pam_check(service, username, password),
        }
    }

    /// The account of system user `user`, logged in as `login`.
    fn account(&self, login: &str, user: &User) -> Result<Account, AuthError> {
        let o = self
            .overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(login)
            .cloned()
            .unwrap_or_default();
        let home = o.home.unwrap_or_else(|| user.dir.clone());
        let perms = PermTable::uniform(o.perm.unwrap_or(self.global_perm));
        let name = CString::new(user.name.as_bytes())
            .map_err(|_| AuthError::Internal("NUL byte in a user name".into()))?;
        let groups = nix::unistd::getgrouplist(&name, user.gid)
            .map_err(|e| AuthError::Internal(format!("groups of {}: {e}", user.name)))?;
        let identity = Identity::new(
            user.uid.as_raw(),
            user.gid.as_raw(),
            groups.into_iter().map(Gid::as_raw).collect(),
        );
        let root = if self.confine_to_home {
            home.clone()
        } else {
            PathBuf::from("/")
        };
        Ok(Account::new(login, home, perms)
            .with_root(root)
            .with_identity(identity)
            .with_messages(
                o.msg_login.as_deref().unwrap_or(&self.msg_login),
                o.msg_quit.as_deref().unwrap_or(&self.msg_quit),
            ))
    }
}

impl Authorizer for UnixAuthorizer {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        if username == ANONYMOUS {
            if let Some(anon) = &self.anonymous_user {
                let user = lookup(anon)?.ok_or_else(|| {
                    AuthError::Internal(format!("anonymous user {anon:?} no longer exists"))
                })?;
                // checked again at each login: the user database may have
                // changed since, and a rejected user is not let in this way
                if user.uid.is_root() || self.rejected.contains(anon.as_str()) {
                    return Err(AuthError::Internal(format!(
                        "anonymous user {anon:?} is root or a rejected user: refused"
                    )));
                }
                return self.account(ANONYMOUS, &user);
            }
        }
        let Some(user) = lookup(username)? else {
            let _ = hash::verify_crypt(DUMMY_HASH, password.as_bytes());
            return Err(AuthError::Failed);
        };
        if let Some(why) = self.refusal(username, &user) {
            log::info!("system user '{username}' refused: {why}");
            let _ = hash::verify_crypt(DUMMY_HASH, password.as_bytes());
            return Err(AuthError::Failed);
        }
        if !self.password_ok(username, password)? {
            return Err(AuthError::Failed);
        }
        self.account(username, &user)
    }
}

/// Today, in days since 1970-01-01 (UTC), as the shadow database counts.
fn days_since_epoch() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

/// Why the shadow entry `e` refuses a login on day `today` although the
/// password is right, if it does: the checks of pam_unix's account module
/// (shadow(5)). An expired account, a password past its maximum age plus
/// the inactive period, and a password that must be changed (expired, or
/// a last change on day 0, as `passwd -e` and `chage -d 0` set) all
/// refuse: FTP has no way to change a password.
fn aging_refusal(e: &crate::sys::ShadowEntry, today: i64) -> Option<&'static str> {
    if e.expire.is_some_and(|x| today >= x) {
        return Some("the account has expired");
    }
    let last = e.last_change?;
    if last == 0 {
        return Some("the password must be changed first");
    }
    let age = today - last;
    let max = e.max_days?;
    if age > max {
        if let Some(inactive) = e.inactive_days {
            if age > max.saturating_add(inactive) {
                return Some("the password expired and the account is inactive");
            }
        }
        return Some("the password has expired and must be changed first");
    }
    None
}

/// The system user `name`, `None` if there is none.
fn lookup(name: &str) -> Result<Option<User>, AuthError> {
    if name.is_empty() || name.contains('\0') {
        return Ok(None);
    }
    User::from_name(name).map_err(|e| AuthError::Internal(format!("looking up {name:?}: {e}")))
}

fn parse_perm(perm: &str) -> Result<Perms, AuthError> {
    Perms::parse(perm)
        .map_err(|e| AuthError::Internal(format!("invalid permissions {perm:?}: {e}")))
}

/// Whether `shell` is listed in `/etc/shells` (read at each login, as
/// pyftpdlib does, so that an edit takes effect at once).
fn valid_shell(shell: &Path) -> bool {
    let Ok(list) = std::fs::read_to_string(SHELLS) else {
        return false;
    };
    list.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .any(|l| Path::new(l) == shell)
}

#[cfg(test)]
mod tests;

/// Check `username`'s password with PAM service `service`: `pam_authenticate`
/// then `pam_acct_mgmt` (an expired or locked account is refused).
#[cfg(feature = "pam")]
fn pam_check(service: &str, username: &str, password: &str) -> Result<bool, AuthError> {
    /// PAM's answers that mean "not this user, not this password" rather
    /// than a broken PAM stack (the crate shows the code by its name only).
    const REFUSALS: &[&str] = &[
        "AUTH_ERR",
        "USER_UNKNOWN",
        "MAXTRIES",
        "ACCT_EXPIRED",
        "NEW_AUTHTOK_REQD",
        "PERM_DENIED",
        "CRED_INSUFFICIENT",
    ];
    let mut auth = pam::Authenticator::with_password(service)
        .map_err(|e| AuthError::Internal(format!("PAM service {service:?}: {e}")))?;
    auth.get_handler().set_credentials(username, password);
    match auth.authenticate() {
        Ok(()) => Ok(true),
        Err(e) if REFUSALS.contains(&format!("{e:?}").as_str()) => {
            log::info!("PAM service {service:?} refused '{username}': {e:?}");
            Ok(false)
        }
        Err(e) => Err(AuthError::Internal(format!(
            "PAM service {service:?}: {e:?}"
        ))),
    }
}
