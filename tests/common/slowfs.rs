//! A real slow mount: a FUSE passthrough of a temporary directory, served
//! from a thread of the calling process, whose every lookup, getattr,
//! setattr, readdir, open, create, mkdir, unlink, rmdir, rename and readlink
//! waits [`SlowMount::set_delay`] before it runs (data reads and writes wait
//! [`SlowMount::set_data_delay`], default none). Shared by
//! `tests/slow_storage.rs` and `benches/slow_storage.rs`.
//!
//! Every request runs on a thread of its own, so the mount itself is never
//! the bottleneck: twenty clients waiting on it at once all wait one delay,
//! as on a network filesystem with a slow round trip. Attributes and entries
//! are never cached by the kernel (time-to-live 0), so every `stat(2)` of a
//! server reaches the mount.
//!
//! Mounting needs root and `/dev/fuse`; [`SlowMount::mount`] says why it
//! cannot when either is missing, and callers skip. Dropping the mount
//! detaches it at once (lazy unmount), even while a server still holds files
//! there.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, KernelConfig, MountOption, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};

/// Nothing is cached by the kernel: every call reaches the mount.
const TTL: Duration = Duration::ZERO;

/// The delays, changeable while mounted.
#[derive(Default)]
struct Delays {
    meta_us: AtomicU64,
    data_us: AtomicU64,
}

impl Delays {
    fn meta(&self) -> Duration {
        Duration::from_micros(self.meta_us.load(Ordering::Relaxed))
    }
    fn data(&self) -> Duration {
        Duration::from_micros(self.data_us.load(Ordering::Relaxed))
    }
}

/// Inode numbers of the paths seen so far (relative to the backing root,
/// `""` being the root, inode 1). Numbers are never reused for another path.
struct Inodes {
    by_ino: HashMap<u64, PathBuf>,
    by_path: HashMap<PathBuf, u64>,
    next: u64,
}

impl Inodes {
    fn ino(&mut self, rel: &Path) -> u64 {
        if let Some(i) = self.by_path.get(rel) {
            return *i;
        }
        let i = self.next;
        self.next += 1;
        self.by_ino.insert(i, rel.to_path_buf());
        self.by_path.insert(rel.to_path_buf(), i);
        i
    }

    fn forget_path(&mut self, rel: &Path) {
        if let Some(i) = self.by_path.remove(rel) {
            self.by_ino.remove(&i);
        }
    }

    /// After a rename: `from` and everything below it now live under `to`.
    fn moved(&mut self, from: &Path, to: &Path) {
        self.forget_path(to);
        let moved: Vec<(PathBuf, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with(from))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (p, i) in moved {
            let np = to.join(p.strip_prefix(from).unwrap());
            self.by_path.remove(&p);
            self.by_path.insert(np.clone(), i);
            self.by_ino.insert(i, np);
        }
    }
}

struct State {
    backing: PathBuf,
    inodes: Mutex<Inodes>,
    files: Mutex<HashMap<u64, Arc<File>>>,
    next_fh: AtomicU64,
    delays: Arc<Delays>,
}

impl State {
    /// The relative path of `ino`.
    fn rel(&self, ino: u64) -> Result<PathBuf, i32> {
        self.inodes
            .lock()
            .unwrap()
            .by_ino
            .get(&ino)
            .cloned()
            .ok_or(libc::ENOENT)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        Ok(self.rel(parent)?.join(name))
    }

    fn real(&self, rel: &Path) -> PathBuf {
        self.backing.join(rel)
    }

    fn ino(&self, rel: &Path) -> u64 {
        self.inodes.lock().unwrap().ino(rel)
    }

    /// Attributes of `rel` (not following a symlink), with its inode number.
    fn attr(&self, rel: &Path) -> Result<FileAttr, i32> {
        let m = std::fs::symlink_metadata(self.real(rel)).map_err(|e| errno(&e))?;
        Ok(to_attr(self.ino(rel), &m))
    }

    fn file(&self, fh: u64) -> Result<Arc<File>, i32> {
        self.files
            .lock()
            .unwrap()
            .get(&fh)
            .cloned()
            .ok_or(libc::EBADF)
    }

