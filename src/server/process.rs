//! The process models. Both keep a single-threaded parent that owns the
//! listening socket and the only table of open sessions, so `max_cons` and
//! `max_cons_per_ip` hold exactly whatever the children do.
//!
//! - **Process** (pyftpdlib's `MultiprocessFTPServer`): a child is forked for
//!   each connection, serves it and exits. Each child holds the write end of
//!   a pipe; its end of file tells the parent to reap it at once, so no
//!   zombie outlives its session, and a crash in a child touches nobody else.
//! - **Prefork**: `workers` processes run the poll loop; the parent accepts,
//!   checks the limits and passes each connection to the least loaded worker
//!   over a Unix socket (`SCM_RIGHTS`). Workers report finished sessions on
//!   the same socket; a worker that dies is reaped, its sessions released,
//!   and a new one started.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::poll::{NewConn, PollLoop};
use super::{ConnLimits, ConnSlot, FtpServer};
use crate::sys::{self, Forked};

const LISTENER: Token = Token(0);
const SIGNAL: Token = Token(usize::MAX);

/// Run `f` in a forked child and exit with its outcome; never returns in the child.
pub(super) fn in_child(f: impl FnOnce()) -> ! {
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(_) => 101,
    };
    log::logger().flush();
    std::process::exit(code)
}

/// Accept every pending connection that the limits admit.
fn accept_ready(
    server: &FtpServer,
    limits: &ConnLimits,
    mut f: impl FnMut(TcpStream, SocketAddr, ConnSlot),
) {
    loop {
        if server.stop.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        match server.listener.accept() {
            Ok((stream, peer)) => {
                if server.stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                if let Err(e) = stream.set_nonblocking(false) {
                    log::warn!("{peer}: {e}");
                    continue;
                }
                if let Some(slot) = FtpServer::admit(stream.try_clone().ok(), peer, limits) {
                    f(stream, peer, slot);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => {
                log::error!("accept failed: {e}");
                return;
            }
        }
    }
}

/// The parent's event loop: wake for events (and every second to check the
/// stop flag) and hand each token to `on_event`. Children are reaped by pid
/// as their pipes or sockets close, never with `waitpid(-1)`: an embedding
/// program's own child processes are not ours to reap.
fn parent_loop(
    server: &FtpServer,
    poll: &mut Poll,
    mut on_event: impl FnMut(&mio::Registry, Token),
) -> io::Result<()> {
    // SIGINT/SIGTERM end the loop when the server was asked to handle them
    let signals = if server.handle_signals {
        let fd = sys::signal_pipe()?;
        poll.registry()
            .register(&mut SourceFd(&fd.as_raw_fd()), SIGNAL, Interest::READABLE)?;
        Some(fd)
    } else {
        None
    };
    let mut events = Events::with_capacity(256);
    while !server.stop.load(std::sync::atomic::Ordering::SeqCst) {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_secs(1))) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        for ev in events.iter() {
            if ev.token() == SIGNAL {
                log::info!("received a shutdown signal");
                server.stop.store(true, std::sync::atomic::Ordering::SeqCst);
            } else {
                on_event(poll.registry(), ev.token());
            }
        }
    }
    drop(signals);
    log::info!("FTP server stopped accepting connections");
    Ok(())
}

/// Ask every child to shut down and wait until all have exited.
fn stop_children(pids: impl Iterator<Item = Pid>) {
    let pids: Vec<Pid> = pids.collect();
    for &pid in &pids {
        sys::terminate(pid);
    }
    for pid in pids {
        let _ = waitpid(pid, None);
    }
    log::info!("every session ended");
}

fn parent_poll(server: &FtpServer) -> io::Result<Poll> {
    server.listener.set_nonblocking(true)?;
    let poll = Poll::new()?;
    poll.registry().register(
        &mut SourceFd(&server.listener.as_raw_fd()),
        LISTENER,
        Interest::READABLE,
    )?;
    Ok(poll)
}

