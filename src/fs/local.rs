//! The local filesystem with a virtual root.
//!
//! Every operation goes through a [`cap_std::fs::Dir`] handle on the root:
//! cap-std resolves each path beneath that handle (`openat2` with
//! `RESOLVE_BENEATH` where the kernel has it, a careful component-wise walk
//! otherwise), so `..`, absolute symlinks and relative symlinks that climb out
//! are refused by the resolution itself, at the moment of the operation.
//!
//! cap-std refuses *every* absolute symlink, even one whose target lies inside
//! the root (`/srv/ftp/a -> /srv/ftp/b`). When an operation fails that way, the
//! path is resolved once more component by component here (each step again a
//! confined cap-std call), absolute targets inside the root are rewritten
//! relative to it, and the operation is retried on the symlink-free result —
//! again through cap-std. This fallback only makes more paths *work*; it never
//! weakens the confinement, which cap-std still enforces on the final call.

use crate::sys::{OsStrExt, OsStringExt};
use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{AsRawHandle, RawHandle as RawFd};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use cap_std::fs::{Dir, Metadata, OpenOptions, OpenOptionsExt, Permissions};
#[cfg(unix)]
use cap_std::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use rand::distr::{Alphanumeric, SampleString};

use super::{DirEntries, Filesystem, FilesystemFactory, ReadFile, WriteFile, WriteMode};
use crate::auth::Account;
use crate::proto::listing::{EntryInfo, FileKind};

/// How many symlinks the fallback resolver follows before giving up (like the kernel's ELOOP).
const MAX_SYMLINKS: usize = 40;
/// How many names [`Filesystem::create_unique`] and the temporary-file creation try.
const UNIQUE_TRIES: usize = 64;
/// Random characters in a unique or temporary file name.
const RANDOM_LEN: usize = 8;
/// Owner/group names cached per filesystem, at most.
const NAME_CACHE_MAX: usize = 4096;
/// Longest file name most filesystems accept.
const NAME_MAX: usize = 255;
/// Flags for opening a file that might be a FIFO or a device without blocking
/// or acquiring a controlling terminal; `O_NONBLOCK` is cleared after checking
/// that the file is a regular one.
#[cfg(unix)]
const SAFE_OPEN_FLAGS: i32 = libc::O_NONBLOCK | libc::O_NOCTTY;
/// Windows has neither FIFOs nor controlling terminals (device names are
/// refused before any open, see `crate::sys::is_portable_path`).
#[cfg(windows)]
const SAFE_OPEN_FLAGS: u32 = 0;

/// Windows has no permission bits to give a new file: `mode` is a no-op
/// there, so that the open calls read the same on both systems.
#[cfg(windows)]
trait ModeExt {
    fn mode(&mut self, mode: u32) -> &mut Self;
}

#[cfg(windows)]
impl ModeExt for OpenOptions {
    fn mode(&mut self, _mode: u32) -> &mut Self {
        self
    }
}

/// A directory on the local disk seen as `/`. No path, `..`, symlink or
/// rename reaches outside it; the check is made on the path that is
/// actually opened (descriptor-relative resolution), so a symlink swapped in
/// between two calls cannot escape either.
///
/// Attempts to escape fail with [`io::ErrorKind::PermissionDenied`] (and no OS
/// error code). Symlinks whose target stays inside the root are followed
/// normally; in listings, a symlink shows its target only when that target is
/// inside the root.
pub struct LocalFs {
    root: Arc<Root>,
}

/// What a [`LocalFs`] and its directory iterators share.
struct Root {
    /// The handle every operation is resolved beneath.
    dir: Dir,
    /// The root, canonical (for display paths and absolute symlink targets).
    canon: PathBuf,
    /// The root as given, made absolute but not symlink-resolved (absolute
    /// symlink targets may be written either way).
    given: PathBuf,
    /// uid/gid -> name.
    names: NameCache,
    /// The root is on a local disk filesystem (see [`Filesystem::is_local_fast`]).
    local_fast: bool,
}

/// Whether the filesystem holding `dir` is a local disk (or memory)
/// filesystem, by its type (statfs(2) `f_type`): an allow-list, so that
/// network filesystems (NFS, SMB/CIFS, 9p, Ceph, AFS...), FUSE mounts and
/// anything unknown count as possibly slow.
#[cfg(unix)]
fn is_local_fast_fs(dir: &Dir) -> bool {
    const LOCAL: &[u32] = &[
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0x8584_58F6, // ramfs
        0x794C_7630, // overlayfs
        0xF2F5_2010, // f2fs
        0x5265_4973, // reiserfs
        0x3153_464A, // jfs
        0x2FC1_2FC1, // zfs
        0xCA45_1A4E, // bcachefs
        0x3434,      // nilfs2
        0x4D44,      // msdos, vfat
        0x2011_BAB0, // exfat
    ];
    match nix::sys::statfs::fstatfs(dir) {
        // f_type holds a 32-bit magic number, whatever the width of its C type
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => LOCAL.contains(&(st.filesystem_type().0 as u32)),
        Err(_) => false,
    }
}

/// Windows: every filesystem counts as possibly slow (file work of
/// transfers runs on worker threads; there is no zero-copy to lose).
#[cfg(windows)]
fn is_local_fast_fs(_dir: &Dir) -> bool {
    false
}

impl LocalFs {
    /// A filesystem rooted at `root` (which must be an existing directory).
    ///
    /// # Errors
    /// The OS error of opening `root` as a directory (e.g. `ENOENT`, `ENOTDIR`, `EACCES`).
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref();
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        let canon = std::fs::canonicalize(root)?;
        let given = std::path::absolute(root)?;
        let local_fast = is_local_fast_fs(&dir);
        Ok(LocalFs {
            root: Arc::new(Root {
                dir,
                canon,
                given,
                names: NameCache::default(),
                local_fast,
            }),
        })
    }
}

