//! The process models and the parent they share. Both keep a
//! single-threaded parent that owns the listening socket and the only table
//! of open sessions, so `max_cons` and `max_cons_per_ip` hold exactly
//! whatever the children do:
//!
//! - [`per_connection`] (pyftpdlib's `MultiprocessFTPServer`, CLI
//!   `multi-proc`): a child forked for each connection;
//! - [`prefork`] (CLI `pre-fork`): poll-loop worker processes fed by the
//!   parent.
//!
//! This file holds the parent's side: accepting under the limits, its event
//! loop, stopping the children.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{ConnLimits, ConnSlot, FailureRun, FtpServer, ACCEPT_AGAIN_AFTER};
use crate::sys;

mod per_connection;
mod prefork;

pub(super) use per_connection::serve_process;
pub(super) use prefork::serve_prefork;

/// The listening socket's token in the parent's poller.
const LISTENER: Token = Token(0);
/// The signal pipe's token in the parent's poller.
const SIGNAL: Token = Token(usize::MAX);
/// The SIGHUP pipe's token in the parent's poller.
const HANGUP: Token = Token(usize::MAX - 1);
/// Handed to the parent loop's `on_event` after a SIGHUP reloaded the
/// parent's accounts: pass the signal on to the children.
const RELOADED: Token = Token(usize::MAX - 2);
/// Handed to the parent loop's `on_event` after every wake-up, events or
/// not (at least every second; see [`parent_loop`]'s `soon`).
const TICK: Token = Token(usize::MAX - 3);

/// How long a forked child waits, before it exits, for the file work its
/// session left to a background thread ([`crate::fs::finish_background_work`]).
const BACKGROUND_WORK_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Run `f` in a forked child and exit with its outcome; never returns in the
/// child. With `notices`, the child's last act is to tell the parent it is
/// exiting (see [`ExitNotices`]).
pub(super) fn in_child(notices: Option<&ExitNotices>, f: impl FnOnce()) -> ! {
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(_) => 101,
    };
    // what the session's commits left to the background thread (the
    // writeback of a replacing upload) would be dropped by `_exit`
    if !crate::fs::finish_background_work(BACKGROUND_WORK_LIMIT) {
        log::warn!("exiting with file work unfinished after {BACKGROUND_WORK_LIMIT:?}");
    }
    log::logger().flush();
    // No flush of stdout or stderr here: their locks may have been held by
    // another thread of the parent when it forked (a program that embeds the
    // server, the test harness), and such a lock stays held in the child
    // forever, so `lock()` (which `flush` takes) never returns and the child
    // never exits (std's own exit path only try-locks stdout for this
    // reason). Nothing is lost: the library writes nothing to stdout, whose
    // `println!` output reaches the descriptor at each newline, and stderr
    // is unbuffered. (A flush would also write out again whatever partial
    // line the parent had buffered when it forked.)
    //
    // `_exit`, not `exit`: the session is over and the log is flushed; what
    // `exit` would add is the libraries' exit handlers (OpenSSL's cleanup,
    // the loader's destructors), which in a forked child only free memory
    // the kernel is about to reclaim, and write (so copy) pages the child
    // still shares with the parent. That was about a third of a
    // fork-per-connection session's CPU for a login and QUIT.
    if let Some(n) = notices {
        n.announce();
    }
    crate::sys::exit_immediately(code)
}

