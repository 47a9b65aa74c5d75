//! Users in PostgreSQL: the design card's "blocking handler that calls a
//! database" (feature `postgres`).
//!
//! Two tables hold the accounts (created by [`PgAuthorizer::init_schema`],
//! `ftpdlib db init`; see [`SCHEMA`]): `ftp_users`, one row per user (the
//! password hash, home, permission letters, login and quit messages, a
//! `disabled` switch and the limits of [`AccountLimits`]), and
//! `ftp_perm_overrides`, pyftpdlib's `override_perm` as rows (user,
//! directory, letters, recursive). Each login runs one query on a pooled
//! connection, then checks the password with [`hash::verify`] after the
//! connection went back to the pool.
//!
//! [`Authorizer::authenticate`] blocks on the database: the servers call it
//! off the poll loop (on the login workers of the poll and pre-fork models,
//! on the session's own thread or process in the others), so a slow or
//! unreachable database delays only the logins waiting for it.
//!
//! Every wait has a deadline ([`PgOptions`]): connecting, waiting for a
//! pooled connection, each query (`statement_timeout`, and TCP keepalives
//! and `tcp_user_timeout` when the server vanishes from the network). A
//! database that cannot be reached makes the login fail with
//! [`AuthError::Internal`] (logged; the client gets `530`); the pool
//! reconnects by itself when the database is back.
//!
//! The pool belongs to the process that made it: a forked child (the
//! sessions of [`crate::ConcurrencyModel::Process`], the workers of
//! [`crate::ConcurrencyModel::Prefork`]) never uses the connections it
//! inherited, which speak for its parent, and opens its own at its first
//! login.

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio_postgres::types::Type;

use super::{hash, Account, AccountLimits, AuthError, Authorizer};
use crate::proto::perm::{DirOverride, PermTable, Perms};

/// The tables `ftpdlib db init` creates ([`PgAuthorizer::init_schema`]);
/// every statement is idempotent (`CREATE TABLE IF NOT EXISTS`).
///
/// - `ftp_users.password`: a PHC or crypt(3) string, or `md5:<hex>`
///   (see [`hash`]); `NULL` only for `anonymous`, who then logs in with
///   any password (pyftpdlib's anonymous user).
/// - `home`: an absolute directory; the user sees it as `/`.
/// - `perm`: pyftpdlib's letters `elradfmwMT`.
/// - `msg_login`, `msg_quit`: the texts of the `230` and `221` replies
///   (`NULL`: `Login successful.`, `Goodbye.`).
/// - `disabled`: refused like a wrong password.
/// - `max_sessions`, `read_limit`, `write_limit` (bytes/s), `allow_from`
///   (networks such as `10.0.0.0/8`, `::1/128`, `192.0.2.7`),
///   `tls_required`: [`AccountLimits`], `0`/empty meaning none.
/// - `ftp_perm_overrides.path`: a directory inside the user's home,
///   absolute or relative to the home; `recursive` covers what is below it
///   too (pyftpdlib's `override_perm`).
pub const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS ftp_users (
    name         text PRIMARY KEY CHECK (name <> ''),
    password     text CHECK (password IS NOT NULL OR name = 'anonymous'),
    home         text NOT NULL,
    perm         text NOT NULL DEFAULT 'elr' CHECK (perm ~ '^[elradfmwMT]*$'),
    msg_login    text,
    msg_quit     text,
    disabled     boolean NOT NULL DEFAULT false,
    max_sessions integer NOT NULL DEFAULT 0 CHECK (max_sessions >= 0),
    read_limit   bigint NOT NULL DEFAULT 0 CHECK (read_limit >= 0),
    write_limit  bigint NOT NULL DEFAULT 0 CHECK (write_limit >= 0),
    allow_from   text[] NOT NULL DEFAULT '{}' CHECK (allow_from::inet[] IS NOT NULL),
    tls_required boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS ftp_perm_overrides (
    username  text NOT NULL REFERENCES ftp_users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    path      text NOT NULL,
    perm      text NOT NULL CHECK (perm ~ '^[elradfmwMT]*$'),
    recursive boolean NOT NULL DEFAULT false,
    PRIMARY KEY (username, path)
);
";

/// One login's query: the user's row, once per override (or once with
/// `NULL` override columns).
const LOGIN_QUERY: &str = "\
SELECT u.password, u.home, u.perm, u.msg_login, u.msg_quit, u.disabled,
       u.max_sessions, u.read_limit, u.write_limit, u.allow_from, u.tls_required,
       o.path, o.perm, o.recursive
FROM ftp_users u LEFT JOIN ftp_perm_overrides o ON o.username = u.name
WHERE u.name = $1";

/// The user that logs in with any password when its row has none.
const ANONYMOUS: &str = "anonymous";

/// Why the database could not be used (outside a login, where every
/// failure is an [`AuthError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgError {
    /// The URL or the options are unusable; the text says why.
    Config(String),
    /// Connecting or a statement failed; the text is the database's.
    Database(String),
    /// A value given to [`PgAuthorizer::add_user`] is refused.
    Invalid(String),
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PgError::Config(e) => write!(f, "PostgreSQL configuration: {e}"),
            PgError::Database(e) => write!(f, "PostgreSQL: {e}"),
            PgError::Invalid(e) => write!(f, "invalid user: {e}"),
        }
    }
}

