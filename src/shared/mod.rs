//! State shared by every process of one server: the per-user session
//! slots (an account's `max_sessions`), the per-user bandwidth cells (an
//! account's `read_limit`/`write_limit`, shared by all of that user's
//! sessions, pyftpdlib #597) and the table of banned client addresses
//! ([`crate::config::BanPolicy`]).
//!
//! It lives in one anonymous shared memory region made when the server is
//! bound, before any process is forked, so the thread and poll models and
//! the forked sessions of the multi-proc and pre-fork models all see the
//! same counts. Everything in it is a 64-bit atomic word:
//!
//! ```text
//! word 0                     the table lock: the holder's pid, 0 when free
//! slots  [capacity]          a logged-in limited session: pid << 32 | user index + 1 (0: free)
//! users  [capacity x 4]      a user with sessions: name hash, upload and download
//!                            "theoretical arrival times" (GCRA), spare
//! bans   [BANS x 5]          used flag | failed logins, address (2 words),
//!                            failure window start, banned until
//! ```
//!
//! Times are nanoseconds since the region's epoch, an [`Instant`] taken when
//! it was made: `Instant` is `CLOCK_MONOTONIC`, one clock for every process
//! of the machine, and forked processes inherit the same epoch value.
//!
//! The slot, user and ban tables change under the lock (held for one scan of
//! a table, microseconds); a process that dies holding it (SIGKILL) is
//! noticed by the next one that waits (`kill(pid, 0)` fails with `ESRCH`),
//! which takes the lock over. Each change is a single word store, so a
//! process killed half-way leaves at worst an unreferenced user entry,
//! which is reused. A slot whose process is gone is freed by the parent
//! that reaps it (`SharedState::release_pid`) or, failing that, by the
//! next login that finds the user at its limit or the table full.
//! Bandwidth cells are updated without the lock (compare-and-swap).

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::session::later;
use crate::sys::SharedWords;

/// Words before the first slot (the lock, then padding to a cache line).
const HEADER: usize = 8;
/// Words per user entry.
const USER_WORDS: usize = 4;
/// Words per ban entry.
const BAN_WORDS: usize = 5;
/// Addresses the ban table tracks at once (banned, or with failed logins).
const BANS: usize = 1024;
/// Slots when `max_cons` is 0 (no limit).
const DEFAULT_CAPACITY: usize = 4096;
/// Bit of a ban entry's first word that marks it used.
const USED: u64 = 1 << 63;
/// How far a user's shared bandwidth may lag behind the clock, so that a
/// transfer woken a little late does not lose its turn; also the most a
/// user may send in one burst after a pause.
const RATE_TOLERANCE: Duration = Duration::from_millis(40);
/// The share of one second moved by one step of a transfer limited by a
/// user's shared bandwidth (1/50: 20 ms worth).
const RATE_STEPS_PER_SECOND: u64 = 50;

/// The memory every process of one server shares: session slots,
/// bandwidth cells and bans (see the module documentation).
///
/// Made by [`crate::server::ServerBuilder::bind`]; make one yourself only to
/// build a [`crate::session::SessionContext`] by hand (tests, fuzzing).
pub struct SharedState {
    mem: SharedWords,
    epoch: Instant,
    capacity: usize,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Why a limited login got no session slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The user has `max` sessions already.
    TooMany { max: u32 },
    /// Every slot is taken (by live sessions).
    Full,
}

/// A logged-in session of a user with limits: its place in the shared
/// slot table, given back when dropped (logout, REIN, USER, QUIT, lost
/// connection). Also the key to the user's bandwidth cells.
pub(crate) struct UserSlot {
    state: Arc<SharedState>,
    slot: usize,
    user: usize,
    word: u64,
    /// The process that claimed it: a copy inherited by a forked process
    /// never frees it.
    pid: u32,
}

impl std::fmt::Debug for UserSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSlot")
            .field("slot", &self.slot)
            .field("user", &self.user)
            .finish()
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            return;
        }
        let s = &self.state;
        let _lock = s.lock();
        let w = &s.slots()[self.slot];
        if w.compare_exchange(self.word, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            && !s.referenced(self.user)
        {
            s.clear_user(self.user);
        }
    }
}

/// The lock of the slot, user and ban tables; released when dropped.
struct TableLock<'a>(&'a AtomicU64);

