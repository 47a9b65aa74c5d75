//! Bandwidth limiting (pyftpdlib's `ThrottledDTPHandler`): the average rate
//! since the transfer started never exceeds the limit by more than one
//! small burst. A transfer of a user with a bandwidth of their own also
//! takes its turn on that user's shared allowance ([`SharedRate`]).

use std::time::{Duration, Instant};

use crate::shared::SharedRate;

/// A rate limiter for one transfer.
#[derive(Debug)]
pub(crate) struct Throttle {
    limit: u64,
    start: Option<Instant>,
    bytes: u64,
    /// The user's bandwidth, shared with their other transfers.
    shared: Option<SharedRate>,
}

impl Throttle {
    /// A limiter of `limit` bytes per second; 0 means no limit.
    pub(crate) fn new(limit: u64) -> Self {
        Throttle {
            limit,
            start: None,
            bytes: 0,
            shared: None,
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
        own.max(shared)
    }
}

#[cfg(test)]
mod tests;