impl std::error::Error for PgError {}

/// Connection settings of a [`PgAuthorizer`]. Settings the URL gives
/// itself (`connect_timeout`, `tcp_user_timeout`, `keepalives_*`) win
/// over these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// Connections each process keeps open for logins (default 4). `0`:
    /// no pool: each login opens a connection and closes it after its
    /// query, which suits [`crate::ConcurrencyModel::Process`], where a
    /// session's process would otherwise hold a connection for the whole
    /// session (`ftpdlib --db-url` picks `0` for `multi-proc`).
    pub pool_size: u32,
    /// The longest a login waits to connect (the socket, TLS,
    /// authentication and the first statement), or for a pooled
    /// connection (default 5 s).
    pub connect_timeout: Duration,
    /// The longest the database may spend on one statement
    /// (`statement_timeout`, default 5 s); a server that does not answer
    /// within 1 s more is given up (the connection is closed), and a dead
    /// peer is noticed by TCP keepalives after about 10 s.
    pub statement_timeout: Duration,
    /// How long a pooled connection may stay unused before it is closed
    /// (default 10 minutes; `None`: kept).
    pub idle_timeout: Option<Duration>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
        }
    }
}

/// A new user for [`PgAuthorizer::add_user`] (one `ftp_users` row; the
/// other columns keep their defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewUser {
    /// The login name.
    pub name: String,
    /// The stored password hash (checked with [`hash::check_format`]),
    /// e.g. from [`hash::hash_password`] or `ftpdlib hash-password`.
    pub password_hash: String,
    /// The home directory (absolute).
    pub home: PathBuf,
    /// Permission letters (`elradfmwMT`).
    pub perm: String,
}

impl NewUser {
    /// A user with this name, stored hash, home and letters.
    pub fn new(
        name: impl Into<String>,
        password_hash: impl Into<String>,
        home: impl Into<PathBuf>,
        perm: impl Into<String>,
    ) -> Self {
        NewUser {
            name: name.into(),
            password_hash: password_hash.into(),
            home: home.into(),
            perm: perm.into(),
        }
    }
}

/// Users, hashes, homes and permissions in PostgreSQL (see the module
/// docs and [`SCHEMA`]).
///
/// ```no_run
/// use ftpdlib::auth::PgAuthorizer;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let users = PgAuthorizer::new("postgresql://ftpd@localhost/ftpd")?;
/// users.init_schema()?; // idempotent
/// ftpdlib::ServerBuilder::new(users).bind("0.0.0.0:2121")?.serve_forever()?;
/// # Ok(())
/// # }
/// ```
pub struct PgAuthorizer {
    connector: Connector,
    options: PgOptions,
    /// The pool of the process that made it (made at its first login).
    pool: Mutex<Option<ProcessPool>>,
}

impl std::fmt::Debug for PgAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the URL: it may hold a password
        f.debug_struct("PgAuthorizer")
            .field("hosts", &self.connector.config.get_hosts())
            .field("dbname", &self.connector.config.get_dbname())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A pool and the process it belongs to.
struct ProcessPool {
    pid: u32,
    pool: r2d2::Pool<Connector>,
}

impl PgAuthorizer {
    /// An authorizer for the database at `url` (`postgresql://user:pass@host:port/db`
    /// or `host=... user=... dbname=...`; `host` may be a Unix socket
    /// directory) with the default [`PgOptions`]. Nothing is connected
    /// until the first login.
    ///
    /// With `sslmode=prefer` (the default) or `require`, TLS is used when
    /// the server offers it, and its certificate is verified against the
    /// system's roots (as libpq's `verify-full`).
    ///
    /// # Errors
    /// [`PgError::Config`] for a URL that does not parse, or when the TLS
    /// connector cannot be made.
    pub fn new(url: &str) -> Result<Self, PgError> {
        Self::with_options(url, PgOptions::default())
    }

