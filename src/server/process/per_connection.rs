//! Fork per connection (pyftpdlib's `MultiprocessFTPServer`): each
//! connection is served by a child process of its own, which exits when the
//! session ends. Each child tells the parent of its exit as its last act
//! ([`ExitNotices`]), so the parent reaps it at once and no zombie outlives
//! its session. A child killed outright is found at once where the
//! server owns its signals (SIGCHLD, [`sys::ChildExits`]), the spare
//! always (the end of file on its socket), else by the parent's check
//! every [`SWEEP_EVERY`]. A crash in a child touches nobody else.
//!
//! The parent keeps one child forked ahead, the *spare*: it waits for the
//! parent to pass it the next connection over a Unix socket
//! (`SCM_RIGHTS`), and the parent forks the next spare while that session
//! runs. A client then does not wait for a fork (0.15-0.2 ms on a 2-core
//! VM, more for a parent with a large address space); pyftpdlib forks
//! after the accept. When there is no spare (it died, or the fork failed)
//! the connection's child is forked as before.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Token};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{
    accept_ready, in_child, parent_loop, reap_by, stop_children, Ended, ExitNotices, Handover,
    Parent, Wakes, HANDOVER_LIMIT, LISTENER, RELOADED, SWEEP_EVERY, TICK,
};
use crate::server::reload::ReloadOnHangup;
use crate::server::{ConnLimits, ConnSlot, Failing, FailureRun, FtpServer};
use crate::session::{replies, SessionContext};
use crate::sys::{self, Forked};

/// The exit notices' token in the parent's poller.
const NOTICES: Token = Token(1);

/// The token of every [`Passed`] connection's socket to its spare: its
/// report is read as soon as it comes, so that the parent holds its copy
/// of a connection no longer than the hand-over takes (it used to hold it
/// until its next tick, up to a second: a descriptor per connection in a
/// busy parent, and a client whose spare was killed right after taking its
/// connection saw the close that late).
const PASSED: Token = Token(2);

/// The token of the spare's socket while it waits: its end of file says
/// the spare died (killed while idle, it writes no exit notice), and
/// another is forked at once rather than at the next check of the children
/// (up to [`SWEEP_EVERY`] later). One descriptor at a time: the spare is
/// passed its connection, or ended, before the next one is forked.
const SPARE: Token = Token(3);

/// The token of the SIGCHLD route ([`sys::ChildExits`]) in a parent that
/// owns its signals: a child that exited is reaped at once, however it
/// ended. A session process killed outright writes no exit notice; its
/// place under the limits used to come back only at the next check of the
/// children, up to [`SWEEP_EVERY`] later (a client reconnecting meanwhile
/// got `421`).
const CHILD_EXITS: Token = Token(4);

/// Exited children reaped per SIGCHLD wake-up at most: the rest wait for
/// the next wake-up or the check of the children.
const REAPS_PER_WAKE: usize = 256;

/// The process name (`comm`) of a spare while it waits.
const SPARE_NAME: &std::ffi::CStr = c"ftp-spare";

/// A connection passed to a spare, until the spare reports it taken (one
/// byte on `chan`, before its greeting): the parent's copy, refused with
/// `421` if the spare exits without taking it (it lost it, out of
/// descriptors) or has not taken it by `by` (stopped or stuck), rather
/// than leave its client with no reply, or none for as long as the spare
/// is stopped.
struct Passed {
    stream: TcpStream,
    chan: UnixStream,
    peer: SocketAddr,
    by: Instant,
    /// The spare it was passed to.
    spare: Pid,
}

/// Where a [`Passed`] connection stands.
enum Step {
    /// Not taken yet, and still in time.
    Waiting,
    /// Taken, or refused now (not taken in time).
    Done,
    /// Its spare ended without taking it (it lost it, out of descriptors,
    /// or it died): its client has heard nothing, and a process of its
    /// own is forked for it.
    Orphaned,
}

impl Passed {
    /// Where it stands at `now` (see [`Step`]); one not taken in time is
    /// refused now.
    fn step(&self, now: Instant) -> Step {
        let mut b = [0u8; 1];
        match (&self.chan).read(&mut b) {
            Ok(1..) => Step::Done,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && now < self.by => Step::Waiting,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Waiting,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // (stopped or stuck: it may still take it later, so it is
                // not forked for again; the refusal shuts it down)
                log::warn!(
                    "{}: refused: its session process took no connection in {HANDOVER_LIMIT:?}",
                    self.peer
                );
                crate::server::refuse_shared(&self.stream, &replies::service_not_available());
                Step::Done
            }
            Ok(0) | Err(_) => Step::Orphaned,
        }
    }
}

