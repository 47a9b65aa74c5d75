//! The poll-loop model (pyftpdlib's `FTPServer`, CLI `async`): one thread
//! serves every session from a single mio poller.
//!
//! The blocking acceptor hands new control connections over a channel and
//! wakes the loop. Deadlines live in a heap, so 10,000 idle sessions cost
//! nothing per loop turn, and transfers are pumped round-robin in bounded
//! steps, so one big download never starves the others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
#[cfg(unix)]
use std::os::fd::{AsRawFd, OwnedFd};

#[cfg(unix)]
use mio::unix::SourceFd;
#[cfg(unix)]
use mio::Interest;
use mio::{Events, Poll, Token, Waker};

use super::conn::{Connection, Done, Offload, Slot};
use super::pool::{Pool, PoolConfig};
use super::{FtpServer, ShutdownSignal};
use crate::events::EventHandler;
use crate::session::{Session, SessionContext};

/// Token of the waker; connections use tokens from 1 up.
const WAKER: Token = Token(0);
/// Most threads that run filesystem work for one poll loop. Each runs one
/// blocking call at a time (a session has at most one task out), so this
/// many sessions can wait on slow storage at once; further jobs queue.
/// Threads beyond the floor exit when idle (`thread_idle_timeout`).
const WORKER_THREADS: usize = 128;
/// Worker threads kept however long they idle.
const WORKER_FLOOR: usize = 2;
/// Most threads that run login checks for one poll loop (a pool of their
/// own, so that logins never wait behind filesystem work).
const LOGIN_THREADS: usize = 16;
/// Token of a worker process's signal pipe.
const STOP: Token = Token(usize::MAX);

/// A new control connection from the acceptor.
pub(super) struct NewConn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Told when the loop has taken the connection in, released (dropped)
    /// when the session ends.
    pub slot: Box<dyn Place>,
}

/// A connection's place while the poll loop serves it: dropped when its
/// session ends, just before its control connection is shut down (see
/// `Connection::set_place`), or when it could not be set up; told once before
/// that when the loop has taken the connection in, just before its
/// greeting, so that a pre-fork worker can acknowledge the connection to
/// its parent (which refuses, with `421`, a connection no worker took in
/// time) before the client hears from the worker.
pub(super) trait Place: Send {
    /// The loop has taken the connection in and is about to greet it.
    fn taken(&mut self) {}
}

/// A connection's place under the server's limits (the async model).
impl Place for super::ConnSlot {}

/// No place to tell (tests).
impl Place for () {}

struct Entry {
    conn: Connection,
    /// Bumped on every reuse of the index, so stale timers are ignored.
    generation: u64,
    /// The deadline this connection has in the heap, if any. A connection
    /// has at most one live heap entry: a later deadline is pushed when the
    /// armed one fires, an earlier one replaces it (the old entry goes stale).
    /// Pushing on every event instead grew the heap by one entry per
    /// socket event of a transfer (tens of thousands per GiB uploaded), and
    /// its compaction then ran on every loop turn.
    armed: Option<Instant>,
}

/// Every session of one poll thread.
pub(super) struct PollLoop {
    poll: Poll,
    ctx: SessionContext,
    events_handler: Arc<dyn EventHandler>,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    generations: Vec<u64>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    hot: VecDeque<usize>,
    signal: Arc<ShutdownSignal>,
    waker: Arc<Waker>,
    /// Login checks and filesystem work run here, off the loop's thread.
    workers: Arc<Pool>,
    /// Login checks run here, apart from the filesystem work.
    logins: Arc<Pool>,
    done_tx: crossbeam_channel::Sender<(usize, u64, Done)>,
    done_rx: Receiver<(usize, u64, Done)>,
    stopping: bool,
    /// Kept open while registered.
    #[cfg(unix)]
    _stop_pipe: Option<OwnedFd>,
}

impl PollLoop {
    pub(super) fn new(
        ctx: SessionContext,
        events_handler: Arc<dyn EventHandler>,
        signal: Arc<ShutdownSignal>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        signal.subscribe(&waker);
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let workers = Arc::new(Pool::new(PoolConfig {
            name: "ftp-work".into(),
            stack_size: 1024 * 1024,
            floor: WORKER_FLOOR,
            cap: WORKER_THREADS,
            idle_timeout: ctx.config.thread_idle_timeout,
            spare: 0,
        })?);
        let logins = Arc::new(Pool::new(PoolConfig {
            name: "ftp-login".into(),
            stack_size: 1024 * 1024,
            floor: 1,
            cap: LOGIN_THREADS,
            idle_timeout: ctx.config.thread_idle_timeout,
            spare: 0,
        })?);
        Ok(PollLoop {
            poll,
            ctx,
            events_handler,
            entries: Vec::new(),
            free: Vec::new(),
            generations: Vec::new(),
            timers: BinaryHeap::new(),
            hot: VecDeque::new(),
            signal,
            waker,
            workers,
            logins,
            done_tx,
            done_rx,
            stopping: false,
            #[cfg(unix)]
            _stop_pipe: None,
        })
    }