    /// [`PgAuthorizer::new`] with these options.
    ///
    /// # Errors
    /// As [`PgAuthorizer::new`].
    pub fn with_options(url: &str, options: PgOptions) -> Result<Self, PgError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| {
                PgError::Config(format!("bad database URL: {e}"))
            })?;
        // each wait gets a deadline, unless the URL sets its own
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(10));
        }
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(5));
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(2));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(3);
        }
        if config.get_application_name().is_none() {
            config.application_name("ftpdlib");
        }
        let tls = native_tls::TlsConnector::new()
            .map_err(|e| PgError::Config(format!("TLS connector: {e}")))?;
        Ok(PgAuthorizer {
            connector: Connector {
                config,
                tls: postgres_native_tls::MakeTlsConnector::new(tls),
                connect_timeout: options.connect_timeout,
                statement_timeout: options.statement_timeout,
                valid_timeout: options.connect_timeout,
            },
            options,
            pool: Mutex::new(None),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// Create the tables of [`SCHEMA`] where they are missing (safe to
    /// run again), on a connection of its own.
    ///
    /// # Errors
    /// [`PgError::Database`] when the database cannot be reached or
    /// refuses a statement (e.g. no right to create tables).
    pub fn init_schema(&self) -> Result<(), PgError> {
        let mut client = self.connector.open().map_err(db_error)?;
        // several statements in one simple query: one transaction
        client.batch_execute(SCHEMA).map_err(db_error)
    }

    /// Connect once and check that the tables are there (what a server
    /// can do at startup to fail early), on a connection of its own.
    ///
    /// # Errors
    /// [`PgError::Database`] when the database cannot be reached or the
    /// tables are missing or unreadable.
    pub fn check(&self) -> Result<(), PgError> {
        let mut client = self.connector.open().map_err(db_error)?;
        client
            .batch_execute(
                "SELECT 1 FROM ftp_users LIMIT 0; SELECT 1 FROM ftp_perm_overrides LIMIT 0",
            )
            .map_err(db_error)
    }

    /// Insert a user (the columns not in [`NewUser`] keep their
    /// defaults), on a connection of its own.
    ///
    /// # Errors
    /// [`PgError::Invalid`] for an empty name, a hash [`hash::verify`]
    /// cannot use, a relative home or unknown permission letters;
    /// [`PgError::Database`] when the database refuses (e.g. the user
    /// exists) or cannot be reached.
    pub fn add_user(&self, user: &NewUser) -> Result<(), PgError> {
        if user.name.is_empty() {
            return Err(PgError::Invalid("empty user name".into()));
        }
        hash::check_format(&user.password_hash).map_err(|e| PgError::Invalid(e.to_string()))?;
        if !user.home.is_absolute() {
            return Err(PgError::Invalid(format!(
                "the home directory must be absolute: {}",
                user.home.display()
            )));
        }
        let home = user
            .home
            .to_str()
            .ok_or_else(|| PgError::Invalid("the home directory is not UTF-8".into()))?;
        Perms::parse(&user.perm)
            .map_err(|e| PgError::Invalid(format!("permission letters: {e:?}")))?;
        let mut client = self.connector.open().map_err(db_error)?;
        client
            .execute(
                "INSERT INTO ftp_users (name, password, home, perm) VALUES ($1, $2, $3, $4)",
                &[&user.name, &user.password_hash, &home, &user.perm],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    /// This process's pool, made now if it has none: a pool inherited
    /// across `fork` is left alone (its connections are the parent's).
    fn pool(&self) -> Result<r2d2::Pool<Connector>, String> {
        let pid = std::process::id();
        let mut slot = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slot.as_ref() {
            if p.pid == pid {
                return Ok(p.pool.clone());
            }
        }
        if let Some(inherited) = slot.take() {
            // Dropping it would close the parent's connections (a
            // Terminate message on the shared socket) and wake threads
            // that do not exist here.
            std::mem::forget(inherited);
        }
        let size = self.options.pool_size.max(1);
        let connector = self.connector.clone();
        let idle = self.options.idle_timeout;
        let wait = self.options.connect_timeout;
        // r2d2 starts its threads here and panics if it can't
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .idle_timeout(idle)
                .connection_timeout(wait)
                .test_on_check_out(true)
                .error_handler(Box::new(LogError))
                .build_unchecked(connector)
        }))
        .map_err(|_| "could not start the connection pool".to_string())?;
        *slot = Some(ProcessPool {
            pid,
            pool: made.clone(),
        });
        Ok(made)
    }

    /// The rows of `username` (none for an unknown user).
    fn fetch(&self, username: &str) -> Result<Vec<tokio_postgres::Row>, String> {
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 1] =
            [(&username, Type::TEXT)];
        if self.options.pool_size == 0 {
            let mut client = self.connector.open().map_err(|e| e.to_string())?;
            // closed (with a goodbye) when dropped
            return client
                .query_typed(LOGIN_QUERY, &params)
                .map_err(|e| e.to_string());
        }
        let pool = self.pool()?;
        let mut conn = pool.get().map_err(|e| match e.to_string() {
            s if s.is_empty() || s == "timed out waiting for connection" => {
                "no connection to the database within the connect timeout".to_string()
            }
            s => s,
        })?;
        conn.query_typed(LOGIN_QUERY, &params)
            .map_err(|e| e.to_string())
    }
}

