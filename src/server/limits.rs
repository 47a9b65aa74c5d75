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
pub struct ConnLimits {
    max: usize,
    max_per_ip: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted session; releases its place when dropped.
#[derive(Debug)]
pub struct ConnSlot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl ConnLimits {
    /// Limits of `max` sessions and `max_per_ip` per address (0 = no limit).
    pub fn new(max: usize, max_per_ip: usize) -> Self {
        ConnLimits {
            max,
            max_per_ip,
            counts: Arc::default(),
        }
    }

    /// Admit a session from `ip`, or say which limit refuses it (`true`: the per-IP one).
    pub fn acquire(&self, ip: IpAddr) -> Result<ConnSlot, bool> {
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
    pub fn total(&self) -> usize {
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
mod tests {
    use super::*;

    #[test]
    fn max_cons_admits_exactly_n() {
        let l = ConnLimits::new(2, 0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let a = l.acquire(ip).ok();
        let b = l.acquire(ip).ok();
        assert!(a.is_some() && b.is_some());
        assert_eq!(l.acquire(ip).err(), Some(false));
        drop(a);
        assert!(l.acquire(ip).is_ok());
    }

    #[test]
    fn per_ip_limit_counts_mapped_addresses_as_one() {
        let l = ConnLimits::new(0, 1);
        let v4 = IpAddr::from([127, 0, 0, 1]);
        let mapped: IpAddr = std::net::Ipv4Addr::new(127, 0, 0, 1)
            .to_ipv6_mapped()
            .into();
        let _a = l.acquire(v4).ok();
        assert_eq!(l.acquire(mapped).err(), Some(true));
        let b = l.acquire(IpAddr::from([127, 0, 0, 2]));
        assert!(b.is_ok());
        assert_eq!(l.total(), 2);
    }
}