impl std::fmt::Debug for LocalFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFs")
            .field("root", &self.root.canon)
            .finish()
    }
}

/// The path relative to the root for virtual path `vpath` (`/a/b` -> `a/b`, `/` -> `.`).
fn rel_path(vpath: &[u8]) -> &Path {
    let mut s = vpath;
    while let [b'/', rest @ ..] = s {
        s = rest;
    }
    if s.is_empty() {
        Path::new(".")
    } else {
        Path::new(OsStr::from_bytes(s))
    }
}

/// The last component of a virtual path (`/` for the root).
fn last_name(vpath: &[u8]) -> Vec<u8> {
    let mut s = vpath;
    while let [rest @ .., b'/'] = s {
        s = rest;
    }
    match s.iter().rposition(|&b| b == b'/') {
        Some(i) => s[i + 1..].to_vec(),
        None if s.is_empty() => b"/".to_vec(),
        None => s.to_vec(),
    }
}

/// The error for a path that would lead outside the root.
fn escape_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "path leads outside the root directory",
    )
}

/// Whether `e` is cap-std's (or our) refusal of a path leading outside the root,
/// rather than an error from the OS.
fn is_escape(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied && e.raw_os_error().is_none()
}

/// An error carrying an OS error code.
fn os_error(code: i32) -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(code);
    // the Windows error of the same meaning
    #[cfg(windows)]
    return crate::sys::errno_error(code);
}

impl Root {
    /// Run `op` on `rel`; if cap-std refused it as an escape, resolve `rel`
    /// ourselves (absolute symlinks inside the root allowed) and retry once.
    fn with_path<T>(
        &self,
        rel: &Path,
        follow_last: bool,
        op: impl Fn(&Path) -> io::Result<T>,
    ) -> io::Result<T> {
        match op(rel) {
            Err(e) if is_escape(&e) => match self.resolve(rel, follow_last) {
                Ok(resolved) => op(&resolved),
                Err(e2) if is_escape(&e2) => Err(e),
                Err(e2) => Err(e2),
            },
            other => other,
        }
    }

