//! The session: a sans-IO FTP state machine.
//!
//! A [`Session`] is fed [`Input`]s (a control line, a data connection that
//! opened, a transfer that ended, the result of a filesystem task, a tick of
//! the clock) and answers with [`Action`]s (send this reply, run this
//! filesystem task or login check, listen for a passive connection, start
//! this transfer, fire that callback, close). It never touches a socket, a
//! filesystem or an authorizer, and it keeps every deadline itself, so
//! every command, error path and timeout is tested by scripting inputs on a
//! fake clock; the drivers in [`crate::server`] only carry bytes and run
//! the tasks it hands them.
//!
//! Where each rule lives:
//!
//! - `commands/`: the command families (login, security, info, files,
//!   data_channel, transfers), dispatched from one exhaustive `match`;
//! - `fs_work.rs`: the filesystem work a command asks for, and its result;
//! - `queue.rs`: the lines held while a command waits for the driver;
//! - `transfer.rs`: the data channel and the transfer on it;
//! - `timers.rs`: every deadline;
//! - this file: the inputs, the actions, the state, the replies.
//!
//! ```text
//!  Connected ──► greeting ──► USER ──► PASS ──► logged in ◄──────────────┐
//!                  ▲            │        │ (fail: delay, 530;            │
//!                  └── REIN ────┴────────┘   max attempts: close)        │
//!  logged in: PASV/EPSV ─► ListenPassive ─► PassiveListening ─► 227/229  │
//!             PORT/EPRT ─► ConnectActive ─► DataConnected ─► 200         │
//!             RETR/STOR/LIST… ─► 125 + StartTransfer (data open)         │
//!                              or 150 and wait for DataConnected         │
//!             during a transfer: ABOR, STAT, NOOP answered at once,      │
//!             QUIT deferred, other commands queued ── TransferDone ──────┘
//! ```

mod commands;

pub use commands::login::AccountRefusal;
mod fs_work;
mod offence;
mod queue;
#[cfg(test)]
mod tests;
mod timers;
pub(crate) use timers::later;
mod transfer;

use queue::Received;
use transfer::TransferState;

pub use fs_work::{FsDone, FsTask, MAX_GLOB_MATCHES};
pub use offence::{Offence, OffenceReport};
pub use timers::{CLOSE_LINGER, UPLOAD_GRACE};

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::auth::{Account, AuthError, Authorizer};
use crate::config::{BanPolicy, ServerConfig};
use crate::data::{Transfer, TransferCmd, TransferError};
use crate::events::{Event, SessionInfo};
use crate::fs::{Filesystem, FilesystemFactory};
use crate::proto::command::{Command, NotUnderstood, Verb};
use crate::proto::listing::{MlstFacts, TimeMode};
use crate::proto::reply::Reply;
use crate::shared::{Refusal, SharedRate, SharedState, UserSlot};

/// What a session is shared with every other session of a server.
#[derive(Clone)]
pub struct SessionContext {
    /// The server configuration.
    pub config: Arc<ServerConfig>,
    /// Who may log in.
    pub authorizer: Arc<dyn Authorizer>,
    /// Opens a filesystem at login.
    pub fs_factory: Arc<dyn FilesystemFactory>,
    /// Session slots, per-user bandwidth and bans, shared by every process
    /// of the server.
    pub shared: Arc<SharedState>,
}

impl SessionContext {
    /// A context with a [`SharedState`] of its own, sized from
    /// [`ServerConfig::max_cons`].
    ///
    /// # Errors
    /// As [`SharedState::new`].
    pub fn new(
        config: ServerConfig,
        authorizer: Arc<dyn Authorizer>,
        fs_factory: Arc<dyn FilesystemFactory>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(SharedState::new(config.max_cons)?);
        Ok(SessionContext {
            config: Arc::new(config),
            authorizer,
            fs_factory,
            shared,
        })
    }
}

/// Why a login check refused a login.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginError {
    /// The authorizer refused (or failed).
    Auth(AuthError),
    /// The account's home directory could not be opened.
    Home(std::path::PathBuf, std::io::Error),
    /// The password was right, but the account's own limits refuse this
    /// client: its address is outside `allow_from`, or it requires TLS
    /// and the control connection is clear.
    Refused(AccountRefusal),
    /// The user has [`AccountLimits::max_sessions`](crate::auth::AccountLimits::max_sessions)
    /// sessions already (in any process of the server).
    TooManySessions {
        /// The account's limit.
        max: u32,
    },
    /// Every slot of the table of limited sessions is taken (it holds
    /// [`ServerConfig::max_cons`] sessions).
    SessionTableFull,
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginError::Auth(e) => e.fmt(f),
            LoginError::Home(p, e) => {
                write!(f, "can't open the home directory {}: {e}", p.display())
            }
            LoginError::Refused(r) => f.write_str(&r.log_text()),
            LoginError::TooManySessions { max } => {
                write!(f, "too many sessions of this user (at most {max})")
            }
            LoginError::SessionTableFull => f.write_str("the table of limited sessions is full"),
        }
    }
}

