//! `max_cons` and `max_cons_per_ip` accounting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::session::canonical_ip;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Counts open sessions, in total and per client IP.
#[derive(Debug, Clone)]
pub(crate) struct ConnLimits {
    max: usize,
    max_per_ip: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted session; releases its place when dropped.
#[derive(Debug)]
pub(crate) struct ConnSlot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl ConnLimits {
    /// Limits of `max` sessions and `max_per_ip` per address (0 = no limit).
    pub(crate) fn new(max: usize, max_per_ip: usize) -> Self {
        ConnLimits {
            max,
            max_per_ip,
            counts: Arc::default(),
        }
    }

    /// Admit a session from `ip`, or say which limit refuses it (`true`: the per-IP one).
    pub(crate) fn acquire(&self, ip: IpAddr) -> Result<ConnSlot, bool> {
        let ip = canonical_ip(ip);
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if self.max > 0 && c.total >= self.max {
            return Err(false);
        }
        let n = c.per_ip.get(&ip).copied().unwrap_or(0);
        if self.max_per_ip > 0 && n >= self.max_per_ip {
            return Err(true);
        }
        c.total += 1;
        c.per_ip.insert(ip, n + 1);
        Ok(ConnSlot {
            ip,
            counts: Arc::clone(&self.counts),
        })
    }

    /// Sessions open now.
    #[cfg(test)]
    pub(crate) fn total(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests;
