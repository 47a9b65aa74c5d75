//! The acceptor, connection limits and the concurrency models.
//!
//! A blocking `std::net` acceptor takes connections, enforces `max_cons`
//! and `max_cons_per_ip`, and hands each session to the configured
//! [`ConcurrencyModel`]. Drivers only carry bytes: all FTP behaviour lives
//! in [`crate::session`].

mod conn;
mod limits;
mod poll;
mod pool;
#[cfg(unix)]
mod process;
#[cfg(unix)]
mod reload;
mod shutdown;
#[cfg(unix)]
mod supervisor;
mod threads;
mod tls_stream;

#[cfg(unix)]
pub use supervisor::ServerProcess;

use limits::{ConnLimits, ConnSlot};
use shutdown::ShutdownSignal;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Authorizer;
use crate::config::{ConcurrencyModel, ServerConfig};
use crate::events::{EventHandler, NoEvents};
use crate::fs::{FilesystemFactory, LocalFsFactory};
use crate::session::{replies, SessionContext};
use crate::shared::SharedState;

/// The start-up lines pyftpdlib logs.
fn log_start(server: &FtpServer) -> io::Result<()> {
    let cfg = &server.ctx.config;
    log::info!(
        ">>> starting FTP server on {}, pid={} <<<",
        server.local_addr()?,
        std::process::id()
    );
    log::info!("concurrency model: {}", cfg.concurrency.cli_name());
    log::info!("masquerade (NAT) address: {:?}", cfg.masquerade_address);
    log::info!("passive ports: {:?}", cfg.passive_ports);
    // zero-copy is a Unix matter: Windows transfers always copy
    log::info!("use sendfile(2): {}", cfg.use_sendfile && cfg!(unix));
    Ok(())
}

/// Builds an [`FtpServer`]: the authorizer, then optionally the
/// configuration, the filesystem and the event callbacks, then
/// [`bind`](ServerBuilder::bind).
///
/// The defaults are pyftpdlib's: [`ServerConfig::default`], a
/// [`LocalFsFactory`] (each user confined to their home directory) and no
/// callbacks.
pub struct ServerBuilder {
    config: ServerConfig,
    authorizer: Arc<dyn Authorizer>,
    fs_factory: Arc<dyn FilesystemFactory>,
    events: Arc<dyn EventHandler>,
}

impl ServerBuilder {
    /// A server whose users come from `authorizer`, with pyftpdlib's defaults.
    pub fn new(authorizer: impl Authorizer + 'static) -> Self {
        Self::with_shared_authorizer(Arc::new(authorizer))
    }

    /// Like [`ServerBuilder::new`] with an authorizer the caller keeps a handle on.
    pub fn with_shared_authorizer(authorizer: Arc<dyn Authorizer>) -> Self {
        ServerBuilder {
            config: ServerConfig::default(),
            authorizer,
            fs_factory: Arc::new(LocalFsFactory::default()),
            events: Arc::new(NoEvents),
        }
    }

