//! Directory listing formats: LIST (`ls -l`), NLST, MLSD/MLST facts, MDTM/MFMT times.
//!
//! Pure: the current time is passed in, and entries come as [`EntryInfo`]
//! values that a filesystem produced.

/// The type of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else; the char is its `ls -l` type letter (`c`, `b`, `p`, `s`).
    Other(char),
}

/// What a listing needs to know about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's name (raw bytes, may be invalid UTF-8).
    pub name: Vec<u8>,
    /// The entry's type.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Hard link count.
    pub nlink: u64,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Owner name, when known (else the uid is shown).
    pub owner: Option<String>,
    /// Group name, when known (else the gid is shown).
    pub group: Option<String>,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// Device number (for the MLSx `unique` fact).
    pub dev: u64,
    /// Inode number (for the MLSx `unique` fact).
    pub ino: u64,
    /// For a symlink whose target lies inside the user's root: the target as
    /// written in the link. `None` otherwise (never reveals outside paths).
    pub link_target: Option<Vec<u8>>,
}

/// Which clock listings use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMode {
    /// UTC (pyftpdlib's default, `use_gmt_times = True`).
    Gmt,
    /// The server's local time zone.
    Local,
}

/// The MLST/MLSD facts a session has enabled (`OPTS MLST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlstFacts {
    /// `type=` fact.
    pub type_: bool,
    /// `perm=` fact.
    pub perm: bool,
    /// `size=` fact.
    pub size: bool,
    /// `modify=` fact.
    pub modify: bool,
    /// `unique=` fact.
    pub unique: bool,
    /// `unix.mode=` fact.
    pub unix_mode: bool,
    /// `unix.uid=` fact.
    pub unix_uid: bool,
    /// `unix.gid=` fact.
    pub unix_gid: bool,
}

impl Default for MlstFacts {
    /// pyftpdlib's defaults: type, perm, size, modify.
    fn default() -> Self {
        MlstFacts {
            type_: true,
            perm: true,
            size: true,
            modify: true,
            unique: false,
            unix_mode: false,
            unix_uid: false,
            unix_gid: false,
        }
    }
}

impl MlstFacts {
    /// Apply `OPTS MLST fact;fact;...` (case-insensitive, unknown facts ignored,
    /// empty string disables all). Returns the argument to echo in
    /// `200 MLST OPTS <facts>`, e.g. `"type;size;"`.
    pub fn set_from_opts(&mut self, arg: &str) -> String {
        let _ = arg;
        todo!("proto helper")
    }

    /// The FEAT line for MLST: `"MLST type*;perm*;size*;modify*;unique;unix.mode;unix.uid;unix.gid;"`
    /// with `*` on the enabled facts.
    pub fn feat_line(&self) -> String {
        todo!("proto helper")
    }
}

/// Which MLSx `type=` to report for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlsxRole {
    /// An ordinary entry (`file`, `dir`, or `OS.unix=...`).
    Entry,
    /// The listed directory itself (`cdir`).
    Current,
    /// Its parent (`pdir`).
    Parent,
}

/// One LIST line in `ls -l` form, ending in CRLF, e.g.
/// `-rw-r--r--   1 owner    group        1024 Jan 05 12:30 name\r\n`
/// (times older than 180 days, or in the future, show the year instead of HH:MM).
pub fn list_line(e: &EntryInfo, now: i64, tm: TimeMode) -> Vec<u8> {
    let _ = (e, now, tm);
    todo!("proto helper")
}

/// One NLST line: the name and CRLF.
pub fn nlst_line(e: &EntryInfo) -> Vec<u8> {
    let _ = e;
    todo!("proto helper")
}

/// One MLSD/MLST line: `fact=value;fact=value; name\r\n`. `user_perms` are the
/// permission letters the user has where the entry is; the `perm` fact is
/// derived from them as pyftpdlib does.
pub fn mlsx_line(
    e: &EntryInfo,
    facts: &MlstFacts,
    user_perms: &str,
    role: MlsxRole,
    tm: TimeMode,
) -> Vec<u8> {
    let _ = (e, facts, user_perms, role, tm);
    todo!("proto helper")
}

/// `YYYYMMDDHHMMSS` for MDTM replies and the `modify` fact.
pub fn format_mdtm(secs: i64, tm: TimeMode) -> String {
    let _ = (secs, tm);
    todo!("proto helper")
}

/// Parse an MFMT/MDTM-style timestamp `YYYYMMDDHHMMSS[.sss]` (always UTC)
/// into seconds since the epoch; `None` when malformed.
pub fn parse_timeval(s: &str) -> Option<i64> {
    let _ = s;
    todo!("proto helper")
}
