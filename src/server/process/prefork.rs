//! Pre-fork: `workers` processes run the poll loop; the parent accepts,
//! checks the limits and passes each connection to the least loaded worker
//! over a Unix socket (`SCM_RIGHTS`). Workers report finished sessions on
//! the same socket; a worker that dies is reaped, its sessions released,
//! and a new one started ([`Respawn`]: at once after a worker that served a
//! while, after a growing delay while workers die as they start or the
//! fork fails).
//!
//! The parent never waits for a worker: a connection that no worker's
//! socket has room for (a burst faster than the workers take them, or
//! workers stopped or stuck) waits in the parent's queue, and is handed
//! over when a socket has room again, or refused with `421` after
//! [`HANDOVER_LIMIT`]. While [`QUEUE_MAX`] wait, the parent accepts no more
//! (they wait in the kernel's backlog): a stalled worker never stalls the
//! parent's loop, its signals or the other workers' connections. When the
//! server stops, those still waiting are refused with `421`.
//!
//! A connection passed to a worker is not yet served: the worker may be
//! stopped or stuck. The parent keeps its copy until the worker reports
//! that its poll loop took the connection in ([`TAKEN`]); one not taken
//! within [`HANDOVER_LIMIT`] is refused with `421` on that copy and shut
//! down, and the worker is passed no more until it reports again
//! ([`Handed`]).
//! So is a connection the worker lost or could not set up, or that a
//! worker which died had not taken.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::{
    accept_ready, in_child, parent_loop, Handover, Parent, Wakes, HANDOVER_LIMIT, LISTENER,
    RELOADED, TICK,
};
use crate::server::poll::{NewConn, PollLoop};
use crate::server::reload::ReloadOnHangup;
use crate::server::{ConnLimits, ConnSlot, Failing, FailureRun, FtpServer};
use crate::session::replies;
use crate::sys::{self, Forked};

struct Worker {
    pid: Pid,
    sock: UnixStream,
    load: usize,
    /// When it was forked.
    started: Instant,
    /// Until when it is passed no connection: it lost one (out of
    /// descriptors, see [`LOST`]).
    shunned_until: Option<Instant>,
    /// Bytes of a report not complete yet.
    partial: Vec<u8>,
    /// Whether it took a connection in: it had started well, whatever its
    /// age when it dies (see [`Respawn::died`]).
    served: bool,
    /// While it is passed no connection because it took none of those
    /// passed to it in [`HANDOVER_LIMIT`] (stopped or stuck): how many of
    /// them were refused. It is passed connections again once it reports
    /// what it did with one.
    stalled: Option<u64>,
}

/// Connections waiting for a worker at most; then the parent stops
/// accepting until fewer wait (each holds a descriptor in the parent).
const QUEUE_MAX: usize = 256;

/// A worker that lived this long before it died had started well: it is
/// replaced at once, and the back-off of [`Respawn`] starts over.
const STABLE_AFTER: Duration = Duration::from_secs(1);

/// The first delay before a worker is replaced after a failed start (a
/// worker that died younger than [`STABLE_AFTER`], or a fork that failed).
const RESPAWN_FIRST: Duration = Duration::from_millis(100);

/// The longest delay before a worker is replaced after failed starts.
const RESPAWN_MAX: Duration = Duration::from_secs(10);

/// When the parent starts the workers missing from its pool.
///
/// A worker that served a while and died is replaced at once. Starts that
/// fail are tried again after a delay that doubles at each failure in a
/// row, from [`RESPAWN_FIRST`] to [`RESPAWN_MAX`], as a service manager
/// restarts a failing service: a worker that dies as it starts (it can't
/// create its threads: a limit on processes or memory) used to be
/// replaced at once, over and over, a thousand forks and two thousand log
/// lines in half a second; a fork that failed left the pool a worker short
/// for good, and with no worker left every connection was refused until
/// the server was restarted.
struct Respawn {
    /// When to start the missing workers; `None` while none is missing.
    at: Option<Instant>,
    /// The delay after the next failed start.
    delay: Duration,
    /// Whether a start failed since the pool was last full and stable:
    /// the pool's recovery is logged once each of its workers has lived
    /// [`STABLE_AFTER`] (see [`Respawn::check_stable`]).
    failed: bool,
}

impl Respawn {
    fn new() -> Respawn {
        Respawn {
            at: None,
            delay: RESPAWN_FIRST,
            failed: false,
        }
    }

    /// A worker that lived `age` died, having taken a connection in
    /// (`served`) or not: how long until its replacement starts. One that
    /// served had started well, even if it died young (killed, or its
    /// session crashed it): it is replaced at once, and the back-off starts
    /// over; it used to count as a failed start, and a few such deaths in a
    /// row left the server with no worker for up to 10 s.
    fn died(&mut self, age: Duration, served: bool, now: Instant) -> Duration {
        let delay = if served || age >= STABLE_AFTER {
            self.delay = RESPAWN_FIRST;
            Duration::ZERO
        } else {
            self.backoff()
        };
        let at = now + delay;
        self.at = Some(self.at.map_or(at, |a| a.min(at)));
        delay
    }

