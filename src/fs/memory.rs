//! An in-memory filesystem, for tests and fuzzing.
//!
//! [`MemoryFsFactory`] owns one tree of directories and files behind a mutex;
//! every [`MemoryFs`] it opens (one per logged-in session) works on that same
//! tree, so several sessions of one test see each other's files. Nothing ever
//! touches the disk.
//!
//! The behaviour follows a local POSIX filesystem closely enough that a
//! session's replies are the same as over [`super::LocalFs`]: errors carry the
//! OS codes Linux gives (`ENOENT`, `EEXIST`, `ENOTDIR`, `EISDIR`,
//! `ENOTEMPTY`, `ENAMETOOLONG`, ...), a file removed or renamed while open
//! stays readable and writable through its handle (the handle holds the file,
//! not its name), and a replacing upload keeps the old content until commit.
//! There are no symlinks, owners or devices: every entry is a directory or a
//! regular file owned by uid/gid 0.
//!
//! Every path a [`MemoryFs`] is asked about is recorded, before it is checked,
//! so that a test can assert that the session only ever used absolute,
//! normalised virtual paths ([`MemoryFsFactory::paths_seen`]). A path that is
//! not one (relative, `.`, `..`, an empty component, a trailing slash) is
//! refused with [`io::ErrorKind::InvalidInput`].

use super::RawFd;
use crate::sys::OsStrExt;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::{DirEntries, Filesystem, FilesystemFactory, ReadFile, WriteFile, WriteMode};
use crate::auth::Account;
use crate::proto::listing::{EntryInfo, FileKind};

/// Longest name of one path component, as on Linux (`NAME_MAX`).
const NAME_MAX: usize = 255;
/// The `dev` number every entry reports (for the MLSx `unique` fact).
const DEV: u64 = 0x6d656d;
/// Permission bits of a new file (`0o666` less a `022` umask).
const FILE_MODE: u32 = 0o644;
/// Permission bits of a new directory (`0o777` less a `022` umask).
const DIR_MODE: u32 = 0o755;
/// The size a directory reports, as on ext4.
const DIR_SIZE: u64 = 4096;
/// How many names [`Filesystem::create_unique`] tries.
const UNIQUE_TRIES: u32 = 64;

/// The shared in-memory tree, and the source of [`MemoryFs`] handles on it.
///
/// Cloning the factory shares the tree. Every account gets the same tree,
/// whatever its home directory.
#[derive(Debug, Clone, Default)]
pub struct MemoryFsFactory {
    shared: Arc<Shared>,
}

/// A user's view of a [`MemoryFsFactory`]'s tree (see the module documentation).
#[derive(Debug, Clone)]
pub struct MemoryFs {
    shared: Arc<Shared>,
}

/// What the factory and every filesystem and open file share.
#[derive(Debug, Default)]
struct Shared {
    tree: Mutex<Tree>,
    /// Every path asked about, in order.
    seen: Mutex<Vec<Vec<u8>>>,
}

/// The directory tree.
#[derive(Debug)]
struct Tree {
    root: DirNode,
    /// The next inode number.
    next_ino: u64,
    /// The next suffix [`Filesystem::create_unique`] tries.
    next_unique: u64,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            root: DirNode::new(1, now_secs()),
            next_ino: 2,
            next_unique: 0,
        }
    }
}

/// A directory.
#[derive(Debug)]
struct DirNode {
    children: BTreeMap<Vec<u8>, Node>,
    mode: u32,
    mtime: i64,
    ino: u64,
}

/// A regular file's content and metadata; open files hold it, not its name.
#[derive(Debug)]
struct FileNode {
    data: Vec<u8>,
    mode: u32,
    mtime: i64,
    ino: u64,
}

/// One directory entry.
#[derive(Debug)]
enum Node {
    Dir(DirNode),
    File(Arc<Mutex<FileNode>>),
}

/// The current time, seconds since the epoch.
fn now_secs() -> i64 {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Lock a mutex, going on with the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error carrying an OS error code.
fn os_error(code: i32) -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(code);
    // the Windows error of the same meaning, as a local file would give
    #[cfg(windows)]
    return crate::sys::errno_error(code);
}

