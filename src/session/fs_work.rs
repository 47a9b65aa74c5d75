//! Filesystem work a command needs, as data: the session asks for it with
//! [`Action::Fs`](super::Action::Fs) and gets the result back as
//! [`Input::FsDone`](super::Input::FsDone), the way login checks work. The
//! session itself never calls a [`Filesystem`], so a slow mount (NFS, SMB,
//! FUSE, an object store) stalls only the session that uses it: drivers run
//! the task inline where blocking is fine (a thread or a process per
//! session) and on a small worker pool where sessions share a poll loop.
//!
//! Each command that touches the filesystem is split in two: the session
//! checks what it can alone (arguments, permissions, state) and emits an
//! [`FsTask`]; [`FsTask::run`] makes the calls (and nothing else); the
//! session turns the [`FsDone`] into its reply. An [`FsOp`] variant names
//! the command and carries what the calls need; the [`FsDone`] variant of
//! the same name carries the results back, so a result can only meet the
//! command that asked for it.

use std::io::{self, Seek};
use std::path::PathBuf;
use std::sync::Arc;

use crate::data::{TransferCmd, TransferError};
use crate::fs::{Filesystem, ReadFile, WriteFile, WriteMode};
use crate::proto::glob;
use crate::proto::listing::{self, EntryInfo, FileKind, MlstFacts, MlsxRole, TimeMode};
use crate::proto::path;
use crate::proto::perm::{PermTable, PermsAt};

/// The most entries one NLST or LIST pattern may match; past it the command
/// is refused with `550` (a listing of a whole huge directory is still
/// possible without a pattern, streamed as it is read).
pub const MAX_GLOB_MATCHES: usize = 10_000;

/// Listing lines produced lazily while the transfer runs.
pub(crate) type Lines = Box<dyn Iterator<Item = Vec<u8>> + Send>;

/// A permission that depends on whether a path is a directory (a
/// non-recursive override of its parent, see [`PermsAt::DependsOnKind`]):
/// checked by the task before anything else, since it needs a `stat`.
#[derive(Debug)]
pub(crate) struct KindCheck {
    pub(crate) path: Vec<u8>,
    pub(crate) letter: char,
    pub(crate) at: PermsAt,
}

/// The filesystem calls of one command.
#[derive(Debug)]
pub(crate) enum FsOp {
    /// CWD, CDUP: is `path` a directory?
    Cwd(Vec<u8>),
    /// MKD
    Mkd(Vec<u8>),
    /// RMD
    Rmd(Vec<u8>),
    /// DELE
    Dele(Vec<u8>),
    /// RNFR: does `path` exist (not followed)?
    Rnfr(Vec<u8>),
    /// RNTO
    Rnto { from: Vec<u8>, to: Vec<u8> },
    /// SITE CHMOD
    Chmod { path: Vec<u8>, mode: u32 },
    /// SIZE, MDTM: the metadata of a regular file.
    FileInfo { path: Vec<u8>, size: bool },
    /// MFMT: set the time of a regular file, then read it back.
    Mfmt { path: Vec<u8>, secs: i64 },
    /// MLST
    Mlst(Vec<u8>),
    /// STAT with a path: `ls -l` lines (the directory's entries, or the entry).
    Stat {
        path: Vec<u8>,
        now: i64,
        tm: TimeMode,
    },
    /// RETR: open, and seek to the REST offset.
    Retr { path: Vec<u8>, rest: u64 },
    /// STOR, APPE: open for writing (for `REST n`, check the size first).
    Stor {
        path: Vec<u8>,
        cmd: TransferCmd,
        mode: WriteMode,
    },
    /// STOU
    Stou { dir: Vec<u8>, prefix: String },
    /// LIST, NLST, MLSD of a path.
    List(ListSpec),
    /// LIST, NLST of a pattern (`*.txt`) in directory `dir`.
    Glob {
        cmd: TransferCmd,
        /// The directory as the client wrote it (prefix of every name).
        shown_dir: Vec<u8>,
        dir: Vec<u8>,
        pattern: Vec<u8>,
        now: i64,
        tm: TimeMode,
        /// A literal name equal to the pattern, listed as such if it exists.
        literal: Vec<u8>,
        /// How to list the literal name (when it exists).
        literal_spec: ListSpec,
        /// The permissions at the literal name (`l` is needed).
        literal_perms: PermsAt,
    },
}