    /// A start failed: how long until the next try.
    fn start_failed(&mut self, now: Instant) -> Duration {
        let delay = self.backoff();
        self.at = Some(now + delay);
        delay
    }

    /// The delay for this failed start; the next one's is twice as long.
    fn backoff(&mut self) -> Duration {
        self.failed = true;
        let delay = self.delay;
        self.delay = (self.delay * 2).min(RESPAWN_MAX);
        delay
    }

    /// Whether the missing workers are to be started now.
    fn due(&self, now: Instant) -> bool {
        self.at.is_some_and(|at| at <= now)
    }

    /// The pool is full again.
    fn refilled(&mut self) {
        self.at = None;
    }

    /// After failed starts, with the pool full: log its recovery once its
    /// youngest worker has lived [`STABLE_AFTER`] (a worker that dies as it
    /// starts is forked all right first), else return when to look again.
    fn check_stable(&mut self, pool: &HashMap<usize, Worker>, n: usize) -> Option<Instant> {
        if !self.failed || pool.len() < n {
            return None;
        }
        let youngest = pool.values().map(|w| w.started).max()?;
        let stable_at = youngest + STABLE_AFTER;
        if Instant::now() < stable_at {
            return Some(stable_at);
        }
        self.failed = false;
        log::warn!("workers running again: {n} of {n}");
        None
    }
}

/// Start workers until the pool has `n` (see [`Respawn`]); their sockets
/// are watched for room too while `watching` (see [`watch_room`]).
fn start_missing(
    server: &FtpServer,
    registry: &mio::Registry,
    (pool, others): (&mut HashMap<usize, Worker>, Others<'_>),
    next_token: &mut usize,
    (n, watching): (usize, bool),
    respawn: &mut Respawn,
) {
    let interest = if watching {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    while pool.len() < n {
        let started = spawn_worker(server, pool, (&mut *others.0, &mut *others.1)).and_then(|w| {
            match registry.register(
                &mut SourceFd(&w.sock.as_raw_fd()),
                Token(*next_token),
                interest,
            ) {
                Ok(()) => Ok(w),
                Err(e) => {
                    // unwatched, it would serve nobody: ended now
                    sys::kill(w.pid);
                    let _ = waitpid(w.pid, None);
                    Err(e)
                }
            }
        });
        match started {
            Ok(w) => {
                pool.insert(*next_token, w);
                *next_token += 1;
            }
            Err(e) => {
                let delay = respawn.start_failed(Instant::now());
                log::error!(
                    "can't start a worker ({} of {n} running): {e}; trying again in {delay:?}",
                    pool.len()
                );
                return;
            }
        }
    }
    respawn.refilled();
}

/// Set in the id a worker reports when the connection passed to it was
/// lost rather than served and ended (ids count from 1 and never reach
/// it).
const LOST: u64 = 1 << 63;

/// Set in the id a worker reports when its poll loop took the connection
/// in and greeted it (the parent's copy is closed then). A report without
/// [`LOST`] or this bit: the session ended.
const TAKEN: u64 = 1 << 62;

/// How long a worker that lost a connection passed to it (out of
/// descriptors) is passed none: being the least loaded (its lost
/// connections give their places back at once), it took almost every
/// connection, and lost them all, while another worker sat idle.
const SHUN_FOR: Duration = Duration::from_secs(1);

/// A connection admitted that no worker could take yet.
struct Waiting {
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnSlot,
    id: u64,
    since: Instant,
}

/// The connections passed to the workers, in the parent: each one's
/// worker and place under the limits until its session ends, and, until
/// the worker reports it taken, the parent's copy and its deadline.
#[derive(Default)]
struct Handed {
    sessions: HashMap<u64, (usize, ConnSlot)>,
    /// Not taken yet: the parent's copy, the worker's token, the peer, and
    /// when it was accepted.
    unacked: HashMap<u64, (TcpStream, usize, SocketAddr, Instant)>,
    /// When each connection passed must be taken by (in the order they
    /// were passed: one limit for all); the ids taken since are skipped.
    deadlines: VecDeque<(Instant, u64)>,
    /// Connections a worker lost (see [`LOST`]), to be passed to another:
    /// their clients have heard nothing (they used to be refused with
    /// `421`).
    again: Vec<Waiting>,
}

impl Handed {
    /// `w` was passed to the worker with `token`.
    fn insert(&mut self, w: Waiting, token: usize) {
        self.sessions.insert(w.id, (token, w.slot));
        self.unacked
            .insert(w.id, (w.stream, token, w.peer, w.since));
        self.deadlines
            .push_back((Instant::now() + HANDOVER_LIMIT, w.id));
    }

    /// What the worker `w` (`token`) reported: [`TAKEN`], [`LOST`] or a
    /// session's end.
    fn report(&mut self, token: usize, w: &mut Worker, report: u64) {
        let id = report & !(LOST | TAKEN);
        // it runs again (it reports what it did with a connection passed
        // before it stalled)
        if let Some(n) = w.stalled.take() {
            log::warn!(
                "worker {}: running again; {n} connection(s) it had not taken were refused",
                w.pid
            );
        }
        if report & TAKEN != 0 {
            w.served = true;
            self.unacked.remove(&id);
            return;
        }
        if report & LOST != 0 {
            // the others take the next connections, this one too
            w.shunned_until = Some(Instant::now() + SHUN_FOR);
            if self.unacked.get(&id).is_some_and(|&(_, t, ..)| t == token) {
                if let (Some((stream, _, peer, since)), Some((_, slot))) =
                    (self.unacked.remove(&id), self.sessions.remove(&id))
                {
                    w.load = w.load.saturating_sub(1);
                    // (its wait counts from its accept: a connection every
                    // worker loses is refused in time)
                    self.again.push(Waiting {
                        stream,
                        peer,
                        slot,
                        id,
                        since,
                    });
                    return;
                }
            }
        }
        if let Some((stream, ..)) = self.unacked.remove(&id) {
            // lost, or ended before it was taken (it could not be set up):
            // the client is told, rather than see the connection close
            crate::server::refuse_shared(&stream, &replies::service_not_available());
        }
        if self.sessions.remove(&id).is_some_and(|(t, _)| t == token) {
            w.load = w.load.saturating_sub(1);
        }
    }

    /// Refuse the connections not taken by their deadline, and give their
    /// places under the limits back (their clients are gone; a worker that
    /// runs again finds them shut down); their workers are passed none
    /// until they report again. A worker's reports already sent are read
    /// first (`read`, see [`read_reports`]): one that took a connection
    /// just in time is not refused.
    fn expire(
        &mut self,
        pool: &mut HashMap<usize, Worker>,
        now: Instant,
        read: &mut dyn FnMut(&mut Handed, usize, &mut Worker),
    ) {
        while let Some(&(by, id)) = self.deadlines.front() {
            if by > now {
                break;
            }
            self.deadlines.pop_front();
            let Some(&(_, token, ..)) = self.unacked.get(&id) else {
                continue;
            };
            if let Some(w) = pool.get_mut(&token) {
                read(self, token, w);
            }
            let Some((stream, token, ..)) = self.unacked.remove(&id) else {
                continue;
            };
            crate::server::refuse_shared(&stream, &replies::service_not_available());
            let released = self.sessions.remove(&id).is_some();
            if let Some(w) = pool.get_mut(&token) {
                if released {
                    w.load = w.load.saturating_sub(1);
                }
                match &mut w.stalled {
                    Some(n) => *n += 1,
                    None => {
                        log::error!(
                            "worker {} took no connection passed to it in {HANDOVER_LIMIT:?} \
                             (stopped or stuck): refusing them with 421, passing it none \
                             until it runs again",
                            w.pid
                        );
                        w.stalled = Some(1);
                    }
                }
            }
        }
    }

    /// When the first connection not taken yet must be taken by.
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&(by, id)) = self.deadlines.front() {
            if self.unacked.contains_key(&id) {
                return Some(by);
            }
            self.deadlines.pop_front();
        }
        None
    }

    /// The worker with `token` died: its sessions never gave their places
    /// back, and the connections it had not taken are refused.
    fn worker_died(&mut self, token: usize) {
        self.sessions.retain(|_, (t, _)| *t != token);
        self.unacked.retain(|_, (stream, t, ..)| {
            if *t == token {
                crate::server::refuse_shared(stream, &replies::service_not_available());
            }
            *t != token
        });
    }
}