impl Authorizer for PgAuthorizer {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        if username.is_empty() || username.contains('\0') {
            hash::verify_nobody(password.as_bytes());
            return Err(AuthError::Failed);
        }
        let rows = self
            .fetch(username)
            .map_err(|e| AuthError::Internal(format!("PostgreSQL unavailable: {e}")))?;
        // the connection is back in the pool: now the slow part
        let Some(first) = rows.first() else {
            hash::verify_nobody(password.as_bytes());
            return Err(AuthError::Failed);
        };
        let user = UserRow::from_rows(first, &rows)
            .map_err(|e| AuthError::Internal(format!("user {username:?} in PostgreSQL: {e}")))?;
        match &user.password {
            Some(stored) => {
                let ok = hash::verify(stored, password.as_bytes()).map_err(|e| {
                    AuthError::Internal(format!("user {username:?} in PostgreSQL: {e}"))
                })?;
                if !ok {
                    return Err(AuthError::Failed);
                }
            }
            // only the anonymous user may have no password (the schema
            // says so too); any other is refused
            None if username == ANONYMOUS => {}
            None => {
                hash::verify_nobody(password.as_bytes());
                log::warn!("user {username:?} in PostgreSQL has no password: refused");
                return Err(AuthError::Failed);
            }
        }
        if user.disabled {
            log::info!("user {username:?} is disabled in PostgreSQL: refused");
            return Err(AuthError::Failed);
        }
        user.into_account(username)
            .map_err(|e| AuthError::Internal(format!("user {username:?} in PostgreSQL: {e}")))
    }
}

/// One `ftp_users` row with its overrides, as read.
struct UserRow {
    password: Option<String>,
    home: String,
    perm: String,
    msg_login: Option<String>,
    msg_quit: Option<String>,
    disabled: bool,
    limits: AccountLimits,
    /// (path, letters, recursive)
    overrides: Vec<(String, String, bool)>,
}

impl UserRow {
    fn from_rows(
        first: &tokio_postgres::Row,
        rows: &[tokio_postgres::Row],
    ) -> Result<UserRow, String> {
        let col = |e: tokio_postgres::Error| format!("unexpected column type: {}", explain(&e));
        let max_sessions: i32 = first.try_get(6).map_err(col)?;
        let read_limit: i64 = first.try_get(7).map_err(col)?;
        let write_limit: i64 = first.try_get(8).map_err(col)?;
        let allow_from: Vec<String> = first.try_get(9).map_err(col)?;
        let negative = |what: &str| format!("{what} is negative");
        let limits = AccountLimits {
            max_sessions: u32::try_from(max_sessions).map_err(|_| negative("max_sessions"))?,
            read_limit: u64::try_from(read_limit).map_err(|_| negative("read_limit"))?,
            write_limit: u64::try_from(write_limit).map_err(|_| negative("write_limit"))?,
            allow_from: allow_from
                .iter()
                .map(|s| parse_net(s))
                .collect::<Result<_, _>>()?,
            tls_required: first.try_get(10).map_err(col)?,
        };
        let mut overrides = Vec::new();
        for row in rows {
            let path: Option<String> = row.try_get(11).map_err(col)?;
            if let Some(path) = path {
                overrides.push((
                    path,
                    row.try_get(12).map_err(col)?,
                    row.try_get(13).map_err(col)?,
                ));
            }
        }
        Ok(UserRow {
            password: first.try_get(0).map_err(col)?,
            home: first.try_get(1).map_err(col)?,
            perm: first.try_get(2).map_err(col)?,
            msg_login: first.try_get(3).map_err(col)?,
            msg_quit: first.try_get(4).map_err(col)?,
            disabled: first.try_get(5).map_err(col)?,
            limits,
            overrides,
        })
    }