    /// Replace the whole configuration.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Change the configuration in place.
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Use another filesystem (default: [`LocalFsFactory`], a virtual root at each user's home).
    pub fn filesystem(mut self, factory: impl FilesystemFactory + 'static) -> Self {
        self.fs_factory = Arc::new(factory);
        self
    }

    /// Receive event callbacks.
    pub fn events(mut self, handler: impl EventHandler + 'static) -> Self {
        self.events = Arc::new(handler);
        self
    }

    /// Receive event callbacks through a shared handler.
    pub fn shared_events(mut self, handler: Arc<dyn EventHandler>) -> Self {
        self.events = handler;
        self
    }

    /// Bind the listening socket (with `SO_REUSEADDR`, and
    /// [`ServerConfig::backlog`] as the listen backlog). `addr` with an
    /// unspecified IPv6 address (`[::]:21`) listens on IPv4 too where the
    /// system allows it. Nothing is served until [`FtpServer::serve_forever`]
    /// (or a sibling) is called.
    ///
    /// Also maps the memory every process of the server shares (per-user
    /// session slots and bandwidth, bans: [`crate::shared`]).
    ///
    /// # Errors
    /// The error of the last address `addr` resolves to when none could be
    /// bound (e.g. [`io::ErrorKind::AddrInUse`], or
    /// [`io::ErrorKind::PermissionDenied`] for a port below 1024), or the
    /// resolution error; [`io::ErrorKind::InvalidInput`] when `addr` resolves
    /// to no address; the error of `mmap(2)` for the shared memory.
    pub fn bind(self, addr: impl ToSocketAddrs) -> io::Result<FtpServer> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
        for a in addr.to_socket_addrs()? {
            match listen(a, self.config.backlog) {
                Ok(listener) => {
                    // before any fork: every process of the server shares it
                    let shared = Arc::new(SharedState::new(self.config.max_cons)?);
                    return Ok(FtpServer {
                        listener,
                        ctx: SessionContext {
                            config: Arc::new(self.config),
                            authorizer: self.authorizer,
                            fs_factory: self.fs_factory,
                            shared,
                        },
                        events: self.events,
                        stop: Arc::new(AtomicBool::new(false)),
                        sessions: Arc::new(ShutdownSignal::default()),
                        handle_signals: false,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn listen(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        let _ = sock.set_only_v6(false);
    }
    sock.bind(&addr.into())?;
    sock.listen(backlog.max(1))?;
    Ok(sock.into())
}

/// A bound FTP server, ready to serve in its [`ConcurrencyModel`].
///
/// Every model runs the same [`crate::session::Session`]; the acceptor
/// refuses connections beyond [`ServerConfig::max_cons`] or
/// [`ServerConfig::max_cons_per_ip`] with `421` (as pyftpdlib's
/// `FTPServer` does).
///
/// ```no_run
/// use ftpdlib::auth::MemoryAuthorizer;
/// use ftpdlib::server::ServerBuilder;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = MemoryAuthorizer::new();
/// auth.add_user("user", "12345", ".", "elradfmwMT")?;
/// auth.add_anonymous(".")?;
/// let server = ServerBuilder::new(auth)
///     .configure(|c| {
///         c.banner = "ftpdlib based ftpd ready.".into();
///         c.max_cons = 256;
///         c.max_cons_per_ip = 5;
///     })
///     .bind("0.0.0.0:2121")?;
/// server.serve_forever()?;
/// # Ok(())
/// # }
/// ```
pub struct FtpServer {
    listener: TcpListener,
    ctx: SessionContext,
    events: Arc<dyn EventHandler>,
    stop: Arc<AtomicBool>,
    /// Tells the sessions of the in-process models that the server stops.
    sessions: Arc<ShutdownSignal>,
    /// Whether SIGINT/SIGTERM stop the server (see [`FtpServer::serve_until_signalled`]).
    #[cfg_attr(not(unix), allow(dead_code))]
    handle_signals: bool,
}

/// Stops a running [`FtpServer`] from another thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Stop accepting connections; `serve_forever` returns once the acceptor
    /// wakes (this connects to the listening address to wake it, waiting at
    /// most 1 second). Sessions already running are not cut.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the blocking accept()
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

impl FtpServer {
    /// The address the server listens on (useful after binding port 0).
    ///
    /// # Errors
    /// The OS error of `getsockname(2)` (not expected on a bound socket).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Close the listening socket once the server stops accepting (the
    /// grace period starts): a client that connects meanwhile is refused at
    /// once by the kernel, and those queued and not accepted yet are
    /// reset, rather than accepted by the kernel and left without a
    /// greeting until the server exits. The descriptor's number stays open
    /// (on `/dev/null`) until the server is dropped. (Unix; on Windows the
    /// socket closes when the server is dropped.)
    fn stop_listening(&self) {
        // Linux: the socket stops listening for every process that holds
        // it (a child forked a moment ago has not given up its copy yet),
        // so a client connecting now is refused instead of queued on it
        // and reset when that copy goes
        #[cfg(unix)]
        let _ = socket2::SockRef::from(&self.listener).shutdown(std::net::Shutdown::Both);
        #[cfg(unix)]
        if let Err(e) = crate::sys::release_listener(&self.listener) {
            log::warn!("can't close the listening socket: {e}");
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.ctx.config
    }

    /// A handle that stops the server from another thread.
    ///
    /// # Errors
    /// As [`FtpServer::local_addr`].
    pub fn shutdown_handle(&self) -> io::Result<ShutdownHandle> {
        Ok(ShutdownHandle {
            stop: Arc::clone(&self.stop),
            addr: self.local_addr()?,
        })
    }

    /// Serve on the calling thread until [`ShutdownHandle::shutdown`] is
    /// called, in the configured [`ConcurrencyModel`]. First raises the
    /// open-files limit (`RLIMIT_NOFILE`) to its hard limit.
    ///
    /// # Errors
    /// When the model cannot start (e.g. a poller, a thread or a process
    /// cannot be created); [`io::ErrorKind::Unsupported`] for a forking
    /// model on a system without `fork(2)` (see
    /// [`ConcurrencyModel::is_supported`]); errors of single connections
    /// are logged, never returned.
    pub fn serve_forever(self) -> io::Result<()> {
        match crate::sys::raise_nofile_limit() {
            Ok(n) => log::debug!("open files limit: {n}"),
            Err(e) => log::warn!("can't raise the open files limit: {e}"),
        }
        match self.ctx.config.concurrency {
            ConcurrencyModel::ThreadPool => threads::serve(self),
            ConcurrencyModel::Poll => poll::serve(self),
            #[cfg(unix)]
            ConcurrencyModel::Process => process::serve_process(self),
            #[cfg(unix)]
            ConcurrencyModel::Prefork { workers } => process::serve_prefork(self, workers),
            #[cfg(not(unix))]
            model @ (ConcurrencyModel::Process | ConcurrencyModel::Prefork { .. }) => {
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "the {} concurrency model forks processes, which only Unix systems \
                         can: use async or multi-thread",
                        model.cli_name()
                    ),
                ))
            }
        }
    }

    /// Serve until SIGINT or SIGTERM: stop accepting, send `421` to idle
    /// sessions, let running transfers finish within
    /// [`ServerConfig::shutdown_grace`] and then cut them, end every session
    /// (and reap every child process), then return. A second signal exits
    /// the process at once (status 130); in the forking models, once the
    /// parent has killed and reaped its children, so that none is left
    /// running with nobody to stop it.
    ///
    /// SIGHUP reloads the accounts ([`Authorizer::reload`], e.g. a users
    /// file read again) in every process that checks logins, without
    /// dropping a session; a reload that fails keeps the accounts in force
    /// and logs one error.
    ///
    /// # Errors
    /// When the signal handler cannot be installed (the thread and poll
    /// models install a process-wide handler once: a second call fails), or
    /// as [`FtpServer::serve_forever`].
    pub fn serve_until_signalled(mut self) -> io::Result<()> {
        match self.ctx.config.concurrency {
            ConcurrencyModel::Process | ConcurrencyModel::Prefork { .. } => {
                // the single-threaded parent watches a signal pipe itself
                self.handle_signals = true;
            }
            ConcurrencyModel::ThreadPool | ConcurrencyModel::Poll => {
                let handle = self.shutdown_handle()?;
                let first: std::sync::Mutex<Option<std::time::Instant>> = Default::default();
                ctrlc::set_handler(move || {
                    let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                    match *first {
                        // the same request delivered twice (see `SAME_STOP`)
                        Some(at) if at.elapsed() < crate::sys::SAME_STOP => {}
                        Some(_) => std::process::exit(130),
                        None => {
                            *first = Some(std::time::Instant::now());
                            log::info!("received a shutdown signal");
                            handle.shutdown();
                        }
                    }
                })
                .map_err(|e| io::Error::other(e.to_string()))?;
                // after ctrlc, whose `termination` feature takes SIGHUP too
                #[cfg(unix)]
                reload::reload_on_hangup(Arc::clone(&self.ctx.authorizer))?;
            }
        }
        self.serve_forever()
    }

    /// Serve on a background thread; returns the handle that stops it and
    /// the thread, whose result is [`FtpServer::serve_forever`]'s.
    ///
    /// # Errors
    /// As [`FtpServer::local_addr`], or when the thread cannot be spawned.
    pub fn spawn(self) -> io::Result<(ShutdownHandle, std::thread::JoinHandle<io::Result<()>>)> {
        let handle = self.shutdown_handle()?;
        let join = std::thread::Builder::new()
            .name("ftp-acceptor".into())
            .spawn(move || self.serve_forever())?;
        Ok((handle, join))
    }

    /// Accept the next connection that is within the limits; refuse the others
    /// with a 421 reply. `None` when the server is stopping. A failed
    /// `accept` is tried again after [`ACCEPT_AGAIN_AFTER`], and logged
    /// in `failures` (kept by the caller from one call to the next).
    fn accept_next(
        &self,
        limits: &ConnLimits,
        failures: &FailureRun,
        reserve: &mut crate::sys::FdReserve,
    ) -> Option<(TcpStream, SocketAddr, ConnSlot)> {
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            let (stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) => {
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) {
                        continue;
                    }
                    failures.failed(&e);
                    match accept_with_reserve(&self.listener, &e, reserve) {
                        Reserved::Serve(stream, peer) => (stream, peer),
                        Reserved::Refused => continue,
                        Reserved::Nothing => {
                            // e.g. out of file descriptors: don't spin
                            std::thread::sleep(ACCEPT_AGAIN_AFTER);
                            continue;
                        }
                    }
                }
            };
            failures.succeeded();
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            match self.admit(peer, limits, &mut || {}) {
                Ok(slot) => return Some((stream, peer, slot)),
                Err(reply) => refuse(stream, &reply),
            }
        }
    }

    /// Count a new session in, or log its refusal and return the `421`
    /// reply the caller refuses it with (a banned address, or a connection
    /// limit reached).
    /// `settle`: run before a connection is refused for the limits, then
    /// the limits are checked again; a forking parent reads there what its
    /// children told it of places given back (see `Connection::set_place`).
    fn admit(
        &self,
        peer: SocketAddr,
        limits: &ConnLimits,
        settle: &mut dyn FnMut(),
    ) -> Result<ConnSlot, crate::proto::reply::Reply> {
        let banned = match &self.ctx.config.ban {
            Some(_) => self.ctx.shared.banned(peer.ip(), std::time::Instant::now()),
            None => None,
        };
        let refused = match banned {
            Some(left) => Err(replies::banned(left)),
            None => limits
                .acquire(peer.ip())
                .or_else(|_| {
                    settle();
                    limits.acquire(peer.ip())
                })
                .map_err(|per_ip| {
                    if per_ip {
                        replies::too_many_connections_from_ip()
                    } else {
                        replies::too_many_connections()
                    }
                }),
        };
        if let Err(reply) = &refused {
            log::warn!("{peer} refused: {}", reply.log_text());
        }
        refused
    }
}

/// How long an acceptor waits before it tries `accept` again after it
/// failed for a reason that may pass (out of descriptors or memory): in
/// the process models the listening socket is watched edge-triggered, so
/// the connections still queued would otherwise wait for the next one to
/// arrive, without a deadline.
pub(super) const ACCEPT_AGAIN_AFTER: Duration = Duration::from_millis(50);

/// What fails in a [`FailureRun`], for its log lines.
#[derive(Clone, Copy)]
pub(super) enum Failing {
    /// `accept` on the listening socket, tried again after this long.
    Accept(Duration),
    /// Starting a session's thread (the thread-pool model): each
    /// connection meanwhile is refused with `421`.
    SessionThread,
    /// Forking a session's process (fork per connection): each connection
    /// meanwhile is refused with `421`.
    #[cfg_attr(not(unix), allow(dead_code))]
    SessionProcess,
    /// Receiving the connections the pre-fork parent passes to this worker
    /// (out of descriptors: the kernel closes them); their places are
    /// given back.
    #[cfg_attr(not(unix), allow(dead_code))]
    Handover,
    /// Handing connections over to a pre-fork worker: none took them in
    /// time (each is refused with `421`).
    #[cfg_attr(not(unix), allow(dead_code))]
    NoWorker,
}

/// The log of a run of failures that may pass (out of descriptors, memory,
/// processes or threads), retried for as long as it lasts: the first
/// failure at once, then one line every [`FailureRun::SUMMARY_EVERY`]
/// with the count, and one when it works again. A line per attempt grew
/// the log by 20 lines a second for `accept`, and by thousands for
/// connections refused at the system's limit of processes.
pub(super) struct FailureRun {
    what: Failing,
    /// Since when the run is logged (its first failure, or its last
    /// summary), and the failures since.
    run: std::cell::Cell<Option<(std::time::Instant, u64)>>,
    /// Failures in the whole run.
    total: std::cell::Cell<u64>,
}

/// A run of failed accepts, tried again after [`ACCEPT_AGAIN_AFTER`].
impl Default for FailureRun {
    fn default() -> FailureRun {
        FailureRun::new(Failing::Accept(ACCEPT_AGAIN_AFTER))
    }
}

impl FailureRun {
    const SUMMARY_EVERY: Duration = Duration::from_secs(10);