impl Handed {
    /// The connections the worker with `token`, which died, had not taken,
    /// in the order they came, to be passed to another worker: their
    /// clients have heard nothing yet (a worker reports a connection taken
    /// before its greeting, and every report it wrote before it died was
    /// read). They used to be refused with `421` while another worker was
    /// there to serve them.
    fn untaken_of_dead(&mut self, token: usize) -> Vec<Waiting> {
        let mut ids: Vec<u64> = self
            .unacked
            .iter()
            .filter(|(_, (_, t, ..))| *t == token)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        let now = Instant::now();
        ids.into_iter()
            .filter_map(|id| {
                let (stream, _, peer, _) = self.unacked.remove(&id)?;
                let (_, slot) = self.sessions.remove(&id)?;
                Some(Waiting {
                    stream,
                    peer,
                    slot,
                    id,
                    since: now,
                })
            })
            .collect()
    }
}

/// Read what worker `w` (`token`) reported (see [`TAKEN`] and [`LOST`])
/// into `handed`, without waiting; false once it is gone (end of file, or
/// its socket failed).
fn read_reports(handed: &mut Handed, token: usize, w: &mut Worker) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match (&w.sock).read(&mut buf) {
            Ok(0) => return false,
            Ok(k) => {
                let mut partial = std::mem::take(&mut w.partial);
                partial.extend_from_slice(&buf[..k]);
                let whole = partial.len() / 8 * 8;
                for id in partial[..whole].chunks_exact(8) {
                    let id = u64::from_le_bytes(id.try_into().unwrap_or_default());
                    handed.report(token, w, id);
                }
                partial.drain(..whole);
                w.partial = partial;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // (a worker that died with reports unread: its death is logged)
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return false,
            Err(e) => {
                log::error!("worker {}: {e}", w.pid);
                return false;
            }
        }
    }
}