/// A child forked ahead of its connection, waiting for it on `chan`.
struct Spare {
    pid: Pid,
    /// The parent's end of the socket the connection is passed on.
    chan: UnixStream,
    /// When it was forked.
    started: Instant,
}

impl Spare {
    /// Whether its socket says it ended: end of file (it exited, or was
    /// killed), or an error. A spare writes nothing before it has its
    /// connection; bytes it wrote anyway are read and ignored.
    fn ended(&self) -> bool {
        let mut b = [0u8; 64];
        loop {
            match (&self.chan).read(&mut b) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return e.kind() != io::ErrorKind::WouldBlock,
            }
        }
    }
}

/// A spare that lived this long before it died had started well: another
/// is forked at once (one that dies sooner is replaced only when the next
/// connection comes, so that spares that can't start are not forked over
/// and over).
const SPARE_STABLE_AFTER: Duration = Duration::from_secs(1);

/// Whether child `pid` has exited; if so it is reaped now, and how it
/// ended is returned (see [`Ended`]). A pid that is not (or no
/// longer) a child of this process counts as exited (`waitpid`'s error).
fn reaped(pid: Pid) -> Option<Ended> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return None,
            Err(nix::errno::Errno::EINTR) => {}
            // exited and reaped, or not ours to wait for
            ended => return Some(ended),
        }
    }
}

