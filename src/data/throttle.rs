//! Bandwidth limiting (pyftpdlib's `ThrottledDTPHandler`): the average rate
//! since the transfer started never exceeds the limit by more than one
//! small burst.

use std::time::{Duration, Instant};

/// A rate limiter for one transfer.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    limit: u64,
    start: Option<Instant>,
    bytes: u64,
}

impl Throttle {
    /// A limiter of `limit` bytes per second; 0 means no limit.
    pub(crate) fn new(limit: u64) -> Self {
        Throttle {
            limit,
            start: None,
            bytes: 0,
        }
    }

    /// Whether a limit is set.
    pub(crate) fn is_limited(&self) -> bool {
        self.limit > 0
    }

    /// The largest chunk to move at once (a tenth of a second's worth, at least 1 KiB).
    pub(crate) fn chunk(&self, default: usize) -> usize {
        if self.limit == 0 {
            default
        } else {
            usize::try_from(self.limit / 10)
                .unwrap_or(default)
                .clamp(1024, default)
        }
    }

    /// Record `n` bytes moved at `now`.
    pub(crate) fn record(&mut self, n: u64, now: Instant) {
        self.start.get_or_insert(now);
        self.bytes += n;
    }

    /// If the transfer is ahead of its allowance at `now`, the instant at which it may go on.
    pub(crate) fn resume_at(&self, now: Instant) -> Option<Instant> {
        let start = self.start?;
        if self.limit == 0 {
            return None;
        }
        let due = start + Duration::from_secs_f64(self.bytes as f64 / self.limit as f64);
        (due > now).then_some(due)
    }
}

#[cfg(test)]
mod tests;
