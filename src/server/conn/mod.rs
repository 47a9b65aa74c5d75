//! One control connection and its data channel, driven by readiness events.
//!
//! A [`Connection`] owns the sockets of one session and carries bytes
//! between them and the [`Session`] state machine. It has no FTP logic of
//! its own: every decision is the session's. It is written against a mio
//! [`Registry`] and a token base so that one thread can drive one
//! connection (thread and process models) or many (the poll loop).

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::tls_stream::{Ctrl, CtrlMode, DataTls, SockIo, Step, TlsState};

mod control;
mod data;
mod offload;

pub(crate) use offload::{Done, Offload};

use super::pool::Pool;
use crate::data::{FileDone, FileJob, Pump, Transfer, TransferError};
use crate::events::EventHandler;
use crate::proto::line::{LineEvent, LineReader};
use crate::session::{Action, FsDone, Input, LoginOutcome, Session};

/// The token on which a connection driven by [`Connection::run`] is told to shut down.
pub(crate) const WAKE: Token = Token(usize::MAX);

/// Bytes moved per pump call before the connection looks at its control channel again.
const PUMP_BUDGET: usize = 4 * 1024 * 1024;
/// Stop reading commands while this much reply output is unsent.
const MAX_PENDING_OUTPUT: usize = 1024 * 1024;
/// Stop reading from the control connection while this many bytes wait to
/// be framed (beyond the longest line the session accepts).
const MAX_INBOX: usize = 64 * 1024;

/// Which socket of a connection a token designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The control connection.
    Control,
    /// The passive listener.
    Passive,
    /// The data connection (or the active connect in progress).
    Data,
}

impl Slot {
    /// Tokens per connection.
    pub(crate) const COUNT: usize = 3;

    fn offset(self) -> usize {
        match self {
            Slot::Control => 0,
            Slot::Passive => 1,
            Slot::Data => 2,
        }
    }

    /// The slot a token offset designates.
    pub(crate) fn from_offset(o: usize) -> Option<Slot> {
        match o {
            0 => Some(Slot::Control),
            1 => Some(Slot::Passive),
            2 => Some(Slot::Data),
            _ => None,
        }
    }
}