/// The components of virtual path `path` (none for `/`).
///
/// Errors: [`io::ErrorKind::InvalidInput`] for a path that is not absolute and
/// normalised or that holds a NUL byte (as std refuses such a path), and
/// `ENAMETOOLONG` for a component longer than [`NAME_MAX`] bytes.
fn components(path: &[u8]) -> io::Result<Vec<&[u8]>> {
    let Some(rest) = path.strip_prefix(b"/") else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute virtual path",
        ));
    };
    if path.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file name contained an unexpected NUL byte",
        ));
    }
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for c in rest.split(|&b| b == b'/') {
        if c.is_empty() || c == b"." || c == b".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a normalised virtual path",
            ));
        }
        if c.len() > NAME_MAX {
            return Err(os_error(libc::ENAMETOOLONG));
        }
        out.push(c);
    }
    Ok(out)
}

impl DirNode {
    fn new(ino: u64, mtime: i64) -> Self {
        DirNode {
            children: BTreeMap::new(),
            mode: DIR_MODE,
            mtime,
            ino,
        }
    }

    /// The directory at `comps` below this one: `ENOENT` when a component is
    /// missing, `ENOTDIR` when one is a file.
    fn dir(&self, comps: &[&[u8]]) -> io::Result<&DirNode> {
        let mut d = self;
        for c in comps {
            d = match d.children.get(*c) {
                Some(Node::Dir(sub)) => sub,
                Some(Node::File(_)) => return Err(os_error(libc::ENOTDIR)),
                None => return Err(os_error(libc::ENOENT)),
            };
        }
        Ok(d)
    }

    /// Like [`DirNode::dir`], mutable.
    fn dir_mut(&mut self, comps: &[&[u8]]) -> io::Result<&mut DirNode> {
        let mut d = self;
        for c in comps {
            d = match d.children.get_mut(*c) {
                Some(Node::Dir(sub)) => sub,
                Some(Node::File(_)) => return Err(os_error(libc::ENOTDIR)),
                None => return Err(os_error(libc::ENOENT)),
            };
        }
        Ok(d)
    }

    /// Number of subdirectories (for the link count).
    fn subdirs(&self) -> u64 {
        self.children
            .values()
            .filter(|n| matches!(n, Node::Dir(_)))
            .count() as u64
    }
}

/// What a lookup found: a directory (borrowed from the tree) or a file.
enum Found<'a> {
    Dir(&'a DirNode),
    File(Arc<Mutex<FileNode>>),
}

impl Tree {
    fn ino(&mut self) -> u64 {
        let i = self.next_ino;
        self.next_ino += 1;
        i
    }

    /// The entry at `comps` (`/` for none).
    fn get(&self, comps: &[&[u8]]) -> io::Result<Found<'_>> {
        let Some((last, parent)) = comps.split_last() else {
            return Ok(Found::Dir(&self.root));
        };
        match self.root.dir(parent)?.children.get(*last) {
            Some(Node::Dir(d)) => Ok(Found::Dir(d)),
            Some(Node::File(f)) => Ok(Found::File(Arc::clone(f))),
            None => Err(os_error(libc::ENOENT)),
        }
    }

    /// The parent directory of a non-root path, and the last name.
    /// The root itself gives `err_for_root`.
    fn parent_mut<'c>(
        &mut self,
        comps: &[&'c [u8]],
        err_for_root: i32,
    ) -> io::Result<(&mut DirNode, &'c [u8])> {
        let Some((last, parent)) = comps.split_last() else {
            return Err(os_error(err_for_root));
        };
        Ok((self.root.dir_mut(parent)?, last))
    }
}

/// The [`EntryInfo`] of a directory.
fn dir_info(name: Vec<u8>, d: &DirNode) -> EntryInfo {
    EntryInfo {
        name,
        kind: FileKind::Dir,
        size: DIR_SIZE,
        mode: d.mode,
        nlink: 2 + d.subdirs(),
        uid: 0,
        gid: 0,
        owner: None,
        group: None,
        mtime: d.mtime,
        dev: DEV,
        ino: d.ino,
        link_target: None,
    }
}

/// The [`EntryInfo`] of a file.
fn file_info(name: Vec<u8>, f: &Mutex<FileNode>) -> EntryInfo {
    let f = lock(f);
    EntryInfo {
        name,
        kind: FileKind::File,
        size: f.data.len() as u64,
        mode: f.mode,
        nlink: 1,
        uid: 0,
        gid: 0,
        owner: None,
        group: None,
        mtime: f.mtime,
        dev: DEV,
        ino: f.ino,
        link_target: None,
    }
}

