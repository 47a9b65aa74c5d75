//! Running every filesystem operation of a session as its system user.
//!
//! [`AsUser`] wraps the [`Filesystem`] of an account that has an
//! [`Identity`]: each call switches the calling thread's filesystem
//! credentials (fsuid, fsgid, supplementary groups) to the user's for the
//! time of the call and back (see [`crate::sys::ThreadFsIdentity`]), on
//! whichever thread runs it (a session's own thread, a worker of the poll
//! loop, the poll thread itself for a fast local disk). The kernel then
//! decides what the user may do, and files the user creates are theirs
//! (pyftpdlib's `UnixAuthorizer` does the same with `seteuid` around each
//! operation, for its whole single-threaded process).
//!
//! A process that serves a single session (the multi-proc model) instead
//! drops its privileges for good at login ([`enter_for_good`]); the
//! switches then find the process already is the user and change nothing.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{DirEntries, Filesystem, ReadFile, WriteFile, WriteMode};
use crate::auth::Identity;
use crate::proto::listing::EntryInfo;
use crate::sys::ThreadFsIdentity;

/// Set in a process that exists for one session (a multi-proc child).
static ONE_SESSION_PROCESS: AtomicBool = AtomicBool::new(false);

/// Mark this process as serving one session only: a login with a system
/// identity then drops the process's privileges for good.
pub(crate) fn set_one_session_process() {
    ONE_SESSION_PROCESS.store(true, Ordering::SeqCst);
}

/// Whether logins in this process drop its privileges for good.
pub(crate) fn is_one_session_process() -> bool {
    ONE_SESSION_PROCESS.load(Ordering::SeqCst)
}

/// Switch the calling thread to `id` until the guard drops.
///
/// # Errors
/// As [`ThreadFsIdentity::switch`].
pub(crate) fn enter(id: &Identity) -> io::Result<ThreadFsIdentity> {
    ThreadFsIdentity::switch(id.uid, id.gid, &id.groups)
}

/// Become `id` for good, in every thread of the process.
///
/// # Errors
/// As [`crate::sys::drop_privileges`].
pub(crate) fn enter_for_good(id: &Identity) -> io::Result<()> {
    crate::sys::drop_privileges(id.uid, id.gid, &id.groups)
}

/// A [`Filesystem`] whose every call runs as a system user.
pub(crate) struct AsUser {
    inner: Box<dyn Filesystem>,
    id: Identity,
}

impl AsUser {
    /// Wrap `inner` so that its calls run as `id`.
    pub(crate) fn new(inner: Box<dyn Filesystem>, id: Identity) -> Self {
        AsUser { inner, id }
    }

    fn run<T>(&self, f: impl FnOnce(&dyn Filesystem) -> io::Result<T>) -> io::Result<T> {
        let _as_user = enter(&self.id)?;
        f(&*self.inner)
    }
}

/// Directory entries read as the user (each entry's `stat` is a check of
/// the kernel too).
struct EntriesAsUser {
    inner: DirEntries,
    id: Identity,
    /// Entries read in the last switch, not yet handed out.
    ready: std::collections::VecDeque<EntryInfo>,
    /// The directory is read to its end (or could not be read on).
    done: bool,
}

/// Entries read per switch of identity: a switch and its way back cost
/// about fifteen system calls, as much as several entries' `stat`; a
/// batch keeps a 50,000-entry listing as fast as the server's own
/// (0.17 s), where one switch per entry took 1.0 s. Still lazy: a
/// listing holds at most this many entries beyond what was sent.
const ENTRIES_PER_SWITCH: usize = 256;

impl EntriesAsUser {
    fn new(inner: DirEntries, id: Identity) -> Self {
        EntriesAsUser {
            inner,
            id,
            ready: std::collections::VecDeque::with_capacity(ENTRIES_PER_SWITCH),
            done: false,
        }
    }
}

impl Iterator for EntriesAsUser {
    type Item = EntryInfo;