/// Where a connection's data channel stands.
// (SChannel's TLS stream is large; one per connection at most)
#[cfg_attr(windows, allow(clippy::large_enum_variant))]
enum DataSock {
    None,
    Connecting(TcpStream),
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

/// A running transfer and its timing (how long it took, and when a
/// throttled pump goes on; the session watches its progress).
struct Running {
    transfer: Transfer,
    started: Instant,
    paused_until: Option<Instant>,
    /// The transfer ended while a file job was out: how, reported to the
    /// session once the job brought the source or sink back.
    ending: Option<Result<(), TransferError>>,
    /// An upload whose data connection wakes us only once a batch of bytes
    /// is in (`SO_RCVLOWAT`, see [`data::Batching`]): when to read again
    /// anyway, so that what a slow client sent is not left unread.
    read_again_at: Option<Instant>,
    /// The upload's receive low-water mark, for a plain data connection.
    batching: Option<data::Batching>,
}

impl Running {
    /// Still moving bytes (not just waiting for a file job to finish its ending).
    fn active(&self) -> bool {
        self.ending.is_none()
    }
}

/// One session's sockets and buffers.
pub(crate) struct Connection {
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
    /// The client ended its side of the control connection (end of stream)
    /// while a login check or filesystem work of its session was out: what
    /// it sent before is still run (see `end_of_input`).
    input_ended: bool,
    reader: LineReader,
    /// A TLS change on the control connection was asked for (or implicit
    /// TLS started) and the session has not been told it is done.
    tls_awaited: bool,
    /// The session was not told yet that the data connection's TLS
    /// handshake is done.
    data_tls_awaited: bool,
    out: Vec<u8>,
    passive: Option<TcpListener>,
    /// When to call `accept` on `passive` again after it failed for a
    /// reason that may pass (out of descriptors or memory): the listener is
    /// watched edge-triggered, so the client's connection, already in its
    /// backlog, would otherwise wait for the data connection's deadline.
    accept_again: Option<Instant>,
    /// `accept` on `passive` failed (logged once per listener).
    accept_failed: bool,
    data: DataSock,
    running: Option<Running>,
    closing: bool,
    /// The session said to close without sending what is left.
    abandon: bool,
    done: bool,
    /// Where login checks and filesystem work run when they must not block
    /// this thread.
    offload: Option<Offload>,
    /// Whether the server was asked to stop, for a driver that runs
    /// blocking work inline (its poller only hears of it between calls).
    stop_check: Option<Box<dyn Fn() -> bool + Send>>,
    /// The session's place under `max_cons` and `max_cons_per_ip` (see
    /// [`Connection::set_place`]): dropped just before the control
    /// connection is shut down.
    place: Option<Box<dyn Send>>,
    /// Offloaded jobs whose result has not come back yet: the connection is
    /// not done before they are (an upload's file gets its commit or abort
    /// and its callback).
    jobs_out: usize,
    /// More transfer work can be done without waiting for readiness.
    pub(crate) hot: bool,
}

impl Connection {
    /// Wrap an accepted control connection: register it and set up the
    /// state, without a greeting (the caller then calls
    /// [`Connection::greet`], once the state is where it will stay); the
    /// error of an implicit-TLS handshake that failed at once.
    pub(crate) fn unstarted(
        session: Session,
        events: Arc<dyn EventHandler>,
        config: Arc<crate::ServerConfig>,
        ctrl: std::net::TcpStream,
        registry: &Registry,
        base: usize,
    ) -> io::Result<(Self, Option<io::Error>)> {
        ctrl.set_nonblocking(true)?;
        if config.tcp_no_delay {
            let _ = ctrl.set_nodelay(true);
        }
        // Urgent data (Telnet Synch, or a whole "ABOR" sent with MSG_OOB as Python's
        // ftplib does) stays in the normal stream, as pyftpdlib sets it up.
        let _ = socket2::SockRef::from(&ctrl).set_out_of_band_inline(true);
        // registered before it is shared with the TLS layer: on Windows mio
        // keeps the registration inside the socket and needs it `&mut`
        let mut sock = TcpStream::from_std(ctrl);
        if let Err(e) = registry.register(
            &mut sock,
            Token(base),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            // (out of memory, or of the user's epoll watches): the client
            // is told, rather than see the connection close without a
            // reply; a fresh socket's buffer has room for the line
            let reply = crate::session::replies::service_not_available().to_bytes();
            let _ = io::Write::write(&mut sock, &reply);
            let _ = sock.shutdown(Shutdown::Both);
            return Err(e);
        }
        let mut ctrl = Ctrl::new(sock);
        let mut handshake_failed = None;
        let implicit = config.tls.as_ref().is_some_and(|t| t.implicit);
        if let Some(tls) = config.tls.as_ref().filter(|t| t.implicit) {
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
        let c = Connection {
            session,
            events,
            config,
            base,
            ctrl,
            tls_switch: VecDeque::new(),
            inbox: Vec::new(),
            read_paused: false,
            input_ended: false,
            reader: LineReader::new(max_line),
            tls_awaited: implicit,
            data_tls_awaited: false,
            out: Vec::new(),
            passive: None,
            accept_again: None,
            accept_failed: false,
            data: DataSock::None,
            running: None,
            closing: false,
            abandon: false,
            offload: None,
            jobs_out: 0,
            stop_check: None,
            place: None,
            done: false,
            hot: false,
        };
        Ok((c, handshake_failed))
    }

    /// Start the session (its greeting) and end it at once if the
    /// implicit-TLS handshake already failed.
    pub(crate) fn greet(&mut self, handshake_failed: Option<io::Error>, registry: &Registry) {
        self.feed(Input::Connected, registry, Instant::now());
        if let Some(e) = handshake_failed {
            log::info!("{} SSL handshake failed: {e}", self.session.log_prefix());
            self.out.clear();
            self.closing = true;
        }
    }

    /// Whether the connection has finished (control closed, callbacks
    /// fired, no offloaded job out).
    pub(crate) fn is_done(&self) -> bool {
        self.done && self.jobs_out == 0
    }

    fn token(&self, slot: Slot) -> Token {
        Token(self.base + slot.offset())
    }

    /// Check `stop` before running blocking work inline (thread and process
    /// models): the poller hears of a shutdown only between blocking calls,
    /// and a command queued behind a slow one must not start after it.
    pub(crate) fn set_stop_check(&mut self, stop: Box<dyn Fn() -> bool + Send>) {
        self.stop_check = Some(stop);
    }

    /// Hold the session's place under the server's limits (a `ConnSlot`,
    /// or what tells a forking parent that the place is free) until the
    /// session ends, and give it back (drop it) before the client can see
    /// the end: before the last reply is written when the session closes
    /// with nothing left to run (`221` to QUIT, `421` at a timeout), else
    /// just before the control connection is shut down. A client that sees
    /// the end and connects again at once finds its place free, so
    /// `max_cons` and `max_cons_per_ip` hold exactly.
    pub(crate) fn set_place(&mut self, place: Box<dyn Send>) {
        self.place = Some(place);
    }

    /// Whether the server is stopping; the first time, the session is told
    /// (it says 421, drops its queued lines and closes).
    fn stop_now(&mut self, registry: &Registry, now: Instant) -> bool {
        if !self.stop_check.as_ref().is_some_and(|f| f()) {
            return false;
        }
        if !self.session.is_closing() {
            self.feed(Input::Shutdown, registry, now);
        }
        true
    }

    /// The earliest instant at which [`Connection::on_timer`] has work to
    /// do: the session's next deadline, or a throttled transfer's next turn.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let session = self.session.next_deadline();
        let pause = self.running.as_ref().filter(|r| r.active()).and_then(|r| {
            match (r.paused_until, r.read_again_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, None) => a,
                (None, b) => b,
            }
        });
        [session, pause, self.accept_again]
            .into_iter()
            .flatten()
            .min()
    }