/// The [`EntryInfo`] of what a lookup found, named `name`.
fn found_info(name: Vec<u8>, found: &Found<'_>) -> EntryInfo {
    match found {
        Found::Dir(d) => dir_info(name, d),
        Found::File(f) => file_info(name, f),
    }
}

impl MemoryFsFactory {
    /// A factory with an empty tree (just `/`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A filesystem on the tree, without going through a login.
    pub fn fs(&self) -> MemoryFs {
        MemoryFs {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Every path a [`MemoryFs`] of this tree was asked about so far, in order
    /// (both paths of a rename; the directory of `create_unique`). Paths the
    /// factory's own helpers ([`MemoryFsFactory::put_file`] etc.) use are not recorded.
    pub fn paths_seen(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.seen).clone()
    }

    /// Like [`MemoryFsFactory::paths_seen`], and forget them (for a long-running
    /// test or a fuzzer that checks them step by step).
    pub fn take_paths_seen(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *lock(&self.shared.seen))
    }

    /// Create directory `path` and its missing parents (like `mkdir -p`).
    ///
    /// # Errors
    /// The path is not a normalised virtual path (`InvalidInput`), or
    /// one of its components is a file (`ENOTDIR`, `EEXIST` for the last one).
    pub fn create_dir_all(&self, path: &[u8]) -> io::Result<()> {
        let comps = components(path)?;
        let mut tree = lock(&self.shared.tree);
        let now = now_secs();
        for i in 0..comps.len() {
            let ino = tree.ino();
            let (parent, name) = tree.parent_mut(&comps[..=i], libc::EEXIST)?;
            match parent.children.get(name) {
                Some(Node::Dir(_)) => {}
                Some(Node::File(_)) if i + 1 == comps.len() => return Err(os_error(libc::EEXIST)),
                Some(Node::File(_)) => return Err(os_error(libc::ENOTDIR)),
                None => {
                    parent
                        .children
                        .insert(name.to_vec(), Node::Dir(DirNode::new(ino, now)));
                    parent.mtime = now;
                }
            }
        }
        Ok(())
    }

    /// Create or replace file `path` with `data` (its parent must exist).
    ///
    /// # Errors
    /// As [`Filesystem::open_write`] with [`WriteMode::Replace`].
    pub fn put_file(&self, path: &[u8], data: &[u8]) -> io::Result<()> {
        let comps = components(path)?;
        let mut tree = lock(&self.shared.tree);
        let ino = tree.ino();
        let now = now_secs();
        let (parent, name) = tree.parent_mut(&comps, libc::EISDIR)?;
        match parent.children.get(name) {
            Some(Node::Dir(_)) => Err(os_error(libc::EISDIR)),
            Some(Node::File(f)) => {
                let mut f = lock(f);
                f.data = data.to_vec();
                f.mtime = now;
                Ok(())
            }
            None => {
                let file = FileNode {
                    data: data.to_vec(),
                    mode: FILE_MODE,
                    mtime: now,
                    ino,
                };
                parent
                    .children
                    .insert(name.to_vec(), Node::File(Arc::new(Mutex::new(file))));
                parent.mtime = now;
                Ok(())
            }
        }
    }

    /// The content of file `path`.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR` on the way, `EISDIR` for a directory.
    pub fn read_file(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        let comps = components(path)?;
        let tree = lock(&self.shared.tree);
        match tree.get(&comps)? {
            Found::Dir(_) => Err(os_error(libc::EISDIR)),
            Found::File(f) => Ok(lock(&f).data.clone()),
        }
    }
}

impl FilesystemFactory for MemoryFsFactory {
    /// The shared tree, whatever the account's home; never fails.
    fn open(&self, _account: &Account) -> io::Result<Box<dyn Filesystem>> {
        Ok(Box::new(self.fs()))
    }
}

impl MemoryFs {
    /// Record `path` and split it into components.
    fn comps<'p>(&self, path: &'p [u8]) -> io::Result<Vec<&'p [u8]>> {
        lock(&self.shared.seen).push(path.to_vec());
        components(path)
    }

    fn tree(&self) -> MutexGuard<'_, Tree> {
        lock(&self.shared.tree)
    }

    /// A new empty file, not linked anywhere yet.
    fn new_file(ino: u64, now: i64) -> Arc<Mutex<FileNode>> {
        Arc::new(Mutex::new(FileNode {
            data: Vec::new(),
            mode: FILE_MODE,
            mtime: now,
            ino,
        }))
    }
}