/// LIST, NLST or MLSD of one path.
#[derive(Debug, Clone)]
pub(crate) struct ListSpec {
    pub(crate) cmd: TransferCmd,
    pub(crate) path: Vec<u8>,
    pub(crate) now: i64,
    pub(crate) tm: TimeMode,
    pub(crate) facts: MlstFacts,
    pub(crate) perms: Arc<PermTable>,
}

/// A transfer that ended, waiting for its upload to be committed or aborted
/// before the session replies.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) cmd: TransferCmd,
    pub(crate) file_path: Option<PathBuf>,
    pub(crate) bytes: u64,
    pub(crate) seconds: f64,
    pub(crate) result: Result<(), TransferError>,
    pub(crate) aborted_by_client: bool,
}

/// Why RETR or a resumed STOR could not start.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The file could not be opened (`550`).
    Io(io::Error),
    /// The REST offset is past the end, or the seek failed (`554`, with this text).
    Restart(String),
}

/// Why a listing could not start.
#[derive(Debug)]
pub(crate) enum ListError {
    /// `550` with the error's text.
    Io(io::Error),
    /// MLSD of something that is not a directory (`501`).
    NotDir,
    /// A pattern matched nothing (`550`).
    NoMatch,
    /// A pattern (`asked`, as the client wrote it) matched more than
    /// [`MAX_GLOB_MATCHES`] entries of directory `dir` (`550`).
    TooMany { asked: Vec<u8>, dir: Vec<u8> },
}

/// The result of an [`FsTask`]: a refusal, or the result of a command of
/// one family, named like the [`FsOp`] that asked for it.
pub(crate) enum FsResult {
    /// A permission that depended on the kind of the path is not granted.
    Denied,
    /// Directories and file information (`commands/files.rs`).
    Files(FileResult),
    /// Transfers (`commands/transfers.rs`).
    Transfers(TransferResult),
}

/// Results of the directory and file-information commands.
pub(crate) enum FileResult {
    Cwd(Vec<u8>, io::Result<EntryInfo>),
    Mkd(Vec<u8>, io::Result<()>),
    Rmd(Vec<u8>, io::Result<()>),
    Dele(io::Result<()>),
    Rnfr(Vec<u8>, io::Result<EntryInfo>),
    Rnto(io::Result<()>),
    Chmod(io::Result<()>),
    FileInfo {
        path: Vec<u8>,
        size: bool,
        result: io::Result<EntryInfo>,
    },
    /// `None`: not a regular file.
    Mfmt(Vec<u8>, Option<io::Result<EntryInfo>>),
    Mlst(Vec<u8>, io::Result<EntryInfo>),
    Stat(Vec<u8>, io::Result<Vec<Vec<u8>>>),
}

/// Results of the transfer commands and of an upload's end.
pub(crate) enum TransferResult {
    Retr(Result<(Box<dyn ReadFile>, PathBuf), OpenError>),
    Stor {
        cmd: TransferCmd,
        result: Result<(Box<dyn WriteFile>, PathBuf), OpenError>,
    },
    Stou(io::Result<(Vec<u8>, Box<dyn WriteFile>, PathBuf)>),
    List(TransferCmd, Result<Lines, ListError>),
    Finished {
        result: io::Result<()>,
        ended: Option<Box<Ended>>,
    },
}

impl std::fmt::Debug for FsResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            FsResult::Denied => "Denied",
            FsResult::Files(f) => match f {
                FileResult::Cwd(..) => "Cwd",
                FileResult::Mkd(..) => "Mkd",
                FileResult::Rmd(..) => "Rmd",
                FileResult::Dele(..) => "Dele",
                FileResult::Rnfr(..) => "Rnfr",
                FileResult::Rnto(..) => "Rnto",
                FileResult::Chmod(..) => "Chmod",
                FileResult::FileInfo { .. } => "FileInfo",
                FileResult::Mfmt(..) => "Mfmt",
                FileResult::Mlst(..) => "Mlst",
                FileResult::Stat(..) => "Stat",
            },
            FsResult::Transfers(t) => match t {
                TransferResult::Retr(..) => "Retr",
                TransferResult::Stor { .. } => "Stor",
                TransferResult::Stou(..) => "Stou",
                TransferResult::List(..) => "List",
                TransferResult::Finished { .. } => "Finished",
            },
        };
        f.write_str(name)
    }
}