/// [`read_reports`] for [`Handed::expire`] (a worker that is gone is
/// found at its next event).
fn read_reports_now(handed: &mut Handed, token: usize, w: &mut Worker) {
    read_reports(handed, token, w);
}

/// Pre-forked poll-loop workers fed by the parent's acceptor.
pub(in crate::server) fn serve_prefork(server: FtpServer, workers: usize) -> io::Result<()> {
    let limits = ConnLimits::new(
        server.ctx.config.max_cons,
        server.ctx.config.max_cons_per_ip,
    );
    let mut parent = Parent::new(&server)?;
    crate::server::log_start(&server)?;
    let n = workers.max(1);
    let mut pool: HashMap<usize, Worker> = HashMap::new();
    let mut handed = Handed::default();
    let mut queue: VecDeque<Waiting> = VecDeque::new();
    let mut next_token = 1usize;
    let mut next_id = 1u64;
    for _ in 0..n {
        let w = spawn_worker(&server, &mut pool, (&mut queue, &mut handed))?;
        parent.registry().register(
            &mut SourceFd(&w.sock.as_raw_fd()),
            Token(next_token),
            Interest::READABLE,
        )?;
        pool.insert(next_token, w);
        next_token += 1;
    }
    // (`soon` is never set here: every wake-up is an event or a deadline)
    let wakes = Wakes::default();
    let mut respawn = Respawn::new();
    // connections refused because no worker took them
    let no_worker = FailureRun::new(Failing::NoWorker);
    // whether the workers' sockets are watched for room (while `queue` is
    // not empty), and whether accepting waits for `queue` to shrink
    let mut watching = false;
    let mut held = false;
    parent_loop(&server, &mut parent, &wakes, |registry, tok| {
        if tok == RELOADED {
            // each worker reloads before its next login check
            for w in pool.values() {
                sys::hangup(w.pid);
            }
            return;
        }
        if tok == LISTENER {
            if queue.len() >= QUEUE_MAX {
                // accepted again once fewer wait (at the tick below)
                held = true;
                return;
            }
            // before refusing a connection for the limits, what the
            // workers reported of places given back (sessions ended: see
            // `RemoteSlot`); a worker's death read here is handled at its
            // own event
            let shared = RefCell::new((&mut pool, &mut handed));
            let mut settle = || {
                let (pool, handed) = &mut *shared.borrow_mut();
                for (&token, w) in pool.iter_mut() {
                    read_reports(handed, token, w);
                }
            };
            accept_ready(
                &server,
                &limits,
                &wakes,
                &mut settle,
                |stream, peer, slot| {
                    let (pool, handed) = &mut *shared.borrow_mut();
                    let id = next_id;
                    next_id += 1;
                    let waiting = Waiting {
                        stream,
                        peer,
                        slot,
                        id,
                        since: Instant::now(),
                    };
                    if queue.is_empty() {
                        match hand_over(pool, &waiting.stream, id, peer) {
                            Ok(token) => handed.insert(waiting, token),
                            Err(e) if is_full(&e) => queue.push_back(waiting),
                            Err(e) => refuse(waiting, &e, &no_worker),
                        }
                    } else {
                        // after those that came first
                        queue.push_back(waiting);
                    }
                    if queue.len() >= QUEUE_MAX {
                        held = true;
                        return false;
                    }
                    true
                },
            );
            watch_room(registry, &pool, &queue, &mut watching);
            return;
        }
        if tok == TICK {
            // (the last call of every pass of the parent loop)
            if respawn.due(Instant::now()) {
                start_missing(
                    &server,
                    registry,
                    (&mut pool, (&mut queue, &mut handed)),
                    &mut next_token,
                    (n, watching),
                    &mut respawn,
                );
            }
            let before = queue.len();
            handed.expire(&mut pool, Instant::now(), &mut read_reports_now);
            // (lost by a worker: first, they came before those waiting)
            for w in std::mem::take(&mut handed.again).into_iter().rev() {
                queue.push_front(w);
            }
            drain_queue(&mut pool, &mut queue, &mut handed, &no_worker);
            if held && queue.len() < QUEUE_MAX {
                held = false;
                wakes.accept_again.set(Some(Instant::now()));
            }
            if before != queue.len() || watching == queue.is_empty() {
                watch_room(registry, &pool, &queue, &mut watching);
            }
            // the first waiting or unacknowledged connection's deadline,
            // the next start, when the pool's recovery is known, or (while
            // connections wait) when a shunned worker may take them
            let refuse_by = queue.front().map(|w| w.since + HANDOVER_LIMIT);
            let taken_by = handed.next_deadline();
            let stable_by = respawn.check_stable(&pool, n);
            let now = Instant::now();
            let unshunned_by = pool
                .values()
                .filter_map(|w| w.shunned_until)
                .filter(|&until| until > now && !queue.is_empty())
                .min();
            wakes.tick_by.set(
                [refuse_by, taken_by, respawn.at, stable_by, unshunned_by]
                    .into_iter()
                    .flatten()
                    .min(),
            );
            return;
        }
        let token = tok.0;
        let Some(w) = pool.get_mut(&token) else {
            return;
        };
        // reports: 8-byte ids (see `TAKEN`, `LOST`); end of file: the
        // worker died
        if !read_reports(&mut handed, token, w) {
            if let Some(dead) = pool.remove(&token) {
                let _ = registry.deregister(&mut SourceFd(&dead.sock.as_raw_fd()));
                let ended = waitpid(dead.pid, None);
                let age = dead.started.elapsed();
                let delay = respawn.died(age, dead.served, Instant::now());
                log::warn!(
                    "worker {} died after {age:.1?} ({}); starting a new one in {delay:?}",
                    dead.pid,
                    super::how_ended(&ended)
                );
                // its sessions never gave their slots back
                if let Ok(pid) = u32::try_from(dead.pid.as_raw()) {
                    server.ctx.shared.release_pid(pid);
                }
                // (first in the queue: they came first; passed at this
                // pass's tick)
                let again = handed.untaken_of_dead(token);
                if !again.is_empty() {
                    log::warn!(
                        "worker {}: passing the {} connection(s) it had not taken to another",
                        dead.pid,
                        again.len()
                    );
                }
                for w in again.into_iter().rev() {
                    queue.push_front(w);
                }
                handed.worker_died(token);
            }
            // (started at this pass's tick if due now, else at the tick
            // it is due)
        }
    })?;
    // the server stops: what still waits for a worker is told so (RFC 959,
    // section 4.2: 421 "may be a reply to any command if the service knows
    // it must shut down") rather than closed without a word
    drop(no_worker);
    queue.extend(std::mem::take(&mut handed.again));
    if !queue.is_empty() {
        log::info!(
            "refusing {} connection(s) still waiting for a worker: the server stops",
            queue.len()
        );
        for w in queue.drain(..) {
            crate::server::refuse(w.stream, &replies::service_not_available());
        }
    }
    stop_workers(&server, &mut parent.poll, pool, &mut handed);
    Ok(())
}