/// What a login check found: the account and its filesystem, or why not
/// (and, for an account with limits, its place among the user's sessions).
pub struct LoginOutcome(
    pub Result<(Account, Arc<dyn Filesystem>), LoginError>,
    Option<Arc<UserSlot>>,
);

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok((a, _)) => write!(f, "LoginOutcome(Ok({}))", a.username),
            Err(e) => write!(f, "LoginOutcome(Err({e}))"),
        }
    }
}

/// A login check (see [`Action::Login`]). Running it may block: password
/// hashing, a database query, opening the home directory.
pub struct LoginTask {
    authorizer: Arc<dyn Authorizer>,
    fs_factory: Arc<dyn FilesystemFactory>,
    shared: Arc<SharedState>,
    username: String,
    password: String,
    /// The client's address (for the account's `allow_from`).
    client: std::net::IpAddr,
    /// Whether the control connection is TLS-protected (for `tls_required`).
    tls: bool,
}

impl LoginTask {
    /// Check the credentials, take a place among the user's sessions (an
    /// account with limits, see [`AccountLimits`](crate::auth::AccountLimits))
    /// and open the user's filesystem.
    ///
    /// An account with a system [`Identity`](crate::auth::Identity) opens
    /// its filesystem as that user, and every later operation of the
    /// filesystem runs as that user too (see [`crate::fs`]); in a process
    /// that serves only this session (multi-proc), the process becomes the
    /// user for good first. Failing to switch refuses the login (logged).
    pub fn run(self) -> LoginOutcome {
        let mut slot = None;
        let outcome = self
            .authorizer
            .authenticate(&self.username, &self.password)
            .map_err(LoginError::Auth)
            .and_then(|account| {
                if let Some(r) = AccountRefusal::of(&account, self.client, self.tls) {
                    return Err(LoginError::Refused(r));
                }
                slot = user_slot(&self.shared, &account)?;
                Ok(account)
            })
            .and_then(|account| match open_as(&*self.fs_factory, &account) {
                Ok(fs) => Ok((account, fs)),
                Err(e) => Err(LoginError::Home(account.root.clone(), e)),
            });
        if outcome.is_err() {
            slot = None;
        }
        LoginOutcome(outcome, slot)
    }
}

/// A place among the sessions of `account`'s user in the server's shared
/// table, for an account with a session or bandwidth limit (`None` for
/// one without).
fn user_slot(
    shared: &Arc<SharedState>,
    account: &Account,
) -> Result<Option<Arc<UserSlot>>, LoginError> {
    let l = &account.limits;
    if l.max_sessions == 0 && l.read_limit == 0 && l.write_limit == 0 {
        return Ok(None);
    }
    match shared.claim(&account.username, l.max_sessions) {
        Ok(slot) => Ok(Some(Arc::new(slot))),
        Err(Refusal::TooMany { max }) => Err(LoginError::TooManySessions { max }),
        Err(Refusal::Full) => Err(LoginError::SessionTableFull),
    }
}

/// The account's filesystem, opened and used as its system identity if it has one.
#[cfg(unix)]
fn open_as(
    factory: &dyn FilesystemFactory,
    account: &Account,
) -> std::io::Result<Arc<dyn Filesystem>> {
    use crate::fs::identity;
    let Some(id) = &account.identity else {
        return factory.open(account).map(Arc::from);
    };
    if identity::is_one_session_process() {
        identity::enter_for_good(id)?;
    }
    let fs = {
        let _as_user = identity::enter(id)?;
        factory.open(account)?
    };
    let fs = identity::AsUser::new(fs, id.clone());
    // a home that is missing, or that the user may not enter, refuses the
    // login (as vsftpd does) rather than start the session in it
    let home = fs.metadata_to_enter(&account.start_dir())?;
    if home.kind != crate::proto::listing::FileKind::Dir {
        return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    Ok(Arc::new(fs))
}

/// The account's filesystem; system identities are Unix ones (Windows
/// accounts act through their own filesystem factory).
#[cfg(not(unix))]
fn open_as(
    factory: &dyn FilesystemFactory,
    account: &Account,
) -> std::io::Result<Arc<dyn Filesystem>> {
    if account.identity.is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a system identity (uid, gid) needs a Unix system",
        ));
    }
    factory.open(account).map(Arc::from)
}

