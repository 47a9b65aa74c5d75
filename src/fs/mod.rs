//! The filesystem abstraction (pyftpdlib's `AbstractedFS`).
//!
//! A [`Filesystem`] is opened per logged-in user by a [`FilesystemFactory`].
//! Every path it receives is a *virtual* path (see [`crate::proto::path`]):
//! absolute, normalised, `/` being the user's root. Implementations decide
//! what that root is: [`LocalFs`] confines every operation to a directory,
//! race-free; a user's own implementation can serve a database or an object
//! store.

#[cfg(unix)]
pub(crate) mod identity;
mod local;
mod memory;

#[cfg(unix)]
pub(crate) use local::finish_background_work;
pub use local::{LocalFs, LocalFsFactory};
pub use memory::{MemoryFs, MemoryFsFactory};

use std::io::{self, Read, Seek, Write};
#[cfg(unix)]
use std::os::fd::RawFd;
/// On Windows, the file's handle (no transfer there asks for it: zero-copy
/// is Linux's `sendfile(2)` and `splice(2)`).
#[cfg(windows)]
use std::os::windows::io::RawHandle as RawFd;
use std::path::PathBuf;

use crate::auth::Account;
use crate::proto::listing::EntryInfo;

/// A file opened for reading (RETR).
pub trait ReadFile: Read + Seek + Send {
    /// The OS file descriptor, when the file is a plain OS file (enables sendfile).
    fn raw_fd(&self) -> Option<RawFd>;
}

/// A file opened for writing (STOR, APPE, STOU).
///
/// Exactly one of [`WriteFile::commit`] or [`WriteFile::abort`] is called at the end of the transfer.
pub trait WriteFile: Write + Send {
    /// The OS file descriptor, when the file is a plain OS file.
    fn raw_fd(&self) -> Option<RawFd>;
    /// The upload completed: flush and make the content visible under its final name
    /// (for a replacing upload: atomically rename the temporary file over the target).
    fn commit(self: Box<Self>) -> io::Result<()>;
    /// The upload did not complete. A replacing upload removes its temporary file and
    /// leaves the old file whole; a new file, an append or a resumed upload keeps
    /// the bytes written so far, so that the client can resume.
    fn abort(self: Box<Self>) -> io::Result<()>;
}

/// How [`Filesystem::open_write`] opens a file.
///
/// More modes may come: an implementation refuses one it does not know
/// with [`io::ErrorKind::Unsupported`] (a `_` match arm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// STOR without REST: create, or replace an existing file only at commit.
    Replace,
    /// APPE: append to the file, creating it if missing.
    Append,
    /// STOR after `REST n`: open the existing file and write from offset `n`
    /// (error if the file is shorter than `n`).
    Resume(u64),
}

/// Directory entries, produced lazily (a 100k-entry directory is never held whole in memory).
pub type DirEntries = Box<dyn Iterator<Item = EntryInfo> + Send>;

/// A user's view of a filesystem (pyftpdlib's `AbstractedFS`). All paths
/// are virtual: absolute, normalised (no `.`, `..` or empty components),
/// raw bytes (RFC 2640: UTF-8 in practice, but not checked), `/` being the
/// user's root.
///
/// Calls may block as long as the storage takes: the server never makes
/// them on the thread of a poll loop, but on a worker thread (the session
/// asks for them as [`crate::session::Action::Fs`]), one call at a time per
/// session. `Sync` because that thread is not always the same one.
///
/// # Errors
///
/// Every fallible method returns an [`io::Error`]; the session answers it
/// like pyftpdlib does, mostly `550` with the error's text (the OS message
/// for an OS error, e.g. `550 No such file or directory.`; `450` for STOU,
/// `554` for a REST offset the file cannot take), so an implementation
/// should return errors whose text a client may see. The permission checks
/// (see [`crate::proto::perm`]) are made by the session before a call, not
/// by the filesystem.
pub trait Filesystem: Send + Sync {
    /// Metadata of `path`, following symlinks that stay inside the root.
    /// The returned entry's `name` is the last path component.
    fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo>;
    /// Metadata of `path` for CWD: as [`Filesystem::metadata`], and for a
    /// directory the caller may not enter (no search permission for who
    /// the filesystem acts as), the error `chdir(2)` would give
    /// (`EACCES`), as pyftpdlib's `chdir` does. The default is
    /// [`Filesystem::metadata`] (nothing is refused).
    fn metadata_to_enter(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.metadata(path)
    }
    /// Metadata of `path` itself (a symlink is not followed).
    fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo>;
    /// The entries of directory `path` (without `.` and `..`), not followed,
    /// in directory order; entries that vanish while listing are skipped.
    fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries>;
    /// Open a file for reading (RETR; REST offsets are applied with [`Seek`]).
    fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>>;
    /// Open a file for writing (STOR, APPE, STOR after REST); see [`WriteMode`].
    /// A [`WriteMode::Resume`] offset beyond the end of the file is an error.
    fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>>;
    /// Create a new file with a unique name in directory `dir` (STOU), named
    /// `prefix` plus a random suffix. Returns its virtual path and the file.
    /// An [`io::ErrorKind::AlreadyExists`] error means no free name was found
    /// (`450 No usable unique file name found.`).
    fn create_unique(&self, dir: &[u8], prefix: &str) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)>;
    /// Create a directory.
    fn mkdir(&self, path: &[u8]) -> io::Result<()>;
    /// Remove an empty directory.
    fn rmdir(&self, path: &[u8]) -> io::Result<()>;
    /// Remove a file (or a symlink).
    fn remove_file(&self, path: &[u8]) -> io::Result<()>;
    /// Rename `from` to `to`, both inside the root.
    fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()>;
    /// Change permission bits (SITE CHMOD; `mode` is the 3- or 4-digit octal
    /// argument, at most `0o7777`).
    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()>;
    /// Set the modification time (MFMT), in seconds since the Unix epoch, UTC.
    fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()>;
    /// The path to show in logs and pass to event callbacks (for a local
    /// filesystem, the real path on disk).
    fn display_path(&self, path: &[u8]) -> PathBuf;
    /// Whether every call of this filesystem and of the files and listings it
    /// returns completes in about the time of a local disk access: no
    /// network round trip, no user-space daemon, no remote store (so NFS,
    /// SMB/CIFS, 9p, Ceph, any FUSE mount or object store answer `false`).
    ///
    /// When `true`, a driver whose thread serves many sessions calls the
    /// files and listings of transfers on that thread, and uses zero-copy
    /// (`sendfile(2)`, `splice(2)`) where the files have descriptors. When
    /// `false` (the default: storage may be slow), that file work runs on
    /// worker threads, one bounded piece at a time, so that one slow read
    /// stalls no other session.
    fn is_local_fast(&self) -> bool {
        false
    }
}

/// Opens a [`Filesystem`] for an account at login.
pub trait FilesystemFactory: Send + Sync {
    /// The filesystem the logged-in `account` works in. Called once per
    /// successful login, off the poll loop's thread (it may block).
    ///
    /// # Errors
    /// Any [`io::Error`] refuses the login like a wrong password would (`530`,
    /// counted as a failed attempt); the error is logged (e.g. the home
    /// directory does not exist).
    fn open(&self, account: &Account) -> io::Result<Box<dyn Filesystem>>;
}