/// Fork per connection.
pub(in crate::server) fn serve_process(server: FtpServer) -> io::Result<()> {
    let limits = ConnLimits::new(
        server.ctx.config.max_cons,
        server.ctx.config.max_cons_per_ip,
    );
    let mut parent = Parent::new(&server)?;
    let notices = RefCell::new(ExitNotices::new()?);
    parent.registry().register(
        &mut SourceFd(&notices.borrow().read_end().as_raw_fd()),
        NOTICES,
        Interest::READABLE,
    )?;
    // (a program that embeds the server keeps SIGCHLD's action: its
    // children's exits are found by the check of the children)
    let child_exits = if server.handle_signals {
        match sys::ChildExits::new() {
            Ok(c) => {
                parent.registry().register(
                    &mut SourceFd(&c.fd()),
                    CHILD_EXITS,
                    Interest::READABLE,
                )?;
                Some(c)
            }
            Err(e) => {
                log::warn!("can't route SIGCHLD ({e}): a child killed outright is found within {SWEEP_EVERY:?}");
                None
            }
        }
    } else {
        None
    };
    crate::server::log_start(&server)?;
    let mut children: HashSet<Pid> = HashSet::new();
    // the places under the limits of the children that have not given
    // theirs back yet (see `Released`)
    let places: RefCell<HashMap<Pid, ConnSlot>> = RefCell::default();
    // exits read while places were being settled, handled right after
    let early: RefCell<Vec<Pid>> = RefCell::default();
    // the exit notices' records: the places given back are given back now,
    // the exits announced are returned
    let read_notices = || {
        let mut n = notices.borrow_mut();
        let exited = n.take();
        let mut places = places.borrow_mut();
        for pid in n.take_released() {
            places.remove(&pid);
        }
        exited
    };
    // children that announced their exit before it was complete, and since
    // when: checked at every wake-up (5 ms apart) for a second at most, then
    // left to the sweep (a pid announced twice, or an exit that hangs)
    let mut exiting: Vec<(Pid, Instant)> = Vec::new();
    let wakes = Wakes::default();
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    // whether the last spare could not be forked (a run of failures is
    // logged at its start and its end)
    let mut spare_failing = false;
    // connections refused because no process could be forked for them
    let refusals = FailureRun::new(Failing::SessionProcess);
    // connections passed to a spare that has not reported them taken
    let mut passed: Vec<Passed> = Vec::new();
    let mut spare = make_spare(
        &server,
        parent.registry(),
        &notices.borrow(),
        &mut spare_failing,
        &mut passed,
    );
    // whether a spare is forked at the end of this wake-up: the last one
    // was passed a connection, or died after it had started well
    let respare = std::cell::Cell::new(false);
    // a child gone: give its place back, or note that the spare is gone
    let gone = |pid: Pid, ended: &Ended, children: &mut HashSet<Pid>, spare: &mut Option<Spare>| {
        if children.remove(&pid) {
            places.borrow_mut().remove(&pid);
            // a session process ends with status 0 whatever its session
            // did; any other end is a crash or a kill from outside, which
            // cost its client the session (or, a spare killed as it was
            // passed a connection, the connection)
            super::log_unexpected_end("session process", pid, ended, "unexpectedly");
            // a child killed outright never gave its session slot back
            if let Ok(pid) = u32::try_from(pid.as_raw()) {
                server.ctx.shared.release_pid(pid);
            }
        } else if spare.as_ref().is_some_and(|s| s.pid == pid) {
            // the spare died before it had a connection (killed, or it
            // failed to start): one that had started well is replaced at
            // once (below); otherwise the next connection forks its own
            // child, and a new spare is forked after it
            if let Some(s) = spare.take() {
                log::warn!(
                    "spare session process {} ended before it had a connection ({})",
                    s.pid,
                    super::how_ended(ended)
                );
                respare.set(s.started.elapsed() >= SPARE_STABLE_AFTER);
                // (reaped already: no signal to a pid that may be reused)
                drop(s);
            }
        }
    };
    parent_loop(&server, &mut parent, &wakes, |registry, tok| {
        if tok == LISTENER {
            let mut settle = || early.borrow_mut().extend(read_notices());
            accept_ready(
                &server,
                &limits,
                &wakes,
                &mut settle,
                |stream, peer, slot| {
                    let notices = notices.borrow();
                    let started = match spare.take() {
                        Some(s) => match Handover::send(&s.chan, &stream, 0, peer) {
                            Ok(()) => {
                                // watched for its report now (read at the
                                // tick if it can't be)
                                let fd = s.chan.as_raw_fd();
                                if registry
                                    .reregister(&mut SourceFd(&fd), PASSED, Interest::READABLE)
                                    .is_err()
                                {
                                    let _ = registry.register(
                                        &mut SourceFd(&fd),
                                        PASSED,
                                        Interest::READABLE,
                                    );
                                }
                                passed.push(Passed {
                                    stream,
                                    chan: s.chan,
                                    peer,
                                    by: Instant::now() + HANDOVER_LIMIT,
                                    spare: s.pid,
                                });
                                Ok(s.pid)
                            }
                            Err(e) => {
                                log::warn!("spare session process {}: {e}", s.pid);
                                end_spare(s);
                                fork_session(&server, &notices, stream, peer, &mut passed)
                            }
                        },
                        None => fork_session(&server, &notices, stream, peer, &mut passed),
                    };
                    record_started(
                        started,
                        (peer, slot),
                        &refusals,
                        (&mut children, &mut places.borrow_mut()),
                    );
                    true
                },
            );
            // the next connection's process, forked while this one's
            // session runs (at the end of this wake-up)
            if spare.is_none() {
                respare.set(true);
            }
            let exited = early.take();
            on_exits(exited, &mut children, &mut spare, &mut exiting, &gone);
        } else if tok == RELOADED {
            // sessions not logged in yet reload before their login check
            for &pid in children.iter().chain(spare.iter().map(|s| &s.pid)) {
                sys::hangup(pid);
            }
        } else if tok == SPARE {
            if spare.as_ref().is_some_and(Spare::ended) {
                let pid = spare.as_ref().map(|s| s.pid);
                on_exits(
                    pid.into_iter().collect(),
                    &mut children,
                    &mut spare,
                    &mut exiting,
                    &gone,
                );
                wakes.soon.set(!exiting.is_empty());
            }
        } else if tok == CHILD_EXITS {
            if let Some(c) = &child_exits {
                c.drain();
            }
            reap_exited(&mut children, &mut spare, &gone);
        } else if tok == NOTICES {
            let mut exited = early.take();
            exited.extend(read_notices());
            on_exits(exited, &mut children, &mut spare, &mut exiting, &gone);
        } else if tok == PASSED || tok == TICK {
            let orphans = settle_passed(registry, &mut passed);
            let mut places = places.borrow_mut();
            for p in orphans {
                fork_for_orphan(
                    &server,
                    (&notices.borrow(), &limits, &refusals),
                    p,
                    (&mut children, &mut places),
                    &mut passed,
                );
            }
        }
        if tok == TICK {
            let now = Instant::now();
            wakes.tick_by.set(passed.iter().map(|p| p.by).min());
            exiting.retain(|&(pid, since)| {
                let ended = reaped(pid);
                if let Some(ended) = &ended {
                    gone(pid, ended, &mut children, &mut spare);
                }
                ended.is_none() && now.duration_since(since) < SWEEP_EVERY
            });
            if now >= next_sweep {
                next_sweep = now + SWEEP_EVERY;
                let ended: Vec<(Pid, Ended)> = children
                    .iter()
                    .chain(spare.iter().map(|s| &s.pid))
                    .filter_map(|&pid| reaped(pid).map(|e| (pid, e)))
                    .collect();
                for (pid, ended) in ended {
                    gone(pid, &ended, &mut children, &mut spare);
                }
            }
            wakes.soon.set(!exiting.is_empty());
        }
        if respare.take()
            && spare.is_none()
            && !server.stop.load(std::sync::atomic::Ordering::SeqCst)
        {
            spare = make_spare(
                &server,
                registry,
                &notices.borrow(),
                &mut spare_failing,
                &mut passed,
            );
        }
    })?;
    if let Some(s) = spare.take() {
        end_spare(s);
    }
    stop_children(&server, children.iter().copied());
    Ok(())
}

