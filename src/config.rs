//! Server configuration: everything pyftpdlib sets on `FTPHandler`,
//! `DTPHandler`, `ThrottledDTPHandler` and `FTPServer`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// How sessions are run. One protocol implementation serves all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConcurrencyModel {
    /// One thread serves every session from a poll loop (pyftpdlib's `FTPServer`, CLI `async`).
    Poll,
    /// A thread per session from a pool that grows to `max_cons` and gives
    /// idle threads back after [`ServerConfig::thread_idle_timeout`]
    /// (pyftpdlib's `ThreadedFTPServer`, CLI `multi-thread`).
    ThreadPool,
    /// A forked process per session (pyftpdlib's `MultiprocessFTPServer`, CLI
    /// `multi-proc`). Unlike pyftpdlib, which forks after the accept, one
    /// process is kept forked ahead of the next connection (named
    /// `ftp-spare` while it waits), so a client does not wait for a fork.
    Process,
    /// `workers` forked processes, each running the poll loop on the shared
    /// listening socket (CLI `pre-fork`).
    Prefork {
        /// Number of worker processes.
        workers: usize,
    },
}

impl ConcurrencyModel {
    /// The CLI name (`async`, `multi-thread`, `multi-proc`, `pre-fork`).
    pub fn cli_name(&self) -> &'static str {
        match self {
            ConcurrencyModel::Poll => "async",
            ConcurrencyModel::ThreadPool => "multi-thread",
            ConcurrencyModel::Process => "multi-proc",
            ConcurrencyModel::Prefork { .. } => "pre-fork",
        }
    }

    /// Whether this model runs on the system the crate was built for. The
    /// forking models ([`ConcurrencyModel::Process`] and
    /// [`ConcurrencyModel::Prefork`]) need `fork(2)`, which only Unix
    /// systems have; on Windows [`crate::FtpServer::serve_forever`] refuses
    /// them with [`std::io::ErrorKind::Unsupported`].
    pub fn is_supported(&self) -> bool {
        match self {
            ConcurrencyModel::Poll | ConcurrencyModel::ThreadPool => true,
            ConcurrencyModel::Process | ConcurrencyModel::Prefork { .. } => cfg!(unix),
        }
    }
}

/// Every tunable of the server. `ServerConfig::default()` gives pyftpdlib's
/// defaults (noted per field); build one with struct-update syntax:
///
/// ```
/// use std::time::Duration;
/// use ftpdlib::ServerConfig;
///
/// let config = ServerConfig {
///     max_cons: 256,
///     timeout: Some(Duration::from_secs(60)),
///     ..ServerConfig::default()
/// };
/// assert_eq!(config.max_login_attempts, 3);
/// ```
///
/// Durations are wall-clock time; sizes are in bytes; limits of `0` mean
/// "no limit" where a field says so.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The text of the `220` greeting (RFC 959 section 4.2; pyftpdlib's
    /// `FTPHandler.banner`). Default: `"ftpdlib <version> ready."`.
    pub banner: String,
    /// Control-connection idle timeout: with no complete command line for
    /// this long (never while a transfer runs) the session replies `421
    /// Control connection timed out.` and closes (pyftpdlib's
    /// `FTPHandler.timeout`). Default 300 s; `None` disables it.
    pub timeout: Option<Duration>,
    /// Data-channel timeout: how long a data connection may stay without
    /// traffic, and how long a passive listener waits for the client
    /// (`421`, pyftpdlib's `DTPHandler.timeout` and `PassiveDTP.timeout`);
    /// also bounds an active connect (`425`). Default 300 s; `None`
    /// disables it (an active connect then gets 30 s).
    pub data_timeout: Option<Duration>,
    /// Failed logins after which the connection is closed (pyftpdlib's
    /// `FTPHandler.max_login_attempts`). Default 3; `0` counts as 1.
    pub max_login_attempts: u32,
    /// Delay before the `530` of a failed login goes out (pyftpdlib's
    /// `FTPHandler.auth_failed_timeout`). Default 3 s.
    pub auth_failed_delay: Duration,
    /// Accept data connections from, and PORT/EPRT to, an address other than
    /// the client's (FXP; pyftpdlib's `permit_foreign_addresses`; RFC 2577
    /// section 3 advises against it). Default `false`.
    pub permit_foreign_addresses: bool,
    /// Accept PORT/EPRT to ports below 1024 (pyftpdlib's
    /// `permit_privileged_ports`; RFC 2577 section 3). Default `false`.
    pub permit_privileged_ports: bool,
    /// The IPv4 address announced in PASV replies instead of the control
    /// connection's local address, for a server behind NAT (pyftpdlib's
    /// `masquerade_address`). Default `None`.
    pub masquerade_address: Option<IpAddr>,
    /// Masquerade map, keyed by the server address the client reached or by
    /// the client's address, checked before
    /// [`masquerade_address`](Self::masquerade_address) (pyftpdlib's
    /// `masquerade_address_map`; see [`crate::proto::addr::masquerade`]).
    /// Default empty.
    pub masquerade_address_map: HashMap<IpAddr, IpAddr>,
    /// TCP ports passive listeners may use (pyftpdlib's `passive_ports`);
    /// `None` (the default) for any ephemeral port.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Show times in LIST and MDTM/MLSx in UTC (`true`, the default) or local
    /// time (`false`) (pyftpdlib's `use_gmt_times`).
    pub use_gmt_times: bool,
    /// Set `TCP_NODELAY` on control connections (pyftpdlib's
    /// `tcp_no_delay`). Default `true`.
    pub tcp_no_delay: bool,
    /// Zero-copy transfers: sendfile(2) for binary, unthrottled RETR, and
    /// splice(2) for binary, unthrottled uploads to plain files (pyftpdlib's
    /// `use_sendfile`). Default `true`.
    pub use_sendfile: bool,
    /// Upload speed limit, in bytes per second per transfer (pyftpdlib's
    /// `ThrottledDTPHandler.read_limit`). Default 0: no limit.
    pub read_limit: u64,
    /// Download speed limit, in bytes per second per transfer (pyftpdlib's
    /// `ThrottledDTPHandler.write_limit`). Default 0: no limit.
    pub write_limit: u64,
    /// Log line prefix, with `%(username)s`, `%(remote_ip)s`,
    /// `%(remote_port)s` substituted (pyftpdlib's `log_prefix`). Default
    /// `"%(remote_ip)s:%(remote_port)s-[%(username)s]"`.
    pub log_prefix: String,
    /// Most simultaneous connections; more are refused with `421` (pyftpdlib's
    /// `FTPServer.max_cons`). Default 512; `0`: no limit.
    pub max_cons: usize,
    /// Most simultaneous connections from one IP address; more are refused
    /// with `421` (pyftpdlib's `FTPServer.max_cons_per_ip`). Default 0: no limit.
    pub max_cons_per_ip: usize,
    /// Listen backlog, in connections, passed to listen(2) (at least 1).
    /// Default 1024.
    pub backlog: i32,
    /// On shutdown ([`FtpServer::serve_until_signalled`](crate::FtpServer::serve_until_signalled)),
    /// how long running transfers may go on before they are cut with `426`.
    /// Default 5 s.
    pub shutdown_grace: Duration,
    /// Longest accepted control line, in bytes without its terminator; a
    /// longer line is answered `500 Command too long.` Default 8192.
    pub max_line_len: usize,
    /// How sessions are run. Default [`ConcurrencyModel::ThreadPool`].
    pub concurrency: ConcurrencyModel,
    /// Thread-pool model only: how long a session thread may wait for a new
    /// session before it exits. The pool starts a thread for each session that
    /// finds none idle (up to `max_cons`), and shrinks back to 8 threads (fewer
    /// if `max_cons` is smaller) once the extra ones have been idle this long.
    /// Default 60 s; `Duration::ZERO` gives extra threads back as soon as their
    /// session ends.
    pub thread_idle_timeout: Duration,
    /// FTPS: explicit TLS (AUTH TLS, PBSZ, PROT; RFC 4217) and implicit TLS;
    /// `None` (the default) serves plain FTP only.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Anti-flood bans: refuse a client address for a while after it failed
    /// too many logins or flooded commands (the tutorial's anti-flood
    /// handler, `demos/anti_flood_ftpd.rs`). `None` (the default): no bans.
    pub ban: Option<BanPolicy>,
}

