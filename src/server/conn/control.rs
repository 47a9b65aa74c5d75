//! The control connection: reading and framing command lines (one at a
//! time, only when the session takes the next one), writing replies, and
//! switching TLS on and off (AUTH, REIN) so that no byte received before a
//! change of security state is interpreted after it.

use std::io::{self, Read};
use std::time::Instant;

use mio::Registry;

use super::*;

impl Connection {
    // --- control channel

    pub(super) fn read_control(&mut self, registry: &Registry, now: Instant) {
        loop {
            if self.closing || self.input_ended {
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
            match self.read_into_inbox() {
                Ok(0) => {
                    self.end_of_input(registry, now);
                    return;
                }
                Ok(_) => {
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

    /// Read once from the control connection and append what came to the
    /// inbox; the number of bytes read (0 at the end of the stream).
    ///
    /// Kept out of line: its read buffer (4 KiB) is then on the stack only
    /// during the read, not under the command that the bytes start (which
    /// runs from the caller). A session thread's deepest stack stays
    /// resident for the session's life, a page per session with threads or
    /// processes per session.
    #[inline(never)]
    fn read_into_inbox(&mut self) -> io::Result<usize> {
        let mut buf = [0u8; 4096];
        let n = self.ctrl.read(&mut buf)?;
        self.inbox.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Carry out pending TLS switches and resumable TLS work on the control
    /// connection. True when commands and replies can flow.
    pub(super) fn drive_tls(&mut self) -> bool {
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
                    match drain_tls_read(s) {
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
                        None => {
                            // every change asked for is done: the session
                            // is told at the next safe point
                            return true;
                        }
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
    pub(super) fn take_unframed(&mut self) -> Vec<u8> {
        let partial = self.reader.pending();
        if partial > 0 {
            self.discard_before_switch(partial, "as part of a line");
        }
        self.reader = LineReader::new(self.config.max_line_len);
        std::mem::take(&mut self.inbox)
    }

    pub(super) fn discard_before_switch(&self, n: usize, what: &str) {
        log::warn!(
            "{} discarded {n} control bytes received {what}: no byte received before \
             a change of security state is interpreted after it",
            self.session.log_prefix()
        );
    }

    /// After the session may have started taking lines again (a login check,
    /// a transfer or a data connection answered): run the lines received
    /// meanwhile, and read on if reading had stopped with the inbox full.
    pub(super) fn resume_input(&mut self, registry: &Registry) {
        if self.done || self.closing {
            return;
        }
        let now = Instant::now();
        self.report_tls(registry, now);
        self.process_lines(registry, now);
        if self.input_ended {
            if self.jobs_out == 0 && !self.closing {
                self.peer_closed(registry, now);
            }
            return;
        }
        if self.read_paused && self.inbox.len() < MAX_INBOX {
            self.read_paused = false;
            self.read_control(registry, now);
        }
    }

    /// Tell the session that the TLS changes it asked for are done (its
    /// deadlines for them end).
    pub(super) fn report_tls(&mut self, registry: &Registry, now: Instant) {
        if self.tls_awaited && self.tls_switch.is_empty() && self.ctrl.ready() {
            self.tls_awaited = false;
            self.feed(Input::TlsSwitched, registry, now);
        }
        if self.data_tls_awaited {
            if let DataSock::Secure(t) = &self.data {
                if t.state.is_ready() {
                    self.data_tls_awaited = false;
                    self.feed(Input::DataSecured, registry, now);
                }
            }
        }
    }

    /// Hand complete lines to the session, one at a time, while it takes them.
    pub(super) fn process_lines(&mut self, registry: &Registry, now: Instant) {
        while !self.closing
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
            match event {
                LineEvent::Line(line) => self.feed(Input::Line(&line), registry, now),
                LineEvent::TooLong => self.feed(Input::LineTooLong, registry, now),
            }
        }
    }

    /// The client ended its side of the control connection (end of stream,
    /// not a reset or an error: those are `peer_closed` at once).
    ///
    /// Everything it sent before was offered to the session already, as far
    /// as the session takes lines, except while a login check or filesystem
    /// work is out (run off this thread, in the poll loop's pool): the
    /// models that run that work inline finish it and run the lines behind
    /// it before they read on and see the end. So does this one: the session
    /// hears that the connection is lost once no such job is out. A client
    /// that pipelines its commands and then shuts down its sending side
    /// (`nc -N`) gets every reply in every model.
    pub(super) fn end_of_input(&mut self, registry: &Registry, now: Instant) {
        if self.jobs_out == 0 {
            self.peer_closed(registry, now);
        } else {
            self.input_ended = true;
        }
    }

    /// The client closed or reset the control connection: nothing more is
    /// read or written on it; the session decides what becomes of a
    /// running transfer (see `finish_if_closing`).
    pub(super) fn peer_closed(&mut self, _registry: &Registry, _now: Instant) {
        self.closing = true;
        self.out.clear();
    }

    pub(super) fn flush(&mut self) {
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
}

/// Read once from a TLS stream being ended and drop the bytes; how many came
/// (0 at the client's close_notify). Out of line so that its buffer (4 KiB)
/// is not part of every reply's stack frame (see `read_into_inbox`).
#[inline(never)]
fn drain_tls_read(s: &mut impl Read) -> io::Result<usize> {
    let mut buf = [0u8; 4096];
    s.read(&mut buf)
}