    fn next(&mut self) -> Option<EntryInfo> {
        if self.ready.is_empty() && !self.done {
            match enter(&self.id) {
                Ok(_as_user) => {
                    while self.ready.len() < ENTRIES_PER_SWITCH {
                        match self.inner.next() {
                            Some(e) => self.ready.push_back(e),
                            None => {
                                self.done = true;
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    log::error!("listing stopped: {e}");
                    self.done = true;
                }
            }
        }
        self.ready.pop_front()
    }
}

/// An upload whose every call runs as the user: the writes too, not only
/// the commit (a rename) and the abort (an unlink). A write made with
/// the server's capabilities would keep the set-user-ID and set-group-ID
/// bits of the file written (the kernel clears them when someone without
/// `CAP_FSETID` writes), and could fill the blocks reserved for root; so
/// the file's descriptor is not handed out ([`WriteFile::raw_fd`] is
/// `None`) for a driver to write on its own, unless the process is no
/// longer root (then every write is the user's).
struct WriteAsUser {
    /// `None` once committed or aborted.
    inner: Option<Box<dyn WriteFile>>,
    id: Identity,
}

impl WriteAsUser {
    fn with_file<T>(
        &mut self,
        f: impl FnOnce(&mut Box<dyn WriteFile>) -> io::Result<T>,
    ) -> io::Result<T> {
        let file = self
            .inner
            .as_mut()
            .ok_or_else(|| io::Error::other("upload already ended"))?;
        let _as_user = enter(&self.id)?;
        f(file)
    }

    fn finish(mut self, f: impl FnOnce(Box<dyn WriteFile>) -> io::Result<()>) -> io::Result<()> {
        let Some(file) = self.inner.take() else {
            return Ok(());
        };
        let as_user = enter(&self.id);
        match as_user {
            Ok(_as_user) => f(file),
            Err(e) => {
                // not as root either: the file is dropped in `Drop` below,
                // as the user or not at all
                self.inner = Some(file);
                Err(e)
            }
        }
    }
}

impl io::Write for WriteAsUser {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with_file(|f| f.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.with_file(|f| f.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.with_file(|f| f.flush())
    }
}

impl WriteFile for WriteAsUser {
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        // A process that is no longer root (multi-proc, after the login
        // dropped its privileges) writes as the user whoever writes.
        if nix::unistd::geteuid().is_root() {
            None
        } else {
            self.inner.as_ref().and_then(|f| f.raw_fd())
        }
    }
    fn commit(self: Box<Self>) -> io::Result<()> {
        (*self).finish(|f| f.commit())
    }
    fn abort(self: Box<Self>) -> io::Result<()> {
        (*self).finish(|f| f.abort())
    }
}

impl Drop for WriteAsUser {
    /// Dropped neither committed nor aborted: the inner file's own clean-up
    /// (removing a temporary file) runs as the user too.
    fn drop(&mut self) {
        if let Some(file) = self.inner.take() {
            match enter(&self.id) {
                Ok(_as_user) => drop(file),
                Err(e) => {
                    log::error!("an unfinished upload left as it is: {e}");
                    std::mem::forget(file);
                }
            }
        }
    }
}

impl AsUser {
    fn wrap_write(&self, file: Box<dyn WriteFile>) -> Box<dyn WriteFile> {
        Box::new(WriteAsUser {
            inner: Some(file),
            id: self.id.clone(),
        })
    }
}

impl Filesystem for AsUser {
    fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.run(|fs| fs.metadata(path))
    }
    fn metadata_to_enter(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.run(|fs| fs.metadata_to_enter(path))
    }
    fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.run(|fs| fs.symlink_metadata(path))
    }
    fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries> {
        let inner = self.run(|fs| fs.read_dir(path))?;
        Ok(Box::new(EntriesAsUser::new(inner, self.id.clone())))
    }
    fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>> {
        // reading an open descriptor needs no further check
        self.run(|fs| fs.open_read(path))
    }
    fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>> {
        let file = self.run(|fs| fs.open_write(path, mode))?;
        Ok(self.wrap_write(file))
    }
    fn create_unique(&self, dir: &[u8], prefix: &str) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)> {
        let (name, file) = self.run(|fs| fs.create_unique(dir, prefix))?;
        Ok((name, self.wrap_write(file)))
    }
    fn mkdir(&self, path: &[u8]) -> io::Result<()> {
        self.run(|fs| fs.mkdir(path))
    }
    fn rmdir(&self, path: &[u8]) -> io::Result<()> {
        self.run(|fs| fs.rmdir(path))
    }
    fn remove_file(&self, path: &[u8]) -> io::Result<()> {
        self.run(|fs| fs.remove_file(path))
    }
    fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        self.run(|fs| fs.rename(from, to))
    }
    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
        self.run(|fs| fs.chmod(path, mode))
    }
    fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()> {
        self.run(|fs| fs.set_mtime(path, secs))
    }
    fn display_path(&self, path: &[u8]) -> PathBuf {
        self.inner.display_path(path)
    }
    fn is_local_fast(&self) -> bool {
        self.inner.is_local_fast()
    }
}

#[cfg(test)]
mod tests;