/// Pass a connection to the least loaded worker that can take it now (not
/// shunned, see [`SHUN_FOR`], nor stalled, see [`Handed`]), and return that worker's token; an error
/// [`is_full`] when every worker's socket is full, or no worker can take
/// it (they are being started, or shunned). Never waits.
fn hand_over(
    pool: &mut HashMap<usize, Worker>,
    stream: &TcpStream,
    id: u64,
    peer: SocketAddr,
) -> io::Result<usize> {
    let now = Instant::now();
    let mut order: Vec<(usize, usize)> = pool
        .iter()
        .filter(|(_, w)| w.stalled.is_none() && w.shunned_until.map_or(true, |until| until <= now))
        .map(|(&t, w)| (w.load, t))
        .collect();
    if order.is_empty() {
        // they wait for the workers being started (see `Respawn`), or for
        // a shunned one's time to end, as for a worker with room
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "no worker can take it now",
        ));
    }
    order.sort_unstable();
    let mut last = io::Error::other("no worker is running");
    let mut full = None;
    for &(_, token) in &order {
        let Some(w) = pool.get_mut(&token) else {
            continue;
        };
        match Handover::send(&w.sock, stream, id, peer) {
            Ok(()) => {
                w.load += 1;
                return Ok(token);
            }
            Err(e) if is_full(&e) => full = Some(e),
            Err(e) => {
                log::error!("worker {}: {e}", w.pid);
                last = e;
            }
        }
    }
    Err(full.unwrap_or(last))
}

/// Whether a hand-over failed only because the worker has not taken the
/// connections passed before (its socket is full, or the kernel's limit of
/// descriptors in flight is reached): it may succeed later.
fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || e.raw_os_error() == Some(nix::errno::Errno::ETOOMANYREFS as i32)
}

/// Refuse a waiting connection with `421`: no worker could take it (a
/// run of these is logged by `run`).
fn refuse(w: Waiting, why: &io::Error, run: &FailureRun) {
    log::debug!("{}: can't hand over to a worker: {why}", w.peer);
    run.failed(why);
    crate::server::refuse(w.stream, &replies::service_not_available());
}

/// Hand the waiting connections over, in their order, while a worker has
/// room; refuse those that waited [`HANDOVER_LIMIT`].
fn drain_queue(
    pool: &mut HashMap<usize, Worker>,
    queue: &mut VecDeque<Waiting>,
    handed: &mut Handed,
    no_worker: &FailureRun,
) {
    while let Some(w) = queue.front() {
        match hand_over(pool, &w.stream, w.id, w.peer) {
            Ok(token) => {
                if let Some(w) = queue.pop_front() {
                    no_worker.succeeded();
                    handed.insert(w, token);
                }
            }
            Err(e) if is_full(&e) => break,
            Err(e) => {
                if let Some(w) = queue.pop_front() {
                    refuse(w, &e, no_worker);
                }
            }
        }
    }
    let now = Instant::now();
    while queue
        .front()
        .is_some_and(|w| now.duration_since(w.since) >= HANDOVER_LIMIT)
    {
        if let Some(w) = queue.pop_front() {
            let e = io::Error::other(format!("no worker took it in {HANDOVER_LIMIT:?}"));
            refuse(w, &e, no_worker);
        }
    }
}