/// Something that happened, fed to [`Session::handle`].
///
/// Non-exhaustive: later versions may add inputs, which a driver feeds only
/// once it produces them.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// The control connection was accepted.
    Connected,
    /// One control line (without its terminator).
    Line(&'a [u8]),
    /// A control line exceeded the length limit (its bytes are being discarded).
    LineTooLong,
    /// The passive listener asked for is listening on this port.
    PassiveListening(u16),
    /// The passive listener could not be opened.
    PassiveFailed(std::io::Error),
    /// A data connection is established (passive accept or active connect).
    DataConnected,
    /// The active connection could not be made (or timed out).
    ActiveFailed(std::io::Error),
    /// The TLS handshake on the data connection ([`Action::SecureData`]) is done.
    DataSecured,
    /// The TLS changes asked for on the control connection
    /// ([`Action::StartTls`], [`Action::StopTls`]) are done.
    TlsSwitched,
    /// A transfer ended (completed, failed, aborted or timed out); the
    /// data connection is closed.
    TransferDone {
        /// The transfer, given back.
        transfer: Transfer,
        /// How it ended.
        result: Result<(), TransferError>,
        /// Seconds it took.
        seconds: f64,
    },
    /// The result of the [`Action::Login`] task.
    LoginDone(LoginOutcome),
    /// The result of an [`Action::Fs`] task.
    FsDone(FsDone),
    /// Time passed: the driver feeds this at [`Session::next_deadline`]
    /// (earlier is harmless), and the session fires what is due.
    Tick,
    /// The server is shutting down: an idle session gets 421 and closes; a
    /// running transfer may finish (the driver cuts it after the grace period),
    /// then the session gets 421 and closes.
    Shutdown,
    /// The control connection was lost (the client closed or reset it, or
    /// it failed) while the session was not closing: nothing more is read
    /// or said. Lines received before are dropped and start no work; a
    /// running transfer is stopped, except an upload whose data connection
    /// ends (the client sent the whole file) within [`UPLOAD_GRACE`]:
    /// it is finished within [`CLOSE_LINGER`]. The driver
    /// goes on feeding the results of work already out, then
    /// [`Input::Disconnected`].
    ControlLost {
        /// A running upload's client had closed its data connection: it
        /// sent the whole file before it went away.
        upload_sent: bool,
    },
    /// The control connection is gone (closed by either side).
    Disconnected,
}