/// The last component of a path, `/` for the root (as [`super::LocalFs`] names it).
fn entry_name(comps: &[&[u8]]) -> Vec<u8> {
    comps.last().map_or_else(|| b"/".to_vec(), |c| c.to_vec())
}

impl Filesystem for MemoryFs {
    fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        let comps = self.comps(path)?;
        let tree = self.tree();
        let found = tree.get(&comps)?;
        Ok(found_info(entry_name(&comps), &found))
    }

    fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        // There are no symlinks.
        self.metadata(path)
    }

    fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries> {
        let comps = self.comps(path)?;
        let tree = self.tree();
        match tree.get(&comps)? {
            Found::Dir(_) => {}
            Found::File(_) => return Err(os_error(libc::ENOTDIR)),
        }
        Ok(Box::new(Entries {
            shared: Arc::clone(&self.shared),
            dir: comps.iter().map(|c| c.to_vec()).collect(),
            after: None,
            done: false,
        }))
    }

    fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>> {
        let comps = self.comps(path)?;
        match self.tree().get(&comps)? {
            Found::Dir(_) => Err(os_error(libc::EISDIR)),
            Found::File(f) => Ok(Box::new(MemRead { file: f, pos: 0 })),
        }
    }

    fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>> {
        let comps = self.comps(path)?;
        let mut tree = self.tree();
        let ino = tree.ino();
        let now = now_secs();
        let (parent, name) = tree.parent_mut(&comps, libc::EISDIR)?;
        let existing = match parent.children.get(name) {
            Some(Node::Dir(_)) => return Err(os_error(libc::EISDIR)),
            Some(Node::File(f)) => Some(Arc::clone(f)),
            None => None,
        };
        let in_place = |file, pos, append| {
            Box::new(MemWrite {
                shared: Arc::clone(&self.shared),
                file,
                pos,
                append,
                replace: None,
            }) as Box<dyn WriteFile>
        };
        match (mode, existing) {
            (WriteMode::Resume(_), None) => Err(os_error(libc::ENOENT)),
            (WriteMode::Resume(offset), Some(f)) => {
                if (lock(&f).data.len() as u64) < offset {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "restart offset is beyond the end of the file",
                    ));
                }
                Ok(in_place(f, offset, false))
            }
            (WriteMode::Append, Some(f)) => Ok(in_place(f, 0, true)),
            (WriteMode::Append | WriteMode::Replace, None) => {
                // A new file is created in place (an interrupted upload can be resumed).
                let f = MemoryFs::new_file(ino, now);
                parent
                    .children
                    .insert(name.to_vec(), Node::File(Arc::clone(&f)));
                parent.mtime = now;
                Ok(in_place(f, 0, mode == WriteMode::Append))
            }
            (WriteMode::Replace, Some(old)) => {
                // The new content goes to a file of its own, linked at commit.
                let f = MemoryFs::new_file(ino, now);
                lock(&f).mode = lock(&old).mode & 0o777;
                Ok(Box::new(MemWrite {
                    shared: Arc::clone(&self.shared),
                    file: f,
                    pos: 0,
                    append: false,
                    replace: Some(path.to_vec()),
                }))
            }
        }
    }

    fn create_unique(&self, dir: &[u8], prefix: &str) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)> {
        let comps = self.comps(dir)?;
        if prefix.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid unique file name prefix",
            ));
        }
        let mut tree = self.tree();
        let now = now_secs();
        for _ in 0..UNIQUE_TRIES {
            // A counter rather than random characters: runs are reproducible.
            let n = tree.next_unique;
            tree.next_unique += 1;
            let name = format!("{prefix}{n:08}").into_bytes();
            if name.len() > NAME_MAX {
                return Err(os_error(libc::ENAMETOOLONG));
            }
            let ino = tree.ino();
            let parent = tree.root.dir_mut(&comps)?;
            if parent.children.contains_key(&name) {
                continue;
            }
            let f = MemoryFs::new_file(ino, now);
            parent
                .children
                .insert(name.clone(), Node::File(Arc::clone(&f)));
            parent.mtime = now;
            let mut vpath = dir.to_vec();
            if !vpath.ends_with(b"/") {
                vpath.push(b'/');
            }
            vpath.extend_from_slice(&name);
            let w = MemWrite {
                shared: Arc::clone(&self.shared),
                file: f,
                pos: 0,
                append: false,
                replace: None,
            };
            return Ok((vpath, Box::new(w)));
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not create a unique file name",
        ))
    }

    fn mkdir(&self, path: &[u8]) -> io::Result<()> {
        let comps = self.comps(path)?;
        let mut tree = self.tree();
        let ino = tree.ino();
        let now = now_secs();
        let (parent, name) = tree.parent_mut(&comps, libc::EEXIST)?;
        if parent.children.contains_key(name) {
            return Err(os_error(libc::EEXIST));
        }
        parent
            .children
            .insert(name.to_vec(), Node::Dir(DirNode::new(ino, now)));
        parent.mtime = now;
        Ok(())
    }

    fn rmdir(&self, path: &[u8]) -> io::Result<()> {
        let comps = self.comps(path)?;
        let mut tree = self.tree();
        let (parent, name) = tree.parent_mut(&comps, libc::EBUSY)?;
        match parent.children.get(name) {
            None => return Err(os_error(libc::ENOENT)),
            Some(Node::File(_)) => return Err(os_error(libc::ENOTDIR)),
            Some(Node::Dir(d)) if !d.children.is_empty() => return Err(os_error(libc::ENOTEMPTY)),
            Some(Node::Dir(_)) => {}
        }
        parent.children.remove(name);
        parent.mtime = now_secs();
        Ok(())
    }

    fn remove_file(&self, path: &[u8]) -> io::Result<()> {
        let comps = self.comps(path)?;
        let mut tree = self.tree();
        let (parent, name) = tree.parent_mut(&comps, libc::EISDIR)?;
        match parent.children.get(name) {
            None => return Err(os_error(libc::ENOENT)),
            Some(Node::Dir(_)) => return Err(os_error(libc::EISDIR)),
            Some(Node::File(_)) => {}
        }
        parent.children.remove(name);
        parent.mtime = now_secs();
        Ok(())
    }

    fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        let fc = self.comps(from)?;
        let tc = self.comps(to)?;
        let mut tree = self.tree();
        // rename(2)'s checks, in the order Linux makes them.
        let src_is_dir = match tree.get(&fc)? {
            Found::Dir(_) => true,
            Found::File(_) => false,
        };
        if fc.is_empty() || tc.is_empty() {
            return Err(os_error(libc::EBUSY));
        }
        let dst = match tree.get(&tc) {
            Ok(Found::Dir(d)) => Some(Some(d.children.is_empty())),
            Ok(Found::File(_)) => Some(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // The target's parent must exist.
                tree.root.dir(&tc[..tc.len() - 1])?;
                None
            }
            Err(e) => return Err(e),
        };
        if fc == tc {
            return Ok(());
        }
        if src_is_dir && tc.starts_with(&fc) {
            // A directory cannot move into itself.
            return Err(os_error(libc::EINVAL));
        }
        match (src_is_dir, dst) {
            (true, Some(None)) => return Err(os_error(libc::ENOTDIR)),
            (false, Some(Some(_))) => return Err(os_error(libc::EISDIR)),
            (true, Some(Some(false))) => return Err(os_error(libc::ENOTEMPTY)),
            _ => {}
        }
        let now = now_secs();
        let (src_parent, src_name) = tree.parent_mut(&fc, libc::EBUSY)?;
        let node = src_parent
            .children
            .remove(src_name)
            .ok_or_else(|| os_error(libc::ENOENT))?;
        src_parent.mtime = now;
        // The target's parent is not below the source (checked above), so it is still there.
        let (dst_parent, dst_name) = tree.parent_mut(&tc, libc::EBUSY)?;
        dst_parent.children.insert(dst_name.to_vec(), node);
        dst_parent.mtime = now;
        Ok(())
    }

    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
        let comps = self.comps(path)?;
        let mut tree = self.tree();
        let mode = mode & 0o7777;
        let Some((last, parent)) = comps.split_last() else {
            tree.root.mode = mode;
            return Ok(());
        };
        match tree.root.dir_mut(parent)?.children.get_mut(*last) {
            Some(Node::Dir(d)) => d.mode = mode,
            Some(Node::File(f)) => lock(f).mode = mode,
            None => return Err(os_error(libc::ENOENT)),
        }
        Ok(())
    }

    fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()> {
        let comps = self.comps(path)?;
        let mut tree = self.tree();
        let Some((last, parent)) = comps.split_last() else {
            tree.root.mtime = secs;
            return Ok(());
        };
        match tree.root.dir_mut(parent)?.children.get_mut(*last) {
            Some(Node::Dir(d)) => d.mtime = secs,
            Some(Node::File(f)) => lock(f).mtime = secs,
            None => return Err(os_error(libc::ENOENT)),
        }
        Ok(())
    }

    /// The virtual path itself (there is no real one).
    fn display_path(&self, path: &[u8]) -> PathBuf {
        lock(&self.shared.seen).push(path.to_vec());
        PathBuf::from(OsStr::from_bytes(path))
    }

    /// Memory is fast.
    fn is_local_fast(&self) -> bool {
        true
    }
}

