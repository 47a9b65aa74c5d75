//! Serving from a process of its own: [`FtpServer::spawn_process`].
//!
//! A program that embeds a forking server ([`ConcurrencyModel::Process`] or
//! [`ConcurrencyModel::Prefork`]) with [`FtpServer::spawn`] forks its
//! sessions from itself, so every session process inherits whatever the
//! program has open at that moment (its own client sockets included) and is
//! forked from a multi-threaded process. Forking one supervisor up front
//! gives the sessions a small single-threaded parent instead: they inherit
//! only what was open when the server was spawned.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::FtpServer;
use crate::config::ConcurrencyModel;
use crate::sys::{self, Forked};

/// How long [`ServerProcess`] waits beyond the shutdown grace period before
/// it kills a supervisor that does not exit.
const EXIT_SLACK: Duration = Duration::from_secs(10);

/// A server running in a child process of its own, started by
/// [`FtpServer::spawn_process`]. Dropping it stops the server as
/// [`ServerProcess::shutdown`] does.
#[derive(Debug)]
pub struct ServerProcess {
    pid: Option<Pid>,
    addr: SocketAddr,
    grace: Duration,
}

impl ServerProcess {
    /// The supervisor's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid.and_then(|p| u32::try_from(p.as_raw()).ok())
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop the server as SIGTERM does (idle sessions get `421`, transfers
    /// get the grace period, every child is reaped) and wait until its
    /// process has exited. A supervisor still running
    /// [`ServerConfig::shutdown_grace`](crate::ServerConfig::shutdown_grace)
    /// plus ten seconds later is killed, and that is an error, as is an
    /// unsuccessful exit status.
    ///
    /// # Errors
    /// Signalling or waiting for the process failed, the process had to be
    /// killed, or it exited unsuccessfully.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        let Some(pid) = self.pid.take() else {
            return Ok(());
        };
        sys::terminate(pid);
        let deadline = crate::session::later(Instant::now(), self.grace.saturating_add(EXIT_SLACK));
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
                Ok(WaitStatus::Exited(_, code)) => {
                    return Err(io::Error::other(format!(
                        "FTP server process {pid} exited with status {code}"
                    )))
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return Err(io::Error::other(format!(
                        "FTP server process {pid} was killed by {sig}"
                    )))
                }
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
            if Instant::now() >= deadline {
                sys::kill(pid);
                let _ = waitpid(pid, None);
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("FTP server process {pid} did not stop in time and was killed"),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::warn!("{e}");
        }
    }
}

impl FtpServer {
    /// Serve from a new child process (the supervisor), forked now, and
    /// return at once. The supervisor stops on SIGINT/SIGTERM like
    /// [`FtpServer::serve_until_signalled`], and when the returned handle is
    /// shut down or dropped; SIGHUP reloads the accounts there too.
    ///
    /// Use it to embed a forking model in a larger program: sessions are
    /// forked from the supervisor, a single-threaded process, and do not
    /// inherit what the program opens later. Event callbacks and the
    /// authorizer run in the server's processes, so they see the program as
    /// it was at this call; share their results through files, pipes or a
    /// database, not memory.
    ///
    /// # Errors
    /// As [`FtpServer::local_addr`], or when fork(2) fails. Errors of the
    /// supervisor itself are logged by it.
    ///
    /// ```no_run
    /// use ftpdlib::auth::MemoryAuthorizer;
    /// use ftpdlib::{ConcurrencyModel, ServerBuilder};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let users = MemoryAuthorizer::new();
    /// users.add_anonymous("/srv/ftp")?;
    /// let server = ServerBuilder::new(users)
    ///     .configure(|c| c.concurrency = ConcurrencyModel::Process)
    ///     .bind("127.0.0.1:0")?
    ///     .spawn_process()?;
    /// println!("serving on {}", server.local_addr());
    /// // ... later: idle sessions get 421, transfers get the grace period
    /// server.shutdown()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn_process(self) -> io::Result<ServerProcess> {
        let addr = self.local_addr()?;
        let grace = self.ctx.config.shutdown_grace;
        match sys::fork()? {
            Forked::Child => super::process::in_child(None, move || {
                if let Err(e) = self.serve_as_supervisor() {
                    log::error!("FTP server failed: {e}");
                    log::logger().flush();
                    std::process::exit(1);
                }
            }),
            Forked::Parent(pid) => {
                // the listening socket now belongs to the child
                drop(self);
                Ok(ServerProcess {
                    pid: Some(pid),
                    addr,
                    grace,
                })
            }
        }
    }

    /// The supervisor's body: serve until SIGINT/SIGTERM, reload on SIGHUP.
    fn serve_as_supervisor(mut self) -> io::Result<()> {
        match self.ctx.config.concurrency {
            ConcurrencyModel::Process | ConcurrencyModel::Prefork { .. } => {
                self.handle_signals = true;
            }
            ConcurrencyModel::ThreadPool | ConcurrencyModel::Poll => {
                // a thread turns the signal into a shutdown request
                let pipe = sys::signal_pipe()?;
                let handle = self.shutdown_handle()?;
                let mut poll = Poll::new()?;
                poll.registry().register(
                    &mut SourceFd(&pipe.as_raw_fd()),
                    Token(0),
                    Interest::READABLE,
                )?;
                std::thread::Builder::new()
                    .name("ftp-signals".into())
                    .spawn(move || {
                        let _pipe = pipe;
                        let mut events = Events::with_capacity(1);
                        loop {
                            match poll.poll(&mut events, None) {
                                Ok(()) if !events.is_empty() => break,
                                Ok(()) => {}
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                Err(e) => {
                                    log::error!("can't wait for signals: {e}");
                                    return;
                                }
                            }
                        }
                        log::info!("received a shutdown signal");
                        handle.shutdown();
                    })?;
                super::reload::reload_on_hangup(std::sync::Arc::clone(&self.ctx.authorizer))?;
            }
        }
        self.serve_forever()
    }
}