/// How a fork-per-connection parent learns that a child exited, without a
/// descriptor per child: every child inherits the write end of this one
/// pipe and writes its pid there as its last act; the parent
/// reads the pids and reaps those of its children.
///
/// A descriptor per child in the parent (a pipe whose end of file marks the
/// exit, or a pidfd) is inherited by every child forked after it: with
/// 1000 sessions open, each new session process copied 1000 descriptors at
/// its fork and closed them at its exit, and a login cost 20-30% more CPU
/// than with none open. SIGCHLD needs no descriptor either, but its
/// action belongs to the program: the `ftpdlib` program routes it
/// ([`crate::sys::ChildExits`]), a program that embeds the server keeps it.
///
/// A child killed outright writes nothing: where SIGCHLD is routed the
/// parent reaps it at once; it also checks each of its children every
/// [`SWEEP_EVERY`] (`waitpid` with `WNOHANG`, by pid).
///
/// Each record is the pid and its bitwise complement (8 bytes, written
/// atomically): bytes a session process wrote there that are not such a
/// record (it misused the descriptor) are skipped until the next whole
/// record, so they never hide the notices after them. The parent reads
/// [`NOTICES_PER_WAKE`] records at most per wake-up, so a flood costs
/// bounded time and memory; children close their copy of the read end
/// ([`ExitNotices::close_read_end_in_child`]).
pub(super) struct ExitNotices {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
    /// Bytes read and not parsed yet: less than a record.
    partial: Vec<u8>,
    /// Children that gave their session's place back (see
    /// [`Released`]), read and not taken yet.
    released: Vec<Pid>,
}

/// How often a fork-per-connection parent checks every child it has for an
/// exit it was not told of (a child killed outright): at most this long a
/// killed session's process stays a zombie and holds its place under
/// `max_cons`.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Bytes of one exit notice: the pid and its complement.
const NOTICE_LEN: usize = 8;

/// Exit notices the parent reads at most per wake-up (the rest wait for the
/// next one, which comes at once: the pipe stays readable). The pipe holds
/// 8192 (64 KiB).
const NOTICES_PER_WAKE: usize = 1024;

impl ExitNotices {
    /// The pipe: both ends close-on-exec and non-blocking (a child never
    /// waits to announce its exit; a full pipe only defers the news to the
    /// next sweep).
    pub(super) fn new() -> io::Result<ExitNotices> {
        use nix::fcntl::OFlag;
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(io::Error::from)?;
        Ok(ExitNotices {
            read,
            write,
            partial: Vec::new(),
            released: Vec::new(),
        })
    }

    /// The end the parent polls.
    pub(super) fn read_end(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// In a child just forked: its copy of the read end becomes
    /// `/dev/null`, so that it cannot take other children's notices.
    pub(super) fn close_read_end_in_child(&self) {
        if let Err(e) = sys::release_descriptor(self.read.as_fd()) {
            log::warn!(
                "session process {}: can't close the inherited exit notices: {e}",
                std::process::id()
            );
        }
    }

    /// The record announcing `pid`.
    fn record(pid: u32) -> [u8; NOTICE_LEN] {
        let mut r = [0u8; NOTICE_LEN];
        r[..4].copy_from_slice(&pid.to_le_bytes());
        r[4..].copy_from_slice(&(!pid).to_le_bytes());
        r
    }

    /// The record saying that child `pid` gave its session's place back:
    /// the complement's top bit cleared (a pid's is always clear, its
    /// complement's set).
    fn released_record(pid: u32) -> [u8; NOTICE_LEN] {
        let mut r = Self::record(pid);
        r[7] &= 0x7f;
        r
    }

    /// In a child about to exit: write its pid (errors ignored, see the
    /// type's doc).
    fn announce(&self) {
        write_record(&self.write, &Self::record(std::process::id()));
    }

    /// In a session process: what tells the parent, when dropped, that the
    /// session's place under the limits is free; `None` (the parent frees
    /// it when it reaps this process) when the descriptor can't be copied.
    pub(super) fn released_on_drop(&self) -> Option<Released> {
        self.write.try_clone().ok().map(Released)
    }

    /// In the parent: the children that gave their places back, read by
    /// [`Self::take`] since the last call.
    pub(super) fn take_released(&mut self) -> Vec<Pid> {
        std::mem::take(&mut self.released)
    }

    /// In the parent: the pids announced since the last call, at most
    /// [`NOTICES_PER_WAKE`]; bytes that are not a record are skipped, and
    /// 0 and values above `i32::MAX` are no pid.
    pub(super) fn take(&mut self) -> Vec<Pid> {
        let mut buf = [0u8; NOTICES_PER_WAKE * NOTICE_LEN];
        let n = loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(n) => break n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break 0,
            }
        };
        self.partial.extend_from_slice(&buf[..n]);
        let mut pids = Vec::new();
        let mut at = 0;
        while self.partial.len() - at >= NOTICE_LEN {
            let r = &self.partial[at..at + NOTICE_LEN];
            let pid = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
            let check = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
            let to = if check == !pid {
                &mut pids
            } else if check == !pid & 0x7fff_ffff {
                &mut self.released
            } else {
                // not a record here: look for one a byte further on
                at += 1;
                continue;
            };
            at += NOTICE_LEN;
            if let Ok(pid) = i32::try_from(pid) {
                if pid > 0 {
                    to.push(Pid::from_raw(pid));
                }
            }
        }
        self.partial.drain(..at);
        pids
    }
}