/// Lazily listed directory entries: each step looks the directory up again
/// and takes the first name after the previous one, so entries added or
/// removed meanwhile are seen or skipped, and a removed directory ends the listing.
struct Entries {
    shared: Arc<Shared>,
    /// The listed directory's components.
    dir: Vec<Vec<u8>>,
    /// The name returned last.
    after: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for Entries {
    type Item = EntryInfo;

    fn next(&mut self) -> Option<EntryInfo> {
        if self.done {
            return None;
        }
        let tree = lock(&self.shared.tree);
        let comps: Vec<&[u8]> = self.dir.iter().map(Vec::as_slice).collect();
        let Ok(dir) = tree.root.dir(&comps) else {
            self.done = true;
            return None;
        };
        let lower = match &self.after {
            Some(a) => Bound::Excluded(a.as_slice()),
            None => Bound::Unbounded,
        };
        let Some((name, node)) = dir
            .children
            .range::<[u8], _>((lower, Bound::Unbounded))
            .next()
        else {
            self.done = true;
            return None;
        };
        self.after = Some(name.clone());
        Some(match node {
            Node::Dir(d) => dir_info(name.clone(), d),
            Node::File(f) => file_info(name.clone(), f),
        })
    }
}

/// A file opened for reading; it reads the file's current content.
struct MemRead {
    file: Arc<Mutex<FileNode>>,
    pos: u64,
}

impl Read for MemRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let f = lock(&self.file);
        let start = usize::try_from(self.pos).unwrap_or(usize::MAX);
        let Some(rest) = f.data.get(start..) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for MemRead {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match pos {
            SeekFrom::Start(n) => {
                self.pos = n;
                return Ok(n);
            }
            SeekFrom::End(d) => (lock(&self.file).data.len() as u64, d),
            SeekFrom::Current(d) => (self.pos, d),
        };
        match base.checked_add_signed(delta) {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(os_error(libc::EINVAL)),
        }
    }
}

