//! Windows: the same functions as the Unix module where the rest of the
//! crate needs them on both, and the Win32 account calls of
//! [`crate::auth::WindowsAuthorizer`] (`LogonUserW`, the profile directory,
//! impersonation). The forking models, signals-by-pipe, `sendfile` and
//! `splice` have no counterpart here: the code that uses them is Unix-only.
#![allow(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io;

/// Windows has no soft limit of open handles to raise (the kernel allows
/// about 2^24 handles per process); returns that limit.
///
/// # Errors
/// None on Windows; the `Result` matches the Unix function.
pub(crate) fn raise_nofile_limit() -> io::Result<u64> {
    Ok(1 << 24)
}

/// Windows has no `crypt(3)`: the methods only libxcrypt verifies
/// (yescrypt, gost-yescrypt, scrypt, md5-crypt) cannot be checked here.
///
/// # Errors
/// Always [`io::ErrorKind::Unsupported`].
pub(crate) fn crypt(_password: &[u8], _setting: &str) -> io::Result<String> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this hash method needs the libxcrypt of a Unix system",
    ))
}

/// What a byte path that Windows cannot or must not open becomes: a name
/// every Win32 file call refuses (`<` and `>` are invalid in file names),
/// so the operation fails with `ERROR_INVALID_NAME`.
const INVALID_NAME: &str = "<invalid file name>";

/// The DOS device names Win32 resolves in every directory (with any
/// extension): opening `con.txt` opens the console, not a file.
const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6",
    "LPT7", "LPT8", "LPT9",
];

/// Whether the `/`-separated relative path `path` names, to Windows, the
/// same components the session sees: no `\` (a second separator), no `:`
/// (drive prefixes, alternate data streams), no wildcard (`*`, `?`, which
/// directory listing calls expand) nor other character Win32 refuses in
/// names (`<`, `>`, `|`, `"`, control characters), no
/// component that Win32 would rewrite (a trailing `.` or space is dropped:
/// `dir.` opens `dir`) and no DOS device name. Otherwise the session's
/// per-directory permissions would be checked on one path and another
/// would be opened.
pub(crate) fn is_portable_path(path: &str) -> bool {
    if path
        .chars()
        .any(|c| matches!(c, '\\' | ':' | '*' | '?' | '<' | '>' | '|' | '"') || c < ' ')
    {
        return false;
    }
    path.split('/').all(|comp| {
        if comp.is_empty() || comp == "." || comp == ".." {
            return true;
        }
        if comp.ends_with(['.', ' ']) {
            return false;
        }
        let stem = comp.split('.').next().unwrap_or(comp).trim_end_matches(' ');
        !DEVICE_NAMES.iter().any(|d| d.eq_ignore_ascii_case(stem))
    })
}

/// The byte views of `OsStr` that `std::os::unix::ffi::OsStrExt` gives on
/// Unix. File names on Windows are UTF-16; as bytes they are UTF-8 (the
/// encoding RFC 2640 gives FTP paths).
pub(crate) trait OsStrExt {
    /// `s` as UTF-8; a path that is not UTF-8, or that Windows would read
    /// differently from the session (see [`is_portable_path`]), becomes a
    /// name every file call refuses.
    fn from_bytes(s: &[u8]) -> &Self;
    /// The name as UTF-8 (WTF-8 for a name holding an unpaired surrogate,
    /// which no UTF-8 text can express).
    fn as_bytes(&self) -> &[u8];
}

impl OsStrExt for OsStr {
    fn from_bytes(s: &[u8]) -> &OsStr {
        match std::str::from_utf8(s) {
            Ok(text) if is_portable_path(text) => OsStr::new(text),
            _ => OsStr::new(INVALID_NAME),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.as_encoded_bytes()
    }
}

/// The owned counterpart of [`OsStrExt`] (`std::os::unix::ffi::OsStringExt`).
pub(crate) trait OsStringExt {
    /// `v` as UTF-8 (bytes that are not UTF-8 are replaced by U+FFFD).
    fn from_vec(v: Vec<u8>) -> Self;
    /// The name as UTF-8 (WTF-8 for an unpaired surrogate).
    fn into_vec(self) -> Vec<u8>;
}

impl OsStringExt for OsString {
    fn from_vec(v: Vec<u8>) -> OsString {
        match String::from_utf8(v) {
            Ok(s) => s.into(),
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned().into(),
        }
    }

    fn into_vec(self) -> Vec<u8> {
        self.into_encoded_bytes()
    }
}

/// The Windows error that means what the POSIX `errno` value `code` means
/// (as the C library numbers them), for code written in POSIX terms such
/// as [`crate::fs::MemoryFs`]: a client then reads the message a local
/// file would give on this system. A code without a counterpart keeps its
/// POSIX text.
pub(crate) fn errno_error(code: i32) -> io::Error {
    use windows_sys::Win32::Foundation as w;
    let win32 = match code {
        libc::ENOENT => w::ERROR_FILE_NOT_FOUND,
        libc::EEXIST => w::ERROR_ALREADY_EXISTS,
        libc::ENOTDIR => w::ERROR_DIRECTORY,
        // opening a directory as a file: what CreateFileW answers
        libc::EISDIR | libc::EACCES => w::ERROR_ACCESS_DENIED,
        libc::EINVAL => w::ERROR_INVALID_PARAMETER,
        libc::EFBIG => w::ERROR_FILE_TOO_LARGE,
        libc::ENOSPC => w::ERROR_DISK_FULL,
        libc::EBUSY => w::ERROR_BUSY,
        libc::ENOTEMPTY => w::ERROR_DIR_NOT_EMPTY,
        libc::ENAMETOOLONG => w::ERROR_FILENAME_EXCED_RANGE,
        libc::ELOOP => w::ERROR_CANT_RESOLVE_FILENAME,
        _ => {
            let text = match code {
                libc::EIO => "Input/output error",
                _ => "Operation failed",
            };
            return io::Error::other(text);
        }
    };
    io::Error::from_raw_os_error(win32 as i32)
}
