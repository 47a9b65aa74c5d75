//! Every deadline of a connection lives here, in the session: the driver
//! asks [`Session::next_deadline`], sleeps until then (or until an event),
//! and feeds [`Input::Tick`]. Each wait on the client or on the network has
//! one:
//!
//! | wait | limit | on expiry |
//! |---|---|---|
//! | control connection idle (complete command lines only) | `timeout` (300 s) | `421`, close |
//! | failed login | `auth_failed_delay` (3 s) | the `530` and what follows it go out |
//! | TLS change on the control connection (handshake, or close_notify after REIN) | `handshake_timeout` (30 s) | close, nothing said |
//! | client connecting to the passive listener | `data_timeout` (300 s) | `421`, listener closed |
//! | active connect (PORT/EPRT) | `data_timeout` (30 s without one) | `425` |
//! | data connection open without a transfer | `data_timeout` | `421`, close |
//! | TLS handshake on the data connection | `handshake_timeout` | `522` (in a transfer), else `421` and close |
//! | a transfer that moves no byte (a pause its bandwidth limit imposes does not count) | `data_timeout` | `421`, close |
//! | server shutdown while a transfer runs | `shutdown_grace` (5 s) | `426`, then `421`, close |
//! | a closing connection whose client does not read | [`CLOSE_LINGER`] | the driver drops the unsent output |
//! | an upload whose control connection was lost, data connection still open | [`UPLOAD_GRACE`] | the upload is stopped (the old file stays whole) |
//!
//! The timeouts are pyftpdlib's (`FTPHandler.timeout`, `DTPHandler.timeout`,
//! `PassiveDTP.timeout`, `auth_failed_timeout`); the handshake, linger and
//! idle-data-connection limits are ours (pyftpdlib has none: a stalled TLS
//! handshake holds a session forever there).

use std::time::{Duration, Instant};

use super::{AbortReason, Action, DataState, Session, TransferState};
use crate::proto::reply::Reply;

/// How long a closing connection waits for the client to read its last
/// replies before the driver drops them ([`Action::CloseNow`]).
pub const CLOSE_LINGER: Duration = Duration::from_secs(10);

/// After the control connection is lost during an upload, how long its
/// data connection may take to end (the client closed both at about the
/// same time, and the last bytes are still on their way): ended, the upload
/// is complete and kept; still open, it is stopped.
pub const UPLOAD_GRACE: Duration = Duration::from_secs(2);

/// The farthest a deadline is put: a duration past it (a timeout or ban
/// time of `u64::MAX` seconds) is "never" in practice, and `Instant`
/// cannot hold the sum.
const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `t + d`, or `t` plus a century when the sum does not fit in an
/// [`Instant`]: adding a configured duration (timeout, grace, ban time)
/// must not panic, whatever its size.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(FAR))
        .or_else(|| t.checked_add(FAR))
        .unwrap_or(t)
}

/// How long an active connect may take when no data timeout is configured.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The session's deadlines (see the module docs).
#[derive(Debug)]
pub(super) struct Timers {
    /// When the control connection last did something: a complete command
    /// line, or the end of a wait for the driver. The idle timeout counts
    /// from here, and only while nothing waits for the driver.
    pub(super) active_at: Instant,
    /// A failed login's delay: these actions go out at that instant, and
    /// no command runs before.
    pub(super) hold: Option<(Instant, Vec<Action>)>,
    /// A TLS change on the control connection must be done by then.
    pub(super) ctrl_tls: Option<Instant>,
    /// The data channel's deadline in its current state (passive accept,
    /// active connect, open without a transfer).
    pub(super) data: Option<Instant>,
    /// The data channel's state and whether a transfer used it, when
    /// `data` was set.
    pub(super) data_for: (DataState, bool),
    /// The TLS handshake on the data connection must be done by then.
    pub(super) data_tls: Option<Instant>,
    /// A running transfer: the bytes it had moved when last looked at, and
    /// when that count last changed.
    pub(super) progress: Option<(u64, Instant)>,
    /// Server shutdown: when a running transfer is cut.
    pub(super) grace: Option<Instant>,
    /// After [`Action::Close`]: when the driver stops waiting for the
    /// client to read.
    pub(super) linger: Option<Instant>,
    /// The control connection was lost during an upload whose data
    /// connection had not ended yet: the upload is stopped then unless its
    /// data connection ends first (see [`UPLOAD_GRACE`]).
    pub(super) upload_grace: Option<Instant>,
}