/// Read the reports of the connections passed to spares: those taken
/// (their clients are served) and those refused now are let go; those
/// whose spare ended without taking them are returned.
fn settle_passed(registry: &mio::Registry, passed: &mut Vec<Passed>) -> Vec<Passed> {
    let now = Instant::now();
    let mut orphans = Vec::new();
    let mut kept = Vec::with_capacity(passed.len());
    for p in passed.drain(..) {
        let step = p.step(now);
        if matches!(step, Step::Waiting) {
            kept.push(p);
            continue;
        }
        let _ = registry.deregister(&mut SourceFd(&p.chan.as_raw_fd()));
        if matches!(step, Step::Orphaned) {
            orphans.push(p);
        }
    }
    *passed = kept;
    orphans
}

/// Fork a session process for connection `p`, whose spare ended without
/// taking it: its place moves to the new process (or is taken again, if
/// the spare's was given back already). Refused with `421` when that fails.
fn fork_for_orphan(
    server: &FtpServer,
    (notices, limits, refusals): (&ExitNotices, &ConnLimits, &FailureRun),
    p: Passed,
    (children, places): (&mut HashSet<Pid>, &mut HashMap<Pid, ConnSlot>),
    passed: &mut Vec<Passed>,
) {
    let peer = p.peer;
    let slot = match places.remove(&p.spare) {
        Some(slot) => slot,
        None => match limits.acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(_) => {
                log::warn!("{peer}: refused: its session process ended without taking it");
                crate::server::refuse_shared(&p.stream, &replies::service_not_available());
                return;
            }
        },
    };
    log::warn!(
        "{peer}: its session process {} ended without taking it; forking one for it",
        p.spare
    );
    let started = fork_session(server, notices, p.stream, peer, passed);
    record_started(started, (peer, slot), refusals, (children, places));
}

/// A session process was forked for connection `peer` (or handed it, as
/// the spare): it is one of the children, holding `slot`. When that
/// failed, the connection is refused with `421` and its place given back.
fn record_started(
    started: Result<Pid, (io::Error, TcpStream)>,
    (peer, slot): (SocketAddr, ConnSlot),
    refusals: &FailureRun,
    (children, places): (&mut HashSet<Pid>, &mut HashMap<Pid, ConnSlot>),
) {
    match started {
        Ok(pid) => {
            refusals.succeeded();
            children.insert(pid);
            places.insert(pid, slot);
        }
        Err((e, stream)) => {
            refusals.failed(&e);
            log::debug!("{peer} refused: no session process");
            drop(slot);
            crate::server::refuse(stream, &replies::service_not_available());
        }
    }
}

