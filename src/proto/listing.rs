//! Directory listing formats: LIST (`ls -l`), NLST, MLSD/MLST facts, MDTM/MFMT times.
//!
//! Pure: the current time is passed in, and entries come as [`EntryInfo`]
//! values that a filesystem produced.

use chrono::{DateTime, Datelike, Local, NaiveDate, Timelike, Utc};

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
    /// pyftpdlib's defaults on POSIX: type, perm, size, modify, unique.
    fn default() -> Self {
        MlstFacts {
            type_: true,
            perm: true,
            size: true,
            modify: true,
            unique: true,
            unix_mode: false,
            unix_uid: false,
            unix_gid: false,
        }
    }
}

/// The facts pyftpdlib offers (on POSIX), in its FEAT order.
pub const AVAILABLE_FACTS: [&str; 8] = [
    "type",
    "perm",
    "size",
    "modify",
    "unique",
    "unix.mode",
    "unix.uid",
    "unix.gid",
];

impl MlstFacts {
    /// No fact enabled.
    pub const NONE: MlstFacts = MlstFacts {
        type_: false,
        perm: false,
        size: false,
        modify: false,
        unique: false,
        unix_mode: false,
        unix_uid: false,
        unix_gid: false,
    };

    /// The flag for a fact name (lower-case, as in [`AVAILABLE_FACTS`]).
    fn flag_mut(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "type" => &mut self.type_,
            "perm" => &mut self.perm,
            "size" => &mut self.size,
            "modify" => &mut self.modify,
            "unique" => &mut self.unique,
            "unix.mode" => &mut self.unix_mode,
            "unix.uid" => &mut self.unix_uid,
            "unix.gid" => &mut self.unix_gid,
            _ => return None,
        })
    }

    /// Whether the named fact (lower-case) is enabled; `false` for unknown names.
    pub fn is_enabled(&self, name: &str) -> bool {
        let mut copy = *self;
        copy.flag_mut(name).is_some_and(|f| *f)
    }

    /// Apply `OPTS MLST fact;fact;...` (case-insensitive, unknown facts ignored,
    /// empty string disables all). Returns the argument to echo in
    /// `200 MLST OPTS <facts>`, e.g. `"type;size;"`.
    ///
    /// Like pyftpdlib, the echo lists the accepted facts lower-cased, in the
    /// client's order, each followed by `;`. This never fails; see
    /// [`MlstFacts::try_set_from_opts`] for pyftpdlib's argument check.
    pub fn set_from_opts(&mut self, arg: &str) -> String {
        let mut new = MlstFacts::NONE;
        let mut echo = String::new();
        for fact in arg.split(';') {
            let fact = fact.to_ascii_lowercase();
            if let Some(flag) = new.flag_mut(&fact) {
                *flag = true;
                echo.push_str(&fact);
                echo.push(';');
            }
        }
        *self = new;
        echo
    }

    /// pyftpdlib's `OPTS MLST` handling: a non-empty argument without any `;`
    /// is refused with `Err("Invalid argument")` (reply `501 Invalid argument.`)
    /// and changes nothing; otherwise as [`MlstFacts::set_from_opts`].
    pub fn try_set_from_opts(&mut self, arg: &str) -> Result<String, &'static str> {
        if !arg.is_empty() && !arg.contains(';') {
            return Err("Invalid argument");
        }
        Ok(self.set_from_opts(arg))
    }

    /// The FEAT line for MLST: `"MLST type*;perm*;size*;modify*;unique;unix.mode;unix.uid;unix.gid;"`
    /// with `*` on the enabled facts.
    pub fn feat_line(&self) -> String {
        let mut line = String::from("MLST ");
        for fact in AVAILABLE_FACTS {
            line.push_str(fact);
            if self.is_enabled(fact) {
                line.push('*');
            }
            line.push(';');
        }
        line
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

/// English month abbreviations (listings never depend on the locale).
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// 180 days: older (or future) times show the year in LIST.
const SIX_MONTHS: i64 = 180 * 24 * 60 * 60;

/// Broken-down time fields of a timestamp in the chosen clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tm {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
}

/// Convert `secs` to calendar fields; `None` when out of the range that
/// formats as a 4-digit year (0000..=9999).
fn broken_down(secs: i64, tm: TimeMode) -> Option<Tm> {
    fn fields<T: Datelike + Timelike>(d: &T) -> Tm {
        Tm {
            year: d.year(),
            month: d.month(),
            day: d.day(),
            hour: d.hour(),
            min: d.minute(),
            sec: d.second(),
        }
    }
    let utc: DateTime<Utc> = DateTime::from_timestamp(secs, 0)?;
    let t = match tm {
        TimeMode::Gmt => fields(&utc),
        TimeMode::Local => fields(&utc.with_timezone(&Local)),
    };
    (0..=9999).contains(&t.year).then_some(t)
}