    /// Readiness of one of this connection's sockets.
    pub(crate) fn on_event(&mut self, slot: Slot, registry: &Registry) {
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
                if self.running.as_ref().is_some_and(Running::active) {
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

    /// Time passed: the session fires whatever deadline is due, and a
    /// throttled transfer may go on.
    pub(crate) fn on_timer(&mut self, registry: &Registry) {
        if self.done {
            return;
        }
        let now = Instant::now();
        if let Some(r) = self.running.as_mut().filter(|r| r.active()) {
            if r.paused_until.is_some_and(|p| now >= p) {
                r.paused_until = None;
                self.hot = true;
            }
            if r.read_again_at.is_some_and(|p| now >= p) {
                r.read_again_at = None;
                self.hot = true;
            }
        }
        if self.accept_again.is_some_and(|at| now >= at) {
            self.accept_again = None;
            self.accept_data(registry, now);
        }
        if self.session.next_deadline().is_some_and(|d| now >= d) {
            self.feed(Input::Tick, registry, now);
        }
        if self.hot {
            self.pump(registry, now);
        }
        self.resume_input(registry);
        self.finish_if_closing(registry);
    }

    /// The server is shutting down: idle sessions get 421 and close; a running
    /// transfer may go on for the configured grace period.
    pub(crate) fn shutdown(&mut self, registry: &Registry) {
        if self.done {
            return;
        }
        let now = Instant::now();
        self.feed(Input::Shutdown, registry, now);
        self.finish_if_closing(registry);
    }

    /// Continue a transfer that had more to do (see [`Connection::hot`]).
    pub(crate) fn on_hot(&mut self, registry: &Registry) {
        let now = Instant::now();
        self.pump(registry, now);
        self.finish_if_closing(registry);
    }

    fn finish_if_closing(&mut self, registry: &Registry) {
        if self.done || !self.closing {
            return;
        }
        if !self.session.is_closing() {
            // the control connection was lost (or broke) without the
            // session closing it: it stops its work and decides what
            // becomes of a running transfer
            let now = Instant::now();
            // a data connection the client made before it went away is
            // taken (a transfer waiting for it starts), and what it already
            // holds is read: an upload whose client sent everything and
            // closed it ends (or is known to have been sent whole)
            if self.passive.is_some() {
                self.accept_data(registry, now);
            }
            if self
                .running
                .as_ref()
                .is_some_and(|r| r.transfer.cmd.is_upload())
            {
                // (a bounded number of pump steps: what is buffered)
                for _ in 0..64 {
                    self.pump(registry, now);
                    if !self.hot {
                        break;
                    }
                }
            }
            let upload_sent = self
                .running
                .as_ref()
                .is_some_and(|r| r.transfer.client_done());
            self.feed(Input::ControlLost { upload_sent }, registry, now);
        }
        self.flush();
        if !self.ctrl.ready() && !matches!(self.ctrl.mode, CtrlMode::Unwrapping { .. }) {
            // a handshake that is not done can carry no reply: close now
            self.out.clear();
        }
        let now = Instant::now();
        if self.abandon {
            self.out.clear();
        }
        if !self.out.is_empty() {
            // the session's linger deadline ends the wait (Action::CloseNow)
            return;
        }
        if self.running.is_some() {
            if !self.abandon {
                // the session stops the transfer (AbortTransfer), or lets an
                // upload end by itself, within its linger deadline
                return;
            }
            self.end_transfer(Err(TransferError::Aborted), registry, now);
            if self.running.is_some() {
                // a file job holds the transfer's file: finish when it is back
                return;
            }
        }
        if self.jobs_out > 0 {
            // the session hears of the end (an upload's file finished, its
            // callback fired) before it hears of the disconnect
            return;
        }
        self.drop_passive(registry);
        self.drop_data(registry);
        self.ctrl.close_notify();
        // (on Windows the registration ends when the socket is dropped)
        #[cfg(unix)]
        let _ = registry.deregister(&mut SourceFd(&self.ctrl.fd()));
        // (given back before the client can see the close: see `set_place`)
        drop(self.place.take());
        let _ = self.ctrl.sock.shutdown(Shutdown::Both);
        self.done = true;
        let actions = self.session.handle(Input::Disconnected, now);
        self.run_actions(actions, registry, now);
    }

    // --- session plumbing

    /// Whether `actions` end the session with nothing left to run: its
    /// last replies, then the close, with no transfer running and no file
    /// job out (a session that still has work keeps its place until the
    /// control connection is shut down).
    fn ends_with(&self, actions: &[Action]) -> bool {
        self.running.is_none()
            && self.jobs_out == 0
            && actions
                .iter()
                .any(|a| matches!(a, Action::Close | Action::CloseNow))
            && actions.iter().all(|a| {
                matches!(
                    a,
                    Action::Reply(_)
                        | Action::Event(_)
                        | Action::Offence(_)
                        | Action::Close
                        | Action::CloseNow
                        | Action::CloseData
                )
            })
    }

    fn feed(&mut self, input: Input<'_>, registry: &Registry, now: Instant) {
        let actions = self.session.handle(input, now);
        self.run_actions(actions, registry, now);
    }

    fn run_actions(&mut self, actions: Vec<Action>, registry: &Registry, now: Instant) {
        if self.place.is_some() && self.ends_with(&actions) {
            // given back before the last reply: a client that connects again
            // as soon as it reads it (not waiting for the end of file) finds
            // its place free (see `set_place`)
            drop(self.place.take());
        }
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
                    self.tls_awaited = true;
                    self.tls_switch.push_back(TlsSwitch::Start);
                    self.flush();
                    None
                }
                Action::StopTls => {
                    self.tls_awaited = true;
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
                        let mut t = t;
                        if self.offload.is_some() {
                            // this thread serves other sessions: no file
                            // I/O here unless the storage is local and fast
                            t.use_file_jobs();
                        }
                        let batching = match &self.data {
                            DataSock::Open(sock)
                                if t.direction() == crate::data::Direction::Receive =>
                            {
                                data::Batching::new(sock)
                            }
                            _ => None,
                        };
                        self.running = Some(Running {
                            transfer: t,
                            started: now,
                            paused_until: None,
                            ending: None,
                            read_again_at: None,
                            batching,
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
                            now,
                        ))
                    }
                }
                Action::AbortTransfer => {
                    if let Some(r) = self.running.as_mut().filter(|r| r.active()) {
                        r.transfer.recall_file_job();
                    }
                    if self
                        .running
                        .as_ref()
                        .is_some_and(|r| r.transfer.file_busy())
                    {
                        // answered once the file job is back (see end_transfer)
                        self.end_transfer(Err(TransferError::Aborted), registry, now);
                        None
                    } else if let Some(r) = self.running.take() {
                        self.drop_data(registry);
                        let seconds = now.saturating_duration_since(r.started).as_secs_f64();
                        Some(self.session.handle(
                            Input::TransferDone {
                                transfer: r.transfer,
                                result: Err(TransferError::Aborted),
                                seconds,
                            },
                            now,
                        ))
                    } else {
                        None
                    }
                }
                Action::Login(task) => match &self.offload {
                    Some(off) => match off.submit_login(move || Done::Login(task.run())) {
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
                    None => Some(self.session.handle(Input::LoginDone(task.run()), now)),
                },
                Action::Fs(task) if self.offload.is_none() && self.stop_now(registry, now) => {
                    // the server is stopping: no command starts its work
                    // now; an upload's end is still finished
                    task.must_run()
                        .then(|| self.session.handle(Input::FsDone(task.run()), now))
                }
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
                    None => Some(self.session.handle(Input::FsDone(task.run()), now)),
                },
                Action::Event(ev) => {
                    let info = self.session.info();
                    ev.dispatch(&*self.events, &info);
                    None
                }
                Action::Offence(report) => {
                    // a few atomic operations on the shared ban table
                    report.record();
                    None
                }
                Action::Close => {
                    self.closing = true;
                    None
                }
                Action::CloseNow => {
                    self.closing = true;
                    self.abandon = true;
                    self.out.clear();
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

    /// Drive this connection alone until it is done (thread and process
    /// models). An event on [`WAKE`] means the server is shutting down.
    pub(crate) fn run(&mut self, poll: &mut mio::Poll) {
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
