//! Bandwidth limiting (pyftpdlib's `ThrottledDTPHandler`): the average rate
//! since the transfer started never exceeds the limit by more than one
//! small burst. A transfer of a user with a bandwidth of their own also
//! takes its turn on that user's shared allowance ([`SharedRate`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::shared::SharedRate;

/// Where the latest pause a transfer's own bandwidth limit imposed ends,
/// readable by its session: time spent waiting on the server's limit is
/// no stall of the client's, whatever the data timeout.
#[derive(Debug, Clone, Default)]
pub(crate) struct PauseEnd(Arc<AtomicU64>);

/// The instant [`PauseEnd`] counts from (one per process: a transfer and
/// its session always share one).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl PauseEnd {
    fn set(&self, at: Instant) {
        let nanos = at.saturating_duration_since(epoch()).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
        self.0.fetch_max(nanos, Ordering::Relaxed);
    }

    /// The end of the latest pause, if the transfer paused at all.
    pub(crate) fn latest(&self) -> Option<Instant> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(crate::session::later(epoch(), Duration::from_nanos(n))),
        }
    }
}

/// A rate limiter for one transfer.
#[derive(Debug)]
pub(crate) struct Throttle {
    limit: u64,
    start: Option<Instant>,
    bytes: u64,
    /// The user's bandwidth, shared with their other transfers.
    shared: Option<SharedRate>,
    /// The end of the latest pause, for the session's stall timer.
    paused: PauseEnd,
}

impl Throttle {
    /// A limiter of `limit` bytes per second; 0 means no limit.
    pub(crate) fn new(limit: u64) -> Self {
        Throttle {
            limit,
            start: None,
            bytes: 0,
            shared: None,
            paused: PauseEnd::default(),
        }
    }

    /// Also keep to the user's shared bandwidth.
    pub(crate) fn share(&mut self, rate: SharedRate) {
        self.shared = Some(rate);
    }

    /// Whether a limit is set.
    pub(crate) fn is_limited(&self) -> bool {
        self.limit > 0 || self.shared.is_some()
    }

    /// The largest chunk to move at once (a tenth of a second's worth, at
    /// least 1 KiB; less when the user's shared bandwidth asks for it).
    pub(crate) fn chunk(&self, default: usize) -> usize {
        let own = if self.limit == 0 {
            default
        } else {
            usize::try_from(self.limit / 10)
                .unwrap_or(default)
                .clamp(1024, default)
        };
        match &self.shared {
            Some(r) => own.min(r.chunk(default)),
            None => own,
        }
    }

    /// Record `n` bytes moved at `now`.
    pub(crate) fn record(&mut self, n: u64, now: Instant) {
        self.start.get_or_insert(now);
        self.bytes += n;
        if let Some(r) = &mut self.shared {
            r.charge(n, now);
        }
    }

    /// If the transfer is ahead of its allowance (its own, or its turn on
    /// the user's) at `now`, the instant at which it may go on.
    pub(crate) fn resume_at(&self, now: Instant) -> Option<Instant> {
        let shared = self.shared.as_ref().and_then(|r| r.resume_at(now));
        let own = self.start.filter(|_| self.limit > 0).and_then(|start| {
            let due = start + Duration::from_secs_f64(self.bytes as f64 / self.limit as f64);
            (due > now).then_some(due)
        });
        let due = own.max(shared);
        if let Some(at) = due {
            self.paused.set(at);
        }
        due
    }

    /// Where the latest pause ends, as the transfer's session reads it.
    pub(crate) fn pause_end(&self) -> PauseEnd {
        self.paused.clone()
    }
}

#[cfg(test)]
mod tests;