/// Write one exit notice record (errors ignored, see [`ExitNotices`]).
fn write_record(fd: &std::os::fd::OwnedFd, record: &[u8; NOTICE_LEN]) {
    loop {
        match nix::unistd::write(fd, record) {
            Err(nix::errno::Errno::EINTR) => {}
            _ => return,
        }
    }
}

/// A session process's place under `max_cons` and `max_cons_per_ip`, held
/// by its connection: dropped just before the control connection is shut
/// down, it tells the parent (a record on the exit notices' pipe) that the
/// place is free, so that a client that sees the close and connects again
/// at once is not refused for a place the parent would only free when it
/// reaps the process. The parent reads these records before it refuses a
/// connection over the limits.
pub(super) struct Released(std::os::fd::OwnedFd);

impl Drop for Released {
    fn drop(&mut self) {
        write_record(&self.0, &ExitNotices::released_record(std::process::id()));
    }
}

/// A connection passed to the process that serves it (the spare of
/// [`per_connection`], a worker of [`prefork`]), with its tag and its peer
/// as `accept` reported it: the socket itself may no longer know the peer
/// (a client that reset the connection meanwhile makes getpeername fail),
/// and such a session is still opened, logged and closed like any other.
struct Handover {
    /// The parent's id of the connection.
    tag: u64,
    peer: SocketAddr,
}

impl Handover {
    /// Bytes on the wire: tag, family (4 or 6), address (16, an IPv4 one in
    /// the first 4), port, IPv6 flow info and scope id.
    const LEN: usize = 8 + 1 + 16 + 2 + 4 + 4;

    /// Pass `stream` over `sock`.
    fn send(sock: &UnixStream, stream: &TcpStream, tag: u64, peer: SocketAddr) -> io::Result<()> {
        let mut b = [0u8; Self::LEN];
        b[..8].copy_from_slice(&tag.to_le_bytes());
        match peer {
            SocketAddr::V4(a) => {
                b[8] = 4;
                b[9..13].copy_from_slice(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                b[8] = 6;
                b[9..25].copy_from_slice(&a.ip().octets());
                b[27..31].copy_from_slice(&a.flowinfo().to_le_bytes());
                b[31..35].copy_from_slice(&a.scope_id().to_le_bytes());
            }
        }
        b[25..27].copy_from_slice(&peer.port().to_le_bytes());
        sys::send_fd(sock, stream.as_fd(), &b)
    }

    /// The next connection passed on `sock` (see [`sys::recv_fd`]), or the
    /// first of it and `stop` to come with `stop` (see
    /// [`sys::recv_fd_or_stop`]); `None` at end of stream or on `stop`.
    /// The connection is `None` when this process could not take its
    /// descriptor (out of descriptors, even with `reserve`'s): the kernel
    /// closed it, and the caller tells whom it concerns.
    fn recv(
        sock: &UnixStream,
        stop: Option<BorrowedFd<'_>>,
        reserve: &mut sys::FdReserve,
    ) -> io::Result<Option<(Option<TcpStream>, Handover)>> {
        let mut b = [0u8; Self::LEN];
        let received = match stop {
            Some(stop) => sys::recv_fd_or_stop(sock, stop, &mut b, reserve)?,
            None => sys::recv_fd(sock, &mut b, reserve)?,
        };
        let Some(received) = received else {
            return Ok(None);
        };
        // fixed places in a buffer of fixed length
        fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
            let mut out = [0u8; N];
            out.copy_from_slice(&b[at..at + N]);
            out
        }
        let tag = u64::from_le_bytes(take(&b, 0));
        let port = u16::from_le_bytes(take(&b, 25));
        let peer = match b[8] {
            4 => SocketAddr::from((take::<4>(&b, 9), port)),
            6 => SocketAddr::V6(std::net::SocketAddrV6::new(
                take::<16>(&b, 9).into(),
                port,
                u32::from_le_bytes(take(&b, 27)),
                u32::from_le_bytes(take(&b, 31)),
            )),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "handed-over connection without an address family",
                ))
            }
        };
        let stream = match received {
            sys::Received::Fd(fd) => Some(TcpStream::from(fd)),
            sys::Received::Lost => None,
        };
        Ok(Some((stream, Handover { tag, peer })))
    }
}