/// What the driver must do, in order.
///
/// Non-exhaustive: later versions may add actions (for new features). A
/// driver cannot carry out one it does not know, so its `_` arm should end
/// the session as for [`Action::CloseNow`].
#[non_exhaustive]
pub enum Action {
    /// Send this reply on the control connection ([`Reply::to_bytes`] gives
    /// its wire form).
    Reply(Reply),
    /// Open a passive listener on this local address (port from the configured range)
    /// and answer with [`Input::PassiveListening`] or [`Input::PassiveFailed`].
    ListenPassive(IpAddr),
    /// Connect to the client's data port from this local address and answer with
    /// [`Input::DataConnected`] or [`Input::ActiveFailed`].
    ConnectActive {
        /// The client's data address.
        remote: SocketAddr,
        /// The local address to connect from.
        local: IpAddr,
    },
    /// Close any passive listener and data connection (no transfer is running).
    CloseData,
    /// Secure the data connection that just opened with TLS, server side
    /// (`PROT P`, RFC 4217 §9): start the handshake at once, as clients such
    /// as curl handshake before they send RETR/STOR. A failed handshake is
    /// reported when the transfer runs ([`TransferError::Handshake`], 522).
    SecureData,
    /// Send what was queued in the clear, then run a TLS handshake (server
    /// side) on the control connection; close it if the handshake fails.
    StartTls,
    /// Send what was queued under TLS, end the control connection's TLS
    /// session (close_notify both ways), and go on in the clear.
    StopTls,
    /// Run this transfer on the established data connection, then answer with
    /// [`Input::TransferDone`] and close the data connection.
    StartTransfer(Transfer),
    /// Stop the running transfer and answer with [`Input::TransferDone`]
    /// carrying [`TransferError::Aborted`].
    AbortTransfer,
    /// Run this login check (inline, or on another thread when it could stall
    /// other sessions) and answer with [`Input::LoginDone`].
    Login(LoginTask),
    /// Run this filesystem work (inline, or on another thread when it could
    /// stall other sessions) and answer with [`Input::FsDone`]. Tasks of
    /// one session are run one at a time, in order: the session emits the
    /// next one only after the result of the last it waits for. If the
    /// session ended meanwhile, give the result to [`FsDone::discard`].
    Fs(FsTask),
    /// Fire an event callback.
    Event(Event),
    /// Record this offence of the client in the server's ban table
    /// ([`OffenceReport::record`]); only with a
    /// [`ServerConfig::ban`] policy.
    Offence(OffenceReport),
    /// Flush what was sent, close the control connection, then feed
    /// [`Input::Disconnected`]. The session says [`Action::CloseNow`] if
    /// the client does not read it in time ([`CLOSE_LINGER`]).
    Close,
    /// Close the control connection at once, dropping what was not sent
    /// (a client that does not read, a TLS change that did not finish),
    /// end any transfer, then feed [`Input::Disconnected`].
    CloseNow,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Reply(r) => write!(f, "Reply({:?})", r.log_text()),
            Action::ListenPassive(ip) => write!(f, "ListenPassive({ip})"),
            Action::ConnectActive { remote, local } => {
                write!(f, "ConnectActive({remote} from {local})")
            }
            Action::CloseData => f.write_str("CloseData"),
            Action::SecureData => f.write_str("SecureData"),
            Action::StartTls => f.write_str("StartTls"),
            Action::StopTls => f.write_str("StopTls"),
            Action::StartTransfer(t) => write!(f, "StartTransfer({t:?})"),
            Action::AbortTransfer => f.write_str("AbortTransfer"),
            Action::Login(t) => write!(f, "Login({})", t.username),
            Action::Fs(t) => write!(f, "Fs({t:?})"),
            Action::Event(e) => write!(f, "Event({e:?})"),
            Action::Offence(o) => write!(f, "Offence({:?})", o.offence()),
            Action::Close => f.write_str("Close"),
            Action::CloseNow => f.write_str("CloseNow"),
        }
    }
}

/// The state of the data channel as the session sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    /// No PASV/PORT in effect.
    None,
    /// PASV/EPSV asked; waiting for the listener's port.
    PassiveOpening {
        /// Extended (EPSV) reply wanted.
        extended: bool,
    },
    /// Listening; waiting for the client to connect.
    PassiveListening,
    /// PORT/EPRT connect in progress.
    ActiveConnecting,
    /// A data connection is open.
    Connected,
}

/// State that one command leaves for the command right after it, and only
/// for that one: the next command consumes it or it is dropped.
///
/// RFC 959 §4.1.1 (PASS "must be immediately preceded by the user name
/// command"), §4.1.3 (RNTO "must immediately follow" RNFR) and RFC 3659 §5.3
/// (REST "must be the last command issued before the data transfer
/// command"). A REST offset also survives the data-channel set-up commands
/// PASV, EPSV, PORT and EPRT, since clients put those before or after REST
/// (ftplib: PASV, REST, RETR).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Ahead {
    /// Nothing pending.
    #[default]
    Nothing,
    /// USER was accepted: PASS comes next.
    User(String),
    /// RNFR was accepted for this (virtual) path: RNTO comes next.
    Rename(Vec<u8>),
    /// REST set this offset for the next RETR/STOR/STOU/APPE.
    Restart(u64),
}

/// What a command waits for from the driver; lines received meanwhile
/// wait their turn (see [`Session::busy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    /// Nothing: the next command may run.
    Nothing,
    /// The [`Action::Login`] check of these credentials.
    Login { username: String, password: String },
    /// The result of an [`Action::Fs`] task; `log` is the command's INFO
    /// log line to write with its reply (pyftpdlib's `log_cmds_list`).
    Fs { log: Option<(String, Vec<u8>)> },
}

/// A logged-in user: the account the authorizer described and the
/// filesystem opened for it.
struct LoggedIn {
    account: Account,
    fs: Arc<dyn Filesystem>,
    /// Its place among the user's sessions (an account with limits); the
    /// user's running transfers hold it too.
    slot: Option<Arc<UserSlot>>,
}