impl Drop for TableLock<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// Whether process `pid` exists (a zombie not reaped yet counts).
#[cfg(unix)]
fn pid_alive(pid: u64) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    let pid = nix::unistd::Pid::from_raw(raw);
    !matches!(
        nix::sys::signal::kill(pid, None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Whether process `pid` exists: without fork every session is this
/// process's.
#[cfg(not(unix))]
fn pid_alive(pid: u64) -> bool {
    pid == u64::from(std::process::id())
}

/// The key of a user name in the shared tables (never 0). Every process of
/// a server runs the same binary, so the hash is the same in all of them.
fn user_key(name: &str) -> u64 {
    // SipHash with fixed keys: the same value in every process
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    h.finish().max(1)
}

/// An address as two words (IPv4 as its IPv4-mapped IPv6 form).
fn ip_words(ip: IpAddr) -> (u64, u64) {
    let v6 = match crate::session::canonical_ip(ip) {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let n = u128::from(v6);
    ((n >> 64) as u64, n as u64)
}

impl SharedState {
    /// A new region with room for `max_cons` limited sessions at once
    /// (4096 when `max_cons` is 0), and 1024 tracked client addresses.
    ///
    /// # Errors
    /// The OS error of `mmap(2)` (e.g. out of memory).
    pub fn new(max_cons: usize) -> std::io::Result<Self> {
        let capacity = if max_cons == 0 {
            DEFAULT_CAPACITY
        } else {
            max_cons
        };
        let words = HEADER
            .checked_add(capacity.saturating_mul(1 + USER_WORDS))
            .and_then(|w| w.checked_add(BANS * BAN_WORDS))
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "max_cons"))?;
        Ok(SharedState {
            mem: SharedWords::new(words)?,
            epoch: Instant::now(),
            capacity,
        })
    }

    fn slots(&self) -> &[AtomicU64] {
        &self.mem.words()[HEADER..HEADER + self.capacity]
    }

    fn user(&self, i: usize) -> &[AtomicU64] {
        let at = HEADER + self.capacity + i * USER_WORDS;
        &self.mem.words()[at..at + USER_WORDS]
    }

    fn ban(&self, i: usize) -> &[AtomicU64] {
        let at = HEADER + self.capacity * (1 + USER_WORDS) + i * BAN_WORDS;
        &self.mem.words()[at..at + BAN_WORDS]
    }

    /// Nanoseconds from the epoch to `t` (0 before it).
    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `nanos` after the epoch.
    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn lock(&self) -> TableLock<'_> {
        let word = &self.mem.words()[0];
        let me = u64::from(std::process::id());
        let mut tries: u32 = 0;
        loop {
            match word.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return TableLock(word),
                Err(holder) => {
                    tries = tries.wrapping_add(1);
                    if tries < 64 {
                        std::hint::spin_loop();
                        continue;
                    }
                    if tries % 256 == 0 && holder != 0 && holder != me && !pid_alive(holder) {
                        // its holder was killed inside a critical section
                        if word
                            .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok()
                        {
                            log::warn!("process {holder} died holding the shared table lock");
                            return TableLock(word);
                        }
                    }
                    std::thread::yield_now();
                }
            }
        }
    }

    // --- session slots (under the lock)

    fn find_user(&self, key: u64) -> Option<usize> {
        (0..self.capacity).find(|&i| self.user(i)[0].load(Ordering::Relaxed) == key)
    }

    /// Slots held for user entry `u`.
    fn sessions_of(&self, u: usize) -> u32 {
        let tag = u as u64 + 1;
        let n = self
            .slots()
            .iter()
            .filter(|w| {
                let v = w.load(Ordering::Relaxed);
                v != 0 && v & 0xffff_ffff == tag
            })
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn referenced(&self, u: usize) -> bool {
        self.sessions_of(u) > 0
    }

    fn clear_user(&self, u: usize) {
        for w in self.user(u) {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Free the user entries no slot refers to.
    fn clear_orphans(&self) {
        let mut used = vec![false; self.capacity];
        for w in self.slots() {
            let v = w.load(Ordering::Relaxed);
            if v != 0 {
                let u = (v & 0xffff_ffff) as usize;
                if let Some(flag) = u.checked_sub(1).and_then(|i| used.get_mut(i)) {
                    *flag = true;
                }
            }
        }
        for (i, used) in used.into_iter().enumerate() {
            if !used && self.user(i)[0].load(Ordering::Relaxed) != 0 {
                self.clear_user(i);
            }
        }
    }

    /// Free the slots of processes that are gone (of user `only`, or all).
    fn reap_dead(&self, only: Option<usize>) -> usize {
        let me = u64::from(std::process::id());
        let mut checked: Vec<(u64, bool)> = Vec::new();
        let mut freed = 0;
        for w in self.slots() {
            let v = w.load(Ordering::Relaxed);
            if v == 0 {
                continue;
            }
            let (pid, tag) = (v >> 32, v & 0xffff_ffff);
            if pid == me || only.is_some_and(|u| tag != u as u64 + 1) {
                continue;
            }
            let alive = match checked.iter().find(|c| c.0 == pid) {
                Some(c) => c.1,
                None => {
                    let a = pid_alive(pid);
                    checked.push((pid, a));
                    a
                }
            };
            if !alive {
                w.store(0, Ordering::Relaxed);
                freed += 1;
            }
        }
        if freed > 0 {
            log::info!("freed {freed} session slot(s) of processes that are gone");
            self.clear_orphans();
        }
        freed
    }

    fn free_slot(&self) -> Option<usize> {
        self.slots()
            .iter()
            .position(|w| w.load(Ordering::Relaxed) == 0)
    }

    fn free_user(&self) -> Option<usize> {
        let free = |s: &Self| (0..s.capacity).find(|&i| s.user(i)[0].load(Ordering::Relaxed) == 0);
        free(self).or_else(|| {
            self.clear_orphans();
            free(self)
        })
    }

    /// Take a session slot for `username`, unless it has `max_sessions`
    /// already (0: no limit). Atomic: of two logins racing for the last
    /// place, exactly one gets it.
    pub(crate) fn claim(
        self: &Arc<Self>,
        username: &str,
        max_sessions: u32,
    ) -> Result<UserSlot, Refusal> {
        let key = user_key(username);
        let pid = std::process::id();
        let _lock = self.lock();
        let user = self.find_user(key);
        if let (Some(u), true) = (user, max_sessions > 0) {
            if self.sessions_of(u) >= max_sessions
                && (self.reap_dead(Some(u)) == 0 || self.sessions_of(u) >= max_sessions)
            {
                return Err(Refusal::TooMany { max: max_sessions });
            }
        }
        let slot = match self.free_slot() {
            Some(s) => s,
            None => {
                self.reap_dead(None);
                self.free_slot().ok_or(Refusal::Full)?
            }
        };
        // the entry may have been an orphan freed by the reaping above
        let user = match user.filter(|&u| self.user(u)[0].load(Ordering::Relaxed) == key) {
            Some(u) => u,
            None => {
                let u = self.free_user().ok_or(Refusal::Full)?;
                self.clear_user(u);
                self.user(u)[0].store(key, Ordering::Relaxed);
                u
            }
        };
        let word = (u64::from(pid) << 32) | (user as u64 + 1);
        self.slots()[slot].store(word, Ordering::Relaxed);
        Ok(UserSlot {
            state: Arc::clone(self),
            slot,
            user,
            word,
            pid,
        })
    }

    /// Free every slot held by process `pid` (which has exited; called by
    /// the parent that reaped it).
    #[cfg(unix)]
    pub(crate) fn release_pid(&self, pid: u32) {
        let _lock = self.lock();
        let mut freed = 0;
        for w in self.slots() {
            let v = w.load(Ordering::Relaxed);
            if v != 0 && v >> 32 == u64::from(pid) {
                w.store(0, Ordering::Relaxed);
                freed += 1;
            }
        }
        if freed > 0 {
            log::info!("freed {freed} session slot(s) of process {pid}, which ended without");
            self.clear_orphans();
        }
    }

    /// Sessions of `username` holding a slot now.
    #[cfg(test)]
    pub(crate) fn sessions(&self, username: &str) -> u32 {
        let _lock = self.lock();
        self.find_user(user_key(username))
            .map_or(0, |u| self.sessions_of(u))
    }

    // --- bans (under the lock)

    fn find_ban(&self, ip: (u64, u64)) -> Option<usize> {
        (0..BANS).find(|&i| {
            let e = self.ban(i);
            e[0].load(Ordering::Relaxed) & USED != 0
                && e[1].load(Ordering::Relaxed) == ip.0
                && e[2].load(Ordering::Relaxed) == ip.1
        })
    }

    /// The entry of `ip`, made if needed: a free one, else the one whose
    /// ban or failure window ended longest ago (or ends soonest).
    fn ban_entry(&self, ip: (u64, u64)) -> usize {
        if let Some(i) = self.find_ban(ip) {
            return i;
        }
        let i = (0..BANS)
            .find(|&i| self.ban(i)[0].load(Ordering::Relaxed) & USED == 0)
            .unwrap_or_else(|| {
                (0..BANS)
                    .min_by_key(|&i| {
                        let e = self.ban(i);
                        e[3].load(Ordering::Relaxed)
                            .max(e[4].load(Ordering::Relaxed))
                    })
                    .unwrap_or(0)
            });
        let e = self.ban(i);
        e[1].store(ip.0, Ordering::Relaxed);
        e[2].store(ip.1, Ordering::Relaxed);
        e[3].store(0, Ordering::Relaxed);
        e[4].store(0, Ordering::Relaxed);
        e[0].store(USED, Ordering::Relaxed);
        i
    }

    /// How much longer `ip` is banned, if it is.
    pub(crate) fn banned(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let now = self.nanos(now);
        let _lock = self.lock();
        let e = self.ban(self.find_ban(ip_words(ip))?);
        let until = e[4].load(Ordering::Relaxed);
        (until > now).then(|| Duration::from_nanos(until - now))
    }

    /// Ban `ip` until `ban_time` from `now` (a longer ban stays).
    pub(crate) fn ban_ip(&self, ip: IpAddr, ban_time: Duration, now: Instant) {
        let until = self.nanos(later(now, ban_time));
        let _lock = self.lock();
        let e = self.ban(self.ban_entry(ip_words(ip)));
        e[4].fetch_max(until, Ordering::Relaxed);
    }

    /// Count a failed login from `ip`; at the `max`-th within `window` the
    /// address is banned for `ban_time` (and its count starts again).
    /// Returns whether this failure banned it.
    pub(crate) fn failed_login(
        &self,
        ip: IpAddr,
        max: u32,
        window: Duration,
        ban_time: Duration,
        now: Instant,
    ) -> bool {
        let t = self.nanos(now);
        let _lock = self.lock();
        let e = self.ban(self.ban_entry(ip_words(ip)));
        let start = e[3].load(Ordering::Relaxed);
        let window = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let mut count = e[0].load(Ordering::Relaxed) & 0xffff_ffff;
        if start == 0 || t.saturating_sub(start) >= window {
            e[3].store(t.max(1), Ordering::Relaxed);
            count = 0;
        }
        count += 1;
        if count >= u64::from(max.max(1)) {
            e[0].store(USED, Ordering::Relaxed);
            e[3].store(0, Ordering::Relaxed);
            e[4].fetch_max(self.nanos(later(now, ban_time)), Ordering::Relaxed);
            true
        } else {
            e[0].store(USED | count, Ordering::Relaxed);
            false
        }
    }
}

/// A user's shared bandwidth in one direction, as one transfer uses it: a
/// GCRA cell ("virtual scheduling") in the shared region, holding the
/// theoretical arrival time (TAT) up to which the user's bandwidth is
/// spoken for. After each step a transfer reserves the next `bytes / rate`
/// of that timeline for the bytes it moved, and moves nothing more until
/// its reservation has ended. Reservations of the user's transfers, in any
/// process, follow each other in turn, so together they move `rate` bytes
/// per second (plus one step each and [`RATE_TOLERANCE`]), and each gets
/// an equal share.
pub(crate) struct SharedRate {
    slot: Arc<UserSlot>,
    /// Bytes per second.
    rate: u64,
    /// Word of the user entry: 1 upload, 2 download.
    word: usize,
    /// The end of this transfer's last reservation.
    next: Option<Instant>,
}

impl std::fmt::Debug for SharedRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRate")
            .field("rate", &self.rate)
            .field("upload", &(self.word == 1))
            .field("next", &self.next)
            .finish()
    }
}