/// Filesystem work for one command (see the module docs): run it with
/// [`FsTask::run`], anywhere (it may block for as long as the storage
/// takes), and feed the result to the session as
/// [`Input::FsDone`](super::Input::FsDone).
pub struct FsTask(Job);

enum Job {
    /// A command's calls, after a permission check that needs a `stat`.
    Op {
        fs: Arc<dyn Filesystem>,
        check: Option<KindCheck>,
        op: FsOp,
    },
    /// The end of an upload: commit or abort the file; `ended` is the rest
    /// of the transfer's end, which the session finishes once the file is
    /// in place (or not), `None` when no reply waits for it.
    Finish {
        sink: Box<dyn WriteFile>,
        commit: bool,
        ended: Option<Box<Ended>>,
    },
}

impl std::fmt::Debug for FsTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Job::Finish { commit, .. } => write!(f, "Finish(commit={commit})"),
            Job::Op { op, check, .. } => match check {
                Some(c) => write!(f, "{op:?} if {c:?}"),
                None => write!(f, "{op:?}"),
            },
        }
    }
}

/// What an [`FsTask`] found, for [`Input::FsDone`](super::Input::FsDone).
#[derive(Debug)]
pub struct FsDone(pub(crate) FsResult);

impl FsDone {
    /// Release what the result holds when no session will take it (the
    /// connection ended while the task ran): an upload opened for it is
    /// aborted, so that a replacing upload leaves the old file whole
    /// ([`WriteFile::abort`]). Blocks on the filesystem like
    /// [`FsTask::run`].
    pub fn discard(self) {
        let sink = match self.0 {
            FsResult::Transfers(TransferResult::Stor {
                result: Ok((s, _)), ..
            }) => s,
            FsResult::Transfers(TransferResult::Stou(Ok((_, s, _)))) => s,
            _ => return,
        };
        if let Err(e) = sink.abort() {
            log::warn!("cleaning up an upload nobody took: {e}");
        }
    }
}

impl FsTask {
    pub(crate) fn new(fs: Arc<dyn Filesystem>, check: Option<KindCheck>, op: FsOp) -> Self {
        FsTask(Job::Op { fs, check, op })
    }

    /// Commit (`commit`) or abort an upload's file; `ended` goes back to
    /// the session with the result.
    pub(crate) fn finish(
        sink: Box<dyn WriteFile>,
        commit: bool,
        ended: Option<Box<Ended>>,
    ) -> Self {
        FsTask(Job::Finish {
            sink,
            commit,
            ended,
        })
    }

    /// Whether this task must run even when the session is ending: the end
    /// of an upload (its file gets its commit or abort whatever happens).
    pub fn must_run(&self) -> bool {
        matches!(self.0, Job::Finish { .. })
    }