impl Timers {
    pub(super) fn new(now: Instant) -> Self {
        Timers {
            active_at: now,
            hold: None,
            ctrl_tls: None,
            data: None,
            data_for: (DataState::None, false),
            data_tls: None,
            progress: None,
            grace: None,
            linger: None,
            upload_grace: None,
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Session {
    /// The earliest instant at which the session has something to do
    /// without any other input: the driver sleeps until then (or an event)
    /// and feeds [`Input::Tick`](super::Input::Tick). `None`: no deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.disconnected {
            return None;
        }
        let t = &self.timers;
        let mut d = t.hold.as_ref().map(|h| h.0);
        if self.closing {
            return earliest(earliest(d, t.linger), t.upload_grace);
        }
        for x in [t.ctrl_tls, t.data, t.data_tls, t.grace] {
            d = earliest(d, x);
        }
        let cfg = &self.ctx.config;
        if let (Some((_, at)), Some(limit)) = (t.progress, cfg.data_timeout) {
            d = earliest(d, Some(later(at, limit)));
        }
        if !self.busy() {
            if let Some(limit) = cfg.timeout {
                d = earliest(d, Some(later(t.active_at, limit)));
            }
        }
        d
    }

    /// Fire every deadline that is due at `now`.
    pub(super) fn on_tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        // a wait that ends in this tick restarts the idle timer (`rearm`)
        let was_busy = self.busy();
        if let Some((until, _)) = &self.timers.hold {
            if now >= *until {
                if let Some((_, held)) = self.timers.hold.take() {
                    out.extend(held);
                }
                self.timers.active_at = now;
            }
        }
        if self.closing {
            if self.timers.upload_grace.is_some_and(|g| now >= g) {
                self.timers.upload_grace = None;
                log::info!(
                    "{} the upload's data connection did not end after the control connection was lost",
                    self.prefix
                );
                self.abort_transfer(AbortReason::ControlLost, out);
            }
            if self.timers.linger.is_some_and(|l| now >= l) {
                self.timers.linger = None;
                log::info!(
                    "{} the client did not read the last replies in time",
                    self.prefix
                );
                out.push(Action::CloseNow);
            }
            return;
        }
        if self.timers.ctrl_tls.is_some_and(|d| now >= d) {
            self.timers.ctrl_tls = None;
            // nothing can be said before the change is done
            log::info!(
                "{} TLS change on the control connection timed out",
                self.prefix
            );
            self.closing = true;
            out.push(Action::CloseNow);
            return;
        }
        if self.timers.data_tls.is_some_and(|d| now >= d) {
            self.timers.data_tls = None;
            log::info!(
                "{} TLS handshake on the data connection timed out",
                self.prefix
            );
            if self.transfer.is_running() {
                self.abort_transfer(AbortReason::Handshake, out);
            } else {
                self.data_connection_timed_out(out);
            }
        }
        if self.timers.data.is_some_and(|d| now >= d) {
            self.timers.data = None;
            match self.data {
                DataState::PassiveListening => {
                    out.push(Action::CloseData);
                    self.data = DataState::None;
                    self.fail_pending(out);
                    self.reply_info(out, Reply::new(421, "Passive data channel timed out."));
                }
                DataState::ActiveConnecting => {
                    log::info!("{} active data connection timed out", self.prefix);
                    out.push(Action::CloseData);
                    self.data = DataState::None;
                    self.fail_pending(out);
                    self.reply(out, Reply::new(425, "Can't connect to specified address."));
                }
                DataState::Connected if !self.transfer.is_running() => {
                    self.data_connection_timed_out(out)
                }
                _ => {}
            }
        }
        let abort = self.transfer.abort();
        if let (Some(r), Some(limit)) = (self.transfer.running(), self.ctx.config.data_timeout) {
            let bytes = r.bytes.load(std::sync::atomic::Ordering::Relaxed);
            // a pause the bandwidth limit imposed (the server's own, or the
            // user's shared by many sessions, seconds or minutes long at a
            // few bytes per second) is no stall: count from its end
            if let (Some(end), Some((seen, at))) = (r.paused.latest(), self.timers.progress) {
                if end > at {
                    self.timers.progress = Some((seen, end));
                }
            }
            match self.timers.progress {
                Some((seen, _)) if seen != bytes => self.timers.progress = Some((bytes, now)),
                Some((_, at)) if now >= later(at, limit) && abort.is_none() => {
                    log::info!("{} data connection stalled", self.prefix);
                    self.abort_transfer(AbortReason::Stalled, out);
                }
                _ => {}
            }
        }
        if self.timers.grace.is_some_and(|g| now >= g) {
            self.timers.grace = None;
            if self.transfer.abort().is_none() && self.transfer.is_running() {
                log::info!("{} shutdown: cutting the running transfer", self.prefix);
                self.abort_transfer(AbortReason::Shutdown, out);
            }
        }
        if !was_busy
            && !self.busy()
            && self
                .ctx
                .config
                .timeout
                .is_some_and(|limit| now >= later(self.timers.active_at, limit))
        {
            self.reply_info(out, Reply::new(421, "Control connection timed out."));
            self.close(out);
        }
    }