/// Watch the workers' sockets for room while connections wait (an event
/// then drains the queue at the next tick); stop watching once none waits
/// (room comes after every connection a worker takes: too many wake-ups
/// otherwise).
fn watch_room(
    registry: &mio::Registry,
    pool: &HashMap<usize, Worker>,
    queue: &VecDeque<Waiting>,
    watching: &mut bool,
) {
    let want = !queue.is_empty();
    if want == *watching {
        return;
    }
    *watching = want;
    let interest = if want {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    for (&token, w) in pool {
        if let Err(e) =
            registry.reregister(&mut SourceFd(&w.sock.as_raw_fd()), Token(token), interest)
        {
            log::error!("worker {}: {e}", w.pid);
        }
    }
}

/// Ask every worker to shut down and wait until all have exited, reading
/// what they still report meanwhile: a worker blocked on reporting finished
/// sessions to a parent that no longer reads would never see its signal.
/// The connections passed to the workers and not taken yet keep their
/// deadline ([`Handed::expire`]); those a worker had not taken when it
/// exited are refused. Workers still alive after the grace period plus ten
/// seconds are killed, and all of them at a second SIGINT/SIGTERM (the
/// parent then exits with status 130, leaving no process behind).
fn stop_workers(
    server: &FtpServer,
    poll: &mut Poll,
    mut pool: HashMap<usize, Worker>,
    handed: &mut Handed,
) {
    for w in pool.values() {
        sys::terminate(w.pid);
    }
    let deadline = crate::session::later(
        std::time::Instant::now(),
        server
            .ctx
            .config
            .shutdown_grace
            .saturating_add(Duration::from_secs(10)),
    );
    let mut events = Events::with_capacity(64);
    while !pool.is_empty() {
        let now = Instant::now();
        handed.expire(&mut pool, now, &mut read_reports_now);
        let left = deadline.saturating_duration_since(now);
        let forced = sys::second_signal();
        if forced || left.is_zero() {
            for w in pool.values() {
                if !forced {
                    log::warn!("worker {} did not stop in time; killing it", w.pid);
                }
                sys::kill(w.pid);
            }
            for (token, w) in pool.drain() {
                let _ = waitpid(w.pid, None);
                handed.worker_died(token);
            }
            break;
        }
        let wait = handed
            .next_deadline()
            .map_or(left, |by| by.saturating_duration_since(now).min(left));
        if let Err(e) = poll.poll(&mut events, Some(wait.min(Duration::from_millis(500)))) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("waiting for workers: {e}");
                break;
            }
            continue;
        }
        for ev in events.iter() {
            let token = ev.token().0;
            let Some(w) = pool.get_mut(&token) else {
                continue;
            };
            if !read_reports(handed, token, w) {
                if let Some(w) = pool.remove(&token) {
                    let _ = poll
                        .registry()
                        .deregister(&mut SourceFd(&w.sock.as_raw_fd()));
                    let ended = waitpid(w.pid, None);
                    super::log_unexpected_end("worker", w.pid, &ended, "as it was stopped");
                    handed.worker_died(token);
                }
            }
        }
    }
    for (token, w) in pool {
        let ended = waitpid(w.pid, None);
        super::log_unexpected_end("worker", w.pid, &ended, "as it was stopped");
        handed.worker_died(token);
    }
    // lost by a worker as the server stopped
    for w in handed.again.drain(..) {
        crate::server::refuse(w.stream, &replies::service_not_available());
    }
    super::exit_if_forced();
    log::info!("every session ended");
}

/// Tells the parent that a session of this worker ended, through the
/// worker's reporting thread: the poll loop never waits on the parent.
struct RemoteSlot {
    id: u64,
    report: crossbeam_channel::Sender<u64>,
    /// The worker's socket to the parent, for [`TAKEN`], written by the
    /// poll loop's thread itself.
    direct: Arc<UnixStream>,
}

/// The session ended: its place is given back (the parent reads its
/// worker's reports before it refuses a connection over the limits).
/// Written at once, like [`TAKEN`], by the poll loop's thread, just before
/// the control connection is shut down (see `Connection::set_place`), so
/// that a client that sees the close and connects again at once is not
/// refused for a place the parent has not heard is free.
impl Drop for RemoteSlot {
    fn drop(&mut self) {
        self.report_now(self.id);
    }
}

impl RemoteSlot {
    /// Write report `msg` on the worker's socket without waiting (8 bytes
    /// go whole into a Unix stream socket, or not at all); through the
    /// reporting thread only when the parent's side is full.
    fn report_now(&self, msg: u64) {
        use nix::sys::socket::{send, MsgFlags};
        let bytes = msg.to_le_bytes();
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match send(self.direct.as_raw_fd(), &bytes, flags) {
            Ok(n) if n == bytes.len() => {}
            Ok(n) if n > 0 => {
                // (not seen: the rest, at once, before anything else)
                let _ = (&*self.direct).write_all(&bytes[n..]);
            }
            _ => {
                let _ = self.report.send(msg);
            }
        }
    }
}