    /// Make the filesystem calls. Blocks as long as the storage does.
    pub fn run(self) -> FsDone {
        let (fs, check, op) = match self.0 {
            Job::Finish {
                sink,
                commit,
                ended,
            } => {
                let result = if commit { sink.commit() } else { sink.abort() };
                return FsDone(FsResult::Transfers(TransferResult::Finished {
                    result,
                    ended,
                }));
            }
            Job::Op { fs, check, op } => (fs, check, op),
        };
        let fs = &*fs;
        if let Some(c) = check {
            let granted = c.at.resolve(|| is_dir(fs, &c.path)).contains(c.letter);
            if !granted {
                return FsDone(FsResult::Denied);
            }
        }
        FsDone(match op {
            FsOp::Cwd(p) => {
                let r = fs.metadata_to_enter(&p);
                FsResult::Files(FileResult::Cwd(p, r))
            }
            FsOp::Mkd(p) => {
                let r = fs.mkdir(&p);
                FsResult::Files(FileResult::Mkd(p, r))
            }
            FsOp::Rmd(p) => {
                let r = fs.rmdir(&p);
                FsResult::Files(FileResult::Rmd(p, r))
            }
            FsOp::Dele(p) => FsResult::Files(FileResult::Dele(fs.remove_file(&p))),
            FsOp::Rnfr(p) => {
                let r = fs.symlink_metadata(&p);
                FsResult::Files(FileResult::Rnfr(p, r))
            }
            FsOp::Rnto { from, to } => FsResult::Files(FileResult::Rnto(fs.rename(&from, &to))),
            FsOp::Chmod { path, mode } => FsResult::Files(FileResult::Chmod(fs.chmod(&path, mode))),
            FsOp::FileInfo { path, size } => {
                let result = fs.metadata(&path);
                FsResult::Files(FileResult::FileInfo { path, size, result })
            }
            FsOp::Mfmt { path, secs } => {
                let r = is_regular_file(fs, &path)
                    .then(|| fs.set_mtime(&path, secs).and_then(|()| fs.metadata(&path)));
                FsResult::Files(FileResult::Mfmt(path, r))
            }
            FsOp::Mlst(p) => {
                let r = fs.metadata(&p);
                FsResult::Files(FileResult::Mlst(p, r))
            }
            FsOp::Stat { path, now, tm } => {
                let r = stat_lines(fs, &path, now, tm);
                FsResult::Files(FileResult::Stat(path, r))
            }
            FsOp::Retr { path, rest } => {
                FsResult::Transfers(TransferResult::Retr(open_read(fs, &path, rest)))
            }
            FsOp::Stor { path, cmd, mode } => FsResult::Transfers(TransferResult::Stor {
                cmd,
                result: open_write(fs, &path, mode),
            }),
            FsOp::Stou { dir, prefix } => FsResult::Transfers(TransferResult::Stou(
                fs.create_unique(&dir, &prefix).map(|(vpath, sink)| {
                    let shown = fs.display_path(&vpath);
                    (vpath, sink, shown)
                }),
            )),
            FsOp::List(spec) => {
                let cmd = spec.cmd;
                FsResult::Transfers(TransferResult::List(cmd, list(fs, spec)))
            }
            FsOp::Glob {
                cmd,
                shown_dir,
                dir,
                pattern,
                now,
                tm,
                literal,
                literal_spec,
                literal_perms,
            } => {
                // A file literally named `a*b` is listed as such.
                let r = if fs.symlink_metadata(&literal).is_ok() {
                    if !literal_perms.resolve(|| is_dir(fs, &literal)).contains('l') {
                        return FsDone(FsResult::Denied);
                    }
                    list(fs, literal_spec)
                } else {
                    glob_list(fs, cmd, &shown_dir, &dir, &pattern, now, tm)
                };
                FsResult::Transfers(TransferResult::List(cmd, r))
            }
        })
    }
}

/// Whether `path` is a directory (symlinks inside the root followed); an
/// error counts as "not a directory" (pyftpdlib's `os.path.isdir`).
fn is_dir(fs: &dyn Filesystem, path: &[u8]) -> bool {
    fs.metadata(path).is_ok_and(|m| m.kind == FileKind::Dir)
}

/// Whether `path` is a regular file (in-root symlinks followed).
fn is_regular_file(fs: &dyn Filesystem, path: &[u8]) -> bool {
    fs.metadata(path).is_ok_and(|m| m.kind == FileKind::File)
}

fn stat_lines(fs: &dyn Filesystem, p: &[u8], now: i64, tm: TimeMode) -> io::Result<Vec<Vec<u8>>> {
    match fs.metadata(p) {
        Ok(m) if m.kind == FileKind::Dir => fs
            .read_dir(p)
            .map(|it| it.map(|e| listing::list_line(&e, now, tm)).collect()),
        Ok(_) => fs
            .symlink_metadata(p)
            .map(|e| vec![listing::list_line(&e, now, tm)]),
        Err(e) => Err(e),
    }
}

fn open_read(
    fs: &dyn Filesystem,
    p: &[u8],
    rest: u64,
) -> Result<(Box<dyn ReadFile>, PathBuf), OpenError> {
    let mut file = fs.open_read(p).map_err(OpenError::Io)?;
    if rest > 0 {
        let size = fs
            .metadata(p)
            .map(|m| m.size)
            .map_err(|e| OpenError::Restart(super::strerror(&e)))?;
        if rest > size {
            return Err(OpenError::Restart(format!(
                "REST position ({rest}) > file size ({size})"
            )));
        }
        file.seek(io::SeekFrom::Start(rest))
            .map_err(|e| OpenError::Restart(super::strerror(&e)))?;
    }
    Ok((file, fs.display_path(p)))
}