    /// An open data connection without a transfer (or whose TLS handshake
    /// did not end in time): pyftpdlib's `DTPHandler.handle_timeout`, `421`
    /// and the control connection closes too.
    fn data_connection_timed_out(&mut self, out: &mut Vec<Action>) {
        out.push(Action::CloseData);
        self.data = DataState::None;
        self.fail_pending(out);
        self.reply_info(out, Reply::new(421, "Data connection timed out."));
        self.close(out);
    }

    /// Stop the running transfer for `reason`; its end comes back as
    /// [`Input::TransferDone`](super::Input::TransferDone).
    pub(super) fn abort_transfer(&mut self, reason: AbortReason, out: &mut Vec<Action>) {
        if let TransferState::Running(r) = &mut self.transfer {
            if r.abort.is_none() {
                r.abort = Some(reason);
                out.push(Action::AbortTransfer);
            }
        }
    }

    /// After every input: arm or clear the deadlines that what happened
    /// starts or ends (`busy_before`, `data_before`: the state before it).
    pub(super) fn rearm(&mut self, busy_before: bool, now: Instant, out: &[Action]) {
        let hs = self.ctx.config.tls.as_ref().map(|t| t.handshake_timeout);
        let data_timeout = self.ctx.config.data_timeout;
        for a in out {
            match a {
                Action::StartTls | Action::StopTls => {
                    self.timers.ctrl_tls = hs.map(|d| later(now, d));
                }
                Action::SecureData => self.timers.data_tls = hs.map(|d| later(now, d)),
                Action::StartTransfer(_) => self.timers.progress = Some((0, now)),
                Action::Close => {
                    self.timers.linger.get_or_insert(now + CLOSE_LINGER);
                }
                _ => {}
            }
        }
        if !self.transfer.is_running() {
            self.timers.progress = None;
        }
        if self.data == DataState::None {
            self.timers.data_tls = None;
        }
        // the data channel's own deadline, when its state changed
        let state = (self.data, self.transfer.is_active());
        if state != self.timers.data_for {
            self.timers.data_for = state;
            self.timers.data = match state {
                (DataState::PassiveListening, _) => data_timeout.map(|d| later(now, d)),
                (DataState::ActiveConnecting, _) => {
                    Some(later(now, data_timeout.unwrap_or(CONNECT_TIMEOUT)))
                }
                (DataState::Connected, false) => data_timeout.map(|d| later(now, d)),
                _ => None,
            };
        }
        if busy_before && !self.busy() {
            // the idle timer starts again when a wait for the driver ends
            self.timers.active_at = now;
        }
    }
}