    /// The account the row describes. A row that cannot be used as
    /// written (a home that is not there, an override outside the home,
    /// an unknown letter) refuses the login rather than grant other
    /// permissions than the ones meant.
    fn into_account(self, username: &str) -> Result<Account, String> {
        let letters = |s: &str| {
            Perms::parse(s).map_err(|e| format!("unknown permission letter in {s:?}: {e:?}"))
        };
        let written = PathBuf::from(&self.home);
        if !written.is_absolute() {
            return Err(format!("home {:?} is not an absolute path", self.home));
        }
        let home = std::fs::canonicalize(&written)
            .map_err(|e| format!("home {}: {e}", written.display()))?;
        let mut overrides = Vec::with_capacity(self.overrides.len());
        for (path, perm, recursive) in &self.overrides {
            let dir = virtual_dir(&written, &home, Path::new(path)).ok_or_else(|| {
                format!("override {path:?} is not a directory inside the home {written:?}")
            })?;
            overrides.push(DirOverride {
                dir,
                perms: letters(perm)?,
                recursive: *recursive,
            });
        }
        let perms = PermTable::with_overrides(letters(&self.perm)?, overrides);
        let mut account = Account::new(username, home, perms).with_limits(self.limits);
        if let Some(m) = self.msg_login {
            account.msg_login = m;
        }
        if let Some(m) = self.msg_quit {
            account.msg_quit = m;
        }
        Ok(account)
    }
}

/// A client network: `10.0.0.0/8`, `::1/128`, or one address.
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("allow_from: {s:?} is no network"))
}

/// The virtual path (`/sub/dir`) of override directory `path` (absolute,
/// or relative to the home), given the home as written in the row and as
/// resolved; `None` when it is not inside the home.
fn virtual_dir(written: &Path, home: &Path, path: &Path) -> Option<Vec<u8>> {
    let joined = normalize(&written.join(path));
    // inside the home as written, or (after resolving links) as it is
    let rel = match joined.strip_prefix(normalize(written)) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => {
            let resolved = std::fs::canonicalize(&joined).ok()?;
            resolved.strip_prefix(home).ok()?.to_path_buf()
        }
    };
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => {
                out.push(b'/');
                out.extend_from_slice(name.as_bytes());
            }
            _ => return None,
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Some(out)
}

/// `path` with `.` dropped and `..` applied, without looking at the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn db_error(e: impl std::error::Error + 'static) -> PgError {
    PgError::Database(explain(&e))
}

/// An error with its causes (`postgres` puts what happened there: "db
/// error" alone says little).
fn explain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    // one line (the server's DETAIL and HINT come on lines of their own)
    text.replace('\n', " ")
}

/// Opens connections with the deadlines set (the pool's manager, and the
/// one-off connections of `pool_size` 0 and the admin calls).
#[derive(Clone)]
struct Connector {
    config: tokio_postgres::Config,
    tls: postgres_native_tls::MakeTlsConnector,
    /// The whole of connecting: the socket, TLS, authentication and the
    /// first statement (the driver's own `connect_timeout` covers only the
    /// socket, so a server that accepts and then says nothing, such as a
    /// stopped one, would hold a login for ever).
    connect_timeout: Duration,
    statement_timeout: Duration,
    /// How long a check of a pooled connection may wait for the server.
    valid_timeout: Duration,
}