/// `ls -l` permission string: type letter and nine mode letters, with the
/// setuid/setgid/sticky letters `s`/`S`, `s`/`S`, `t`/`T`.
pub fn mode_string(kind: FileKind, mode: u32) -> String {
    let type_char = match kind {
        FileKind::File => '-',
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::Other(c) if c.is_ascii_graphic() => c,
        FileKind::Other(_) => '?',
    };
    let mut s = String::with_capacity(10);
    s.push(type_char);
    // (read, write, exec bits, special bit, special letter if exec, if not exec)
    let triads = [
        (0o400, 0o200, 0o100, 0o4000, 's', 'S'),
        (0o040, 0o020, 0o010, 0o2000, 's', 'S'),
        (0o004, 0o002, 0o001, 0o1000, 't', 'T'),
    ];
    for (r, w, x, special, with_x, without_x) in triads {
        s.push(if mode & r != 0 { 'r' } else { '-' });
        s.push(if mode & w != 0 { 'w' } else { '-' });
        let exec = mode & x != 0;
        s.push(match (mode & special != 0, exec) {
            (true, true) => with_x,
            (true, false) => without_x,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// The LIST date column: `Mon DD HH:MM` for recent times, `Mon DD  YYYY` otherwise.
fn list_date(mtime: i64, now: i64, tm: TimeMode) -> String {
    let recent = now
        .checked_sub(mtime)
        .is_some_and(|age| (0..=SIX_MONTHS).contains(&age));
    let month = |t: &Tm| MONTHS[(t.month.clamp(1, 12) - 1) as usize];
    match broken_down(mtime, tm) {
        Some(t) if recent => format!("{} {:02} {:02}:{:02}", month(&t), t.day, t.hour, t.min),
        Some(t) => format!("{} {:02}  {}", month(&t), t.day, t.year),
        // Like pyftpdlib: an unrepresentable time shows the current time.
        None => match broken_down(now, tm).or_else(|| broken_down(0, TimeMode::Gmt)) {
            Some(t) => format!("{} {:02} {:02}:{:02}", month(&t), t.day, t.hour, t.min),
            None => "Jan 01  1970".to_string(),
        },
    }
}

/// Append `bytes` to `out` as the text of one line: a CR is sent as CR NUL
/// and a LF as NUL, as in replies (RFC 959's CR NUL rule for pathnames,
/// RFC 2640 §3.1), so a file name holding CR or LF can never end a listing
/// line early and make the client read a second entry.
fn push_line_text(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\r' => out.extend_from_slice(b"\r\0"),
            b'\n' => out.push(0),
            _ => out.push(b),
        }
    }
}

/// One LIST line in `ls -l` form, ending in CRLF, e.g.
/// `-rw-r--r--   1 owner    group        1024 Jan 05 12:30 name\r\n`
/// (times older than 180 days, or in the future, show the year instead of HH:MM).
///
/// The line is always exactly one line: a CR or LF inside the name, the
/// link target, the owner or the group is encoded as in replies (CR as
/// CR NUL, LF as NUL).
pub fn list_line(e: &EntryInfo, now: i64, tm: TimeMode) -> Vec<u8> {
    let owner = e.owner.clone().unwrap_or_else(|| e.uid.to_string());
    let group = e.group.clone().unwrap_or_else(|| e.gid.to_string());
    let nlink = if e.nlink == 0 { 1 } else { e.nlink };
    let head = format!(
        "{} {:>3} {:<8} {:<8} {:>8} {} ",
        mode_string(e.kind, e.mode),
        nlink,
        owner,
        group,
        e.size,
        list_date(e.mtime, now, tm),
    );
    let mut out = Vec::with_capacity(head.len() + e.name.len() + 2);
    push_line_text(&mut out, head.as_bytes());
    push_line_text(&mut out, &e.name);
    if let (FileKind::Symlink, Some(target)) = (e.kind, &e.link_target) {
        out.extend_from_slice(b" -> ");
        push_line_text(&mut out, target);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One NLST line: the name and CRLF (a CR or LF in the name encoded as in
/// [`list_line`]).
pub fn nlst_line(e: &EntryInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(e.name.len() + 2);
    push_line_text(&mut out, &e.name);
    out.extend_from_slice(b"\r\n");
    out
}

/// The `perm` fact for a directory, from the user's letters (pyftpdlib's rule:
/// drop `a`, `r`, `w`; add `c` when `w`, `a` or `f` is held, `p` when `d` is).
fn dir_perm_fact(user_perms: &str) -> String {
    let mut s: String = user_perms.chars().filter(|c| !"arw".contains(*c)).collect();
    if user_perms.contains(['w', 'a', 'f']) {
        s.push('c');
    }
    if user_perms.contains('d') {
        s.push('p');
    }
    s
}

/// The `perm` fact for a non-directory (pyftpdlib's rule: drop `c`, `e`, `l`, `m`, `p`).
fn file_perm_fact(user_perms: &str) -> String {
    user_perms
        .chars()
        .filter(|c| !"celmp".contains(*c))
        .collect()
}

/// The `type` fact value for an entry.
fn type_fact(kind: FileKind, role: MlsxRole) -> &'static str {
    match (role, kind) {
        (MlsxRole::Current, _) => "cdir",
        (MlsxRole::Parent, _) => "pdir",
        (MlsxRole::Entry, FileKind::Dir) => "dir",
        (MlsxRole::Entry, FileKind::File) => "file",
        (MlsxRole::Entry, FileKind::Symlink) => "OS.unix=symlink",
        (MlsxRole::Entry, FileKind::Other(c)) => match c {
            '-' => "file",
            'd' => "dir",
            'l' => "OS.unix=symlink",
            'c' => "OS.unix=chardev",
            'b' => "OS.unix=blockdev",
            'p' => "OS.unix=fifo",
            's' => "OS.unix=socket",
            _ => "OS.unix=other",
        },
    }
}

/// One MLSD/MLST line: `fact=value;fact=value; name\r\n`. `user_perms` are the
/// permission letters the user has where the entry is; the `perm` fact is
/// derived from them as pyftpdlib does.
///
/// Facts appear sorted by name, as pyftpdlib emits them: `modify`, `perm`,
/// `size`, `type`, `unique`, `unix.gid`, `unix.mode`, `unix.uid`. `size` is
/// given for every kind (pyftpdlib reports it for directories too);
/// `modify` is left out when the time cannot be represented. A CR or LF in
/// the name (or in `user_perms`) is encoded as in [`list_line`].
pub fn mlsx_line(e: &EntryInfo, facts: &MlstFacts, user_perms: &str, role: MlsxRole) -> Vec<u8> {
    let mut s = String::new();
    let mut fact = |name: &str, value: &str| {
        s.push_str(name);
        s.push('=');
        s.push_str(value);
        s.push(';');
    };
    if facts.modify {
        if let Some(m) = try_format_mdtm(e.mtime) {
            fact("modify", &m);
        }
    }
    if facts.perm {
        let is_dir = role != MlsxRole::Entry || e.kind == FileKind::Dir;
        let p = if is_dir {
            dir_perm_fact(user_perms)
        } else {
            file_perm_fact(user_perms)
        };
        fact("perm", &p);
    }
    if facts.size {
        fact("size", &e.size.to_string());
    }
    if facts.type_ {
        fact("type", type_fact(e.kind, role));
    }
    if facts.unique {
        fact("unique", &format!("{:x}g{:x}", e.dev, e.ino));
    }
    if facts.unix_gid {
        fact("unix.gid", &e.gid.to_string());
    }
    if facts.unix_mode {
        fact("unix.mode", &format!("0{:03o}", e.mode & 0o777));
    }
    if facts.unix_uid {
        fact("unix.uid", &e.uid.to_string());
    }
    let mut out = Vec::with_capacity(s.len() + e.name.len() + 3);
    push_line_text(&mut out, s.as_bytes());
    out.push(b' ');
    push_line_text(&mut out, &e.name);
    out.extend_from_slice(b"\r\n");
    out
}

/// `YYYYMMDDHHMMSS` in UTC for MDTM replies and the `modify` fact.
///
/// Machine-readable times are UTC whatever the server's time zone or
/// `use_gmt_times` (RFC 3659 §2.3); only LIST's human-readable dates follow
/// [`TimeMode`].
///
/// A time that cannot be shown with a 4-digit year gives `19700101000000`;
/// use [`try_format_mdtm`] to detect that case.
pub fn format_mdtm(secs: i64) -> String {
    try_format_mdtm(secs).unwrap_or_else(|| "19700101000000".to_string())
}

/// `YYYYMMDDHHMMSS` in UTC (RFC 3659 §2.3), or `None` when the year would fall outside 0000..=9999
/// (pyftpdlib then replies `550 Can't determine file's last modification time.`).
pub fn try_format_mdtm(secs: i64) -> Option<String> {
    let t = broken_down(secs, TimeMode::Gmt)?;
    Some(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.min, t.sec
    ))
}

/// Parse an MFMT/MDTM-style timestamp `YYYYMMDDHHMMSS[.sss]` (always UTC)
/// into seconds since the epoch; `None` when malformed.
///
/// The fraction (1 to 3 digits) is accepted and ignored. Year 0000 and
/// second 60 are refused.
pub fn parse_timeval(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (main, frac) = if b.len() > 14 {
        let (main, rest) = b.split_at(14);
        let frac = rest.strip_prefix(b".")?;
        (main, Some(frac))
    } else {
        (b, None)
    };
    if main.len() != 14 || !main.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if let Some(f) = frac {
        if !(1..=3).contains(&f.len()) || !f.iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    let num = |r: std::ops::Range<usize>| {
        main[r]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let year = i32::try_from(num(0..4)).ok()?;
    if year == 0 {
        return None;
    }
    let dt = NaiveDate::from_ymd_opt(year, num(4..6), num(6..8))?.and_hms_opt(
        num(8..10),
        num(10..12),
        num(12..14),
    )?;
    Some(dt.and_utc().timestamp())
}

#[cfg(test)]
mod tests;