    /// The root-relative path without symlinks that `rel` designates (the last
    /// component's symlink resolved only when `follow_last`). Every step is a
    /// confined call; a `..` above the root, or an absolute symlink target outside
    /// the root, is an escape error. A missing component ends the resolution (the
    /// rest is appended as is, for the caller's operation to fail or create it).
    fn resolve(&self, rel: &Path, follow_last: bool) -> io::Result<PathBuf> {
        let mut queue: VecDeque<OsString> = VecDeque::new();
        push_components(&mut queue, rel);
        let mut out = PathBuf::new();
        let mut links = 0usize;
        while let Some(c) = queue.pop_front() {
            if c == ".." {
                if !out.pop() {
                    return Err(escape_error());
                }
                continue;
            }
            let last = queue.is_empty();
            out.push(&c);
            if last && !follow_last {
                break;
            }
            let meta = match self.dir.symlink_metadata(&out) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    for rest in queue.drain(..) {
                        out.push(rest);
                    }
                    break;
                }
                Err(e) => return Err(e),
            };
            if !meta.is_symlink() {
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(os_error(libc::ELOOP));
            }
            let target = self.dir.read_link_contents(&out)?;
            out.pop();
            let target = if target.is_absolute() {
                out = PathBuf::new();
                self.strip_root(&target).ok_or_else(escape_error)?
            } else {
                target
            };
            let mut comps = VecDeque::new();
            push_components(&mut comps, &target);
            while let Some(t) = comps.pop_back() {
                queue.push_front(t);
            }
        }
        if out.as_os_str().is_empty() {
            Ok(PathBuf::from("."))
        } else {
            Ok(out)
        }
    }

    /// An absolute path inside the root, made relative to it.
    fn strip_root(&self, abs: &Path) -> Option<PathBuf> {
        abs.strip_prefix(&self.canon)
            .or_else(|_| abs.strip_prefix(&self.given))
            .ok()
            .map(Path::to_path_buf)
    }

    /// Metadata of `rel`, symlinks followed (inside the root only).
    fn stat(&self, rel: &Path) -> io::Result<Metadata> {
        self.with_path(rel, true, |p| self.dir.metadata(p))
    }

    /// Metadata of `rel` itself.
    fn lstat(&self, rel: &Path) -> io::Result<Metadata> {
        self.with_path(rel, false, |p| self.dir.symlink_metadata(p))
    }

    /// The text of symlink `rel` if following it stays inside the root.
    fn link_target(&self, rel: &Path) -> Option<Vec<u8>> {
        let target = self
            .with_path(rel, false, |p| self.dir.read_link_contents(p))
            .ok()?;
        self.stat(rel).ok()?;
        Some(target.into_os_string().into_vec())
    }

    /// Build an [`EntryInfo`].
    #[cfg(unix)]
    fn info(&self, name: Vec<u8>, m: &Metadata, link_target: Option<Vec<u8>>) -> EntryInfo {
        let ft = m.file_type();
        let kind = if ft.is_symlink() {
            FileKind::Symlink
        } else if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_file() {
            FileKind::File
        } else if ft.is_char_device() {
            FileKind::Other('c')
        } else if ft.is_block_device() {
            FileKind::Other('b')
        } else if ft.is_fifo() {
            FileKind::Other('p')
        } else if ft.is_socket() {
            FileKind::Other('s')
        } else {
            FileKind::Other('?')
        };
        let link_target = if kind == FileKind::Symlink {
            link_target
        } else {
            None
        };
        EntryInfo {
            name,
            kind,
            size: m.size(),
            mode: m.mode() & 0o7777,
            nlink: m.nlink(),
            uid: m.uid(),
            gid: m.gid(),
            owner: self.names.user(m.uid()),
            group: self.names.group(m.gid()),
            mtime: m.mtime(),
            dev: m.dev(),
            ino: m.ino(),
            link_target,
        }
    }

    /// Build an [`EntryInfo`] from what Windows keeps: pyftpdlib's
    /// `owner` and `group` for the names, read-only as the one permission
    /// bit (`0o444`/`0o666`, directories `0o555`/`0o777`, as Python's
    /// `os.stat` gives them there), and the creation time in 100 ns ticks
    /// for the inode number of the MLSx `unique` fact (stable across
    /// renames, as an inode is; device 0).
    #[cfg(windows)]
    fn info(&self, name: Vec<u8>, m: &Metadata, link_target: Option<Vec<u8>>) -> EntryInfo {
        let ft = m.file_type();
        let kind = if ft.is_symlink() {
            FileKind::Symlink
        } else if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_file() {
            FileKind::File
        } else {
            FileKind::Other('?')
        };
        let link_target = if kind == FileKind::Symlink {
            link_target
        } else {
            None
        };
        let writable = if m.permissions().readonly() { 0 } else { 0o222 };
        let mode = match kind {
            FileKind::Dir => 0o555 | writable,
            _ => 0o444 | writable,
        };
        let since_epoch = |t: io::Result<cap_std::time::SystemTime>| {
            t.ok()
                .map(cap_std::time::SystemTime::into_std)
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        };
        let mtime =
            since_epoch(m.modified()).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let created = since_epoch(m.created())
            .map_or(0, |d| u64::try_from(d.as_nanos() / 100).unwrap_or(u64::MAX));
        EntryInfo {
            name,
            kind,
            size: m.len(),
            mode,
            nlink: 1,
            uid: 0,
            gid: 0,
            owner: self.names.user(0),
            group: self.names.group(0),
            mtime,
            dev: 0,
            ino: created,
            link_target,
        }
    }

    /// Open `rel` (following symlinks inside the root) with `opts` plus
    /// [`SAFE_OPEN_FLAGS`], and make sure it is a regular file.
    fn open_regular(&self, rel: &Path, opts: &mut OpenOptions) -> io::Result<std::fs::File> {
        opts.custom_flags(SAFE_OPEN_FLAGS);
        let file = self
            .with_path(rel, true, |p| self.dir.open_with(p, opts))?
            .into_std();
        ensure_regular(&file)?;
        clear_nonblock(&file)?;
        Ok(file)
    }

    /// STOR without REST: see [`WriteMode::Replace`].
    fn open_replace(&self, rel: &Path) -> io::Result<Box<dyn WriteFile>> {
        // Where the content goes: symlinks (inside the root) followed, so that a
        // link keeps pointing at the new content.
        let target = self.resolve(rel, true)?;
        let (parent, name) = split_parent(&target)?;
        let pdir = self.dir.open_dir(&parent)?;
        // A new file is created in place (an interrupted upload can be resumed).
        let mut create = OpenOptions::new();
        create.write(true).create_new(true).mode(0o666);
        match pdir.open_with(&name, &create) {
            Ok(f) => return Ok(Box::new(LocalWrite::in_place(f.into_std()))),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let old = pdir.symlink_metadata(&name)?;
        if old.is_dir() {
            return Err(os_error(libc::EISDIR));
        }
        if !old.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        // Replacing a file is writing it: who may not write the old file may
        // not replace it (an in-place open with O_TRUNC would be refused),
        // although the rename below needs only the directory. Checked with
        // the effective (for a system user: filesystem) ids.
        #[cfg(unix)]
        {
            use nix::fcntl::AtFlags;
            use nix::unistd::AccessFlags;
            nix::unistd::faccessat(
                &pdir,
                name.as_os_str(),
                AccessFlags::W_OK,
                AtFlags::AT_EACCESS | AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(io::Error::from)?;
        }
        release_cached_pages(&pdir, &name);
        let (tmp, file) = create_temp(&pdir, &name)?;
        // Keep the old file's owner (when we may) and permission bits, but never
        // set-id bits on content someone just uploaded.
        #[cfg(unix)]
        let (uid, gid) = (old.uid(), old.gid());
        #[cfg(unix)]
        if let Ok(m) = file.metadata() {
            use std::os::unix::fs::MetadataExt as _;
            let (nuid, ngid) = (
                nix::unistd::Uid::from_raw(uid),
                nix::unistd::Gid::from_raw(gid),
            );
            if m.uid() != uid {
                // Only root may give a file away; failing is fine.
                let _ = nix::unistd::fchown(&file, Some(nuid), Some(ngid));
            } else if m.gid() != gid {
                // The owner may pick any group it is a member of.
                let _ = nix::unistd::fchown(&file, None, Some(ngid));
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let perm = std::fs::Permissions::from_mode(old.mode() & 0o777);
            if let Err(e) = file.set_permissions(perm) {
                drop(file);
                let _ = pdir.remove_file(&tmp);
                return Err(e);
            }
        }
        Ok(Box::new(LocalWrite {
            file,
            pending: Some(PendingRename {
                dir: pdir,
                tmp,
                target: name,
            }),
        }))
    }

    /// Set the modification time of `rel` (symlinks followed inside the root), keeping atime.
    #[cfg(unix)]
    fn set_mtime(&self, rel: &Path, secs: i64) -> io::Result<()> {
        use nix::sys::time::TimeSpec;
        let mut opts = OpenOptions::new();
        opts.read(true).custom_flags(SAFE_OPEN_FLAGS);
        match self.with_path(rel, true, |p| self.dir.open_with(p, &opts)) {
            Ok(f) => {
                let mtime = TimeSpec::new(secs as libc::time_t, 0);
                nix::sys::stat::futimens(&f, &TimeSpec::UTIME_OMIT, &mtime).map_err(io::Error::from)
            }
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                // Not readable: let cap-std try its other ways (still confined).
                self.set_mtime_by_path(rel, secs)
            }
            Err(e) => Err(e),
        }
    }

    /// Set the modification time of `rel` (symlinks followed inside the root), keeping atime.
    #[cfg(windows)]
    fn set_mtime(&self, rel: &Path, secs: i64) -> io::Result<()> {
        self.set_mtime_by_path(rel, secs)
    }

    /// [`Root::set_mtime`] through cap-std's own ways (still confined).
    fn set_mtime_by_path(&self, rel: &Path, secs: i64) -> io::Result<()> {
        use cap_fs_ext::{DirExt, SystemTimeSpec};
        let d = std::time::Duration::from_secs(secs.unsigned_abs());
        let t = if secs >= 0 {
            std::time::UNIX_EPOCH.checked_add(d)
        } else {
            std::time::UNIX_EPOCH.checked_sub(d)
        };
        let t =
            t.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "time out of range"))?;
        let t = cap_std::time::SystemTime::from_std(t);
        self.with_path(rel, true, |p| {
            self.dir
                .set_times(p, None, Some(SystemTimeSpec::Absolute(t)))
        })
    }
}