    /// Shut every session down when `fd` (a signal pipe) becomes readable.
    #[cfg(unix)]
    pub(super) fn stop_on(&mut self, fd: OwnedFd) -> io::Result<()> {
        let raw = fd.as_raw_fd();
        self.poll
            .registry()
            .register(&mut SourceFd(&raw), STOP, Interest::READABLE)?;
        self._stop_pipe = Some(fd);
        Ok(())
    }

    /// Start the shutdown of every session (and of those still to come).
    fn shutdown_all(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        log::info!(
            "shutting down {} sessions",
            self.entries.iter().flatten().count()
        );
        for idx in 0..self.entries.len() {
            if let Some(Some(entry)) = self.entries.get_mut(idx) {
                entry.conn.shutdown(self.poll.registry());
                self.after(idx);
            }
        }
    }

    /// The waker that hands new connections to the loop; it also wakes the
    /// loop when the server's shutdown signal is triggered.
    pub(super) fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    fn base(idx: usize) -> usize {
        1 + idx * Slot::COUNT
    }

    fn add(&mut self, nc: NewConn) {
        let local = match nc.stream.local_addr() {
            Ok(a) => a,
            Err(e) => {
                log::debug!("{}: connection lost before the banner: {e}", nc.peer);
                return;
            }
        };
        let idx = self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.generations.push(0);
            self.entries.len() - 1
        });
        let session = Session::new(self.ctx.clone(), nc.peer, local);
        let config = Arc::clone(&self.ctx.config);
        match Connection::unstarted(
            session,
            Arc::clone(&self.events_handler),
            config,
            nc.stream,
            self.poll.registry(),
            Self::base(idx),
        ) {
            Ok((mut conn, handshake_failed)) => {
                // (told before the greeting: see `Place`)
                let mut slot = nc.slot;
                slot.taken();
                conn.set_place(Box::new(slot));
                conn.greet(handshake_failed, self.poll.registry());
                self.generations[idx] += 1;
                conn.set_offload(Offload::new(
                    Arc::clone(&self.workers),
                    Arc::clone(&self.logins),
                    self.done_tx.clone(),
                    Arc::clone(&self.waker),
                    (idx, self.generations[idx]),
                ));
                self.entries[idx] = Some(Entry {
                    conn,
                    generation: self.generations[idx],
                    armed: None,
                });
                if self.stopping {
                    // handed in after the stop (a pre-fork worker's
                    // hand-over thread still delivers what the parent sent
                    // before it): told at once, as every session was, not
                    // left open with nothing to end it
                    if let Some(Some(entry)) = self.entries.get_mut(idx) {
                        entry.conn.shutdown(self.poll.registry());
                    }
                }
                self.after(idx);
            }
            Err(e) => {
                log::warn!("{}: can't set up the session: {e}", nc.peer);
                self.free.push(idx);
            }
        }
    }

    /// Book-keeping after a connection did some work: retire it, re-arm its timer, queue it if hot.
    fn after(&mut self, idx: usize) {
        let Some(entry) = self.entries.get_mut(idx).and_then(Option::as_mut) else {
            return;
        };
        if entry.conn.is_done() {
            self.entries[idx] = None;
            self.free.push(idx);
            return;
        }
        if let Some(d) = entry.conn.next_deadline() {
            if entry.armed.map_or(true, |armed| d < armed) {
                entry.armed = Some(d);
                self.timers.push(Reverse((d, idx, entry.generation)));
            }
        }
        if entry.conn.hot && !self.hot.contains(&idx) {
            self.hot.push_back(idx);
        }
    }

    /// Run until the acceptor's channel closes and every session ended.
    pub(super) fn run(&mut self, incoming: Receiver<NewConn>) {
        let mut events = Events::with_capacity(1024);
        let mut accepting = true;
        loop {
            if (!accepting || self.stopping) && self.entries.iter().all(Option::is_none) {
                return;
            }
            let now = Instant::now();
            let timeout = if !self.hot.is_empty() {
                Some(Duration::ZERO)
            } else {
                self.timers
                    .peek()
                    .map(|Reverse((d, _, _))| d.saturating_duration_since(now))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for ev in events.iter() {
                if ev.token() == STOP {
                    self.shutdown_all();
                    continue;
                }
                if ev.token() == WAKER {
                    if self.signal.is_set() {
                        self.shutdown_all();
                    }
                    while let Ok((idx, gen, done)) = self.done_rx.try_recv() {
                        match self.entries.get_mut(idx) {
                            Some(Some(entry)) if entry.generation == gen => {
                                entry.conn.job_done(done, self.poll.registry());
                                self.after(idx);
                            }
                            // a connection is kept until its jobs are back;
                            // release what the result holds all the same
                            _ => {
                                let _ = self.workers.execute(move || done.discard());
                            }
                        }
                    }
                    loop {
                        match incoming.try_recv() {
                            Ok(nc) => self.add(nc),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => {
                                accepting = false;
                                break;
                            }
                        }
                    }
                    continue;
                }
                let t = ev.token().0 - 1;
                let (idx, offset) = (t / Slot::COUNT, t % Slot::COUNT);
                let Some(slot) = Slot::from_offset(offset) else {
                    continue;
                };
                if let Some(Some(entry)) = self.entries.get_mut(idx) {
                    entry.conn.on_event(slot, self.poll.registry());
                    self.after(idx);
                }
            }
            // one bounded step for each connection with transfer work pending
            for _ in 0..self.hot.len() {
                let Some(idx) = self.hot.pop_front() else {
                    break;
                };
                if let Some(Some(entry)) = self.entries.get_mut(idx) {
                    entry.conn.on_hot(self.poll.registry());
                    self.after(idx);
                }
            }
            let now = Instant::now();
            while let Some(Reverse((d, idx, gen))) = self.timers.peek().copied() {
                if d > now {
                    break;
                }
                self.timers.pop();
                let Some(Some(entry)) = self.entries.get_mut(idx) else {
                    continue;
                };
                if entry.generation != gen || entry.armed != Some(d) {
                    continue;
                }
                entry.armed = None;
                // the connection's deadline moved later meanwhile: wait for that one
                if let Some(nd) = entry.conn.next_deadline().filter(|nd| *nd > now) {
                    entry.armed = Some(nd);
                    self.timers.push(Reverse((nd, idx, gen)));
                    continue;
                }
                entry.conn.on_timer(self.poll.registry());
                self.after(idx);
            }
            // drop stale entries (superseded by an earlier deadline) once
            // they outnumber the live ones (at most one per connection)
            if self.timers.len() > 2 * self.entries.len() + 1024 {
                let live: Vec<_> = self
                    .timers
                    .drain()
                    .filter(|Reverse((d, i, g))| {
                        self.entries
                            .get(*i)
                            .and_then(Option::as_ref)
                            .is_some_and(|e| e.generation == *g && e.armed == Some(*d))
                    })
                    .collect();
                self.timers.extend(live);
            }
        }
    }
}