    pub(super) fn new(what: Failing) -> FailureRun {
        FailureRun {
            what,
            run: std::cell::Cell::new(None),
            total: std::cell::Cell::new(0),
        }
    }

    /// It failed with `e`.
    pub(super) fn failed(&self, e: &io::Error) {
        let now = std::time::Instant::now();
        self.total.set(self.total.get() + 1);
        match self.run.get() {
            None => {
                match self.what {
                    Failing::Accept(retry) => {
                        log::error!("accept failed: {e}; trying again every {retry:?}")
                    }
                    Failing::SessionThread => log::error!(
                        "can't start a session thread: {e}; connections are refused with 421 meanwhile"
                    ),
                    Failing::SessionProcess => log::error!(
                        "can't fork a session process: {e}; connections are refused with 421 meanwhile"
                    ),
                    Failing::Handover => log::error!(
                        "worker {}: connections passed to it are lost: {e}",
                        std::process::id()
                    ),
                    Failing::NoWorker => log::error!(
                        "can't hand connections over to a worker: {e}; they are refused with 421"
                    ),
                }
                self.run.set(Some((now, 0)));
            }
            Some((since, n)) if now.duration_since(since) >= Self::SUMMARY_EVERY => {
                log::error!(
                    "{} still failing: {e} ({} times in {:.1?})",
                    self.name(),
                    n + 1,
                    now.duration_since(since)
                );
                self.run.set(Some((now, 0)));
            }
            Some((since, n)) => self.run.set(Some((since, n + 1))),
        }
    }