impl SharedRate {
    /// The upload (`upload`) or download cell of the user of `slot`,
    /// limited to `rate` bytes per second (`None` for 0: no limit), for
    /// one transfer.
    pub(crate) fn new(slot: Arc<UserSlot>, rate: u64, upload: bool) -> Option<Self> {
        (rate > 0).then_some(SharedRate {
            slot,
            rate,
            word: if upload { 1 } else { 2 },
            next: None,
        })
    }

    fn cell(&self) -> &AtomicU64 {
        &self.slot.state.user(self.slot.user)[self.word]
    }

    /// The largest step to move at once: 20 ms worth, at least 1 KiB.
    pub(crate) fn chunk(&self, default: usize) -> usize {
        usize::try_from(self.rate / RATE_STEPS_PER_SECOND)
            .unwrap_or(default)
            .clamp(1024, default.max(1024))
    }

    /// Account for `bytes` moved at `now`: reserve their time on the
    /// user's timeline, after every reservation made before.
    pub(crate) fn charge(&mut self, bytes: u64, now: Instant) {
        let state = &self.slot.state;
        let cost = u64::try_from(u128::from(bytes) * 1_000_000_000 / u128::from(self.rate))
            .unwrap_or(u64::MAX);
        let floor = state
            .nanos(now)
            .saturating_sub(u64::try_from(RATE_TOLERANCE.as_nanos()).unwrap_or(0));
        let cell = self.cell();
        let mut tat = cell.load(Ordering::Relaxed);
        let end = loop {
            let end = tat.max(floor).saturating_add(cost);
            match cell.compare_exchange_weak(tat, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break end,
                Err(seen) => tat = seen,
            }
        };
        self.next = Some(state.instant(end));
    }

    /// If this transfer's last reservation has not ended at `now`, the
    /// instant at which it may go on.
    pub(crate) fn resume_at(&self, now: Instant) -> Option<Instant> {
        self.next.filter(|&t| t > now)
    }
}

#[cfg(test)]
mod tests;
