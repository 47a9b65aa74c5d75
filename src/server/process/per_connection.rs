//! Fork per connection (pyftpdlib's `MultiprocessFTPServer`): each
//! connection is served by a child process of its own, which exits when the
//! session ends. Each child holds the write end of a pipe; its end of file
//! tells the parent to reap it at once, so no zombie outlives its session,
//! and a crash in a child touches nobody else.
//!
//! The parent keeps one child forked ahead, the *spare*: it waits for the
//! parent to pass it the next connection over a Unix socket
//! (`SCM_RIGHTS`), and the parent forks the next spare while that session
//! runs. A client then does not wait for a fork (0.15-0.2 ms on a 2-core
//! VM, more for a parent with a large address space); pyftpdlib forks
//! after the accept. When there is no spare (it died, or the fork failed)
//! the connection's child is forked as before.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Token};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::{
    accept_ready, in_child, parent_loop, parent_poll, reap_by, stop_children, Handover, LISTENER,
    RELOADED,
};
use crate::server::reload::ReloadOnHangup;
use crate::server::{ConnLimits, ConnSlot, FtpServer};
use crate::session::SessionContext;
use crate::sys::{self, Forked};

struct Child {
    pid: Pid,
    pipe: OwnedFd,
    _slot: ConnSlot,
}

/// The process name (`comm`) of a spare while it waits.
const SPARE_NAME: &std::ffi::CStr = c"ftp-spare";

/// A child forked ahead of its connection, waiting for it on `chan`.
struct Spare {
    pid: Pid,
    /// The parent's end of the socket the connection is passed on.
    chan: UnixStream,
    /// The read end of the child's life pipe (see [`Child::pipe`]).
    pipe: OwnedFd,
    /// The life pipe's token in the parent's poller.
    token: usize,
}

