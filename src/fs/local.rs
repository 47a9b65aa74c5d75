//! The local filesystem with a virtual root.

use std::io;
use std::path::{Path, PathBuf};

use super::{DirEntries, Filesystem, FilesystemFactory, ReadFile, WriteFile, WriteMode};
use crate::auth::Account;
use crate::proto::listing::EntryInfo;

/// A directory on the local disk seen as `/`. No path, `..`, symlink or
/// rename reaches outside it; the check is made on the path that is
/// actually opened (descriptor-relative resolution), so a symlink swapped in
/// between two calls cannot escape either.
pub struct LocalFs {
    root: PathBuf,
}

impl LocalFs {
    /// A filesystem rooted at `root` (which must be an existing directory).
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let _ = root;
        todo!("fs helper")
    }
}

impl Filesystem for LocalFs {
    fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        let _ = (path, &self.root);
        todo!("fs helper")
    }
    fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        let _ = path;
        todo!("fs helper")
    }
    fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries> {
        let _ = path;
        todo!("fs helper")
    }
    fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>> {
        let _ = path;
        todo!("fs helper")
    }
    fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>> {
        let _ = (path, mode);
        todo!("fs helper")
    }
    fn create_unique(&self, dir: &[u8], prefix: &str) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)> {
        let _ = (dir, prefix);
        todo!("fs helper")
    }
    fn mkdir(&self, path: &[u8]) -> io::Result<()> {
        let _ = path;
        todo!("fs helper")
    }
    fn rmdir(&self, path: &[u8]) -> io::Result<()> {
        let _ = path;
        todo!("fs helper")
    }
    fn remove_file(&self, path: &[u8]) -> io::Result<()> {
        let _ = path;
        todo!("fs helper")
    }
    fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        let _ = (from, to);
        todo!("fs helper")
    }
    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
        let _ = (path, mode);
        todo!("fs helper")
    }
    fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()> {
        let _ = (path, secs);
        todo!("fs helper")
    }
    fn display_path(&self, path: &[u8]) -> PathBuf {
        let _ = path;
        todo!("fs helper")
    }
}

/// The default factory: a [`LocalFs`] rooted at the account's home directory.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalFsFactory;

impl FilesystemFactory for LocalFsFactory {
    fn open(&self, account: &Account) -> io::Result<Box<dyn Filesystem>> {
        Ok(Box::new(LocalFs::new(&account.home)?))
    }
}
