//! `SIGHUP`: read the accounts again ([`Authorizer::reload`]) without
//! dropping a session, in every concurrency model.
//!
//! - Thread pool and poll (one process): a thread waits on the signal's
//!   pipe and reloads the shared authorizer ([`reload_on_hangup`]).
//! - Fork per connection and pre-fork: the parent's loop watches the pipe
//!   and reloads its own copy first, so that the children it forks from
//!   then on start with the new accounts. Only when that succeeded does it
//!   pass the signal on to the children already running (their copies are
//!   their own since the fork): each of them reloads before its next login
//!   check ([`ReloadOnHangup`]), so a session that logged in earlier costs
//!   nothing, and a file that does not parse is reported once, by the
//!   parent.
//!
//! A reload that fails keeps the accounts in force and logs one error line
//! (for a users file: its path, the line and what is wrong there).

use std::io::{self, Read};
use std::sync::Arc;

use crate::auth::{Account, AuthError, Authorizer};
use crate::sys;

/// Reload `authorizer` and, when that succeeded, run `then`; then log the
/// outcome (a success at debug level when `quiet`).
pub(super) fn reload(authorizer: &dyn Authorizer, quiet: bool, then: impl FnOnce()) {
    match authorizer.reload() {
        Ok(()) => {
            then();
            if quiet {
                log::debug!(
                    "SIGHUP: accounts reloaded in process {}",
                    std::process::id()
                );
            } else {
                log::info!("SIGHUP: accounts reloaded");
            }
        }
        Err(AuthError::Internal(why)) => {
            log::error!("SIGHUP: reloading the accounts failed, those in force are kept: {why}");
        }
        Err(e) => {
            log::error!("SIGHUP: reloading the accounts failed, those in force are kept: {e}");
        }
    }
}

/// Reload `authorizer` on every SIGHUP to this process, from a thread of
/// its own (thread pool and poll models).
///
/// # Errors
/// When the signal handler, its pipe or the thread cannot be set up.
pub(super) fn reload_on_hangup(authorizer: Arc<dyn Authorizer>) -> io::Result<()> {
    let pipe = sys::hangup_pipe(false)?;
    std::thread::Builder::new()
        .name("ftp-reload".into())
        .spawn(move || {
            let mut pipe = std::fs::File::from(pipe);
            // signals that arrive together are one reload
            let mut buf = [0u8; 64];
            loop {
                match pipe.read(&mut buf) {
                    // the write end was replaced: a newer thread took over
                    Ok(0) => return,
                    Ok(_) => {
                        reload(&*authorizer, false, || {});
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::error!("can't wait for SIGHUP: {e}");
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

/// Empty the (non-blocking) signal pipe of a process-model parent.
pub(super) fn drain(pipe: &std::os::fd::OwnedFd) {
    let mut buf = [0u8; 64];
    loop {
        match nix::unistd::read(pipe, &mut buf) {
            Ok(n) if n == buf.len() => {}
            Err(nix::errno::Errno::EINTR) => {}
            _ => return,
        }
    }
}

/// The authorizer of a forked child: reloads the inner one before the
/// first login check after the parent passed a SIGHUP on.
pub(super) struct ReloadOnHangup(Arc<dyn Authorizer>);

impl ReloadOnHangup {
    /// Route this child's SIGHUP to a flag and wrap `inner`; on failure to
    /// do so, `inner` as it is (logged).
    pub(super) fn wrap(inner: Arc<dyn Authorizer>) -> Arc<dyn Authorizer> {
        match sys::hangup_flag() {
            Ok(()) => Arc::new(ReloadOnHangup(inner)),
            Err(e) => {
                log::error!("can't watch for SIGHUP: {e}");
                inner
            }
        }
    }
}

impl Authorizer for ReloadOnHangup {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        if sys::take_hangup() {
            // the parent logged the reload; a failure here is news
            reload(&*self.0, true, || {});
        }
        self.0.authenticate(username, password)
    }

    fn reload(&self) -> Result<(), AuthError> {
        self.0.reload()
    }
}
