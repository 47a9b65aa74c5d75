//! Pre-fork: `workers` processes run the poll loop; the parent accepts,
//! checks the limits and passes each connection to the least loaded worker
//! over a Unix socket (`SCM_RIGHTS`). Workers report finished sessions on
//! the same socket; a worker that dies is reaped, its sessions released,
//! and a new one started.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::{accept_ready, in_child, parent_loop, Handover, Parent, Wakes, LISTENER, RELOADED};
use crate::server::poll::{NewConn, PollLoop};
use crate::server::reload::ReloadOnHangup;
use crate::server::{ConnLimits, ConnSlot, FtpServer};
use crate::session::replies;
use crate::sys::{self, Forked};

struct Worker {
    pid: Pid,
    sock: UnixStream,
    load: usize,
    /// Bytes of a finished-session message not complete yet.
    partial: Vec<u8>,
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
    let mut sessions: HashMap<u64, (usize, ConnSlot)> = HashMap::new();
    let mut next_token = 1usize;
    let mut next_id = 1u64;
    for _ in 0..n {
        let w = spawn_worker(&server, &mut pool)?;
        parent.registry().register(
            &mut SourceFd(&w.sock.as_raw_fd()),
            Token(next_token),
            Interest::READABLE,
        )?;
        pool.insert(next_token, w);
        next_token += 1;
    }
    // (every wake-up is an event here: `soon` is never set)
    let wakes = Wakes::default();
    parent_loop(&server, &mut parent, &wakes, |registry, tok| {
        if tok == RELOADED {
            // each worker reloads before its next login check
            for w in pool.values() {
                sys::hangup(w.pid);
            }
            return;
        }
        if tok == LISTENER {
            accept_ready(&server, &limits, &wakes, |stream, peer, slot| {
                let id = next_id;
                next_id += 1;
                match hand_over(&mut pool, &stream, id, peer) {
                    Ok(token) => {
                        sessions.insert(id, (token, slot));
                    }
                    Err(e) => {
                        log::error!("{peer}: can't hand over to a worker: {e}");
                        crate::server::refuse(stream, &replies::service_not_available());
                    }
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
                // its sessions never gave their slots back
                if let Ok(pid) = u32::try_from(dead.pid.as_raw()) {
                    server.ctx.shared.release_pid(pid);
                }
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
    stop_workers(&server, &mut parent.poll, pool);
    Ok(())
}

/// Pass a connection to the least loaded worker that can take it now; when
/// every worker's socket is full (a burst of connections faster than the
/// workers pick them up), wait up to two seconds for the least loaded one.
/// Returns the chosen worker's token.
fn hand_over(
    pool: &mut HashMap<usize, Worker>,
    stream: &TcpStream,
    id: u64,
    peer: SocketAddr,
) -> io::Result<usize> {
    let mut order: Vec<(usize, usize)> = pool.iter().map(|(&t, w)| (w.load, t)).collect();
    order.sort_unstable();
    let mut last = io::Error::other("no worker is running");
    for &(_, token) in &order {
        let Some(w) = pool.get_mut(&token) else {
            continue;
        };
        match Handover::send(&w.sock, stream, id, peer) {
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
    let sent = Handover::send(&w.sock, stream, id, peer);
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
    let deadline = crate::session::later(
        std::time::Instant::now(),
        server
            .ctx
            .config
            .shutdown_grace
            .saturating_add(Duration::from_secs(10)),
    );
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
        Forked::Child => in_child(None, || {
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
                match Handover::recv(&sock, None) {
                    Ok(Some((stream, h))) => {
                        let slot = Box::new(RemoteSlot {
                            id: h.tag,
                            report: report.clone(),
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
}