/// Append the components of relative path `p` to `queue` (`.` dropped, `..` kept;
/// a leading `/` is ignored: callers pass relative paths).
fn push_components(queue: &mut VecDeque<OsString>, p: &Path) {
    for c in p.components() {
        match c {
            Component::Normal(n) => queue.push_back(n.to_os_string()),
            Component::ParentDir => queue.push_back(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

/// Split a resolved relative path into its parent directory and last name.
fn split_parent(p: &Path) -> io::Result<(PathBuf, OsString)> {
    match p.file_name() {
        Some(name) if p.components().next_back() == Some(Component::Normal(name)) => {
            let parent = match p.parent() {
                Some(par) if !par.as_os_str().is_empty() => par.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Ok((parent, name.to_os_string()))
        }
        _ => Err(os_error(libc::EISDIR)),
    }
}

/// Refuse anything but a regular file (a directory gives `EISDIR`).
fn ensure_regular(file: &std::fs::File) -> io::Result<()> {
    let m = file.metadata()?;
    if m.is_dir() {
        Err(os_error(libc::EISDIR))
    } else if !m.is_file() {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    } else {
        Ok(())
    }
}

/// Clear `O_NONBLOCK` on an open file.
#[cfg(unix)]
fn clear_nonblock(file: &std::fs::File) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(file, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_retain(flags) & !OFlag::O_NONBLOCK;
    fcntl(file, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

/// Windows files are never opened non-blocking.
#[cfg(windows)]
fn clear_nonblock(_file: &std::fs::File) -> io::Result<()> {
    Ok(())
}

/// A random alphanumeric string.
fn random_suffix() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), RANDOM_LEN)
}

/// Create a hidden temporary file beside `name` in `dir`: `.name.ftpdlib-XXXXXXXX`.
fn create_temp(dir: &Dir, name: &OsStr) -> io::Result<(OsString, std::fs::File)> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true).mode(0o600);
    let base = name.as_bytes();
    let room = NAME_MAX - (".".len() + ".ftpdlib-".len() + RANDOM_LEN);
    let base = &base[..base.len().min(room)];
    for _ in 0..UNIQUE_TRIES {
        let mut tmp = Vec::with_capacity(NAME_MAX);
        tmp.push(b'.');
        tmp.extend_from_slice(base);
        tmp.extend_from_slice(b".ftpdlib-");
        tmp.extend_from_slice(random_suffix().as_bytes());
        let tmp = OsString::from_vec(tmp);
        match dir.open_with(&tmp, &opts) {
            Ok(f) => return Ok((tmp, f.into_std())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a temporary file",
    ))
}

/// uid/gid -> name lookups, cached.
#[derive(Default)]
#[cfg_attr(windows, allow(dead_code))]
struct NameCache {
    users: Mutex<HashMap<u32, Option<String>>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
}

#[cfg(unix)]
impl NameCache {
    fn user(&self, uid: u32) -> Option<String> {
        cached(&self.users, uid, |id| {
            uzers::get_user_by_uid(id).map(|u| u.name().to_string_lossy().into_owned())
        })
    }

    fn group(&self, gid: u32) -> Option<String> {
        cached(&self.groups, gid, |id| {
            uzers::get_group_by_gid(id).map(|g| g.name().to_string_lossy().into_owned())
        })
    }
}

/// Windows files show pyftpdlib's words there: `owner` and `group`.
#[cfg(windows)]
impl NameCache {
    fn user(&self, _uid: u32) -> Option<String> {
        Some("owner".into())
    }

    fn group(&self, _gid: u32) -> Option<String> {
        Some("group".into())
    }
}

/// Look `id` up in `map`, computing (without holding the lock) and caching it if absent.
#[cfg_attr(windows, allow(dead_code))]
fn cached(
    map: &Mutex<HashMap<u32, Option<String>>>,
    id: u32,
    lookup: impl FnOnce(u32) -> Option<String>,
) -> Option<String> {
    if let Some(v) = map.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return v.clone();
    }
    let v = lookup(id);
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    if m.len() < NAME_CACHE_MAX {
        m.insert(id, v.clone());
    }
    v
}

/// A file opened for reading.
struct LocalRead {
    file: std::fs::File,
}

impl Read for LocalRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for LocalRead {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl ReadFile for LocalRead {
    fn raw_fd(&self) -> Option<RawFd> {
        #[cfg(unix)]
        return Some(self.file.as_raw_fd());
        #[cfg(windows)]
        return Some(self.file.as_raw_handle());
    }
}

/// Ask the kernel to drop the page cache of the file a replacing upload is
/// about to supersede (`posix_fadvise(POSIX_FADV_DONTNEED)`; dirty pages are
/// written back first, the file itself is untouched).
///
/// A replacing upload keeps the old file whole until the new one is complete,
/// so for a while both are in memory, where a server that truncates in place
/// (pyftpdlib, vsftpd) frees the old pages at once and writes the new content
/// into them. The new pages then come from free memory, which is slower to
/// fill: 4-7x on a VM whose balloon takes freed pages back (1 GiB over a
/// 1 GiB file written just before: 480 MiB/s, or 3600 MiB/s after this call,
/// which took 418 ms to write the old pages back), and on a host whose memory
/// is full of cache each page must first be reclaimed. The old file's cache
/// is of no use once the new content replaces it; a reader of the old file
/// meanwhile reads it from the disk. On tmpfs the pages are the file, and
/// the call does nothing. Errors (an unreadable file) are ignored: the upload
/// proceeds as before.
#[cfg(unix)]
fn release_cached_pages(dir: &Dir, name: &OsString) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    if let Some(f) = open_regular(dir, name) {
        if let Err(e) = posix_fadvise(&f, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED) {
            log::debug!("posix_fadvise on a replaced file: {e}");
        }
    }
}

/// Windows: nothing to hand back (no `posix_fadvise`).
#[cfg(windows)]
fn release_cached_pages(_dir: &Dir, _name: &OsString) {}

/// `name` in `dir` opened read-only if it is a regular file (never following
/// a symlink, never blocking on a FIFO); `None` otherwise or if it can't be.
#[cfg(unix)]
fn open_regular(dir: &Dir, name: &OsString) -> Option<std::fs::File> {
    let mut opts = OpenOptions::new();
    opts.read(true)
        .custom_flags(SAFE_OPEN_FLAGS | libc::O_NOFOLLOW);
    let f = dir.open_with(name, &opts).ok()?.into_std();
    f.metadata().ok().filter(|m| m.is_file()).map(|_| f)
}

/// Windows: the file a replacing upload supersedes is not held open across
/// the rename (a rename over an open file can fail there).
#[cfg(windows)]
fn open_regular(_dir: &Dir, _name: &OsString) -> Option<std::fs::File> {
    None
}

/// Work a replacing upload's commit leaves to a background thread of this
/// process, off the path of the 226 reply.
enum Later {
    /// Close a file whose last name was just replaced: closing it frees its
    /// pages and blocks, which takes milliseconds per 10 MiB.
    Close(std::fs::File),
    /// Start the writeback of a file that just replaced another one, then
    /// close it (see [`PendingRename::put_in_place`]).
    Flush(std::fs::File),
    /// Say that every job queued before this one is done
    /// ([`finish_background_work`]).
    #[cfg(unix)]
    Done(crossbeam_channel::Sender<()>),
    /// Tests: keep the thread busy until the sender is dropped.
    #[cfg(test)]
    Hold(crossbeam_channel::Receiver<()>),
}

impl Later {
    fn run(self) {
        match self {
            #[cfg(test)]
            Later::Hold(rx) => while rx.recv().is_ok() {},
            Later::Close(f) => drop(f),
            #[cfg(unix)]
            Later::Done(tx) => drop(tx.send(())),
            Later::Flush(f) => {
                // a file replaced in turn before its turn came (many uploads
                // to one name) has no name left: nothing to make durable
                #[cfg(any(target_os = "linux", target_os = "android"))]
                if f.metadata().is_ok_and(|m| {
                    use std::os::unix::fs::MetadataExt;
                    m.nlink() > 0
                }) {
                    if let Err(e) = crate::sys::start_writeback(&f) {
                        log::debug!("writeback of a replacing upload: {e}");
                    }
                }
                drop(f)
            }
        }
    }
}

/// The background thread's queue.
struct Background {
    /// The process that started the thread: a forked child must not use its
    /// parent's thread, which does not exist in the child.
    pid: u32,
    jobs: crossbeam_channel::Sender<Later>,
}

static BACKGROUND: Mutex<Option<Background>> = Mutex::new(None);

/// The process whose background thread [`BACKGROUND`] holds (0: none yet).
/// Read before taking the lock: a forked child must not take it while it
/// holds its parent's queue, since a thread of the parent may have held the
/// lock when it forked, and that lock then stays held in the child.
static BACKGROUND_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The lock of [`BACKGROUND`], never waiting for a lock this process may
/// have inherited held (then, or when another thread holds it before this
/// process has its thread, `None`: the caller does the work itself).
fn background_lock() -> Option<std::sync::MutexGuard<'static, Option<Background>>> {
    use std::sync::atomic::Ordering;
    let pid = std::process::id();
    if BACKGROUND_PID.load(Ordering::Acquire) == pid {
        // this process's own lock, taken here before
        return BACKGROUND.lock().ok();
    }
    // a forked child's lock may be held for good by a thread that is not
    // here (even while no thread was started yet: the parent may have been
    // starting one)
    let mut bg = BACKGROUND.try_lock().ok()?;
    if bg.as_ref().is_some_and(|b| b.pid != pid) {
        // the parent's queue: not closed from here (its sender's drop would
        // touch the channel's state, which the parent's threads may have
        // held locked when it forked)
        std::mem::forget(bg.take());
    }
    Some(bg)
}

/// Run `job` on this process's background thread (started on first use);
/// here, at once, when no thread can be had.
fn later(job: Later) {
    let pid = std::process::id();
    let Some(mut bg) = background_lock() else {
        return job.run();
    };
    if bg.as_ref().map_or(true, |b| b.pid != pid) {
        let (tx, rx) = crossbeam_channel::bounded::<Later>(BACKGROUND_QUEUE);
        // started from a commit, which runs as a system user: the thread
        // must not be that user for the rest of its life
        let spawned = crate::sys::as_server(|| {
            std::thread::Builder::new()
                .name("ftp-close".into())
                .stack_size(64 * 1024)
                .spawn(move || rx.iter().for_each(Later::run))
        });
        let started = spawned.ok().map(|_| Background { pid, jobs: tx });
        if let Some(old) = std::mem::replace(&mut *bg, started) {
            std::mem::forget(old); // (a forked child's copy of its parent's)
        }
        if bg.is_some() {
            BACKGROUND_PID.store(pid, std::sync::atomic::Ordering::Release);
        }
    }
    match bg.as_ref() {
        Some(b) => {
            // a full queue (the thread is behind: a slow disk) is not let
            // grow: the committer does the work itself, and waits for it
            if let Err(e) = b.jobs.try_send(job) {
                drop(bg);
                e.into_inner().run();
            }
        }
        None => job.run(),
    }
}

/// Jobs the background thread holds at most; each holds an open file.
/// Uploads that replace files faster than the thread closes them (or
/// starts their writeback) do that work themselves beyond this: the queue
/// grew without bound, holding a descriptor per job, until the process
/// ran out of them.
const BACKGROUND_QUEUE: usize = 256;

/// Wait, at most `limit`, until the work that commits left to the background
/// thread of this process is done: a forked session process calls this
/// before it exits, so that the writeback of its last upload is started
/// (`_exit` would drop the queue). Returns whether everything was done.
///
/// Only this process's own jobs count: a forked child has none of the
/// jobs its parent had queued (nor the thread that runs them).
#[cfg(unix)]
pub(crate) fn finish_background_work(limit: std::time::Duration) -> bool {
    if BACKGROUND_PID.load(std::sync::atomic::Ordering::Acquire) != std::process::id() {
        return true; // this process never queued any
    }
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let deadline = crate::session::later(std::time::Instant::now(), limit);
    let sent = background_lock().and_then(|bg| {
        let jobs = bg.as_ref()?.jobs.clone();
        drop(bg);
        // (waits for room in a full queue, within the limit)
        Some(jobs.send_timeout(Later::Done(done_tx), limit))
    });
    match sent {
        Some(Ok(())) => {}
        // the queue stayed full: its work is not done
        Some(Err(crossbeam_channel::SendTimeoutError::Timeout(_))) => return false,
        // no thread, so nothing left to it
        Some(Err(crossbeam_channel::SendTimeoutError::Disconnected(_))) | None => return true,
    }
    // the queue runs in order: every job queued before this one is done
    done_rx
        .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        .is_ok()
}

/// The rename a replacing upload does at commit.
struct PendingRename {
    /// The directory holding both names.
    dir: Dir,
    /// The temporary file's name.
    tmp: OsString,
    /// The final name.
    target: OsString,
}

impl PendingRename {
    /// Put the complete temporary file in the target's place, atomically:
    /// a reader opening the name gets the old content or the new, never
    /// neither. Returns whether a file was replaced.
    ///
    /// On Linux this is `renameat2(RENAME_EXCHANGE)` followed by the unlink of
    /// the old file (now under the temporary name), not `rename(2)` over it:
    /// ext4, seeing a file renamed over another (its "auto_da_alloc"
    /// heuristic), writes the renamed file's pages out inside the rename,
    /// which held the 226 of a 10 MiB upload for 6-7 ms (against 0.8 ms), and
    /// 200 uploads to one name for 1.3 s after their last byte. The same
    /// writeback is started right after, on the background thread
    /// ([`Later::Flush`]), so a crash soon after the 226 finds the same on the
    /// disk as before. Where the exchange is not supported (another system, a
    /// filesystem without it) or the target is gone, this is a plain rename.
    fn put_in_place(&self) -> io::Result<bool> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let exchange = |a: &OsString, b: &OsString| {
                crate::sys::rename_exchange(&self.dir, a.as_os_str(), b.as_os_str())
            };
            // rename(2) refuses to put a file over a directory (EISDIR); an
            // exchange swaps them: look first (a directory made in between
            // is swapped back below)
            if self
                .dir
                .symlink_metadata(&self.target)
                .is_ok_and(|m| m.is_dir())
            {
                return Err(os_error(libc::EISDIR));
            }
            match exchange(&self.tmp, &self.target) {
                Ok(()) => {
                    // the old object now has the temporary name; hold it open
                    // (when it is a file) so that freeing it happens on the
                    // background thread, not in the unlink
                    let old = open_regular(&self.dir, &self.tmp);
                    return match self.dir.remove_file(&self.tmp) {
                        Ok(()) => {
                            if let Some(f) = old {
                                later(Later::Close(f));
                            }
                            Ok(true)
                        }
                        Err(e) => {
                            // Not removable: the target was made a directory
                            // after the look above. rename(2) would have
                            // refused (EISDIR): put it back as it was.
                            self.undo_exchange();
                            Err(if e.raw_os_error() == Some(libc::EISDIR) {
                                e
                            } else {
                                os_error(libc::EISDIR)
                            })
                        }
                    };
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        // Hold the file being replaced open across the rename, so that
        // freeing it (its pages, its blocks) happens when this handle is
        // closed on another thread, not inside the rename that the 226
        // waits for: that was 70% of the commit's time for a 10 MiB file.
        let replaced = open_regular(&self.dir, &self.target);
        self.dir.rename(&self.tmp, &self.dir, &self.target)?;
        let any = replaced.is_some();
        if let Some(f) = replaced {
            later(Later::Close(f));
        }
        Ok(any)
    }

    /// Give the target's name back to the object an exchange took it from
    /// (now under the temporary name), whatever happened to the name since:
    /// swapped back when something holds it (normally the new file, which
    /// then has the temporary name again; else what another client put
    /// there in between, which [`remove_temp`](Self::remove_temp) leaves
    /// in place), renamed back when it was removed meanwhile. Only a name
    /// removed and made again between those two calls leaves the object
    /// under the temporary name (logged).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn undo_exchange(&self) {
        let (tmp, target) = (self.tmp.as_os_str(), self.target.as_os_str());
        let back = match crate::sys::rename_exchange(&self.dir, tmp, target) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                crate::sys::rename_noreplace(&self.dir, tmp, target)
            }
            other => other,
        };
        if let Err(e) = back {
            log::error!("can't undo the exchange of {tmp:?} and {target:?}: {e}");
        }
    }

    /// Remove the temporary name if it still names `file` (after a failed
    /// commit it may name what an undone exchange brought back there).
    fn remove_temp(&self, file: &std::fs::File) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let ours = file.metadata().ok().map(|m| (m.dev(), m.ino()));
            let there = self
                .dir
                .symlink_metadata(&self.tmp)
                .ok()
                .map(|m| (MetadataExt::dev(&m), MetadataExt::ino(&m)));
            if there.is_some() && there != ours {
                log::error!(
                    "{:?} is not the upload's file any more: left in place",
                    self.tmp
                );
                return;
            }
        }
        #[cfg(windows)]
        let _ = file;
        let _ = self.dir.remove_file(&self.tmp);
    }
}

