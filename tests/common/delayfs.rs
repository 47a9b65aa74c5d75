//! A slow [`Filesystem`] and a slow [`Authorizer`] for library-level tests:
//! each wraps a real one and sleeps before every call, like a network
//! filesystem or a user database with a slow round trip.
#![allow(dead_code)]

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ftpdlib::auth::{Account, AuthError, Authorizer};
use ftpdlib::fs::{
    DirEntries, Filesystem, FilesystemFactory, LocalFsFactory, ReadFile, WriteFile, WriteMode,
};
use ftpdlib::proto::listing::EntryInfo;

/// A filesystem whose every call waits `delay`, then runs on `inner`.
///
/// Only [`Filesystem::display_path`] (a path computation for logs, no I/O)
/// is not delayed. Holds nothing but the inner filesystem and a duration, so
/// it is `Sync` whenever the inner one is.
pub struct DelayFs {
    inner: Box<dyn Filesystem>,
    delay: Duration,
    marks: Option<PathBuf>,
}

/// Names the marks of one process apart.
static MARKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl DelayFs {
    pub fn new(inner: Box<dyn Filesystem>, delay: Duration) -> DelayFs {
        DelayFs {
            inner,
            delay,
            marks: None,
        }
    }

    fn wait(&self) {
        if let Some(dir) = &self.marks {
            // a file per call that started, seen from any process (the
            // forking models run the filesystem in their children)
            let n = MARKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = std::fs::File::create(dir.join(format!("{}-{n}", std::process::id())));
        }
        std::thread::sleep(self.delay);
    }
}

impl Filesystem for DelayFs {
    fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.wait();
        self.inner.metadata(path)
    }
    fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.wait();
        self.inner.symlink_metadata(path)
    }
    fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries> {
        self.wait();
        self.inner.read_dir(path)
    }
    fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>> {
        self.wait();
        self.inner.open_read(path)
    }
    fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>> {
        self.wait();
        self.inner.open_write(path, mode)
    }
    fn create_unique(&self, dir: &[u8], prefix: &str) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)> {
        self.wait();
        self.inner.create_unique(dir, prefix)
    }
    fn mkdir(&self, path: &[u8]) -> io::Result<()> {
        self.wait();
        self.inner.mkdir(path)
    }
    fn rmdir(&self, path: &[u8]) -> io::Result<()> {
        self.wait();
        self.inner.rmdir(path)
    }
    fn remove_file(&self, path: &[u8]) -> io::Result<()> {
        self.wait();
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        self.wait();
        self.inner.rename(from, to)
    }
    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
        self.wait();
        self.inner.chmod(path, mode)
    }
    fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()> {
        self.wait();
        self.inner.set_mtime(path, secs)
    }
    fn display_path(&self, path: &[u8]) -> PathBuf {
        self.inner.display_path(path)
    }
}

/// Opens a [`DelayFs`] over a [`LocalFsFactory`] filesystem (a virtual root
/// at the account's home). Opening itself is not delayed: it runs with the
/// login check, which [`SlowAuthorizer`] slows down.
#[derive(Default)]
pub struct DelayFsFactory {
    inner: LocalFsFactory,
    delay: Duration,
    marks: Option<PathBuf>,
}

impl DelayFsFactory {
    pub fn new(delay: Duration) -> DelayFsFactory {
        DelayFsFactory {
            inner: LocalFsFactory::default(),
            delay,
            marks: None,
        }
    }

    /// The same, leaving a file in `dir` (outside the served tree) as each
    /// delayed call starts, so that a test can tell how many are under way.
    pub fn marking(delay: Duration, dir: PathBuf) -> DelayFsFactory {
        DelayFsFactory {
            marks: Some(dir),
            ..DelayFsFactory::new(delay)
        }
    }
}

impl FilesystemFactory for DelayFsFactory {
    fn open(&self, account: &Account) -> io::Result<Box<dyn Filesystem>> {
        Ok(Box::new(DelayFs {
            inner: self.inner.open(account)?,
            delay: self.delay,
            marks: self.marks.clone(),
        }))
    }
}

/// An authorizer whose `authenticate` waits `delay`, then asks `inner`.
pub struct SlowAuthorizer {
    inner: Arc<dyn Authorizer>,
    delay: Duration,
}

impl SlowAuthorizer {
    pub fn new(inner: Arc<dyn Authorizer>, delay: Duration) -> SlowAuthorizer {
        SlowAuthorizer { inner, delay }
    }
}

impl Authorizer for SlowAuthorizer {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        std::thread::sleep(self.delay);
        self.inner.authenticate(username, password)
    }
}
