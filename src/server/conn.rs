//! One control connection and its data channel, driven by readiness events.
//!
//! A [`Connection`] owns the sockets of one session and carries bytes
//! between them and the [`Session`] state machine. It has no FTP logic of
//! its own: every decision is the session's. It is written against a mio
//! [`Registry`] and a token base so that one thread can drive one
//! connection (thread and process models) or many (the poll loop).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::tls_stream::{Ctrl, CtrlMode, DataTls, SockIo, Step, TlsState};

use super::pool::Pool;
use crate::data::{Pump, Transfer, TransferError};
use crate::events::EventHandler;
use crate::proto::line::{LineEvent, LineReader};
use crate::session::{Action, FsDone, Input, LoginOutcome, Session};

/// The token on which a connection driven by [`Connection::run`] is told to shut down.
pub const WAKE: Token = Token(usize::MAX);

/// Bytes moved per pump call before the connection looks at its control channel again.
const PUMP_BUDGET: usize = 4 * 1024 * 1024;
/// How long a closing connection waits for the client to read its last replies.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Stop reading commands while this much reply output is unsent.
const MAX_PENDING_OUTPUT: usize = 1024 * 1024;
/// Stop reading from the control connection while this many bytes wait to
/// be framed (beyond the longest line the session accepts).
const MAX_INBOX: usize = 64 * 1024;

/// Which socket of a connection a token designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The control connection.
    Control,
    /// The passive listener.
    Passive,
    /// The data connection (or the active connect in progress).
    Data,
}

impl Slot {
    /// Tokens per connection.
    pub const COUNT: usize = 3;

    fn offset(self) -> usize {
        match self {
            Slot::Control => 0,
            Slot::Passive => 1,
            Slot::Data => 2,
        }
    }

    /// The slot a token offset designates.
    pub fn from_offset(o: usize) -> Option<Slot> {
        match o {
            0 => Some(Slot::Control),
            1 => Some(Slot::Passive),
            2 => Some(Slot::Data),
            _ => None,
        }
    }
}

/// Where a connection's data channel stands.
enum DataSock {
    None,
    Connecting {
        stream: TcpStream,
        deadline: Option<Instant>,
    },
    Open(TcpStream),
    /// Secured with TLS for a `PROT P` transfer.
    Secure(DataTls),
}

/// A TLS change on the control connection, made once the replies before it are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsSwitch {
    Start,
    Stop,
}

/// A running transfer and its timing.
struct Running {
    transfer: Transfer,
    started: Instant,
    last_progress: Instant,
    last_bytes: u64,
    paused_until: Option<Instant>,
}

/// One session's sockets and buffers.
pub struct Connection {
    session: Session,
    events: Arc<dyn EventHandler>,
    config: Arc<crate::ServerConfig>,
    base: usize,
    ctrl: Ctrl,
    /// TLS changes waiting for the output before them to be sent.
    tls_switch: VecDeque<TlsSwitch>,
    /// Control bytes read (decrypted, under TLS) and not framed yet. Lines
    /// are framed one at a time, only when the session takes the next one,
    /// so at a change of security state everything received after the
    /// command that made it is still here, unframed (see `drive_tls`).
    inbox: Vec<u8>,
    /// Reading stopped with the inbox full (not at `WouldBlock`): readiness
    /// is edge-triggered, so reading resumes when the inbox has room.
    read_paused: bool,
    reader: LineReader,
    /// When a TLS handshake on the control connection must be done.
    ctrl_handshake_deadline: Option<Instant>,
    /// When a data connection that is open without a transfer is closed.
    data_idle_deadline: Option<Instant>,
    /// When the TLS handshake on the data connection must be done.
    data_handshake_deadline: Option<Instant>,
    out: Vec<u8>,
    passive: Option<(TcpListener, Option<Instant>)>,
    data: DataSock,
    running: Option<Running>,
    idle_deadline: Option<Instant>,
    sleep_until: Option<Instant>,
    deferred: VecDeque<Action>,
    closing: bool,
    /// When a closing connection gives up sending what the client does not read.
    close_deadline: Option<Instant>,
    /// Server shutdown: when a running transfer is cut.
    grace_deadline: Option<Instant>,
    done: bool,
    /// Where login checks and filesystem work run when they must not block
    /// this thread.
    offload: Option<Offload>,
    /// Offloaded jobs whose result has not come back yet: the connection is
    /// not done before they are (an upload's file gets its commit or abort
    /// and its callback).
    jobs_out: usize,
    /// More transfer work can be done without waiting for readiness.
    pub hot: bool,
}

/// The result of a job run off the poll loop, for the connection that asked.
pub enum Done {
    /// An [`Action::Login`] check.
    Login(LoginOutcome),
    /// An [`Action::Fs`] task.
    Fs(FsDone),
}