/// The parent is told that the poll loop took the connection in: it
/// closes its copy, and refuses none of this worker's connections. Written
/// by the poll loop's thread before the greeting, without waiting (8 bytes
/// go whole into a Unix stream socket, or not at all), so that the parent,
/// which reads a worker's reports before it refuses a connection not taken
/// in time, never refuses one already greeted (sent by the reporting
/// thread, the report could come after the greeting and even after the
/// whole session). See [`RemoteSlot::report_now`].
impl crate::server::poll::Place for RemoteSlot {
    fn taken(&mut self) {
        self.report_now(self.id | TAKEN);
    }
}

/// The parent's connections that are not a new worker's: those waiting for
/// a worker, and those passed to one and not taken yet.
type Others<'a> = (&'a mut VecDeque<Waiting>, &'a mut Handed);

/// Fork a worker. `siblings` are the running workers: the new one closes
/// its copies of their parent-side sockets, so that each worker's socket
/// has exactly two ends, one in the parent and one in the worker; and its
/// copies of the `others` connections, which it would hold open for its
/// whole life.
fn spawn_worker(
    server: &FtpServer,
    siblings: &mut HashMap<usize, Worker>,
    others: Others<'_>,
) -> io::Result<Worker> {
    let (parent_end, child_end) = UnixStream::pair()?;
    match sys::fork()? {
        Forked::Child => in_child(None, || {
            drop(parent_end);
            // the child's copy of the tables; the parent's are untouched
            drop(std::mem::take(siblings));
            drop(std::mem::take(others.0));
            drop(std::mem::take(others.1));
            if let Err(e) = sys::release_listener(&server.listener) {
                log::warn!(
                    "worker {}: can't close the inherited listening socket: {e}",
                    std::process::id()
                );
            }
            run_worker(server, child_end);
        }),
        Forked::Parent(pid) => {
            drop(child_end);
            parent_end.set_nonblocking(true)?;
            Ok(Worker {
                pid,
                sock: parent_end,
                load: 0,
                started: Instant::now(),
                partial: Vec::new(),
                shunned_until: None,
                stalled: None,
                served: false,
            })
        }
    }
}