/// A file opened for writing.
struct LocalWrite {
    file: std::fs::File,
    /// Set for a replacing upload (the file is a temporary one).
    pending: Option<PendingRename>,
}

impl LocalWrite {
    fn in_place(file: std::fs::File) -> Self {
        LocalWrite {
            file,
            pending: None,
        }
    }
}

impl Write for LocalWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.file.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl WriteFile for LocalWrite {
    fn raw_fd(&self) -> Option<RawFd> {
        #[cfg(unix)]
        return Some(self.file.as_raw_fd());
        #[cfg(windows)]
        return Some(self.file.as_raw_handle());
    }

    fn commit(mut self: Box<Self>) -> io::Result<()> {
        let flushed = self.file.flush();
        let Some(p) = self.pending.take() else {
            return flushed;
        };
        match flushed.and_then(|()| p.put_in_place()) {
            Ok(replaced) => {
                if replaced {
                    match self.file.try_clone() {
                        Ok(f) => later(Later::Flush(f)),
                        Err(e) => log::debug!("writeback of a replacing upload: {e}"),
                    }
                }
                Ok(())
            }
            Err(e) => {
                p.remove_temp(&self.file);
                Err(e)
            }
        }
    }

    fn abort(mut self: Box<Self>) -> io::Result<()> {
        match self.pending.take() {
            Some(p) => p.dir.remove_file(&p.tmp),
            None => self.file.flush(),
        }
    }
}