/// When a client address is banned, and for how long
/// ([`ServerConfig::ban`]). A banned address's connections are refused by
/// the acceptor with `421` (and a log line) until the ban expires; the
/// counts and bans are shared by every process of the server.
///
/// ```
/// use std::time::Duration;
/// use ftpdlib::config::BanPolicy;
///
/// let policy = BanPolicy {
///     max_failed_logins: 3,
///     ban_time: Duration::from_secs(3600),
///     ..BanPolicy::default()
/// };
/// assert_eq!(policy.max_commands, 300);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanPolicy {
    /// Ban an address after this many failed logins (a wrong user name or
    /// password) from it within [`failed_logins_window`](Self::failed_logins_window),
    /// over all its connections. Default 5; `0`: failed logins never ban.
    pub max_failed_logins: u32,
    /// The window failed logins are counted in. Default 10 minutes.
    pub failed_logins_window: Duration,
    /// Ban the address of a session that sends more than this many command
    /// lines within [`commands_window`](Self::commands_window) (at that
    /// average rate, with bursts of up to this many); the session is told
    /// `421` and closed. Default 300 (pyftpdlib's demo: 300 per second);
    /// `0`: no command limit.
    pub max_commands: u32,
    /// The window commands are counted in. Default 1 s.
    pub commands_window: Duration,
    /// How long a ban lasts. Default 10 minutes.
    pub ban_time: Duration,
}

impl Default for BanPolicy {
    fn default() -> Self {
        BanPolicy {
            max_failed_logins: 5,
            failed_logins_window: Duration::from_secs(600),
            max_commands: 300,
            commands_window: Duration::from_secs(1),
            ban_time: Duration::from_secs(600),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            banner: format!("ftpdlib {} ready.", env!("CARGO_PKG_VERSION")),
            timeout: Some(Duration::from_secs(300)),
            data_timeout: Some(Duration::from_secs(300)),
            max_login_attempts: 3,
            auth_failed_delay: Duration::from_secs(3),
            permit_foreign_addresses: false,
            permit_privileged_ports: false,
            masquerade_address: None,
            masquerade_address_map: HashMap::new(),
            passive_ports: None,
            use_gmt_times: true,
            tcp_no_delay: true,
            use_sendfile: true,
            read_limit: 0,
            write_limit: 0,
            log_prefix: "%(remote_ip)s:%(remote_port)s-[%(username)s]".to_string(),
            max_cons: 512,
            max_cons_per_ip: 0,
            backlog: 1024,
            shutdown_grace: Duration::from_secs(5),
            max_line_len: 8192,
            concurrency: ConcurrencyModel::ThreadPool,
            thread_idle_timeout: Duration::from_secs(60),
            tls: None,
            ban: None,
        }
    }
}