impl Connector {
    fn open(&self) -> Result<PgConn, ConnectError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConnectError(format!("could not start a connection's runtime: {e}")))?;
        // PostgreSQL takes 1 ms to i32::MAX ms (0 would mean none)
        let ms = self
            .statement_timeout
            .as_millis()
            .clamp(1, i32::MAX as u128);
        let setup = format!("SET statement_timeout = {ms}");
        let connecting = async {
            let (client, mut connection) = self.config.connect(self.tls.clone()).await?;
            // driven by the runtime whenever a call waits on it
            let io = tokio::spawn(async move {
                loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        // e.g. "relation already exists, skipping" from init_schema
                        Some(Ok(tokio_postgres::AsyncMessage::Notice(n))) => {
                            log::debug!("PostgreSQL {}: {}", n.severity(), n.message());
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            log::debug!("PostgreSQL connection ended: {}", explain(&e));
                            break;
                        }
                        None => break,
                    }
                }
            });
            let set = client.batch_execute(&setup).await;
            Ok::<_, tokio_postgres::Error>((client, io, set))
        };
        let (client, io, set) = rt
            .block_on(async { tokio::time::timeout(self.connect_timeout, connecting).await })
            .map_err(|_| {
                ConnectError(format!(
                    "no answer from the database within the connect timeout ({:?})",
                    self.connect_timeout
                ))
            })??;
        let mut conn = PgConn {
            rt,
            client: Some(client),
            io,
            broken: false,
            // the server's statement_timeout ends a slow statement first;
            // this covers a server that stopped answering at all
            limit: self
                .statement_timeout
                .saturating_add(Duration::from_secs(1)),
        };
        if let Err(e) = set {
            conn.broken = true;
            return Err(e.into());
        }
        Ok(conn)
    }
}

/// One connection to the database: the driver's client, and the runtime
/// that moves its bytes, which runs only while a call waits, and each wait
/// has a deadline. A connection whose call ran out of time is broken (its
/// state is unknown) and is not used again.
struct PgConn {
    rt: tokio::runtime::Runtime,
    /// `None` once closing.
    client: Option<tokio_postgres::Client>,
    io: tokio::task::JoinHandle<()>,
    broken: bool,
    /// The longest one statement may take, as seen from here.
    limit: Duration,
}

impl PgConn {
    /// Wait for `call` on this connection for at most `limit`.
    fn call<'a, T, F>(
        &'a mut self,
        limit: Duration,
        call: impl FnOnce(&'a tokio_postgres::Client) -> F,
    ) -> Result<T, ConnectError>
    where
        F: std::future::Future<Output = Result<T, tokio_postgres::Error>> + 'a,
    {
        let Some(client) = self.client.as_ref() else {
            return Err(ConnectError("the connection is closed".into()));
        };
        // (the timer must be made inside the runtime)
        let call = call(client);
        match self
            .rt
            .block_on(async { tokio::time::timeout(limit, call).await })
        {
            Ok(done) => done.map_err(ConnectError::from),
            Err(_) => {
                self.broken = true;
                Err(ConnectError(format!(
                    "no answer from the database within {limit:?}"
                )))
            }
        }
    }

    fn query_typed(
        &mut self,
        sql: &str,
        params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
    ) -> Result<Vec<tokio_postgres::Row>, ConnectError> {
        let limit = self.limit;
        self.call(limit, |c| c.query_typed(sql, params))
    }

    fn batch_execute(&mut self, sql: &str) -> Result<(), ConnectError> {
        let limit = self.limit;
        self.call(limit, |c| c.batch_execute(sql))
    }

    fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, ConnectError> {
        let limit = self.limit;
        self.call(limit, |c| c.execute(sql, params))
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // A goodbye (Terminate) when the server still answers, for a
        // moment at most; else the socket is just closed with the runtime.
        if let Some(client) = self.client.take() {
            let closed = client.is_closed();
            drop(client);
            if !self.broken && !closed {
                let io = &mut self.io;
                let _ = self
                    .rt
                    .block_on(async { tokio::time::timeout(Duration::from_millis(500), io).await });
            }
        }
    }
}

impl r2d2::ManageConnection for Connector {
    type Connection = PgConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<PgConn, ConnectError> {
        self.open()
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), ConnectError> {
        conn.call(self.valid_timeout, |c| async move {
            c.simple_query("").await.map(|_| ())
        })
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.broken || conn.client.as_ref().map_or(true, |c| c.is_closed())
    }
}

/// Why a connection could not be opened or used.
#[derive(Debug)]
struct ConnectError(String);

impl From<tokio_postgres::Error> for ConnectError {
    fn from(e: tokio_postgres::Error) -> Self {
        ConnectError(explain(&e))
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// Logs the pool's failed connection attempts (it retries by itself).
#[derive(Debug)]
struct LogError;

impl r2d2::HandleError<ConnectError> for LogError {
    fn handle_error(&self, error: ConnectError) {
        log::warn!("PostgreSQL: {error}");
    }
}

#[cfg(test)]
mod tests;