impl Done {
    /// Release a result no connection will take (see [`FsDone::discard`]).
    pub fn discard(self) {
        if let Done::Fs(d) = self {
            d.discard();
        }
    }
}

/// Runs login checks and filesystem work on a thread pool and hands the
/// result back to the poll loop (keyed by connection), so a slow
/// authorizer or a slow mount stalls no other session.
#[derive(Clone)]
pub struct Offload {
    pool: Arc<Pool>,
    results: crossbeam_channel::Sender<(usize, u64, Done)>,
    waker: Arc<mio::Waker>,
    key: (usize, u64),
}

impl Offload {
    /// A handle for connection `key` that runs jobs on `pool` and reports on `results`, waking `waker`.
    pub(crate) fn new(
        pool: Arc<Pool>,
        results: crossbeam_channel::Sender<(usize, u64, Done)>,
        waker: Arc<mio::Waker>,
        key: (usize, u64),
    ) -> Self {
        Offload {
            pool,
            results,
            waker,
            key,
        }
    }

    /// Run `job` on the pool. Err: no thread could be started (the job was
    /// dropped, see [`Pool::execute`]).
    fn submit(&self, job: impl FnOnce() -> Done + Send + 'static) -> io::Result<()> {
        let (tx, waker, (idx, gen)) = (self.results.clone(), Arc::clone(&self.waker), self.key);
        self.pool.execute(move || {
            let done = job();
            match tx.send((idx, gen, done)) {
                Ok(()) => {
                    let _ = waker.wake();
                }
                // the loop is gone: release what the result holds
                Err(e) => (e.0).2.discard(),
            }
        })
    }
}