/// Fork per connection.
pub(in crate::server) fn serve_process(server: FtpServer) -> io::Result<()> {
    let limits = ConnLimits::new(
        server.ctx.config.max_cons,
        server.ctx.config.max_cons_per_ip,
    );
    let mut poll = parent_poll(&server)?;
    crate::server::log_start(&server)?;
    let mut children: HashMap<usize, Child> = HashMap::new();
    let mut next = 1usize;
    let mut spare = make_spare(&server, poll.registry(), &mut next);
    parent_loop(&server, &mut poll, |registry, tok| {
        if tok == LISTENER {
            let mut spawned = Vec::new();
            accept_ready(&server, &limits, |stream, peer, slot| {
                let started = match spare.take() {
                    Some(s) => match Handover::send(&s.chan, &stream, 0, peer) {
                        Ok(()) => Ok((s.pid, s.pipe, Some(s.token))),
                        Err(e) => {
                            log::warn!("spare session process {}: {e}", s.pid);
                            end_spare(s, registry);
                            fork_session(&server, stream, peer).map(|(p, f)| (p, f, None))
                        }
                    },
                    None => fork_session(&server, stream, peer).map(|(p, f)| (p, f, None)),
                };
                match started {
                    Ok((pid, pipe, token)) => spawned.push((
                        Child {
                            pid,
                            pipe,
                            _slot: slot,
                        },
                        token,
                    )),
                    Err(e) => log::error!("{peer}: can't fork: {e}"),
                }
            });
            for (child, token) in spawned {
                // a spare's life pipe is watched already, under its token
                if let Some(token) = token {
                    children.insert(token, child);
                    continue;
                }
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
            // the next connection's process, forked while this one's session runs
            if spare.is_none() && !server.stop.load(std::sync::atomic::Ordering::SeqCst) {
                spare = make_spare(&server, registry, &mut next);
            }
        } else if tok == RELOADED {
            // sessions not logged in yet reload before their login check
            for pid in children
                .values()
                .map(|c| c.pid)
                .chain(spare.iter().map(|s| s.pid))
            {
                sys::hangup(pid);
            }
        } else if let Some(child) = children.remove(&tok.0) {
            let _ = registry.deregister(&mut SourceFd(&child.pipe.as_raw_fd()));
            let _ = waitpid(child.pid, None);
            // a child killed outright never gave its session slot back
            if let Ok(pid) = u32::try_from(child.pid.as_raw()) {
                server.ctx.shared.release_pid(pid);
            }
        } else if spare.as_ref().is_some_and(|s| s.token == tok.0) {
            // the spare died before it had a connection (killed, or it
            // failed to start): the next connection forks its own child,
            // and a new spare is forked after it
            if let Some(s) = spare.take() {
                log::warn!("spare session process {} ended unexpectedly", s.pid);
                end_spare(s, registry);
            }
        }
    })?;
    if let Some(s) = spare.take() {
        end_spare(s, poll.registry());
    }
    stop_children(&server, children.values().map(|c| c.pid));
    Ok(())
}

/// Fork a spare and watch its life pipe; `None` (logged) if that fails.
fn make_spare(server: &FtpServer, registry: &mio::Registry, next: &mut usize) -> Option<Spare> {
    let spare = match fork_spare(server, *next) {
        Ok(s) => s,
        Err(e) => {
            log::error!("can't fork a spare session process: {e}");
            return None;
        }
    };
    *next += 1;
    if let Err(e) = registry.register(
        &mut SourceFd(&spare.pipe.as_raw_fd()),
        Token(spare.token),
        Interest::READABLE,
    ) {
        log::error!("can't watch spare session process {}: {e}", spare.pid);
        end_spare(spare, registry);
        return None;
    }
    Some(spare)
}

/// Stop a spare that has no connection and reap it: the end of file on its
/// socket ends its wait. One that has not exited a second later (stopped:
/// it never reads that end of file) is killed, as it serves nobody.
fn end_spare(spare: Spare, registry: &mio::Registry) {
    let _ = registry.deregister(&mut SourceFd(&spare.pipe.as_raw_fd()));
    drop(spare.chan);
    reap_by(spare.pid, Instant::now() + SPARE_EXIT_LIMIT);
}

/// How long a spare told to stop may take to exit before it is killed.
const SPARE_EXIT_LIMIT: Duration = Duration::from_secs(1);

/// Fork a spare that will serve the connection the parent passes it.
fn fork_spare(server: &FtpServer, token: usize) -> io::Result<Spare> {
    let (parent_end, child_end) = UnixStream::pair()?;
    let (read_end, write_end) = nix::unistd::pipe().map_err(io::Error::from)?;
    match sys::fork()? {
        Forked::Child => in_child(|| {
            drop(read_end);
            drop(parent_end);
            let _life = write_end;
            let Some((stop, ctx)) = prepare_child(server) else {
                return;
            };
            // named while it waits (`ps`, `top`), its own name back once it serves
            let name = nix::sys::prctl::get_name().ok();
            let _ = nix::sys::prctl::set_name(SPARE_NAME);
            // No deadline: waiting for a connection is the spare's idle
            // state, as it is a listener's. The wait ends with the parent's
            // connection, with end of file when the parent drops its end
            // (it stops, or it dies), or with SIGINT/SIGTERM.
            let (stream, peer) = match Handover::recv(&child_end, Some(stop.as_fd())) {
                Ok(Some((stream, h))) => (stream, h.peer),
                Ok(None) => return,
                Err(e) => {
                    log::error!(
                        "spare session process {}: receiving a connection: {e}",
                        std::process::id()
                    );
                    return;
                }
            };
            drop(child_end);
            if let Some(name) = name {
                let _ = nix::sys::prctl::set_name(&name);
            }
            serve(server, ctx, stream, peer, &stop);
        }),
        Forked::Parent(pid) => {
            drop(child_end);
            drop(write_end);
            parent_end.set_nonblocking(true)?;
            Ok(Spare {
                pid,
                chan: parent_end,
                pipe: read_end,
                token,
            })
        }
    }
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
            if let Some((stop, ctx)) = prepare_child(server) {
                serve(server, ctx, stream, peer, &stop);
            }
        }),
        Forked::Parent(pid) => {
            drop(write_end);
            drop(stream);
            Ok((pid, read_end))
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

/// Serve the one session of this child process.
fn serve(
    server: &FtpServer,
    ctx: SessionContext,
    stream: TcpStream,
    peer: SocketAddr,
    stop: &OwnedFd,
) {
    crate::server::run_session(
        ctx,
        Arc::clone(&server.events),
        stream,
        peer,
        crate::server::StopSource::Pipe(stop.as_raw_fd()),
    );
}
