//! Fork per connection (pyftpdlib's `MultiprocessFTPServer`): a child is
//! forked for each connection, serves it and exits. Each child holds the
//! write end of a pipe; its end of file tells the parent to reap it at once,
//! so no zombie outlives its session, and a crash in a child touches nobody
//! else.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use mio::unix::SourceFd;
use mio::{Interest, Token};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::{accept_ready, in_child, parent_loop, parent_poll, stop_children, LISTENER, RELOADED};
use crate::server::reload::ReloadOnHangup;
use crate::server::{ConnLimits, ConnSlot, FtpServer};
use crate::sys::{self, Forked};

struct Child {
    pid: Pid,
    pipe: OwnedFd,
    _slot: ConnSlot,
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
        } else if tok == RELOADED {
            // sessions not logged in yet reload before their login check
            for child in children.values() {
                sys::hangup(child.pid);
            }
        } else if let Some(child) = children.remove(&tok.0) {
            let _ = registry.deregister(&mut SourceFd(&child.pipe.as_raw_fd()));
            let _ = waitpid(child.pid, None);
            // a child killed outright never gave its session slot back
            if let Ok(pid) = u32::try_from(child.pid.as_raw()) {
                server.ctx.shared.release_pid(pid);
            }
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
            // a login with a system identity makes this process that user for good
            crate::fs::identity::set_one_session_process();
            let mut ctx = server.ctx.clone();
            if server.handle_signals {
                ctx.authorizer = ReloadOnHangup::wrap(ctx.authorizer);
            }
            crate::server::run_session(
                ctx,
                Arc::clone(&server.events),
                stream,
                peer,
                crate::server::StopSource::Pipe(stop_fd),
            );
        }),
        Forked::Parent(pid) => {
            drop(write_end);
            drop(stream);
            Ok((pid, read_end))
        }
    }
}