    fn add_file(&self, f: File) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.files.lock().unwrap().insert(fh, Arc::new(f));
        fh
    }
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn kind(ft: std::fs::FileType) -> FileType {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_fifo() {
        FileType::NamedPipe
    } else if ft.is_socket() {
        FileType::Socket
    } else if ft.is_char_device() {
        FileType::CharDevice
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else {
        FileType::RegularFile
    }
}

fn to_attr(ino: u64, m: &std::fs::Metadata) -> FileAttr {
    FileAttr {
        ino,
        size: m.size(),
        blocks: m.blocks(),
        atime: time(m.atime(), m.atime_nsec()),
        mtime: time(m.mtime(), m.mtime_nsec()),
        ctime: time(m.ctime(), m.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind: kind(m.file_type()),
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: m.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let (s, ns) = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
                Err(e) => (-(e.duration().as_secs() as i64), 0),
            };
            libc::timespec {
                tv_sec: s as libc::time_t,
                tv_nsec: ns as _,
            }
        }
    }
}

fn open_options(flags: i32) -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => o.write(true),
        libc::O_RDWR => o.read(true).write(true),
        _ => o.read(true),
    };
    o.custom_flags(flags & libc::O_APPEND);
    o
}

/// The FUSE side: a passthrough of `State::backing`.
struct PassFs {
    st: Arc<State>,
}

impl PassFs {
    /// Run `f` after the metadata delay, on a thread of its own (at once
    /// when there is no delay).
    fn slow(&self, f: impl FnOnce(&State) + Send + 'static) {
        let d = self.st.delays.meta();
        let st = self.st.clone();
        if d.is_zero() {
            f(&st);
        } else {
            std::thread::spawn(move || {
                std::thread::sleep(d);
                f(&st)
            });
        }
    }

    /// Run `f` after the data delay.
    fn data(&self, f: impl FnOnce(&State) + Send + 'static) {
        let d = self.st.delays.data();
        let st = self.st.clone();
        if d.is_zero() {
            f(&st);
        } else {
            std::thread::spawn(move || {
                std::thread::sleep(d);
                f(&st)
            });
        }
    }
}