struct Child {
    pid: Pid,
    pipe: OwnedFd,
    _slot: ConnSlot,
}

/// Fork per connection.
pub(super) fn serve_process(server: FtpServer) -> io::Result<()> {
    let limits = ConnLimits::new(
        server.ctx.config.max_cons,
        server.ctx.config.max_cons_per_ip,
    );
    let mut poll = parent_poll(&server)?;
    super::log_start(&server)?;
    let mut children: HashMap<usize, Child> = HashMap::new();
    let mut next = 1usize;
    parent_loop(&server, &mut poll, |registry, tok| {
        if tok == LISTENER {
            let mut spawned = Vec::new();
            accept_ready(&server, &limits, |stream, peer, slot| {
                match fork_session(&server, stream, peer) {
                    Ok((pid, pipe)) => spawned.push(Child {
                        pid,
                        pipe,
                        _slot: slot,
                    }),
                    Err(e) => log::error!("{peer}: can't fork: {e}"),
                }
            });
            for child in spawned {
                let token = next;
                next += 1;
                match registry.register(
                    &mut SourceFd(&child.pipe.as_raw_fd()),
                    Token(token),
                    Interest::READABLE,
                ) {
                    Ok(()) => {
                        children.insert(token, child);
                    }
                    Err(e) => log::error!("can't watch child {}: {e}", child.pid),
                }
            }
        } else if let Some(child) = children.remove(&tok.0) {
            let _ = registry.deregister(&mut SourceFd(&child.pipe.as_raw_fd()));
            let _ = waitpid(child.pid, None);
        }
    })?;
    stop_children(children.values().map(|c| c.pid));
    Ok(())
}

/// Fork a child that serves one session; returns its pid and the read end of its life pipe.
fn fork_session(
    server: &FtpServer,
    stream: TcpStream,
    peer: SocketAddr,
) -> io::Result<(Pid, OwnedFd)> {
    let (read_end, write_end) = nix::unistd::pipe().map_err(io::Error::from)?;
    match sys::fork()? {
        Forked::Child => in_child(|| {
            drop(read_end);
            let _life = write_end;
            if let Err(e) = sys::release_listener(&server.listener) {
                log::warn!("{peer}: can't close the inherited listening socket: {e}");
            }
            let stop = match sys::signal_pipe() {
                Ok(p) => p,
                Err(e) => {
                    log::error!("{peer}: can't set up signal handling: {e}");
                    return;
                }
            };
            let stop_fd = stop.as_raw_fd();
            super::run_session(
                server.ctx.clone(),
                Arc::clone(&server.events),
                stream,
                peer,
                super::StopSource::Pipe(stop_fd),
            );
        }),
        Forked::Parent(pid) => {
            drop(write_end);
            drop(stream);
            Ok((pid, read_end))
        }
    }
}

struct Worker {
    pid: Pid,
    sock: UnixStream,
    load: usize,
    /// Bytes of a finished-session message not complete yet.
    partial: Vec<u8>,
}