/// What TLS protects on this session (RFC 4217). Illegal states (PROT P on
/// a clear control connection) cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// No TLS on the control connection.
    Clear,
    /// TLS on the control connection (AUTH TLS, or implicit TLS); data
    /// connections clear. `pbsz`: PBSZ was given (PROT may follow).
    Control { pbsz: bool },
    /// TLS on the control connection and on every data connection (PBSZ and
    /// PROT P, or AUTH SSL / TLS-P).
    Data,
}

impl Security {
    /// Whether the control connection is (being) secured with TLS.
    fn control(self) -> bool {
        self != Security::Clear
    }

    /// Whether data connections are secured with TLS (PROT P).
    fn data(self) -> bool {
        self == Security::Data
    }
}

/// Why the session stopped a running transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AbortReason {
    /// ABOR.
    Client,
    /// No byte moved for the data timeout.
    Stalled,
    /// The data connection's TLS handshake did not end in time.
    Handshake,
    /// The server is shutting down and the grace period is over.
    Shutdown,
    /// The control connection was lost.
    ControlLost,
}

/// Most control lines a session holds while a login check or a transfer runs.
pub const MAX_QUEUED: usize = 64;

/// One FTP session's protocol state.
pub struct Session {
    ctx: SessionContext,
    remote: SocketAddr,
    local: SocketAddr,
    username: Option<String>,
    /// The logged-in user and the filesystem it works in (never one without
    /// the other).
    login: Option<LoggedIn>,
    cwd: Vec<u8>,
    ascii: bool,
    /// What the previous command left for this one.
    ahead: Ahead,
    attempted_logins: u32,
    epsv_all: bool,
    facts: MlstFacts,
    data: DataState,
    /// The transfer: none, waiting for its data connection, or running.
    transfer: TransferState,
    quit_pending: bool,
    /// An ABOR stopped the transfer ahead of the commands queued before it:
    /// its own `226` is due when it comes up in the queue.
    abor_reply_due: bool,
    shutting_down: bool,
    /// What the last command waits for from the driver.
    awaiting: Awaiting,
    queued: VecDeque<Received>,
    closing: bool,
    disconnected: bool,
    prefix: String,
    /// Every deadline (see [`timers`]).
    timers: timers::Timers,
    /// The monotonic time of the input being handled.
    now: Instant,
    /// A moment on both clocks, to tell wall-clock time (listings, STAT)
    /// from the monotonic time the driver feeds.
    epoch: (Instant, SystemTime),
    /// What TLS protects (RFC 4217).
    security: Security,
    /// The command-rate cell of [`ServerConfig::ban`]'s flood limit.
    commands_tat: Option<Instant>,
}

/// Replies the drivers send before a session exists.
pub mod replies {
    use crate::proto::reply::Reply;

    /// `max_cons` reached.
    pub fn too_many_connections() -> Reply {
        Reply::new(
            421,
            "Too many connections. Service temporarily unavailable.",
        )
    }

    /// `max_cons_per_ip` reached.
    pub fn too_many_connections_from_ip() -> Reply {
        Reply::new(421, "Too many connections from the same IP address.")
    }

    /// The server could not start a process (or find a worker) to serve
    /// the connection (RFC 959 section 4.2: "Service not available, closing
    /// control connection").
    pub fn service_not_available() -> Reply {
        Reply::new(421, "Service not available, closing control connection.")
    }

    /// The client's address is banned for `left` more
    /// ([`crate::config::BanPolicy`]).
    pub fn banned(left: std::time::Duration) -> Reply {
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Reply::new(
            421,
            format!("Your address is banned. Try again in {secs} seconds."),
        )
    }
}

impl Session {
    /// A session for a control connection from `remote` to our `local` address.
    pub fn new(ctx: SessionContext, remote: SocketAddr, local: SocketAddr) -> Self {
        let now = Instant::now();
        let mut s = Session {
            ctx,
            remote,
            local,
            username: None,
            login: None,
            cwd: b"/".to_vec(),
            ascii: true,
            ahead: Ahead::Nothing,
            attempted_logins: 0,
            epsv_all: false,
            facts: MlstFacts::default(),
            data: DataState::None,
            transfer: TransferState::Idle,
            quit_pending: false,
            abor_reply_due: false,
            shutting_down: false,
            awaiting: Awaiting::Nothing,
            queued: VecDeque::new(),
            closing: false,
            disconnected: false,
            prefix: String::new(),
            timers: timers::Timers::new(now),
            now,
            epoch: (now, SystemTime::now()),
            security: Security::Clear,
            commands_tat: None,
        };
        if s.ctx.config.tls.as_ref().is_some_and(|t| t.implicit) {
            s.security = Security::Control { pbsz: false };
        }
        s.update_prefix();
        s
    }