/// Reap the children that exited, however they ended (after a SIGCHLD):
/// each exited child of this process is looked at without being reaped,
/// and reaped if it is a session process or the spare (see `gone`). One
/// that is not ours (a program that started the server forks too) ends
/// the look: those behind it are found by the check of the children.
fn reap_exited(
    children: &mut HashSet<Pid>,
    spare: &mut Option<Spare>,
    gone: &impl Fn(Pid, &Ended, &mut HashSet<Pid>, &mut Option<Spare>),
) {
    let mut last = None;
    for _ in 0..REAPS_PER_WAKE {
        let Some(pid) = sys::exited_child() else {
            return;
        };
        let ours = children.contains(&pid) || spare.as_ref().is_some_and(|s| s.pid == pid);
        // (the same one twice: it could not be reaped)
        if !ours || last == Some(pid) {
            return;
        }
        last = Some(pid);
        if let Some(ended) = reaped(pid) {
            gone(pid, &ended, children, spare);
        }
    }
}

/// Children `exited` announced their exit: reap those that are done (see
/// `gone`), and check again soon those whose exit is under way.
fn on_exits(
    exited: Vec<Pid>,
    children: &mut HashSet<Pid>,
    spare: &mut Option<Spare>,
    exiting: &mut Vec<(Pid, Instant)>,
    gone: &impl Fn(Pid, &Ended, &mut HashSet<Pid>, &mut Option<Spare>),
) {
    for pid in exited {
        // only our own children are waited for (a pid of 0 would wait for
        // any child of the process group: an embedding program's too)
        let ours = children.contains(&pid) || spare.as_ref().is_some_and(|s| s.pid == pid);
        if !ours {
            continue;
        }
        if let Some(ended) = reaped(pid) {
            gone(pid, &ended, children, spare);
        } else if !exiting.iter().any(|&(p, _)| p == pid) {
            // its exit is under way
            exiting.push((pid, Instant::now()));
        }
    }
}

/// Fork a spare; `None` if that fails. Only the first failure of a run is
/// logged, and the end of the run (`failing` says whether one is under
/// way): a spare is tried after every batch of connections, and each
/// connection that finds none and can't be forked for is logged already.
fn make_spare(
    server: &FtpServer,
    registry: &mio::Registry,
    notices: &ExitNotices,
    failing: &mut bool,
    passed: &mut Vec<Passed>,
) -> Option<Spare> {
    match fork_spare(server, notices, passed) {
        Ok(s) => {
            if std::mem::take(failing) {
                log::warn!("forking spare session processes again");
            }
            // (found at the next check of the children if it can't be watched)
            if let Err(e) = registry.register(
                &mut SourceFd(&s.chan.as_raw_fd()),
                SPARE,
                Interest::READABLE,
            ) {
                log::debug!("spare session process {}: not watched: {e}", s.pid);
            }
            Some(s)
        }
        Err(e) => {
            if !std::mem::replace(failing, true) {
                log::error!("can't fork a spare session process: {e}");
            }
            None
        }
    }
}

/// Stop a spare that has no connection and reap it: the end of file on its
/// socket ends its wait, and so do SIGTERM and the SIGCONT after it (a
/// stopped spare exits at once too; it used to be killed a second later,
/// which held up the server's stop). One that has not exited a second later
/// (stuck) is killed, as it serves nobody.
fn end_spare(spare: Spare) {
    drop(spare.chan);
    sys::terminate(spare.pid);
    reap_by(
        spare.pid,
        Instant::now() + SPARE_EXIT_LIMIT,
        "spare session process",
    );
}

/// How long a spare told to stop may take to exit before it is killed.
const SPARE_EXIT_LIMIT: Duration = Duration::from_secs(1);