/// Pre-forked poll-loop workers fed by the parent's acceptor.
pub(super) fn serve_prefork(server: FtpServer, workers: usize) -> io::Result<()> {
    let limits = ConnLimits::new(
        server.ctx.config.max_cons,
        server.ctx.config.max_cons_per_ip,
    );
    let mut poll = parent_poll(&server)?;
    super::log_start(&server)?;
    let n = workers.max(1);
    let mut pool: HashMap<usize, Worker> = HashMap::new();
    let mut sessions: HashMap<u64, (usize, ConnSlot)> = HashMap::new();
    let mut next_token = 1usize;
    let mut next_id = 1u64;
    for _ in 0..n {
        let w = spawn_worker(&server, &mut pool)?;
        poll.registry().register(
            &mut SourceFd(&w.sock.as_raw_fd()),
            Token(next_token),
            Interest::READABLE,
        )?;
        pool.insert(next_token, w);
        next_token += 1;
    }
    parent_loop(&server, &mut poll, |registry, tok| {
        if tok == LISTENER {
            accept_ready(&server, &limits, |stream, peer, slot| {
                let id = next_id;
                next_id += 1;
                match hand_over(&mut pool, &stream, id) {
                    Ok(token) => {
                        sessions.insert(id, (token, slot));
                    }
                    Err(e) => log::error!("{peer}: can't hand over to a worker: {e}"),
                }
            });
            return;
        }
        let token = tok.0;
        let Some(w) = pool.get_mut(&token) else {
            return;
        };
        // finished sessions: 8-byte ids; end of file: the worker died
        let mut alive = true;
        let mut buf = [0u8; 512];
        loop {
            match (&w.sock).read(&mut buf) {
                Ok(0) => {
                    alive = false;
                    break;
                }
                Ok(k) => {
                    w.partial.extend_from_slice(&buf[..k]);
                    let whole = w.partial.len() / 8 * 8;
                    for id in w.partial[..whole].chunks_exact(8) {
                        let id = u64::from_le_bytes(id.try_into().unwrap_or_default());
                        if sessions.remove(&id).is_some() {
                            w.load = w.load.saturating_sub(1);
                        }
                    }
                    w.partial.drain(..whole);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("worker {}: {e}", w.pid);
                    alive = false;
                    break;
                }
            }
        }
        if !alive {
            if let Some(dead) = pool.remove(&token) {
                let _ = registry.deregister(&mut SourceFd(&dead.sock.as_raw_fd()));
                let _ = waitpid(dead.pid, None);
                log::warn!("worker {} died; starting a new one", dead.pid);
                sessions.retain(|_, (t, _)| *t != token);
            }
            match spawn_worker(&server, &mut pool) {
                Ok(w) => {
                    if registry
                        .register(
                            &mut SourceFd(&w.sock.as_raw_fd()),
                            Token(next_token),
                            Interest::READABLE,
                        )
                        .is_ok()
                    {
                        pool.insert(next_token, w);
                        next_token += 1;
                    }
                }
                Err(e) => log::error!("can't start a worker: {e}"),
            }
        }
    })?;
    stop_workers(&server, &mut poll, pool);
    Ok(())
}

/// Pass a connection to the least loaded worker that can take it now; when
/// every worker's socket is full (a burst of connections faster than the
/// workers pick them up), wait up to two seconds for the least loaded one.
/// Returns the chosen worker's token.
fn hand_over(pool: &mut HashMap<usize, Worker>, stream: &TcpStream, id: u64) -> io::Result<usize> {
    let mut order: Vec<(usize, usize)> = pool.iter().map(|(&t, w)| (w.load, t)).collect();
    order.sort_unstable();
    let mut last = io::Error::other("no worker is running");
    for &(_, token) in &order {
        let Some(w) = pool.get_mut(&token) else {
            continue;
        };
        match sys::send_fd(&w.sock, stream.as_fd(), id) {
            Ok(()) => {
                w.load += 1;
                return Ok(token);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => last = e,
            Err(e) => {
                log::error!("worker {}: {e}", w.pid);
                last = e;
            }
        }
    }
    let Some(&(_, token)) = order.first() else {
        return Err(last);
    };
    let Some(w) = pool.get_mut(&token) else {
        return Err(last);
    };
    w.sock.set_nonblocking(false)?;
    w.sock.set_write_timeout(Some(Duration::from_secs(2)))?;
    let sent = sys::send_fd(&w.sock, stream.as_fd(), id);
    w.sock.set_nonblocking(true)?;
    sent?;
    w.load += 1;
    Ok(token)
}

/// Ask every worker to shut down and wait until all have exited, reading
/// (and discarding) what they still report meanwhile: a worker blocked on
/// reporting finished sessions to a parent that no longer reads would
/// never see its signal. Workers still alive after the grace period plus
/// ten seconds are killed.
fn stop_workers(server: &FtpServer, poll: &mut Poll, mut pool: HashMap<usize, Worker>) {
    for w in pool.values() {
        sys::terminate(w.pid);
    }
    let deadline =
        std::time::Instant::now() + server.ctx.config.shutdown_grace + Duration::from_secs(10);
    let mut events = Events::with_capacity(64);
    let mut buf = [0u8; 4096];
    while !pool.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            for w in pool.values() {
                log::warn!("worker {} did not stop in time; killing it", w.pid);
                sys::kill(w.pid);
            }
            break;
        }
        if let Err(e) = poll.poll(&mut events, Some(left.min(Duration::from_millis(500)))) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("waiting for workers: {e}");
                break;
            }
            continue;
        }
        for ev in events.iter() {
            let Some(w) = pool.get(&ev.token().0) else {
                continue;
            };
            let gone = loop {
                match (&w.sock).read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break true,
                }
            };
            if gone {
                if let Some(w) = pool.remove(&ev.token().0) {
                    let _ = poll
                        .registry()
                        .deregister(&mut SourceFd(&w.sock.as_raw_fd()));
                    let _ = waitpid(w.pid, None);
                }
            }
        }
    }
    for w in pool.values() {
        let _ = waitpid(w.pid, None);
    }
    log::info!("every session ended");
}