    /// It worked (for `accept`: or found nothing to accept): the end of a
    /// run.
    pub(super) fn succeeded(&self) {
        if self.run.take().is_none() {
            return;
        }
        let total = self.total.take();
        match self.what {
            Failing::Accept(_) => {
                log::warn!("accepting connections again after {total} failed attempts")
            }
            Failing::SessionThread => {
                log::warn!("starting session threads again after {total} refused connections")
            }
            Failing::SessionProcess => {
                log::warn!("forking session processes again after {total} refused connections")
            }
            Failing::Handover => log::warn!(
                "worker {}: receiving connections again after {total} lost",
                std::process::id()
            ),
            Failing::NoWorker => {
                log::warn!("handing connections over to workers again after {total} refused")
            }
        }
    }

    fn name(&self) -> &'static str {
        match self.what {
            Failing::Accept(_) => "accept",
            Failing::SessionThread => "starting session threads",
            Failing::SessionProcess => "forking session processes",
            Failing::Handover => "receiving connections",
            Failing::NoWorker => "handing connections over to workers",
        }
    }
}

/// A run still under way when the server stops: its last count.
impl Drop for FailureRun {
    fn drop(&mut self) {
        self.finish();
    }
}

impl FailureRun {
    /// The server stops (for a run a thread that never ends holds, before
    /// the process exits): a run still under way logs its last count,
    /// once.
    pub(super) fn finish(&self) {
        if let Some((since, n)) = self.run.take() {
            log::error!(
                "{} failed {} times, {} since {:.1?} ago, until the stop",
                self.name(),
                self.total.get(),
                n,
                since.elapsed()
            );
        }
    }
}