/// Fork a spare that will serve the connection the parent passes it.
/// `passed`: the parent's copies of other connections, closed in the child
/// (no session process holds another session's descriptors).
fn fork_spare(
    server: &FtpServer,
    notices: &ExitNotices,
    passed: &mut Vec<Passed>,
) -> io::Result<Spare> {
    let (parent_end, child_end) = UnixStream::pair()?;
    match sys::fork()? {
        Forked::Child => in_child(Some(notices), || {
            notices.close_read_end_in_child();
            drop(parent_end);
            drop(std::mem::take(passed));
            let Some((stop, ctx)) = prepare_child(server) else {
                return;
            };
            // opened now, with the descriptors it holds while it waits:
            // at its limit of open files, the number its reserve frees is
            // the session's poller's
            let place = notices.released_on_drop();
            let mut reserve = sys::FdReserve::new();
            // named while it waits (`ps`, `top`), its own name back once it
            // serves; named once it is ready (its reserve held), so that the
            // name says a connection passed now is taken
            let name = nix::sys::prctl::get_name().ok();
            let _ = nix::sys::prctl::set_name(SPARE_NAME);
            // No deadline: waiting for a connection is the spare's idle
            // state, as it is a listener's. The wait ends with the parent's
            // connection, with end of file when the parent drops its end
            // (it stops, or it dies), or with SIGINT/SIGTERM.
            let (stream, peer) = match Handover::recv(&child_end, Some(stop.as_fd()), &mut reserve)
            {
                Ok(Some((Some(stream), h))) => (stream, h.peer),
                Ok(Some((None, h))) => {
                    // closed by the kernel; the parent reaps this process
                    // and gives the connection's place back
                    log::error!(
                        "{}: connection lost: session process {} is out of descriptors",
                        h.peer,
                        std::process::id()
                    );
                    return;
                }
                Ok(None) => return,
                Err(e) => {
                    log::error!(
                        "spare session process {}: receiving a connection: {e}",
                        std::process::id()
                    );
                    return;
                }
            };
            // its own name back before it reports the connection taken: a
            // process named a spare has no client that its death would cost
            // (killed before the report, its connection is served by a
            // process forked for it)
            if let Some(name) = name {
                let _ = nix::sys::prctl::set_name(&name);
            }
            // taken: the parent's copy is closed (before the greeting, so
            // that the parent never refuses a connection greeted already)
            let _ = (&child_end).write_all(&[1]);
            drop(child_end);
            drop(reserve);
            serve(server, place, ctx, stream, peer, &stop);
        }),
        Forked::Parent(pid) => {
            drop(child_end);
            parent_end.set_nonblocking(true)?;
            Ok(Spare {
                pid,
                chan: parent_end,
                started: Instant::now(),
            })
        }
    }
}

/// Fork a child that serves one session; returns its pid, or the error
/// and the connection when the fork failed (the caller refuses it).
fn fork_session(
    server: &FtpServer,
    notices: &ExitNotices,
    stream: TcpStream,
    peer: SocketAddr,
    passed: &mut Vec<Passed>,
) -> Result<Pid, (io::Error, TcpStream)> {
    match sys::fork() {
        Err(e) => Err((e, stream)),
        Ok(Forked::Child) => in_child(Some(notices), || {
            notices.close_read_end_in_child();
            // (as a spare does)
            drop(std::mem::take(passed));
            if let Some((stop, ctx)) = prepare_child(server) {
                let place = notices.released_on_drop();
                serve(server, place, ctx, stream, peer, &stop);
            }
        }),
        Ok(Forked::Parent(pid)) => {
            drop(stream);
            Ok(pid)
        }
    }
}

/// In a child just forked: give up the listening socket, handle
/// SIGINT/SIGTERM (the returned pipe) and SIGHUP (the returned context's
/// accounts reload before the next login check), and mark the process as
/// one session's. `None` (logged) when signals can't be handled.
fn prepare_child(server: &FtpServer) -> Option<(OwnedFd, SessionContext)> {
    let me = std::process::id();
    if let Err(e) = sys::release_listener(&server.listener) {
        log::warn!("session process {me}: can't close the inherited listening socket: {e}");
    }
    let stop = match sys::signal_pipe() {
        Ok(p) => p,
        Err(e) => {
            log::error!("session process {me}: can't set up signal handling: {e}");
            return None;
        }
    };
    // a login with a system identity makes this process that user for good
    crate::fs::identity::set_one_session_process();
    let mut ctx = server.ctx.clone();
    if server.handle_signals {
        ctx.authorizer = ReloadOnHangup::wrap(ctx.authorizer);
    }
    Some((stop, ctx))
}

/// Serve the one session of this child process; its place under the
/// limits is given back by `place` as its control connection is shut down
/// (see `Released`), or, without one (no descriptor for it), when the
/// parent reaps this process.
fn serve(
    server: &FtpServer,
    place: Option<super::Released>,
    ctx: SessionContext,
    stream: TcpStream,
    peer: SocketAddr,
    stop: &OwnedFd,
) {
    let place: Box<dyn Send> = match place {
        Some(r) => Box::new(r),
        None => Box::new(()),
    };
    crate::server::run_session(
        ctx,
        Arc::clone(&server.events),
        stream,
        peer,
        crate::server::StopSource::Pipe(stop.as_raw_fd()),
        place,
    );
}