impl Drop for LocalWrite {
    fn drop(&mut self) {
        // Neither committed nor aborted: do not leave the temporary file behind.
        if let Some(p) = self.pending.take() {
            let _ = p.dir.remove_file(&p.tmp);
        }
    }
}

/// Lazily produced directory entries.
struct Entries {
    inner: cap_std::fs::ReadDir,
    root: Arc<Root>,
    /// The listed directory, relative to the root (for symlink checks).
    dir_rel: PathBuf,
    done: bool,
}

impl Iterator for Entries {
    type Item = EntryInfo;

    fn next(&mut self) -> Option<EntryInfo> {
        if self.done {
            return None;
        }
        loop {
            let entry = match self.inner.next() {
                Some(Ok(e)) => e,
                Some(Err(_)) | None => {
                    // A failing directory read ends the listing.
                    self.done = true;
                    return None;
                }
            };
            // lstat relative to the directory handle; vanished entries are skipped.
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let name = entry.file_name();
            let link_target = if meta.is_symlink() {
                self.root.link_target(&self.dir_rel.join(&name))
            } else {
                None
            };
            return Some(self.root.info(name.into_vec(), &meta, link_target));
        }
    }
}

impl Filesystem for LocalFs {
    fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        let m = self.root.stat(rel_path(path))?;
        Ok(self.root.info(last_name(path), &m, None))
    }

    fn metadata_to_enter(&self, path: &[u8]) -> io::Result<EntryInfo> {
        let info = self.metadata(path)?;
        #[cfg(unix)]
        if info.kind == crate::proto::listing::FileKind::Dir {
            // search permission on the directory itself, with the effective
            // (for a system user: filesystem) ids; the resolved path holds
            // no symlink and no `..`
            use nix::fcntl::AtFlags;
            use nix::unistd::AccessFlags;
            let target = self.root.resolve(rel_path(path), true)?;
            nix::unistd::faccessat(
                &self.root.dir,
                target.as_os_str(),
                AccessFlags::X_OK,
                AtFlags::AT_EACCESS,
            )
            .map_err(io::Error::from)?;
        }
        Ok(info)
    }

    fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        let rel = rel_path(path);
        let m = self.root.lstat(rel)?;
        let link_target = if m.is_symlink() {
            self.root.link_target(rel)
        } else {
            None
        };
        Ok(self.root.info(last_name(path), &m, link_target))
    }

    fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries> {
        let rel = rel_path(path);
        let inner = self
            .root
            .with_path(rel, true, |p| self.root.dir.read_dir(p))?;
        Ok(Box::new(Entries {
            inner,
            root: Arc::clone(&self.root),
            dir_rel: rel.to_path_buf(),
            done: false,
        }))
    }

    fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>> {
        let file = self
            .root
            .open_regular(rel_path(path), OpenOptions::new().read(true))?;
        Ok(Box::new(LocalRead { file }))
    }

    fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>> {
        let rel = rel_path(path);
        match mode {
            WriteMode::Replace => self.root.open_replace(rel),
            WriteMode::Append => {
                let file = self.root.open_regular(
                    rel,
                    OpenOptions::new().append(true).create(true).mode(0o666),
                )?;
                Ok(Box::new(LocalWrite::in_place(file)))
            }
            WriteMode::Resume(offset) => {
                let mut file = self
                    .root
                    .open_regular(rel, OpenOptions::new().write(true))?;
                if file.metadata()?.len() < offset {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "restart offset is beyond the end of the file",
                    ));
                }
                file.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(LocalWrite::in_place(file)))
            }
        }
    }

    fn create_unique(&self, dir: &[u8], prefix: &str) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)> {
        if prefix.contains(['/', '\0']) || prefix.len() > NAME_MAX - RANDOM_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid unique file name prefix",
            ));
        }
        let drel = rel_path(dir);
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true).mode(0o666);
        for _ in 0..UNIQUE_TRIES {
            let name = format!("{prefix}{}", random_suffix());
            let rel = drel.join(&name);
            match self
                .root
                .with_path(&rel, false, |p| self.root.dir.open_with(p, &opts))
            {
                Ok(f) => {
                    let mut vpath = dir.to_vec();
                    if !vpath.ends_with(b"/") {
                        vpath.push(b'/');
                    }
                    vpath.extend_from_slice(name.as_bytes());
                    return Ok((vpath, Box::new(LocalWrite::in_place(f.into_std()))));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not create a unique file name",
        ))
    }

    fn mkdir(&self, path: &[u8]) -> io::Result<()> {
        self.root
            .with_path(rel_path(path), false, |p| self.root.dir.create_dir(p))
    }

    fn rmdir(&self, path: &[u8]) -> io::Result<()> {
        self.root
            .with_path(rel_path(path), false, |p| self.root.dir.remove_dir(p))
    }

    fn remove_file(&self, path: &[u8]) -> io::Result<()> {
        self.root
            .with_path(rel_path(path), false, |p| self.root.dir.remove_file(p))
    }

    fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        let (from, to) = (rel_path(from), rel_path(to));
        let dir = &self.root.dir;
        match dir.rename(from, dir, to) {
            Err(e) if is_escape(&e) => {
                let resolved = self
                    .root
                    .resolve(from, false)
                    .and_then(|f| Ok((f, self.root.resolve(to, false)?)));
                match resolved {
                    Ok((f, t)) => dir.rename(f, dir, t),
                    Err(e2) if is_escape(&e2) => Err(e),
                    Err(e2) => Err(e2),
                }
            }
            other => other,
        }
    }

    #[cfg(unix)]
    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
        self.root.with_path(rel_path(path), true, |p| {
            self.root
                .dir
                .set_permissions(p, Permissions::from_mode(mode & 0o7777))
        })
    }

    /// Windows keeps one permission bit, read-only: set when `mode` lets
    /// the owner not write (as Python's `os.chmod` does there).
    #[cfg(windows)]
    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
        self.root.with_path(rel_path(path), true, |p| {
            let mut perm: Permissions = self.root.dir.metadata(p)?.permissions();
            perm.set_readonly(mode & 0o200 == 0);
            self.root.dir.set_permissions(p, perm)
        })
    }

    fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()> {
        self.root.set_mtime(rel_path(path), secs)
    }

    fn display_path(&self, path: &[u8]) -> PathBuf {
        let rel = rel_path(path);
        if rel == Path::new(".") {
            self.root.canon.clone()
        } else {
            self.root.canon.join(rel)
        }
    }

    /// True when the root is on a local disk or memory filesystem (ext4, xfs,
    /// btrfs, tmpfs, overlay...), judged once by `fstatfs(2)` of the root at
    /// open; false on NFS, SMB/CIFS, 9p, Ceph, FUSE and anything unknown.
    fn is_local_fast(&self) -> bool {
        self.root.local_fast
    }
}