/// What [`accept_with_reserve`] did.
pub(super) enum Reserved {
    /// Nothing: not out of descriptors, no reserve, or no connection.
    Nothing,
    /// A connection was refused with `421`.
    Refused,
    /// A connection was accepted, and descriptors are to be had again:
    /// serve it.
    Serve(TcpStream, SocketAddr),
}

/// After `accept` failed with `e`: when this process is out of
/// descriptors, take the next waiting connection with `reserve`'s number
/// and refuse it with `421` (clients get a reply while the shortage lasts,
/// rather than wait in the backlog), or, when the reserve can be opened
/// again after it (the shortage is over: a blocking `accept` may have
/// waited long for this connection), have it served.
pub(super) fn accept_with_reserve(
    listener: &std::net::TcpListener,
    e: &io::Error,
    reserve: &mut crate::sys::FdReserve,
) -> Reserved {
    if !crate::sys::out_of_descriptors(e) {
        return Reserved::Nothing;
    }
    let Some(Ok((stream, peer))) = reserve.with_released(|| listener.accept()) else {
        return Reserved::Nothing;
    };
    if reserve.is_held() {
        return Reserved::Serve(stream, peer);
    }
    log::debug!("{peer} refused: out of descriptors");
    refuse(stream, &replies::service_not_available());
    // the number it had is the reserve's again
    reserve.restore();
    Reserved::Refused
}