impl Connection {
    /// Wrap an accepted control connection; registers it and greets the client.
    pub fn new(
        session: Session,
        events: Arc<dyn EventHandler>,
        config: Arc<crate::ServerConfig>,
        ctrl: std::net::TcpStream,
        registry: &Registry,
        base: usize,
    ) -> io::Result<Self> {
        ctrl.set_nonblocking(true)?;
        if config.tcp_no_delay {
            let _ = ctrl.set_nodelay(true);
        }
        // Urgent data (Telnet Synch, or a whole "ABOR" sent with MSG_OOB as Python's
        // ftplib does) stays in the normal stream, as pyftpdlib sets it up.
        let _ = socket2::SockRef::from(&ctrl).set_out_of_band_inline(true);
        let mut ctrl = Ctrl::new(TcpStream::from_std(ctrl));
        registry.register(
            &mut SourceFd(&ctrl.fd()),
            Token(base),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut handshake_failed = None;
        let mut ctrl_handshake_deadline = None;
        if let Some(tls) = config.tls.as_ref().filter(|t| t.implicit) {
            ctrl_handshake_deadline = Some(Instant::now() + tls.handshake_timeout);
            // TLS from the first byte: the greeting waits for the handshake
            let io = SockIo::new(Arc::clone(&ctrl.sock), Vec::new());
            let (state, step) = TlsState::accept(tls.acceptor(), io);
            ctrl.mode = CtrlMode::Tls(state);
            if let Step::Failed(e) = step {
                ctrl.mode = CtrlMode::Broken;
                handshake_failed = Some(e);
            }
        }
        let max_line = config.max_line_len;
        let mut c = Connection {
            session,
            events,
            config,
            base,
            ctrl,
            tls_switch: VecDeque::new(),
            inbox: Vec::new(),
            read_paused: false,
            reader: LineReader::new(max_line),
            ctrl_handshake_deadline,
            data_idle_deadline: None,
            data_handshake_deadline: None,
            out: Vec::new(),
            passive: None,
            data: DataSock::None,
            running: None,
            idle_deadline: None,
            sleep_until: None,
            deferred: VecDeque::new(),
            closing: false,
            offload: None,
            jobs_out: 0,
            close_deadline: None,
            grace_deadline: None,
            done: false,
            hot: false,
        };
        let now = Instant::now();
        c.touch(now);
        c.feed(Input::Connected, registry, now);
        if let Some(e) = handshake_failed {
            log::info!("{} SSL handshake failed: {e}", c.session.log_prefix());
            c.out.clear();
            c.closing = true;
        }
        Ok(c)
    }

    /// Run login checks and filesystem work through `offload` instead of
    /// on the calling thread.
    pub fn set_offload(&mut self, offload: Offload) {
        self.offload = Some(offload);
    }

    /// The result of an offloaded job.
    pub fn job_done(&mut self, done: Done, registry: &Registry) {
        self.jobs_out = self.jobs_out.saturating_sub(1);
        let now = Instant::now();
        match done {
            Done::Login(outcome) => self.feed(Input::LoginDone(outcome), registry, now),
            Done::Fs(d) => self.feed(Input::FsDone(d), registry, now),
        }
        if self.hot {
            self.pump(registry, now);
        }
        self.resume_input(registry);
        self.finish_if_closing(registry);
    }

    /// Whether the connection has finished (control closed, callbacks
    /// fired, no offloaded job out).
    pub fn is_done(&self) -> bool {
        self.done && self.jobs_out == 0
    }

    /// The session's log prefix.
    pub fn log_prefix(&self) -> &str {
        self.session.log_prefix()
    }

    fn token(&self, slot: Slot) -> Token {
        Token(self.base + slot.offset())
    }

    fn touch(&mut self, now: Instant) {
        self.idle_deadline = self.config.timeout.map(|t| now + t);
    }

    /// The earliest instant at which [`Connection::on_timer`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        if self.closing {
            // while offloaded jobs are out, their results wake the connection
            if self.jobs_out == 0 {
                consider(self.close_deadline);
            }
        } else if let Some(s) = self.sleep_until {
            consider(Some(s));
        } else {
            if !self.session.awaits_driver() {
                consider(self.idle_deadline);
            }
            if self.running.is_none() {
                consider(self.data_idle_deadline);
            }
            if !self.ctrl.ready() {
                consider(self.ctrl_handshake_deadline);
            }
            consider(self.data_handshake_deadline);
            consider(self.passive.as_ref().and_then(|p| p.1));
            if let DataSock::Connecting { deadline, .. } = &self.data {
                consider(*deadline);
            }
            if let Some(r) = &self.running {
                consider(self.grace_deadline);
                consider(r.paused_until);
                if let Some(t) = self.config.data_timeout {
                    consider(Some(r.last_progress + t));
                }
            }
        }
        d
    }

    /// Readiness of one of this connection's sockets.
    pub fn on_event(&mut self, slot: Slot, registry: &Registry) {
        let now = Instant::now();
        match slot {
            Slot::Control => {
                self.flush();
                self.read_control(registry, now);
            }
            Slot::Passive => self.accept_data(registry, now),
            Slot::Data => {
                if matches!(self.data, DataSock::Connecting { .. }) {
                    self.finish_connect(registry, now);
                }
                if self.running.is_some() {
                    self.hot = true;
                } else if let DataSock::Secure(t) = &mut self.data {
                    // a handshake ahead of the transfer; a failure is
                    // reported (522) when the transfer starts
                    if let Step::Failed(e) = t.state.advance() {
                        log::debug!(
                            "{} data channel TLS handshake: {e}",
                            self.session.log_prefix()
                        );
                    }
                }
            }
        }
        if self.hot {
            self.pump(registry, now);
        }
        self.resume_input(registry);
        self.finish_if_closing(registry);
    }

    /// Time passed: fire whatever deadline is due.
    pub fn on_timer(&mut self, registry: &Registry) {
        let now = Instant::now();
        if let Some(s) = self.sleep_until {
            if now >= s {
                self.sleep_until = None;
                let rest: Vec<Action> = self.deferred.drain(..).collect();
                self.run_actions(rest, registry, now);
                self.process_lines(registry, now);
                self.read_control(registry, now);
            }
        } else if !self.closing {
            if !self.ctrl.ready() && self.ctrl_handshake_deadline.is_some_and(|d| now >= d) {
                // no 421: nothing can be said before the handshake is done
                log::info!(
                    "{} TLS handshake on the control connection timed out",
                    self.session.log_prefix()
                );
                self.ctrl.mode = CtrlMode::Broken;
                self.out.clear();
                self.closing = true;
            }
            if self.data_handshake_deadline.is_some_and(|d| now >= d) {
                self.data_handshake_deadline = None;
                let done = matches!(&self.data, DataSock::Secure(t) if t.state.is_ready());
                if !done {
                    log::info!(
                        "{} TLS handshake on the data connection timed out",
                        self.session.log_prefix()
                    );
                    if self.running.is_some() {
                        let e = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
                        self.end_transfer(Err(TransferError::Handshake(e)), registry, now);
                    } else {
                        self.drop_data(registry);
                        self.feed(Input::DataTimeout, registry, now);
                    }
                }
            }
            if self.running.is_none() && self.data_idle_deadline.is_some_and(|d| now >= d) {
                self.data_idle_deadline = None;
                if matches!(self.data, DataSock::Open(_) | DataSock::Secure(_)) {
                    self.drop_data(registry);
                    self.feed(Input::DataTimeout, registry, now);
                }
            }
            if self.running.is_some() && self.grace_deadline.is_some_and(|g| now >= g) {
                log::info!(
                    "{} shutdown: cutting the running transfer",
                    self.session.log_prefix()
                );
                self.end_transfer(Err(TransferError::Aborted), registry, now);
            }
            if let Some(r) = &mut self.running {
                if r.paused_until.is_some_and(|p| now >= p) {
                    r.paused_until = None;
                    self.hot = true;
                }
                let stalled = self
                    .config
                    .data_timeout
                    .is_some_and(|t| now >= r.last_progress + t);
                if stalled && r.paused_until.is_none() {
                    self.end_transfer(Err(TransferError::TimedOut), registry, now);
                }
            } else if !self.session.awaits_driver() && self.idle_deadline.is_some_and(|d| now >= d)
            {
                self.idle_deadline = None;
                self.feed(Input::IdleTimeout, registry, now);
            }
            if self
                .passive
                .as_ref()
                .and_then(|p| p.1)
                .is_some_and(|d| now >= d)
            {
                self.drop_passive(registry);
                self.feed(Input::PassiveTimeout, registry, now);
            }
            if let DataSock::Connecting {
                deadline: Some(d), ..
            } = &self.data
            {
                if now >= *d {
                    self.drop_data(registry);
                    self.feed(
                        Input::ActiveFailed(io::ErrorKind::TimedOut.into()),
                        registry,
                        now,
                    );
                }
            }
        }
        if self.hot {
            self.pump(registry, now);
        }
        self.resume_input(registry);
        self.finish_if_closing(registry);
    }

    /// The server is shutting down: idle sessions get 421 and close; a running
    /// transfer may go on for the configured grace period.
    pub fn shutdown(&mut self, registry: &Registry) {
        if self.done || self.grace_deadline.is_some() {
            return;
        }
        let now = Instant::now();
        self.grace_deadline = Some(now + self.config.shutdown_grace);
        self.feed(Input::Shutdown, registry, now);
        self.finish_if_closing(registry);
    }

    /// Continue a transfer that had more to do (see [`Connection::hot`]).
    pub fn on_hot(&mut self, registry: &Registry) {
        let now = Instant::now();
        self.pump(registry, now);
        self.finish_if_closing(registry);
    }

    // --- control channel

    fn read_control(&mut self, registry: &Registry, now: Instant) {
        let mut buf = [0u8; 4096];
        loop {
            if self.closing {
                return;
            }
            if self.inbox.len() >= MAX_INBOX {
                self.read_paused = true;
                return;
            }
            self.flush();
            if self.closing || !self.ctrl.ready() || !self.tls_switch.is_empty() {
                return;
            }
            match self.ctrl.read(&mut buf) {
                Ok(0) => {
                    self.peer_closed(registry, now);
                    return;
                }
                Ok(n) => {
                    self.inbox.extend_from_slice(&buf[..n]);
                    // The lines were read now, not when the readiness event came.
                    self.process_lines(registry, Instant::now());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("{} control read error: {e}", self.session.log_prefix());
                    self.peer_closed(registry, now);
                    return;
                }
            }
        }
    }

    /// Carry out pending TLS switches and resumable TLS work on the control
    /// connection. True when commands and replies can flow.
    fn drive_tls(&mut self) -> bool {
        loop {
            match &mut self.ctrl.mode {
                CtrlMode::Broken => return false,
                CtrlMode::Tls(TlsState::Handshaking(_)) => {
                    let CtrlMode::Tls(state) = &mut self.ctrl.mode else {
                        return false;
                    };
                    match state.advance() {
                        Step::Ready => {
                            log::debug!(
                                "{} TLS established on the control connection",
                                self.session.log_prefix()
                            );
                        }
                        Step::Blocked => return false,
                        Step::Failed(e) => {
                            log::info!("{} SSL handshake failed: {e}", self.session.log_prefix());
                            self.ctrl.mode = CtrlMode::Broken;
                            self.out.clear();
                            self.closing = true;
                            return false;
                        }
                    }
                }
                CtrlMode::Tls(TlsState::Gone) => {
                    self.ctrl.mode = CtrlMode::Broken;
                    self.closing = true;
                    return false;
                }
                CtrlMode::Unwrapping { state, sent } => {
                    let Some(s) = state.stream() else {
                        self.ctrl.mode = CtrlMode::Plain;
                        continue;
                    };
                    if !*sent {
                        match s.0.shutdown() {
                            Ok(()) => *sent = true,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                            Err(_) => {
                                self.ctrl.mode = CtrlMode::Broken;
                                self.closing = true;
                                return false;
                            }
                        }
                    }
                    // read up to the client's close_notify: what the client
                    // sent under TLS after REIN is never run in the clear
                    let mut buf = [0u8; 4096];
                    match s.read(&mut buf) {
                        Ok(0) => {
                            log::debug!(
                                "{} TLS ended on the control connection",
                                self.session.log_prefix()
                            );
                            self.ctrl.mode = CtrlMode::Plain;
                        }
                        Ok(n) => self.discard_before_switch(n, "before its close_notify"),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                        Err(_) => {
                            self.ctrl.mode = CtrlMode::Broken;
                            self.closing = true;
                            return false;
                        }
                    }
                }
                CtrlMode::Plain | CtrlMode::Tls(TlsState::Ready(_)) => {
                    if !self.out.is_empty() {
                        return true;
                    }
                    match self.tls_switch.pop_front() {
                        None => return true,
                        Some(TlsSwitch::Start) => {
                            let Some(tls) = self.config.tls.clone() else {
                                self.closing = true;
                                return false;
                            };
                            // What the client sent after AUTH and was not
                            // framed is handshake input (a pipelined
                            // ClientHello); a command sent there fails the
                            // handshake and is never run inside TLS.
                            let pre = self.take_unframed();
                            self.ctrl_handshake_deadline =
                                Some(Instant::now() + tls.handshake_timeout);
                            let io = SockIo::new(Arc::clone(&self.ctrl.sock), pre);
                            let (state, step) = TlsState::accept(tls.acceptor(), io);
                            self.ctrl.mode = CtrlMode::Tls(state);
                            if let Step::Failed(e) = step {
                                log::info!(
                                    "{} SSL handshake failed: {e}",
                                    self.session.log_prefix()
                                );
                                self.ctrl.mode = CtrlMode::Broken;
                                self.closing = true;
                                return false;
                            }
                        }
                        Some(TlsSwitch::Stop) => {
                            let rest = self.take_unframed().len();
                            if rest > 0 {
                                self.discard_before_switch(rest, "after REIN");
                            }
                            let mode = std::mem::replace(&mut self.ctrl.mode, CtrlMode::Plain);
                            if let CtrlMode::Tls(state) = mode {
                                self.ctrl.mode = CtrlMode::Unwrapping { state, sent: false };
                            }
                        }
                    }
                }
            }
        }
    }

    /// Everything received on the control connection and not run yet: the
    /// framer's partial line and the unframed bytes. Called at a change of
    /// security state, when no framed line is waiting (lines are framed one
    /// at a time, and the session drops its queued ones at the change).
    fn take_unframed(&mut self) -> Vec<u8> {
        let partial = self.reader.pending();
        if partial > 0 {
            self.discard_before_switch(partial, "as part of a line");
        }
        self.reader = LineReader::new(self.config.max_line_len);
        std::mem::take(&mut self.inbox)
    }

    fn discard_before_switch(&self, n: usize, what: &str) {
        log::warn!(
            "{} discarded {n} control bytes received {what}: no byte received before \
             a change of security state is interpreted after it",
            self.session.log_prefix()
        );
    }

    /// After the session may have started taking lines again (a login check,
    /// a transfer or a data connection answered): run the lines received
    /// meanwhile, and read on if reading had stopped with the inbox full.
    fn resume_input(&mut self, registry: &Registry) {
        if self.done || self.closing {
            return;
        }
        let now = Instant::now();
        self.process_lines(registry, now);
        if self.read_paused && self.inbox.len() < MAX_INBOX {
            self.read_paused = false;
            self.read_control(registry, now);
        }
    }

    /// Hand complete lines to the session, one at a time, while it takes them.
    fn process_lines(&mut self, registry: &Registry, now: Instant) {
        while !self.closing
            && self.sleep_until.is_none()
            && self.out.len() <= MAX_PENDING_OUTPUT
            && self.tls_switch.is_empty()
            && self.ctrl.ready()
            && self.session.accepts_lines()
        {
            let event = match self.reader.next_event() {
                Some(ev) => ev,
                None if self.inbox.is_empty() => break,
                None => {
                    // frame up to the next line end only
                    let cut = self
                        .inbox
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(self.inbox.len(), |i| i + 1);
                    self.reader.push(&self.inbox[..cut]);
                    self.inbox.drain(..cut);
                    continue;
                }
            };
            // Only a complete command restarts the idle timer: a client that
            // trickles a line byte by byte is idle (slowloris).
            self.touch(now);
            match event {
                LineEvent::Line(line) => self.feed(Input::Line(&line), registry, now),
                LineEvent::TooLong => self.feed(Input::LineTooLong, registry, now),
            }
        }
    }

    fn peer_closed(&mut self, registry: &Registry, now: Instant) {
        if self.running.is_some() {
            let e = io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "control connection closed",
            );
            self.end_transfer(Err(TransferError::Network(e)), registry, now);
        }
        self.closing = true;
        self.out.clear();
    }

    fn flush(&mut self) {
        loop {
            if !self.drive_tls() || self.out.is_empty() {
                return;
            }
            match self.ctrl.write(&self.out) {
                Ok(0) => {
                    self.out.clear();
                    self.closing = true;
                }
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.out.clear();
                    self.closing = true;
                }
            }
        }
    }

    fn finish_if_closing(&mut self, registry: &Registry) {
        if self.done || !self.closing {
            return;
        }
        self.flush();
        if !self.ctrl.ready() && !matches!(self.ctrl.mode, CtrlMode::Unwrapping { .. }) {
            // a handshake that is not done can carry no reply: close now
            self.out.clear();
        }
        let now = Instant::now();
        let deadline = *self.close_deadline.get_or_insert(now + CLOSE_GRACE);
        if !self.out.is_empty() && now < deadline {
            return;
        }
        if self.running.is_some() {
            self.end_transfer(Err(TransferError::Aborted), registry, now);
        }
        if self.jobs_out > 0 {
            // the session hears of the end (an upload's file finished, its
            // callback fired) before it hears of the disconnect
            return;
        }
        self.drop_passive(registry);
        self.drop_data(registry);
        self.ctrl.close_notify();
        let _ = registry.deregister(&mut SourceFd(&self.ctrl.fd()));
        let _ = self.ctrl.sock.shutdown(Shutdown::Both);
        self.done = true;
        let actions = self.session.handle(Input::Disconnected, SystemTime::now());
        self.run_actions(actions, registry, now);
    }

    // --- session plumbing

    fn feed(&mut self, input: Input<'_>, registry: &Registry, now: Instant) {
        let waited = self.session.awaits_driver();
        let actions = self.session.handle(input, SystemTime::now());
        // The control connection is not idle while a command waits for us
        // (a connect, a listener, a login check, a transfer): the idle timer
        // restarts when the wait ends.
        if waited || self.session.awaits_driver() {
            self.touch(now);
        }
        self.run_actions(actions, registry, now);
    }

    fn run_actions(&mut self, actions: Vec<Action>, registry: &Registry, now: Instant) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let follow_up = match action {
                Action::Reply(reply) => {
                    if !self.done {
                        self.out.extend_from_slice(&reply.to_bytes());
                        self.flush();
                    }
                    None
                }
                Action::Sleep(d) => {
                    self.sleep_until = Some(now + d);
                    self.deferred.extend(queue.drain(..));
                    None
                }
                Action::ListenPassive(ip) => Some(self.listen_passive(ip, registry, now)),
                Action::ConnectActive { remote, local } => {
                    self.connect_active(remote, local, registry, now)
                }
                Action::CloseData => {
                    self.drop_passive(registry);
                    self.drop_data(registry);
                    None
                }
                Action::StartTls => {
                    self.tls_switch.push_back(TlsSwitch::Start);
                    self.flush();
                    None
                }
                Action::StopTls => {
                    self.tls_switch.push_back(TlsSwitch::Stop);
                    self.flush();
                    None
                }
                Action::SecureData => {
                    self.secure_data();
                    None
                }
                Action::StartTransfer(t) => {
                    // the session secured the connection when it opened
                    // (Action::SecureData); never run a protected transfer
                    // in the clear
                    let usable = match self.data {
                        DataSock::Open(_) => !t.is_protected(),
                        DataSock::Secure(_) => true,
                        _ => false,
                    };
                    if usable {
                        self.data_idle_deadline = None;
                        self.running = Some(Running {
                            transfer: t,
                            started: now,
                            last_progress: now,
                            last_bytes: 0,
                            paused_until: None,
                        });
                        self.hot = true;
                        None
                    } else {
                        let e = io::Error::new(io::ErrorKind::NotConnected, "no data connection");
                        Some(self.session.handle(
                            Input::TransferDone {
                                transfer: t,
                                result: Err(TransferError::Network(e)),
                                seconds: 0.0,
                            },
                            SystemTime::now(),
                        ))
                    }
                }
                Action::AbortTransfer => {
                    if let Some(r) = self.running.take() {
                        self.drop_data(registry);
                        let seconds = now.saturating_duration_since(r.started).as_secs_f64();
                        Some(self.session.handle(
                            Input::TransferDone {
                                transfer: r.transfer,
                                result: Err(TransferError::Aborted),
                                seconds,
                            },
                            SystemTime::now(),
                        ))
                    } else {
                        None
                    }
                }
                Action::Login(task) => match &self.offload {
                    Some(off) => match off.submit(move || Done::Login(task.run())) {
                        Ok(()) => {
                            self.jobs_out += 1;
                            None
                        }
                        Err(e) => {
                            log::error!(
                                "{} can't run a login check: {e}",
                                self.session.log_prefix()
                            );
                            self.out.clear();
                            self.closing = true;
                            None
                        }
                    },
                    None => Some(
                        self.session
                            .handle(Input::LoginDone(task.run()), SystemTime::now()),
                    ),
                },
                Action::Fs(task) => match &self.offload {
                    Some(off) => match off.submit(move || Done::Fs(task.run())) {
                        Ok(()) => {
                            self.jobs_out += 1;
                            None
                        }
                        Err(e) => {
                            log::error!(
                                "{} can't run filesystem work: {e}",
                                self.session.log_prefix()
                            );
                            self.out.clear();
                            self.closing = true;
                            None
                        }
                    },
                    None => Some(
                        self.session
                            .handle(Input::FsDone(task.run()), SystemTime::now()),
                    ),
                },
                Action::Event(ev) => {
                    let info = self.session.info();
                    ev.dispatch(&*self.events, &info);
                    None
                }
                Action::Close => {
                    self.closing = true;
                    None
                }
            };
            if let Some(more) = follow_up {
                for a in more.into_iter().rev() {
                    queue.push_front(a);
                }
            }
        }
    }

    // --- data channel

    fn listen_passive(&mut self, ip: IpAddr, registry: &Registry, now: Instant) -> Vec<Action> {
        self.drop_passive(registry);
        let result = bind_passive(ip, self.config.passive_ports.clone()).and_then(|mut l| {
            registry.register(&mut l, self.token(Slot::Passive), Interest::READABLE)?;
            let port = l.local_addr()?.port();
            Ok((l, port))
        });
        match result {
            Ok((l, port)) => {
                self.passive = Some((l, self.config.data_timeout.map(|t| now + t)));
                self.session
                    .handle(Input::PassiveListening(port), SystemTime::now())
            }
            Err(e) => self
                .session
                .handle(Input::PassiveFailed(e), SystemTime::now()),
        }
    }

    fn connect_active(
        &mut self,
        remote: SocketAddr,
        local: IpAddr,
        registry: &Registry,
        now: Instant,
    ) -> Option<Vec<Action>> {
        self.drop_data(registry);
        let result = start_connect(remote, local).and_then(|mut s| {
            registry.register(
                &mut s,
                self.token(Slot::Data),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(s)
        });
        match result {
            Ok(stream) => {
                let deadline =
                    Some(now + self.config.data_timeout.unwrap_or(Duration::from_secs(30)));
                self.data = DataSock::Connecting { stream, deadline };
                None
            }
            Err(e) => Some(
                self.session
                    .handle(Input::ActiveFailed(e), SystemTime::now()),
            ),
        }
    }

    fn finish_connect(&mut self, registry: &Registry, now: Instant) {
        let DataSock::Connecting { stream, .. } = &self.data else {
            return;
        };
        let state = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        };
        match state {
            Ok(false) => {}
            Ok(true) => {
                if let DataSock::Connecting { stream, .. } =
                    std::mem::replace(&mut self.data, DataSock::None)
                {
                    self.data = DataSock::Open(stream);
                    self.data_idle_deadline = self.config.data_timeout.map(|t| now + t);
                }
                self.feed(Input::DataConnected, registry, now);
            }
            Err(e) => {
                self.drop_data(registry);
                self.feed(Input::ActiveFailed(e), registry, now);
            }
        }
    }

    fn accept_data(&mut self, registry: &Registry, now: Instant) {
        loop {
            let Some((listener, _)) = &self.passive else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    if !self.session.permit_data_peer(peer.ip()) {
                        log::warn!(
                            "{} rejected data connection from foreign address {peer}",
                            self.session.log_prefix()
                        );
                        let _ = stream.shutdown(Shutdown::Both);
                        continue;
                    }
                    if matches!(self.data, DataSock::Open(_)) {
                        // one data connection per PASV
                        let _ = stream.shutdown(Shutdown::Both);
                        continue;
                    }
                    if let Err(e) = registry.register(
                        &mut stream,
                        self.token(Slot::Data),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        log::warn!(
                            "{} can't register data connection: {e}",
                            self.session.log_prefix()
                        );
                        continue;
                    }
                    self.drop_passive(registry);
                    self.data = DataSock::Open(stream);
                    self.data_idle_deadline = self.config.data_timeout.map(|t| now + t);
                    self.feed(Input::DataConnected, registry, now);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("{} passive accept failed: {e}", self.session.log_prefix());
                    return;
                }
            }
        }
    }

    fn drop_passive(&mut self, registry: &Registry) {
        if let Some((mut l, _)) = self.passive.take() {
            let _ = registry.deregister(&mut l);
        }
    }

    fn drop_data(&mut self, registry: &Registry) {
        self.data_idle_deadline = None;
        self.data_handshake_deadline = None;
        match std::mem::replace(&mut self.data, DataSock::None) {
            DataSock::Open(mut s) | DataSock::Connecting { stream: mut s, .. } => {
                let _ = registry.deregister(&mut s);
            }
            DataSock::Secure(t) => {
                let _ = registry.deregister(&mut SourceFd(&t.fd()));
            }
            DataSock::None => {}
        }
    }

    /// Wrap the open data connection in TLS (server side) for a `PROT P` transfer.
    fn secure_data(&mut self) {
        let Some(tls) = self.config.tls.clone() else {
            return;
        };
        if !matches!(self.data, DataSock::Open(_)) {
            return;
        }
        if let DataSock::Open(stream) = std::mem::replace(&mut self.data, DataSock::None) {
            let sock = Arc::new(stream);
            let (state, _) =
                TlsState::accept(tls.acceptor(), SockIo::new(Arc::clone(&sock), Vec::new()));
            self.data_handshake_deadline = Some(Instant::now() + tls.handshake_timeout);
            // a failed start leaves the state Gone: the pump reports it as a failed handshake
            self.data = DataSock::Secure(DataTls {
                sock,
                state,
                closing: false,
            });
        }
    }

    fn pump(&mut self, registry: &Registry, now: Instant) {
        self.hot = false;
        let Some(r) = &mut self.running else {
            return;
        };
        if r.paused_until.is_some() {
            return;
        }
        let result = match &mut self.data {
            DataSock::Open(sock) => r.transfer.pump(sock, PUMP_BUDGET, now),
            DataSock::Secure(t) => match t.state.advance() {
                Step::Blocked => return,
                Step::Failed(e) => Err(TransferError::Handshake(e)),
                Step::Ready if t.closing => match t.close_notify() {
                    Ok(false) => return,
                    Ok(true) => Ok(Pump::Done),
                    Err(e) => {
                        log::debug!(
                            "{} data channel close_notify: {e}",
                            self.session.log_prefix()
                        );
                        Ok(Pump::Done)
                    }
                },
                Step::Ready => match t.state.stream() {
                    Some(s) => match r.transfer.pump(s, PUMP_BUDGET, now) {
                        Ok(Pump::Done) => {
                            // every TLS data stream ends with close_notify
                            t.closing = true;
                            self.hot = true;
                            Ok(Pump::Progress)
                        }
                        other => other,
                    },
                    None => return,
                },
            },
            _ => return,
        };
        match result {
            Ok(p) => {
                let bytes = r.transfer.bytes();
                if bytes != r.last_bytes {
                    r.last_bytes = bytes;
                    r.last_progress = now;
                }
                match p {
                    Pump::Progress => self.hot = true,
                    Pump::Blocked => {}
                    Pump::Paused(at) => r.paused_until = Some(at),
                    Pump::Done => self.end_transfer(Ok(()), registry, now),
                }
            }
            Err(e) => self.end_transfer(Err(e), registry, now),
        }
    }

    fn end_transfer(
        &mut self,
        result: Result<(), TransferError>,
        registry: &Registry,
        now: Instant,
    ) {
        let Some(r) = self.running.take() else { return };
        match &self.data {
            DataSock::Open(s) => {
                let _ = s.shutdown(Shutdown::Write);
            }
            DataSock::Secure(t) => {
                let _ = t.sock.shutdown(Shutdown::Write);
            }
            _ => {}
        }
        self.drop_data(registry);
        self.hot = false;
        self.touch(now);
        let seconds = now.saturating_duration_since(r.started).as_secs_f64();
        self.feed(
            Input::TransferDone {
                transfer: r.transfer,
                result,
                seconds,
            },
            registry,
            now,
        );
        // commands queued during the transfer may have been read already
        self.resume_input(registry);
    }

    /// Drive this connection alone until it is done (thread and process
    /// models). An event on [`WAKE`] means the server is shutting down.
    pub fn run(mut self, poll: &mut mio::Poll) {
        let mut events = mio::Events::with_capacity(16);
        while !self.done {
            let timeout = if self.hot {
                Some(Duration::ZERO)
            } else {
                self.next_deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("{} poll failed: {e}", self.session.log_prefix());
                self.closing = true;
                self.out.clear();
                self.finish_if_closing(poll.registry());
                break;
            }
            for ev in events.iter() {
                if ev.token() == WAKE {
                    self.shutdown(poll.registry());
                } else if let Some(slot) = ev
                    .token()
                    .0
                    .checked_sub(self.base)
                    .and_then(Slot::from_offset)
                {
                    self.on_event(slot, poll.registry());
                }
            }
            if self.hot {
                self.on_hot(poll.registry());
            }
            self.on_timer(poll.registry());
        }
    }
}