/// A worker process: receive connections from the parent and serve them in a poll loop.
fn run_worker(server: &FtpServer, sock: UnixStream) {
    let (report, finished) = crossbeam_channel::unbounded::<u64>();
    let direct = match sock.try_clone() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            log::error!("worker {}: {e}", std::process::id());
            return;
        }
    };
    let reporter = sock.try_clone().and_then(|mut parent| {
        std::thread::Builder::new()
            .name("ftp-report".into())
            .spawn(move || {
                // a blocking write: the parent reads these in its own loop;
                // the reports waiting are written together
                let mut batch = Vec::with_capacity(512);
                while let Ok(id) = finished.recv() {
                    batch.clear();
                    batch.extend_from_slice(&id.to_le_bytes());
                    while batch.len() < 512 {
                        match finished.try_recv() {
                            Ok(id) => batch.extend_from_slice(&id.to_le_bytes()),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = parent.write_all(&batch) {
                        log::error!(
                            "worker {}: reporting to the parent: {e}",
                            std::process::id()
                        );
                        break;
                    }
                }
            })
    });
    if let Err(e) = reporter {
        log::error!("worker {}: {e}", std::process::id());
        return;
    }
    let mut ctx = server.ctx.clone();
    if server.handle_signals {
        ctx.authorizer = ReloadOnHangup::wrap(ctx.authorizer);
    }
    let mut poll_loop = match PollLoop::new(ctx, Arc::clone(&server.events), Arc::default()) {
        Ok(p) => p,
        Err(e) => {
            log::error!("worker {}: {e}", std::process::id());
            return;
        }
    };
    if let Err(e) = sys::signal_pipe().and_then(|fd| poll_loop.stop_on(fd)) {
        // a worker that can't hear the stop would serve on until it is
        // killed, its clients told nothing: it ends now, and is started
        // again (after a delay while starts fail, see `Respawn`)
        log::error!(
            "worker {}: can't set up signal handling: {e}",
            std::process::id()
        );
        return;
    }
    let waker = poll_loop.waker();
    let (tx, rx) = crossbeam_channel::unbounded::<NewConn>();
    // connections lost in a run (logged by the receiving thread, and by
    // this one at the stop: the receiving thread may never end)
    let losses = Arc::new(std::sync::Mutex::new(FailureRun::new(Failing::Handover)));
    let lost = Arc::clone(&losses);
    let receiver = std::thread::Builder::new()
        .name("ftp-handover".into())
        .spawn(move || {
            let mut reserve = sys::FdReserve::new();
            loop {
                match Handover::recv(&sock, None, &mut reserve) {
                    Ok(Some((None, h))) => {
                        // closed by the kernel: the parent is told that
                        // this session ended, as of any other
                        if let Ok(run) = lost.lock() {
                            run.failed(&io::Error::other("out of descriptors"));
                        }
                        log::debug!("{}: connection lost", h.peer);
                        let _ = report.send(h.tag | LOST);
                    }
                    Ok(Some((Some(stream), h))) => {
                        if let Ok(run) = lost.lock() {
                            run.succeeded();
                        }
                        let slot = Box::new(RemoteSlot {
                            id: h.tag,
                            report: report.clone(),
                            direct: Arc::clone(&direct),
                        });
                        let peer = h.peer;
                        if tx.send(NewConn { stream, peer, slot }).is_err() {
                            break;
                        }
                        let _ = waker.wake();
                    }
                    Ok(None) => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::error!("worker {}: receiving a connection: {e}", std::process::id());
                        break;
                    }
                }
            }
            drop(tx);
            let _ = waker.wake();
        });
    if let Err(e) = receiver {
        log::error!("worker {}: {e}", std::process::id());
        return;
    }
    poll_loop.run(rx);
    if let Ok(run) = losses.lock() {
        run.finish();
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One connection passed to a worker (`load` 1) whose deadline is
    /// over; the worker's end of its socket, and the client.
    fn overdue() -> io::Result<(Handed, HashMap<usize, Worker>, UnixStream, TcpStream)> {
        let (parent_end, worker_end) = UnixStream::pair()?;
        parent_end.set_nonblocking(true)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        client.set_nonblocking(true)?;
        let (stream, peer) = listener.accept()?;
        let slot = ConnLimits::new(0, 0)
            .acquire(peer.ip())
            .map_err(|_| io::Error::other("no place"))?;
        let mut pool = HashMap::new();
        pool.insert(
            1,
            Worker {
                pid: Pid::from_raw(0),
                sock: parent_end,
                load: 1,
                started: Instant::now(),
                shunned_until: None,
                partial: Vec::new(),
                stalled: None,
                served: false,
            },
        );
        let mut handed = Handed::default();
        let since = Instant::now();
        handed.insert(
            Waiting {
                stream,
                peer,
                slot,
                id: 7,
                since,
            },
            1,
        );
        Ok((handed, pool, worker_end, client))
    }

    /// What the client has received so far.
    fn received(mut client: &TcpStream) -> String {
        let mut buf = [0u8; 256];
        match client.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// A connection the worker reported taken just before its deadline (the
    /// report sent, not read yet) is not refused: the parent reads what the
    /// worker reported before it refuses (clients of a worker continued at
    /// the deadline got `421` after a whole session).
    #[test]
    fn a_connection_taken_just_in_time_is_not_refused() -> io::Result<()> {
        let (mut handed, mut pool, mut worker_end, client) = overdue()?;
        worker_end.write_all(&(7 | TAKEN).to_le_bytes())?;
        let late = Instant::now() + HANDOVER_LIMIT;
        handed.expire(&mut pool, late, &mut read_reports_now);
        assert!(handed.unacked.is_empty());
        assert!(handed.sessions.contains_key(&7));
        let w = &pool[&1];
        assert!(w.stalled.is_none() && w.load == 1);
        assert_eq!(received(&client), "");
        Ok(())
    }

    /// A connection not taken by its deadline is refused with `421`; its
    /// place under the limits is given back at once (its worker may stay
    /// stopped for long), and the worker is passed none until it reports.
    #[test]
    fn a_connection_not_taken_in_time_is_refused_and_its_place_given_back() -> io::Result<()> {
        let (mut handed, mut pool, _worker_end, client) = overdue()?;
        let late = Instant::now() + HANDOVER_LIMIT;
        handed.expire(&mut pool, late, &mut read_reports_now);
        assert!(handed.unacked.is_empty() && handed.sessions.is_empty());
        let w = &pool[&1];
        assert!(w.stalled == Some(1) && w.load == 0);
        assert_eq!(
            received(&client),
            "421 Service not available, closing control connection.\r\n"
        );
        Ok(())
    }

    #[test]
    fn respawn_backs_off_while_starts_fail_and_starts_over_after_a_stable_worker() {
        let t0 = Instant::now();
        let mut r = Respawn::new();
        assert!(!r.due(t0));
        // workers that die as they start: 100, 200, 400 ms ... 10 s at most
        assert_eq!(r.died(Duration::from_millis(1), false, t0), RESPAWN_FIRST);
        assert!(!r.due(t0) && r.due(t0 + RESPAWN_FIRST));
        assert_eq!(r.died(Duration::ZERO, false, t0), 2 * RESPAWN_FIRST);
        assert_eq!(r.start_failed(t0), 4 * RESPAWN_FIRST);
        assert_eq!(r.at, Some(t0 + 4 * RESPAWN_FIRST));
        for _ in 0..20 {
            r.start_failed(t0);
        }
        assert_eq!(r.start_failed(t0), RESPAWN_MAX);
        r.refilled();
        assert_eq!(r.at, None);
        // (the recovery is logged once the pool is stable)
        assert!(r.failed);
        r.failed = false;
        // a worker that served a while: replaced at once, back-off over
        assert_eq!(r.died(STABLE_AFTER, false, t0), Duration::ZERO);
        assert!(r.due(t0));
        assert_eq!(r.died(Duration::ZERO, false, t0), RESPAWN_FIRST);
        // one that served, however young: at once, back-off over
        r.died(Duration::ZERO, false, t0);
        assert_eq!(r.died(Duration::from_millis(5), true, t0), Duration::ZERO);
        assert_eq!(r.died(Duration::ZERO, false, t0), RESPAWN_FIRST);
        // the earlier of two deaths' times
        assert_eq!(r.at, Some(t0));
    }
}