/// Send `reply` (a 421) on a control connection no session will serve and
/// close it. The write waits a second at most (a reply this short fits in
/// any socket buffer, so only a vanished client makes it wait).
fn refuse(mut stream: TcpStream, reply: &crate::proto::reply::Reply) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&reply.to_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Refuse a connection whose socket another process shares (a pre-fork
/// worker holds its copy): `reply` is sent without waiting and without
/// changing the socket's flags, which the copies share (the worker's
/// copy must stay non-blocking), and the connection is shut down in both
/// directions, for the worker's copy too, so that the client sees it end.
#[cfg(unix)]
pub(super) fn refuse_shared(stream: &TcpStream, reply: &crate::proto::reply::Reply) {
    use nix::sys::socket::{send, MsgFlags};
    use std::os::fd::AsRawFd;
    let _ = send(
        stream.as_raw_fd(),
        &reply.to_bytes(),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
    );
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// How a session run by [`run_session`] learns that the server stops.
enum StopSource<'a> {
    /// In-process: the server's signal wakes this session's poller.
    Signal(&'a Arc<ShutdownSignal>),
    /// A forked child: a signal pipe of its own becomes readable.
    #[cfg(unix)]
    Pipe(std::os::fd::RawFd),
}

/// The session and connection state of a thread's or a process's one
/// connection, on the heap.
///
/// Built out of line and kept on the heap so that neither the session's
/// state nor the copies made while building it are part of the stack frame
/// under which every command runs: a thread's or a process's deepest stack
/// stays resident as long as it lives (a page less per idle session).
#[inline(never)]
fn open_connection(
    ctx: SessionContext,
    events: Arc<dyn EventHandler>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    registry: &mio::Registry,
) -> std::io::Result<Box<conn::Connection>> {
    let config = Arc::clone(&ctx.config);
    let session = crate::session::Session::new(ctx, peer, local);
    let (c, handshake_failed) =
        conn::Connection::unstarted(session, events, config, stream, registry, 0)?;
    // greeted from here once the state is on the heap, not from inside the
    // constructor: the greeting's work (the session's first reply and log
    // line) runs under one frame that held the state, not two
    let mut c = Box::new(c);
    c.greet(handshake_failed, registry);
    Ok(c)
}

/// Serve one session on the calling thread until it ends (thread and process models).
/// `place`: its place under the limits, given back just before the control
/// connection is shut down (see `Connection::set_place`), or when the
/// session could not be set up.
fn run_session(
    ctx: SessionContext,
    events: Arc<dyn EventHandler>,
    stream: TcpStream,
    peer: SocketAddr,
    stop: StopSource<'_>,
    place: Box<dyn Send>,
) {
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            log::debug!("{peer}: connection lost before the banner: {e}");
            return;
        }
    };
    // a session that can't be set up (out of descriptors) is refused as
    // one no thread or process could be started for, not closed without a
    // word
    let mut poll = match mio::Poll::new() {
        Ok(p) => p,
        Err(e) => {
            log::error!("{peer}: can't create a poller: {e}");
            return refuse(stream, &replies::service_not_available());
        }
    };
    // keep the waker alive as long as the session runs
    let _waker = match &stop {
        StopSource::Signal(signal) => match mio::Waker::new(poll.registry(), conn::WAKE) {
            Ok(w) => {
                let w = Arc::new(w);
                signal.subscribe(&w);
                Some(w)
            }
            Err(e) => {
                log::error!("{peer}: can't create a waker: {e}");
                return refuse(stream, &replies::service_not_available());
            }
        },
        #[cfg(unix)]
        StopSource::Pipe(fd) => {
            let source = &mut mio::unix::SourceFd(fd);
            if let Err(e) = poll
                .registry()
                .register(source, conn::WAKE, mio::Interest::READABLE)
            {
                log::error!("{peer}: can't watch for signals: {e}");
            }
            None
        }
    };
    let stop_requested: Box<dyn Fn() -> bool + Send> = match stop {
        StopSource::Signal(signal) => {
            let signal = Arc::clone(signal);
            Box::new(move || signal.is_set())
        }
        #[cfg(unix)]
        StopSource::Pipe(_) => Box::new(crate::sys::signal_received),
    };
    match open_connection(ctx, events, stream, peer, local, poll.registry()) {
        Ok(mut c) => {
            c.set_stop_check(stop_requested);
            c.set_place(place);
            c.run(&mut poll)
        }
        Err(e) => log::warn!("{peer}: can't set up the session: {e}"),
    }
}