impl ReadFile for MemRead {
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }
}

/// A file opened for writing.
struct MemWrite {
    shared: Arc<Shared>,
    file: Arc<Mutex<FileNode>>,
    /// Where the next write goes (unless appending).
    pos: u64,
    /// Every write goes to the end (`O_APPEND`).
    append: bool,
    /// For a replacing upload: the path the file is linked at on commit.
    replace: Option<Vec<u8>>,
}

impl Write for MemWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut f = lock(&self.file);
        let start = if self.append {
            f.data.len()
        } else {
            usize::try_from(self.pos).map_err(|_| os_error(libc::EFBIG))?
        };
        let end = start
            .checked_add(buf.len())
            .ok_or_else(|| os_error(libc::EFBIG))?;
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[start..end].copy_from_slice(buf);
        f.mtime = now_secs();
        self.pos = end as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteFile for MemWrite {
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }

    /// Link a replacing upload's content at its path. Errors: the parent
    /// directory is gone (`ENOENT`, `ENOTDIR`) or a directory took the name (`EISDIR`).
    fn commit(self: Box<Self>) -> io::Result<()> {
        let Some(path) = &self.replace else {
            return Ok(());
        };
        let comps = components(path)?;
        let mut tree = lock(&self.shared.tree);
        let (parent, name) = tree.parent_mut(&comps, libc::EISDIR)?;
        if let Some(Node::Dir(_)) = parent.children.get(name) {
            return Err(os_error(libc::EISDIR));
        }
        parent
            .children
            .insert(name.to_vec(), Node::File(Arc::clone(&self.file)));
        parent.mtime = now_secs();
        Ok(())
    }

    /// A replacing upload's content is dropped; other uploads keep what was written.
    fn abort(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