fn open_write(
    fs: &dyn Filesystem,
    p: &[u8],
    mode: WriteMode,
) -> Result<(Box<dyn WriteFile>, PathBuf), OpenError> {
    if let WriteMode::Resume(n) = mode {
        let size = fs
            .metadata(p)
            .map(|m| m.size)
            .map_err(|e| OpenError::Restart(super::strerror(&e)))?;
        if n > size {
            return Err(OpenError::Restart(format!(
                "REST position ({n}) > file size ({size})"
            )));
        }
    }
    let sink = fs.open_write(p, mode).map_err(OpenError::Io)?;
    Ok((sink, fs.display_path(p)))
}

/// LIST, NLST or MLSD of one path: the directory's entries, read lazily as
/// the transfer runs, or the one entry.
fn list(fs: &dyn Filesystem, spec: ListSpec) -> Result<Lines, ListError> {
    let ListSpec {
        cmd,
        path: p,
        now,
        tm,
        facts,
        perms,
    } = spec;
    let meta = fs.metadata(&p);
    // A symlink leading outside the root is refused, not listed as a link (pyftpdlib).
    if let Err(e) = &meta {
        if e.kind() == io::ErrorKind::PermissionDenied {
            return Err(ListError::Io(io::Error::from(
                io::ErrorKind::PermissionDenied,
            )));
        }
    }
    if matches!(meta, Ok(m) if m.kind == FileKind::Dir) {
        let entries = fs.read_dir(&p).map_err(ListError::Io)?;
        return Ok(match cmd {
            TransferCmd::List => Box::new(entries.map(move |e| listing::list_line(&e, now, tm))),
            TransferCmd::Nlst => Box::new(entries.map(|e| listing::nlst_line(&e))),
            _ => Box::new(entries.map(move |e| {
                // the entry's own kind decides a kind-dependent override
                let letters = perms
                    .at(&path::join(&p, &e.name))
                    .resolve(|| e.kind == FileKind::Dir)
                    .letters();
                listing::mlsx_line(&e, &facts, &letters, MlsxRole::Entry)
            })),
        });
    }
    if cmd == TransferCmd::Mlsd {
        return Err(ListError::NotDir);
    }
    let e = fs.symlink_metadata(&p).map_err(ListError::Io)?;
    Ok(if cmd == TransferCmd::List {
        Box::new(std::iter::once(listing::list_line(&e, now, tm)))
    } else {
        Box::new(std::iter::once(listing::nlst_line(&e)))
    })
}

/// NLST or LIST of a pattern: the entries of `dir` whose names match,
/// sorted by name (byte order), each named `shown_dir` (the directory as
/// the client wrote it) plus the entry's name, so that every NLST line is a
/// valid RETR argument in the current directory.
fn glob_list(
    fs: &dyn Filesystem,
    cmd: TransferCmd,
    shown_dir: &[u8],
    dir: &[u8],
    pattern: &[u8],
    now: i64,
    tm: TimeMode,
) -> Result<Lines, ListError> {
    let matcher = glob::Pattern::new(pattern);
    let entries = fs.read_dir(dir).map_err(ListError::Io)?;
    // The bound is checked while the directory is read: entries that do not
    // match are dropped at once, and reading stops at the first match past
    // the bound, so a huge directory is never held in memory, only at most
    // MAX_GLOB_MATCHES entries of it.
    let mut found = Vec::new();
    for e in entries.filter(|e| matcher.matches(&e.name)) {
        if found.len() == MAX_GLOB_MATCHES {
            return Err(ListError::TooMany {
                asked: [shown_dir, pattern].concat(),
                dir: dir.to_vec(),
            });
        }
        found.push(e);
    }
    if found.is_empty() {
        return Err(ListError::NoMatch);
    }
    found.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let prefix = shown_dir.to_vec();
    Ok(Box::new(found.into_iter().map(move |mut e| {
        e.name = [prefix.as_slice(), &e.name].concat();
        if cmd == TransferCmd::List {
            listing::list_line(&e, now, tm)
        } else {
            listing::nlst_line(&e)
        }
    })))
}
