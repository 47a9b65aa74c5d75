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
    /// A forked process per session (pyftpdlib's `MultiprocessFTPServer`, CLI `multi-proc`).
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
}

/// Every tunable of the server. `ServerConfig::default()` gives pyftpdlib's defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The text of the 220 greeting.
    pub banner: String,
    /// Control-connection idle timeout (never fires while a transfer runs). `None` disables it.
    pub timeout: Option<Duration>,
    /// Data-channel timeout: how long a data connection may stay without traffic, and
    /// how long a passive listener waits for the client. `None` disables it.
    pub data_timeout: Option<Duration>,
    /// Failed logins before the connection is closed.
    pub max_login_attempts: u32,
    /// Delay before replying to a failed login.
    pub auth_failed_delay: Duration,
    /// Accept data connections from an address other than the client's.
    pub permit_foreign_addresses: bool,
    /// Accept PORT/EPRT to ports below 1024.
    pub permit_privileged_ports: bool,
    /// The address announced in PASV replies (NAT).
    pub masquerade_address: Option<IpAddr>,
    /// Per-address masquerade map (see [`crate::proto::addr::masquerade`]).
    pub masquerade_address_map: HashMap<IpAddr, IpAddr>,
    /// Ports passive listeners may use; `None` for any ephemeral port.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Show times in listings in UTC (true) or local time (false).
    pub use_gmt_times: bool,
    /// Set TCP_NODELAY on control connections.
    pub tcp_no_delay: bool,
    /// Zero-copy transfers: sendfile(2) for binary, unthrottled RETR, and
    /// splice(2) for binary, unthrottled uploads to plain files.
    pub use_sendfile: bool,
    /// Upload speed limit in bytes per second (0 = none).
    pub read_limit: u64,
    /// Download speed limit in bytes per second (0 = none).
    pub write_limit: u64,
    /// Log line prefix, with `%(username)s`, `%(remote_ip)s`, `%(remote_port)s`.
    pub log_prefix: String,
    /// Most simultaneous connections (0 = no limit).
    pub max_cons: usize,
    /// Most simultaneous connections from one IP (0 = no limit).
    pub max_cons_per_ip: usize,
    /// Listen backlog.
    pub backlog: i32,
    /// On shutdown, how long running transfers may go on before they are cut.
    pub shutdown_grace: Duration,
    /// Longest accepted control line, in bytes.
    pub max_line_len: usize,
    /// How sessions are run.
    pub concurrency: ConcurrencyModel,
    /// Thread-pool model only: how long a session thread may wait for a new
    /// session before it exits. The pool starts a thread for each session that
    /// finds none idle (up to `max_cons`), and shrinks back to 8 threads (fewer
    /// if `max_cons` is smaller) once the extra ones have been idle this long.
    /// Default 60 s; `Duration::ZERO` gives extra threads back as soon as their
    /// session ends.
    pub thread_idle_timeout: Duration,
    /// FTPS (AUTH TLS, PROT P, implicit TLS); `None` serves plain FTP only.
    pub tls: Option<crate::tls::TlsConfig>,
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
        }
    }
}