    /// Who this session is, for event callbacks.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            remote: self.remote,
            username: self.username.clone(),
        }
    }

    /// The log line prefix (`log_prefix` with the session's values).
    pub fn log_prefix(&self) -> &str {
        &self.prefix
    }

    /// The logged-in account, if any.
    pub fn account(&self) -> Option<&Account> {
        self.login.as_ref().map(|l| &l.account)
    }

    /// Whether a transfer is running (the control idle timeout must not fire).
    pub fn transfer_running(&self) -> bool {
        self.transfer.is_running()
    }

    /// Whether the session waits for a data connection (passive or active).
    pub fn awaiting_data_connection(&self) -> bool {
        matches!(
            self.data,
            DataState::PassiveListening | DataState::ActiveConnecting
        )
    }

    /// Whether the control connection is (to be) secured with TLS.
    pub fn control_secured(&self) -> bool {
        self.security.control()
    }

    /// Whether a command waits for the driver's answer (a login check, a
    /// transfer running or waiting for its data connection, a passive
    /// listener being opened, an active connect). The control connection is
    /// not idle meanwhile: those waits have deadlines of their own.
    pub fn awaits_driver(&self) -> bool {
        self.busy()
    }

    /// Whether the session takes another control line now. False while
    /// [`MAX_QUEUED`] lines wait for a login check or a transfer: the driver
    /// then leaves further bytes unread (backpressure) instead of the session
    /// dropping lines.
    ///
    /// Also false while an `AUTH` or `REIN` waits in the queue: what the
    /// client sent behind it may be a TLS ClientHello (or belong to the other
    /// side of the change), so it must stay unframed until that command ran.
    pub fn accepts_lines(&self) -> bool {
        self.queued.len() < MAX_QUEUED && !self.queued.iter().any(Received::changes_security)
    }

    /// Whether the session is closing (no more input will be handled but the final ones).
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether a data connection from `peer` may be accepted on the passive listener.
    pub fn permit_data_peer(&self, peer: IpAddr) -> bool {
        self.ctx.config.permit_foreign_addresses
            || canonical_ip(peer) == canonical_ip(self.remote.ip())
    }

    /// Handle one input at wall-clock time `now`; returns what to do, in order.
    pub fn handle(&mut self, input: Input<'_>, now: Instant) -> Vec<Action> {
        self.now = now;
        let wall = self.wall_clock(now);
        let mut out = Vec::new();
        if self.disconnected {
            // A task that ran while the connection ended: an upload is still
            // finished (and reported to the callbacks), never answered.
            if let Input::FsDone(done) = input {
                self.fs_done(done.0, wall, &mut out);
            }
            return out;
        }
        let busy_before = self.busy();
        match input {
            Input::Connected => {
                self.on_connected(&mut out);
                if self.security.control() {
                    // implicit TLS: the greeting waits for the handshake
                    let hs = self.ctx.config.tls.as_ref().map(|t| t.handshake_timeout);
                    self.timers.ctrl_tls = hs.map(|d| later(now, d));
                }
            }
            Input::Line(line) => {
                if !self.closing {
                    // only a complete command restarts the idle timer (a
                    // client trickling a line byte by byte stays idle)
                    self.timers.active_at = now;
                    if !self.flood(now, &mut out) {
                        self.on_line(Received::line(line), wall, &mut out);
                    }
                }
            }
            Input::LineTooLong => {
                if !self.closing {
                    self.timers.active_at = now;
                    if !self.flood(now, &mut out) {
                        self.on_line(Received::TooLong, wall, &mut out);
                    }
                }
            }
            Input::PassiveListening(port) => self.on_passive_listening(port, &mut out),
            Input::PassiveFailed(e) => {
                self.data = DataState::None;
                log::warn!("{} can't open passive listener: {e}", self.prefix);
                let text = if e.kind() == std::io::ErrorKind::AddrInUse {
                    "Can't open passive connection: no free port in the passive port range."
                        .to_string()
                } else {
                    format!("Can't open passive connection: {}.", strerror(&e))
                };
                self.reply(&mut out, Reply::new(425, text));
            }
            Input::DataConnected => self.on_data_connected(wall, &mut out),
            Input::DataSecured => self.timers.data_tls = None,
            Input::TlsSwitched => self.timers.ctrl_tls = None,
            Input::ActiveFailed(e) => {
                if self.data == DataState::ActiveConnecting {
                    log::info!("{} active data connection failed: {e}", self.prefix);
                    self.data = DataState::None;
                    self.fail_pending(&mut out);
                    self.reply(
                        &mut out,
                        Reply::new(425, "Can't connect to specified address."),
                    );
                }
            }
            Input::TransferDone {
                transfer,
                result,
                seconds,
            } => {
                self.on_transfer_done(transfer, result, seconds, &mut out);
            }
            Input::LoginDone(outcome) => {
                self.login_done(outcome, &mut out);
            }
            Input::FsDone(done) => {
                self.fs_done(done.0, wall, &mut out);
            }
            Input::Shutdown => {
                if !self.closing && !self.shutting_down {
                    self.shutting_down = true;
                    self.clear_queue();
                    if !self.transfer.is_running() {
                        self.fail_pending(&mut out);
                        self.say_shutdown(&mut out);
                    } else {
                        // the transfer may finish for the grace period
                        self.timers.grace = Some(later(now, self.ctx.config.shutdown_grace));
                    }
                }
            }
            Input::Tick => self.on_tick(now, &mut out),
            Input::ControlLost { upload_sent } => self.on_control_lost(upload_sent, now, &mut out),
            Input::Disconnected => {
                self.disconnected = true;
                self.clear_queue();
                self.closing = true;
                // a failed login's callback still fires; its reply is moot
                if let Some((_, held)) = self.timers.hold.take() {
                    out.extend(held.into_iter().filter(|a| matches!(a, Action::Event(_))));
                }
                if let Some(t) = self.transfer.take_waiting() {
                    self.drop_transfer(t, &mut out);
                }
                log::info!("{} FTP session closed (disconnect).", self.prefix);
                out.push(Action::Event(Event::Disconnect));
            }
        }
        // a QUIT that waited for a transfer which ended without a transfer
        // result (its data connection never came): goodbye now
        if self.quit_pending
            && !self.transfer.is_active()
            && self.awaiting == Awaiting::Nothing
            && !self.closing
        {
            self.quit_pending = false;
            self.send_goodbye(&mut out);
        }
        // whatever the input, lines that waited for it may run now
        self.drain_queue(wall, &mut out);
        self.rearm(busy_before, now, &out);
        out
    }

    /// Wall-clock time at monotonic instant `now` (for listings and STAT).
    fn wall_clock(&self, now: Instant) -> SystemTime {
        let (mono, wall) = self.epoch;
        match now.checked_duration_since(mono) {
            Some(d) => wall + d,
            None => wall - mono.duration_since(now),
        }
    }

    fn on_connected(&mut self, out: &mut Vec<Action>) {
        log::info!("{} FTP session opened (connect)", self.prefix);
        out.push(Action::Event(Event::Connect));
        let banner = self.ctx.config.banner.clone();
        self.reply(out, long_reply(220, &banner));
    }

    /// Recompute the log prefix after the username changed.
    fn update_prefix(&mut self) {
        let user = self.username.as_deref().unwrap_or("");
        self.prefix = self
            .ctx
            .config
            .log_prefix
            .replace("%(username)s", user)
            .replace("%(remote_ip)s", &canonical_ip(self.remote.ip()).to_string())
            .replace("%(remote_port)s", &self.remote.port().to_string());
    }

    // --- replies and logging

    /// Whether a reply may still be sent: none after the one that closed
    /// the session (a 421, 221 or 530), whatever the driver reports later
    /// (a passive timeout, a failed connect, a login check that ends).
    fn may_reply(&self, r: &Reply) -> bool {
        if self.closing {
            log::debug!("{} not sent after closing: {}", self.prefix, r.log_text());
        }
        !self.closing
    }

    fn reply(&mut self, out: &mut Vec<Action>, r: Reply) {
        if !self.may_reply(&r) {
            return;
        }
        log::debug!("{} -> {}", self.prefix, r.log_text());
        out.push(Action::Reply(r));
    }

    fn reply_info(&mut self, out: &mut Vec<Action>, r: Reply) {
        if !self.may_reply(&r) {
            return;
        }
        if log::log_enabled!(log::Level::Debug) {
            log::debug!("{} -> {}", self.prefix, r.log_text());
        } else {
            log::info!("{} {}", self.prefix, r.log_text());
        }
        out.push(Action::Reply(r));
    }

    fn warn_reply(&mut self, out: &mut Vec<Action>, r: Reply) {
        if !self.may_reply(&r) {
            return;
        }
        log::warn!("{} -> {}", self.prefix, r.log_text());
        out.push(Action::Reply(r));
    }

    fn close(&mut self, out: &mut Vec<Action>) {
        if !self.closing {
            self.closing = true;
            if self.transfer.is_running() {
                out.push(Action::AbortTransfer);
            }
            out.push(Action::Close);
        }
    }

    /// See [`Input::ControlLost`].
    fn on_control_lost(&mut self, upload_sent: bool, now: Instant, out: &mut Vec<Action>) {
        if self.closing {
            return;
        }
        log::info!("{} control connection lost", self.prefix);
        self.closing = true;
        self.clear_queue();
        self.fail_pending(out);
        // An upload whose client closed the data connection before (or
        // about when) it went away sent the whole file (stream mode: the end
        // of the data connection is the end of the file): it is finished
        // and kept, within CLOSE_LINGER. One whose data connection stays
        // open past UPLOAD_GRACE is stopped: a client that vanished
        // mid-upload must not replace a file with part of one. Any other
        // transfer stops at once.
        let upload = self.transfer.running().is_some_and(|r| r.cmd.is_upload());
        if upload && !upload_sent {
            self.timers.upload_grace = Some(now + timers::UPLOAD_GRACE);
        } else if !upload {
            self.abort_transfer(AbortReason::ControlLost, out);
        }
        self.timers.linger = Some(now + CLOSE_LINGER);
    }

    fn say_shutdown(&mut self, out: &mut Vec<Action>) {
        self.reply_info(out, Reply::new(421, "Server is shutting down."));
        self.close(out);
    }

    fn send_goodbye(&mut self, out: &mut Vec<Action>) {
        let msg = self
            .login
            .as_ref()
            .map(|l| l.account.msg_quit.clone())
            .unwrap_or_else(|| "Goodbye.".into());
        if let Some(l) = self.login.as_mut() {
            // the user's place is free before the client reads the 221
            l.slot = None;
        }
        self.reply(out, long_reply(221, &msg));
        if let Some(user) = self.login.as_ref().map(|l| l.account.username.clone()) {
            out.push(Action::Event(Event::Logout(user)));
        }
        self.close(out);
    }

    fn time_mode(&self) -> TimeMode {
        if self.ctx.config.use_gmt_times {
            TimeMode::Gmt
        } else {
            TimeMode::Local
        }
    }

    fn stat_lines(&self, now: SystemTime) -> Vec<Vec<u8>> {
        let mut s = vec![format!("Connected to: {}", self.local)];
        if let Some(a) = self.login.as_ref().map(|l| &l.account) {
            s.push(format!("Logged in as: {}", a.username));
        } else if self.username.is_none() {
            s.push("Waiting for username.".into());
        } else {
            s.push("Waiting for password.".into());
        }
        s.push(format!(
            "TYPE: {}; STRUcture: File; MODE: Stream",
            if self.ascii { "ASCII" } else { "Binary" }
        ));
        match (self.transfer.running(), self.data) {
            (Some(r), _) => {
                let bytes = r.bytes.load(Ordering::Relaxed);
                let (sent, recv) = if r.cmd.is_upload() {
                    (0, bytes)
                } else {
                    (bytes, 0)
                };
                let secs = now
                    .duration_since(r.started)
                    .unwrap_or_default()
                    .as_secs_f64();
                s.push("Data connection open:".into());
                s.push(format!("Total bytes sent: {sent}"));
                s.push(format!("Total bytes received: {recv}"));
                s.push(format!("Transfer elapsed time: {secs:.3} secs"));
            }
            (None, DataState::PassiveListening) => {
                s.push("Passive data channel waiting for connection.".into())
            }
            (None, DataState::Connected) => s.push("Data connection open.".into()),
            _ => s.push("Data connection closed.".into()),
        }
        s.into_iter()
            .map(|l| format!(" {l}").into_bytes())
            .collect()
    }
}

/// A reply whose text may be too long for one line (pyftpdlib splits at 75 chars).
fn long_reply(code: u16, text: &str) -> Reply {
    if text.len() <= 75 {
        Reply::new(code, text)
    } else {
        Reply {
            code,
            lines: vec![text.as_bytes().to_vec(), Vec::new()],
        }
    }
}

/// IPv4-mapped IPv6 addresses as plain IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The OS's text for an error, as pyftpdlib's `strerror` gives it.
fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let s = std::io::Error::from_raw_os_error(code).to_string();
            // std renders "No such file or directory (os error 2)"
            match s.rfind(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
        None => {
            let s = e.to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => "Unknown error".into(),
            }
        }
    }
}