pub(super) fn serve(server: FtpServer) -> io::Result<()> {
    let limits = super::ConnLimits::new(
        server.ctx.config.max_cons,
        server.ctx.config.max_cons_per_ip,
    );
    let mut poll_loop = PollLoop::new(
        server.ctx.clone(),
        Arc::clone(&server.events),
        Arc::clone(&server.sessions),
    )?;
    let waker = poll_loop.waker();
    let (tx, rx) = crossbeam_channel::unbounded::<NewConn>();
    let worker = std::thread::Builder::new()
        .name("ftp-poll".into())
        .spawn(move || poll_loop.run(rx))?;
    super::log_start(&server)?;
    let failures = super::FailureRun::default();
    let mut reserve = crate::sys::FdReserve::new();
    while let Some((stream, peer, slot)) = server.accept_next(&limits, &failures, &mut reserve) {
        if tx
            .send(NewConn {
                stream,
                peer,
                slot: Box::new(slot),
            })
            .is_err()
        {
            break;
        }
        if let Err(e) = waker.wake() {
            log::error!("can't wake the poll loop: {e}");
        }
    }
    drop(tx);
    server.stop_listening();
    log::info!("FTP server stopped accepting connections");
    server.sessions.trigger();
    let _ = waker.wake();
    if worker.join().is_err() {
        log::error!("the poll loop panicked");
    }
    log::info!("every session ended");
    Ok(())
}

#[cfg(test)]
mod tests;