/// Tells the parent that a session of this worker ended, through the
/// worker's reporting thread: the poll loop never waits on the parent.
struct RemoteSlot {
    id: u64,
    report: crossbeam_channel::Sender<u64>,
}

impl Drop for RemoteSlot {
    fn drop(&mut self) {
        let _ = self.report.send(self.id);
    }
}

/// Fork a worker. `siblings` are the running workers: the new one closes
/// its copies of their parent-side sockets, so that each worker's socket
/// has exactly two ends, one in the parent and one in the worker.
fn spawn_worker(server: &FtpServer, siblings: &mut HashMap<usize, Worker>) -> io::Result<Worker> {
    let (parent_end, child_end) = UnixStream::pair()?;
    match sys::fork()? {
        Forked::Child => in_child(|| {
            drop(parent_end);
            // the child's copy of the table; the parent's is untouched
            drop(std::mem::take(siblings));
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
                partial: Vec::new(),
            })
        }
    }
}

/// A worker process: receive connections from the parent and serve them in a poll loop.
fn run_worker(server: &FtpServer, sock: UnixStream) {
    let (report, finished) = crossbeam_channel::unbounded::<u64>();
    let reporter = sock.try_clone().and_then(|mut parent| {
        std::thread::Builder::new()
            .name("ftp-report".into())
            .spawn(move || {
                // a blocking write: the parent reads these in its own loop
                for id in finished {
                    if let Err(e) = parent.write_all(&id.to_le_bytes()) {
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
    let mut poll_loop = match PollLoop::new(
        server.ctx.clone(),
        Arc::clone(&server.events),
        Arc::default(),
    ) {
        Ok(p) => p,
        Err(e) => {
            log::error!("worker {}: {e}", std::process::id());
            return;
        }
    };
    if let Err(e) = sys::signal_pipe().and_then(|fd| poll_loop.stop_on(fd)) {
        log::error!(
            "worker {}: can't set up signal handling: {e}",
            std::process::id()
        );
    }
    let waker = poll_loop.waker();
    let (tx, rx) = crossbeam_channel::unbounded::<NewConn>();
    let receiver = std::thread::Builder::new()
        .name("ftp-handover".into())
        .spawn(move || {
            loop {
                match sys::recv_fd(&sock) {
                    Ok(Some((fd, id))) => {
                        let stream = TcpStream::from(fd);
                        let slot = Box::new(RemoteSlot {
                            id,
                            report: report.clone(),
                        });
                        match stream.peer_addr() {
                            Ok(peer) => {
                                if tx.send(NewConn { stream, peer, slot }).is_err() {
                                    break;
                                }
                                let _ = waker.wake();
                            }
                            Err(e) => log::debug!("handed-over connection already gone: {e}"),
                        }
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
}