/// Bind a passive listener on `ip`, on a free port of `range` (tried in random
/// order) or on any port. Fails with `AddrInUse` when every port of the range is taken.
fn bind_passive(
    ip: IpAddr,
    range: Option<std::ops::RangeInclusive<u16>>,
) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return TcpListener::bind(SocketAddr::new(ip, 0));
    };
    let (lo, hi) = (*range.start(), *range.end());
    if lo > hi {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty passive port range",
        ));
    }
    let span = u32::from(hi - lo) + 1;
    let start = rand::random::<u32>() % span;
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..span {
        let port = lo + u16::try_from((start + i) % span).unwrap_or(0);
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(l) => return Ok(l),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) =>
            {
                last = e
            }
            Err(e) => return Err(e),
        }
    }
    if last.kind() == io::ErrorKind::PermissionDenied {
        return Err(last);
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port in the passive port range",
    ))
}

/// Start a non-blocking connect to `remote` from address `local`.
fn start_connect(remote: SocketAddr, local: IpAddr) -> io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let domain = if remote.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::STREAM, None)?;
    if local.is_ipv4() == remote.is_ipv4() {
        sock.bind(&SocketAddr::new(local, 0).into())?;
    }
    sock.set_nonblocking(true)?;
    match sock.connect(&remote.into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}