impl fuser::Filesystem for PassFs {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), i32> {
        // lookups and readdir of one directory in parallel, as on a real
        // network filesystem (without it the kernel runs them one at a time)
        let _ = config.add_capabilities(fuser::consts::FUSE_PARALLEL_DIROPS);
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        self.slow(
            move |st| match st.child(parent, &name).and_then(|p| st.attr(&p)) {
                Ok(a) => reply.entry(&TTL, &a, 0),
                Err(e) => reply.error(e),
            },
        );
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        self.slow(move |st| match st.rel(ino).and_then(|p| st.attr(&p)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        });
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        self.slow(move |st| {
            let run = || -> Result<FileAttr, i32> {
                let rel = st.rel(ino)?;
                let real = st.real(&rel);
                if let Some(mode) = mode {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(mode & 0o7777))
                        .map_err(|e| errno(&e))?;
                }
                if let Some(size) = size {
                    let r = match fh {
                        Some(fh) => st.file(fh)?.set_len(size),
                        None => std::fs::OpenOptions::new()
                            .write(true)
                            .open(&real)
                            .and_then(|f| f.set_len(size)),
                    };
                    r.map_err(|e| errno(&e))?;
                }
                if atime.is_some() || mtime.is_some() {
                    let c = CString::new(real.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
                    let times = [timespec(atime), timespec(mtime)];
                    // SAFETY: a valid C string and two timespecs
                    let r = unsafe {
                        libc::utimensat(
                            libc::AT_FDCWD,
                            c.as_ptr(),
                            times.as_ptr(),
                            libc::AT_SYMLINK_NOFOLLOW,
                        )
                    };
                    if r != 0 {
                        return Err(errno(&std::io::Error::last_os_error()));
                    }
                }
                st.attr(&rel)
            };
            match run() {
                Ok(a) => reply.attr(&TTL, &a),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        self.slow(move |st| {
            match st
                .rel(ino)
                .and_then(|p| std::fs::read_link(st.real(&p)).map_err(|e| errno(&e)))
            {
                Ok(t) => reply.data(t.as_os_str().as_bytes()),
                Err(e) => reply.error(e),
            }
        });
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        self.slow(move |st| {
            let run = || -> Result<FileAttr, i32> {
                let rel = st.child(parent, &name)?;
                std::fs::DirBuilder::new()
                    .mode(mode & !umask & 0o7777)
                    .create(st.real(&rel))
                    .map_err(|e| errno(&e))?;
                st.attr(&rel)
            };
            match run() {
                Ok(a) => reply.entry(&TTL, &a, 0),
                Err(e) => reply.error(e),
            }
        });
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.slow(move |st| {
            let r = st.child(parent, &name).and_then(|rel| {
                std::fs::remove_file(st.real(&rel)).map_err(|e| errno(&e))?;
                st.inodes.lock().unwrap().forget_path(&rel);
                Ok(())
            });
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.slow(move |st| {
            let r = st.child(parent, &name).and_then(|rel| {
                std::fs::remove_dir(st.real(&rel)).map_err(|e| errno(&e))?;
                st.inodes.lock().unwrap().forget_path(&rel);
                Ok(())
            });
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let (name, newname) = (name.to_owned(), newname.to_owned());
        self.slow(move |st| {
            let r = (|| -> Result<(), i32> {
                if flags != 0 {
                    return Err(libc::EINVAL);
                }
                let from = st.child(parent, &name)?;
                let to = st.child(newparent, &newname)?;
                std::fs::rename(st.real(&from), st.real(&to)).map_err(|e| errno(&e))?;
                st.inodes.lock().unwrap().moved(&from, &to);
                Ok(())
            })();
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        self.slow(move |st| {
            let r = st.rel(ino).and_then(|rel| {
                open_options(flags)
                    .open(st.real(&rel))
                    .map_err(|e| errno(&e))
            });
            match r {
                Ok(f) => reply.opened(st.add_file(f), 0),
                Err(e) => reply.error(e),
            }
        });
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let name = name.to_owned();
        self.slow(move |st| {
            let run = || -> Result<(FileAttr, u64), i32> {
                let rel = st.child(parent, &name)?;
                let mut o = open_options(flags);
                if flags & libc::O_ACCMODE == libc::O_RDONLY {
                    o.write(true);
                }
                o.create(true)
                    .mode(mode & !umask & 0o7777)
                    .custom_flags(flags & (libc::O_APPEND | libc::O_EXCL));
                if flags & libc::O_TRUNC != 0 {
                    o.truncate(true);
                }
                let f = o.open(st.real(&rel)).map_err(|e| errno(&e))?;
                let fh = st.add_file(f);
                Ok((st.attr(&rel)?, fh))
            };
            match run() {
                Ok((a, fh)) => reply.created(&TTL, &a, 0, fh, 0),
                Err(e) => reply.error(e),
            }
        });
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        self.data(move |st| {
            let r = st.file(fh).and_then(|f| {
                let mut buf = vec![0u8; size as usize];
                let mut got = 0;
                while got < buf.len() {
                    match f.read_at(&mut buf[got..], offset as u64 + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(errno(&e)),
                    }
                }
                buf.truncate(got);
                Ok(buf)
            });
            match r {
                Ok(b) => reply.data(&b),
                Err(e) => reply.error(e),
            }
        });
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.data(move |st| {
            let r = st
                .file(fh)
                .and_then(|f| f.write_all_at(&data, offset as u64).map_err(|e| errno(&e)));
            match r {
                Ok(()) => reply.written(data.len() as u32),
                Err(e) => reply.error(e),
            }
        });
    }

    fn flush(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _lock_owner: u64,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _d: bool, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.st.files.lock().unwrap().remove(&fh);
        reply.ok();
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        self.slow(move |st| {
            let run = || -> Result<Vec<(u64, FileType, std::ffi::OsString)>, i32> {
                let rel = st.rel(ino)?;
                let parent = rel.parent().map_or(1, |p| st.ino(p));
                let mut all = vec![
                    (ino, FileType::Directory, ".".into()),
                    (parent, FileType::Directory, "..".into()),
                ];
                let mut entries: Vec<_> = std::fs::read_dir(st.real(&rel))
                    .map_err(|e| errno(&e))?
                    .flatten()
                    .collect();
                entries.sort_by_key(|e| e.file_name());
                for e in entries {
                    let Ok(ft) = e.file_type() else { continue };
                    let name = e.file_name();
                    all.push((st.ino(&rel.join(&name)), kind(ft), name));
                }
                Ok(all)
            };
            match run() {
                Ok(all) => {
                    for (i, (ino, k, name)) in all.into_iter().enumerate().skip(offset as usize) {
                        if reply.add(ino, i as i64 + 1, k, &name) {
                            break;
                        }
                    }
                    reply.ok()
                }
                Err(e) => reply.error(e),
            }
        });
    }
}

/// A mounted slow passthrough of a temporary directory; unmounted on drop.
pub struct SlowMount {
    session: Option<fuser::BackgroundSession>,
    delays: Arc<Delays>,
    // dropped after the session: the mount point must be unmounted first
    mountpoint: tempfile::TempDir,
    backing: tempfile::TempDir,
}

impl SlowMount {
    /// Why a slow mount cannot be made here, if it cannot: not root, or no
    /// `/dev/fuse`.
    pub fn unavailable() -> Option<String> {
        // SAFETY: geteuid has no preconditions
        if unsafe { libc::geteuid() } != 0 {
            return Some("mounting the slow FUSE filesystem needs root".into());
        }
        if !Path::new("/dev/fuse").exists() {
            return Some("/dev/fuse is missing".into());
        }
        None
    }

    /// Mount a passthrough of a new empty directory with `delay` per
    /// metadata or open call. Err says why it cannot be mounted here.
    pub fn mount(delay: Duration) -> Result<SlowMount, String> {
        if let Some(why) = Self::unavailable() {
            return Err(why);
        }
        let backing = tempfile::Builder::new()
            .prefix("slowfs-data-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let mountpoint = tempfile::Builder::new()
            .prefix("slowfs-mnt-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let delays = Arc::new(Delays::default());
        let mut inodes = Inodes {
            by_ino: HashMap::new(),
            by_path: HashMap::new(),
            next: 2,
        };
        inodes.by_ino.insert(fuser::FUSE_ROOT_ID, PathBuf::new());
        inodes.by_path.insert(PathBuf::new(), fuser::FUSE_ROOT_ID);
        let fs = PassFs {
            st: Arc::new(State {
                backing: backing.path().to_path_buf(),
                inodes: Mutex::new(inodes),
                files: Mutex::new(HashMap::new()),
                next_fh: AtomicU64::new(1),
                delays: delays.clone(),
            }),
        };
        let session = fuser::spawn_mount2(
            fs,
            mountpoint.path(),
            &[
                MountOption::FSName("ftpdlib-slowfs".into()),
                MountOption::AllowOther,
            ],
        )
        .map_err(|e| format!("mounting the slow FUSE filesystem failed: {e}"))?;
        let m = SlowMount {
            session: Some(session),
            delays,
            mountpoint,
            backing,
        };
        // the mount answers (the kernel waits for the INIT exchange)
        std::fs::metadata(m.path())
            .map_err(|e| format!("the slow FUSE filesystem does not answer: {e}"))?;
        m.set_delay(delay);
        Ok(m)
    }

    /// Where it is mounted (share this directory).
    pub fn path(&self) -> &Path {
        self.mountpoint.path()
    }

    /// The directory it passes through (write fixtures here, at full speed).
    pub fn backing(&self) -> &Path {
        self.backing.path()
    }

    /// The delay of each metadata, lookup, readdir and open call from now on.
    pub fn set_delay(&self, d: Duration) {
        self.delays
            .meta_us
            .store(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// The delay of each data read or write from now on.
    pub fn set_data_delay(&self, d: Duration) {
        self.delays
            .data_us
            .store(d.as_micros() as u64, Ordering::Relaxed);
    }
}

impl Drop for SlowMount {
    fn drop(&mut self) {
        // calls still in flight finish at once
        self.set_delay(Duration::ZERO);
        self.set_data_delay(Duration::ZERO);
        // Detach now, even if a server (or a process it forked) still holds
        // a file or a directory there: the mount point is free at once, and
        // the filesystem goes away with its last user.
        if let Ok(c) = CString::new(self.mountpoint.path().as_os_str().as_bytes()) {
            // SAFETY: a valid C string
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        drop(self.session.take());
    }
}