/// Connections [`accept_ready`] takes in one go at most before the parent
/// loop looks at its other events (a shutdown signal among them): a steady
/// stream of clients would otherwise keep it accepting, and handing
/// connections over, long after it was told to stop.
const ACCEPT_BATCH: usize = 64;

/// Accept every pending connection that the limits admit, while `f`
/// returns true (false: the process model takes no more for now, and
/// accepts again when it can, see [`Wakes::accept_again`]), and at most
/// [`ACCEPT_BATCH`] (the rest right after the parent loop's other events).
/// When `accept` fails (other than for an aborted connection), the rest are
/// accepted [`ACCEPT_AGAIN_AFTER`] later. `settle` runs before a connection
/// is refused for the limits (see `FtpServer::admit`).
fn accept_ready(
    server: &FtpServer,
    limits: &ConnLimits,
    wakes: &Wakes,
    settle: &mut dyn FnMut(),
    mut f: impl FnMut(TcpStream, SocketAddr, ConnSlot) -> bool,
) {
    wakes.accept_again.set(None);
    for _ in 0..ACCEPT_BATCH {
        if server.stop.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let accepted = match server.listener.accept() {
            Err(e)
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                ) =>
            {
                wakes.accept_failures.failed(&e);
                match super::accept_with_reserve(
                    &server.listener,
                    &e,
                    &mut wakes.reserve.borrow_mut(),
                ) {
                    super::Reserved::Serve(stream, peer) => Ok((stream, peer)),
                    super::Reserved::Refused => continue,
                    super::Reserved::Nothing => {
                        wakes
                            .accept_again
                            .set(Some(Instant::now() + ACCEPT_AGAIN_AFTER));
                        return;
                    }
                }
            }
            other => other,
        };
        if accepted
            .as_ref()
            .map_or_else(|e| e.kind() == io::ErrorKind::WouldBlock, |_| true)
        {
            wakes.accept_failures.succeeded();
        }
        match accepted {
            Ok((stream, peer)) => {
                if server.stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                if let Err(e) = stream.set_nonblocking(false) {
                    log::warn!("{peer}: {e}");
                    continue;
                }
                match server.admit(peer, limits, settle) {
                    Ok(slot) => {
                        if !f(stream, peer, slot) {
                            return;
                        }
                    }
                    Err(reply) => super::refuse(stream, &reply),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // interrupted, or a connection reset while it waited
            Err(_) => {}
        }
    }
    // a full batch: the rest once the parent loop has seen its other events
    wakes.accept_again.set(Some(Instant::now()));
}

/// When the parent loop must wake before its next event, set by the
/// process model between wake-ups.
#[derive(Default)]
struct Wakes {
    /// Wake after [`SOON`] at the latest instead of a second: a child that
    /// announced its exit is reaped once its exit is complete.
    soon: std::cell::Cell<bool>,
    /// Accept again at this instant, without a new connection's event
    /// ([`accept_ready`] failed, or the process model took no more).
    accept_again: std::cell::Cell<Option<Instant>>,
    /// Hand `on_event` [`TICK`] at this instant at the latest (a deadline
    /// of the process model's own).
    tick_by: std::cell::Cell<Option<Instant>>,
    /// The log of a run of failed accepts.
    accept_failures: FailureRun,
    /// A descriptor kept to refuse connections with while out of them.
    reserve: std::cell::RefCell<sys::FdReserve>,
}

/// How long an accepted connection may wait for the process that is to
/// serve it to take it in (a pre-fork worker: for its socket to have room,
/// then for its poll loop; the multi-proc spare: to receive it) before the
/// parent refuses it with `421` on its own copy.
const HANDOVER_LIMIT: Duration = Duration::from_secs(2);

/// How soon the parent loop wakes while [`Wakes::soon`] is set (5 ms).
const SOON: Duration = Duration::from_millis(5);

/// The parent's event loop: wake for events (and every second to check the
/// stop flag) and hand each token to `on_event` ([`RELOADED`] after SIGHUP
/// reloaded the accounts, see `server::reload`), then [`TICK`]. While
/// [`Wakes::soon`] is set the loop wakes after [`SOON`] at the latest
/// instead of a second; at [`Wakes::accept_again`] it hands `on_event`
/// [`LISTENER`] whether or not a connection came. Children are reaped by
/// pid, never with `waitpid(-1)`: an embedding program's own child
/// processes are not ours to reap.
fn parent_loop(
    server: &FtpServer,
    parent: &mut Parent,
    wakes: &Wakes,
    mut on_event: impl FnMut(&mio::Registry, Token),
) -> io::Result<()> {
    let Parent { poll, signals } = parent;
    let mut events = Events::with_capacity(256);
    while !server.stop.load(std::sync::atomic::Ordering::SeqCst) {
        let mut wait = if wakes.soon.get() {
            SOON
        } else {
            Duration::from_secs(1)
        };
        for at in [wakes.accept_again.get(), wakes.tick_by.get()]
            .into_iter()
            .flatten()
        {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        // once the stop is seen nothing else is acted on: no connection is
        // accepted or handed over after it (what waits is refused by the
        // process model when this returns)
        if events.iter().any(|ev| ev.token() == SIGNAL) {
            log::info!("received a shutdown signal");
            server.stop.store(true, std::sync::atomic::Ordering::SeqCst);
            break;
        }
        for ev in events.iter() {
            if ev.token() == HANGUP {
                if let Some((_, hangup)) = &signals {
                    super::reload::drain(hangup);
                }
                // the children are told before the reload is logged
                super::reload::reload(&*server.ctx.authorizer, false, || {
                    on_event(poll.registry(), RELOADED)
                });
            } else {
                on_event(poll.registry(), ev.token());
            }
        }
        if wakes
            .accept_again
            .get()
            .is_some_and(|at| at <= Instant::now())
        {
            on_event(poll.registry(), LISTENER);
        }
        on_event(poll.registry(), TICK);
    }
    *signals = None;
    server.stop_listening();
    log::info!("FTP server stopped accepting connections");
    Ok(())
}

/// Ask every child to shut down and wait until all have exited; those
/// still there after the grace period plus ten seconds are killed, and
/// all of them at a second SIGINT/SIGTERM (the parent then exits with
/// status 130, leaving no process behind).
fn stop_children(server: &FtpServer, pids: impl Iterator<Item = Pid>) {
    let pids: Vec<Pid> = pids.collect();
    for &pid in &pids {
        sys::terminate(pid);
    }
    let deadline = crate::session::later(
        Instant::now(),
        server
            .ctx
            .config
            .shutdown_grace
            .saturating_add(Duration::from_secs(10)),
    );
    for pid in pids {
        reap_by(pid, deadline, "session process");
    }
    exit_if_forced();
    log::info!("every session ended");
}

/// A child's end, as `waitpid` reaped it; its error: the pid was not a
/// child of ours any more (reaped elsewhere).
type Ended = nix::Result<WaitStatus>;

/// How a reaped child ended, for the log line of a child that ended when
/// it should not have (a spare, a worker, a session process killed
/// outright): `"exited with status 101"` (a panic), `"killed by SIGSEGV,
/// core dumped"`.
fn how_ended(ended: &Ended) -> String {
    match ended {
        Ok(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
        Ok(WaitStatus::Signaled(_, sig, core)) => format!(
            "killed by {}{}",
            sig.as_str(),
            if *core { ", core dumped" } else { "" }
        ),
        Ok(other) => format!("ended ({other:?})"),
        Err(_) => "reaped elsewhere".into(),
    }
}

/// Log (warning) a child `what` `pid` that ended `when` otherwise than a
/// session process does when its session is over (exit status 0);
/// nothing for one that ended so, or that was not ours to reap.
fn log_unexpected_end(what: &str, pid: Pid, ended: &Ended, when: &str) {
    if ended.is_ok() && !matches!(ended, Ok(WaitStatus::Exited(_, 0))) {
        log::warn!("{what} {pid} ended {when} ({})", how_ended(ended));
    }
}

/// After a second SIGINT/SIGTERM (see [`sys::defer_second_signal`]), once
/// every child was killed and reaped: exit at once, with status 130.
fn exit_if_forced() {
    if sys::second_signal() {
        log::warn!("a second signal: every child process killed; exiting at once");
        std::process::exit(130);
    }
}

/// Reap child `pid` (a `what`, for the log) once it exited, waiting until
/// `deadline` at most; then kill it (SIGKILL ends a stopped process too)
/// and reap it. A child that ended otherwise than with status 0 before it
/// was killed is logged with how it ended (see [`how_ended`]): one killed
/// from outside or crashed while it stopped.
fn reap_by(pid: Pid, deadline: Instant, what: &str) {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            ended => {
                log_unexpected_end(what, pid, &ended, "as it was stopped");
                // reaped, or not a child of ours any more
                return;
            }
        }
        let forced = sys::second_signal();
        if forced || Instant::now() >= deadline {
            if !forced {
                log::warn!("{what} {pid} did not exit in time: killed");
            }
            sys::kill(pid);
            let _ = waitpid(pid, None);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process model's parent before its loop: its poller, with the
/// listening socket and, when the server handles signals, the signal pipes
/// registered.
struct Parent {
    poll: Poll,
    /// SIGINT/SIGTERM's pipe and SIGHUP's.
    signals: Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)>,
}

impl Parent {
    /// Set up the parent. Its signal handling is in place before it logs
    /// that it started or forks any child: SIGTERM sent as soon as the
    /// start-up lines appear is a graceful stop, not the default action
    /// (the parent dead and its children orphaned). SIGINT/SIGTERM end the
    /// loop; SIGHUP reloads the accounts.
    fn new(server: &FtpServer) -> io::Result<Parent> {
        server.listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&server.listener.as_raw_fd()),
            LISTENER,
            Interest::READABLE,
        )?;
        let signals = if server.handle_signals {
            let fd = sys::signal_pipe()?;
            // a second SIGINT/SIGTERM kills the children, then exits (see
            // `stop_children`, `prefork::stop_workers`)
            sys::defer_second_signal();
            poll.registry()
                .register(&mut SourceFd(&fd.as_raw_fd()), SIGNAL, Interest::READABLE)?;
            let hangup = sys::hangup_pipe(true)?;
            poll.registry().register(
                &mut SourceFd(&hangup.as_raw_fd()),
                HANGUP,
                Interest::READABLE,
            )?;
            Some((fd, hangup))
        } else {
            None
        };
        Ok(Parent { poll, signals })
    }

    fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }
}

#[cfg(test)]
mod tests;