/// The default factory: a [`LocalFs`] rooted at the account's root
/// ([`Account::root`], its home directory unless the authorizer says otherwise).
///
/// Sessions of the same home share one open directory handle (10,000
/// anonymous sessions hold one descriptor for their root, not 10,000); a
/// handle is reopened when the directory at that path is no longer the one
/// it refers to.
#[derive(Debug, Default)]
pub struct LocalFsFactory {
    #[cfg_attr(windows, allow(dead_code))]
    roots: Mutex<HashMap<PathBuf, std::sync::Weak<Root>>>,
}

impl FilesystemFactory for LocalFsFactory {
    /// Windows: a handle per session (there is no device and inode
    /// number to tell that the directory at a path is still the same).
    #[cfg(windows)]
    fn open(&self, account: &Account) -> io::Result<Box<dyn Filesystem>> {
        Ok(Box::new(LocalFs::new(&account.root)?))
    }

    #[cfg(unix)]
    fn open(&self, account: &Account) -> io::Result<Box<dyn Filesystem>> {
        use std::os::unix::fs::MetadataExt as _;
        let on_disk = std::fs::metadata(&account.root)?;
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(root) = roots.get(&account.root).and_then(std::sync::Weak::upgrade) {
            let same = root
                .dir
                .dir_metadata()
                .map(|m| m.dev() == on_disk.dev() && m.ino() == on_disk.ino())
                .unwrap_or(false);
            if same {
                return Ok(Box::new(LocalFs { root }));
            }
        }
        let fs = LocalFs::new(&account.root)?;
        roots.retain(|_, w| w.strong_count() > 0);
        roots.insert(account.root.clone(), Arc::downgrade(&fs.root));
        Ok(Box::new(fs))
    }
}

#[cfg(test)]
mod tests;
