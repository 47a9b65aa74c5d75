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

/// The byte views of `OsStr` that `std::os::unix::ffi::OsStrExt` gives on
/// Unix. File names on Windows are UTF-16; as bytes they are UTF-8 (the
/// encoding RFC 2640 gives FTP paths).
pub(crate) trait OsStrExt {
    /// `s` as UTF-8; a path that is not UTF-8, or that Windows would read
    /// differently from the session (see `win_names::is_portable_path`), becomes a
    /// name every file call refuses.
    fn from_bytes(s: &[u8]) -> &Self;
    /// The name as UTF-8 (WTF-8 for a name holding an unpaired surrogate,
    /// which no UTF-8 text can express).
    fn as_bytes(&self) -> &[u8];
}

impl OsStrExt for OsStr {
    fn from_bytes(s: &[u8]) -> &OsStr {
        match std::str::from_utf8(s) {
            Ok(text) if super::win_names::is_portable_path(text) => OsStr::new(text),
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

// --- Windows accounts (LogonUserW, the profile directory, impersonation)

use std::marker::PhantomData;
use std::os::windows::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::PathBuf;

use windows_sys::Win32::Foundation::{self as win, CloseHandle, HANDLE};
use windows_sys::Win32::Security::{
    ImpersonateLoggedOnUser, LogonUserW, LookupAccountNameW, RevertToSelf,
    LOGON32_LOGON_INTERACTIVE, LOGON32_PROVIDER_DEFAULT, SID_NAME_USE,
};
use windows_sys::Win32::UI::Shell::GetUserProfileDirectoryW;

/// `s` as a NUL-terminated UTF-16 string for a Win32 call.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] when `s` holds a NUL character (the
/// call would read a shorter string than the one given).
fn wide(s: &str) -> io::Result<Vec<u16>> {
    if s.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NUL character in a user name or password",
        ));
    }
    Ok(OsStr::new(s).encode_wide().chain(Some(0)).collect())
}

/// A logon token from `LogonUserW`, closed when dropped.
#[derive(Debug)]
pub(crate) struct Token(HANDLE);

// SAFETY: a token is a kernel handle: any thread of the process may use it
// (impersonate with it, query it) and close it; nothing here holds a
// pointer into this process's memory.
unsafe impl Send for Token {}
// SAFETY: as for `Send`; the calls made with a shared `&Token`
// (ImpersonateLoggedOnUser, GetUserProfileDirectoryW) only read the token.
unsafe impl Sync for Token {}

impl Drop for Token {
    fn drop(&mut self) {
        // SAFETY: the handle came from LogonUserW, is owned by this value
        // alone and is closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// Errors of `LogonUserW` that mean "these credentials do not open a
/// session" (the client is told that the login failed) rather than a
/// failure of the system.
const REFUSED_LOGON: &[u32] = &[
    win::ERROR_LOGON_FAILURE,
    win::ERROR_ACCOUNT_RESTRICTION,
    win::ERROR_INVALID_LOGON_HOURS,
    win::ERROR_INVALID_WORKSTATION,
    win::ERROR_PASSWORD_EXPIRED,
    win::ERROR_ACCOUNT_DISABLED,
    win::ERROR_NO_SUCH_USER,
    win::ERROR_LOGON_TYPE_NOT_GRANTED,
    win::ERROR_ACCOUNT_EXPIRED,
    win::ERROR_PASSWORD_MUST_CHANGE,
    win::ERROR_ACCOUNT_LOCKED_OUT,
];

/// Check a password with `LogonUserW` (an interactive logon through the
/// default provider, as pyftpdlib's `WindowsAuthorizer` makes it);
/// `domain` `None` is the local machine (or a `user@domain` name).
///
/// # Errors
/// `Err(Some(e))` for a system failure; `Err(None)` when Windows refuses
/// the credentials (wrong password, unknown, disabled, expired or locked
/// account, logon type not granted: see [`REFUSED_LOGON`]), the reason
/// being logged at debug level.
pub(crate) fn logon_user(
    user: &str,
    domain: Option<&str>,
    password: &str,
) -> Result<Token, Option<io::Error>> {
    let user_w = wide(user).map_err(Some)?;
    let domain_w = domain.map(wide).transpose().map_err(Some)?;
    let password_w = wide(password).map_err(Some)?;
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the three strings are NUL-terminated UTF-16 that outlive the
    // call (a null domain pointer is allowed: the local machine or a UPN);
    // `token` is a valid place for the handle the call writes on success.
    let ok = unsafe {
        LogonUserW(
            user_w.as_ptr(),
            domain_w.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
            password_w.as_ptr(),
            LOGON32_LOGON_INTERACTIVE,
            LOGON32_PROVIDER_DEFAULT,
            &mut token,
        )
    };
    if ok == 0 {
        let e = io::Error::last_os_error();
        let code = e.raw_os_error().and_then(|c| u32::try_from(c).ok());
        if code.is_some_and(|c| REFUSED_LOGON.contains(&c)) {
            log::debug!("LogonUserW refused {user:?}: {e}");
            return Err(None);
        }
        return Err(Some(e));
    }
    if token.is_null() {
        return Err(Some(io::Error::other("LogonUserW gave no token")));
    }
    Ok(Token(token))
}

impl Token {
    /// The user's profile directory (`GetUserProfileDirectoryW`, the
    /// `ProfileImagePath` of the registry's ProfileList that pyftpdlib
    /// reads), e.g. `C:\Users\alice`.
    ///
    /// # Errors
    /// The OS error, e.g. for a user whose profile was never created
    /// (a user that never logged on interactively).
    pub(crate) fn profile_directory(&self) -> io::Result<PathBuf> {
        let mut len: u32 = 0;
        // SAFETY: a null buffer with size 0 asks for the needed size only,
        // written to `len`.
        unsafe { GetUserProfileDirectoryW(self.0, std::ptr::null_mut(), &mut len) };
        if len == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u16; usize::try_from(len).unwrap_or(0).max(1)];
        let mut size = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        // SAFETY: `buf` is writable for `size` UTF-16 units, which the call
        // does not exceed; `self.0` is a live token.
        let ok = unsafe { GetUserProfileDirectoryW(self.0, buf.as_mut_ptr(), &mut size) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
        Ok(PathBuf::from(OsString::from_wide(&buf[..end])))
    }

    /// Act as the token's user on this thread until the returned guard is
    /// dropped (`ImpersonateLoggedOnUser`, then `RevertToSelf`): file calls
    /// made meanwhile are checked against the user's rights.
    ///
    /// # Errors
    /// The OS error when impersonation fails; the thread then still acts
    /// as the server, and the caller must not do the user's work.
    pub(crate) fn impersonate(&self) -> io::Result<Impersonation> {
        // SAFETY: `self.0` is a live logon token owned by `self`.
        if unsafe { ImpersonateLoggedOnUser(self.0) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Impersonation {
            _same_thread: PhantomData,
        })
    }
}

/// The calling thread acts as a logged-on user while this lives; dropping
/// it reverts the thread to the server's own identity. Not `Send`:
/// impersonation belongs to a thread, so the revert must run on it.
#[derive(Debug)]
pub(crate) struct Impersonation {
    _same_thread: PhantomData<*const ()>,
}

impl Drop for Impersonation {
    fn drop(&mut self) {
        // SAFETY: RevertToSelf takes no arguments; this thread impersonates
        // (the guard exists only after ImpersonateLoggedOnUser succeeded).
        if unsafe { RevertToSelf() } == 0 {
            // A worker thread left acting as a user would run the next
            // session's work with that user's rights: never go on so.
            log::error!(
                "RevertToSelf failed: {}; stopping the server",
                io::Error::last_os_error()
            );
            std::process::abort();
        }
    }
}

/// Whether Windows knows an account of this name (`LookupAccountNameW`
/// on the local machine, which also resolves domain accounts).
pub(crate) fn account_exists(name: &str) -> bool {
    let Ok(name_w) = wide(name) else {
        return false;
    };
    let (mut sid_len, mut domain_len): (u32, u32) = (0, 0);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: null buffers with sizes 0 ask for the needed sizes only;
    // every pointer given is valid for what the call writes.
    unsafe {
        LookupAccountNameW(
            std::ptr::null(),
            name_w.as_ptr(),
            std::ptr::null_mut(),
            &mut sid_len,
            std::ptr::null_mut(),
            &mut domain_len,
            &mut kind,
        )
    };
    // the size query fails with ERROR_INSUFFICIENT_BUFFER for a known
    // account and ERROR_NONE_MAPPED for an unknown one
    sid_len > 0
}

/// The shared words of the server's limits and bans (see
/// `crate::shared`): without fork every session lives in this process, so
/// plain memory is shared enough.
pub(crate) struct SharedWords {
    words: Box<[std::sync::atomic::AtomicU64]>,
}

impl SharedWords {
    /// `words` zeroed 64-bit words (at least one).
    pub(crate) fn new(words: usize) -> io::Result<Self> {
        let words = (0..words.max(1))
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect();
        Ok(SharedWords { words })
    }

    /// The words.
    pub(crate) fn words(&self) -> &[std::sync::atomic::AtomicU64] {
        &self.words
    }
}

/// Run `f` as the server: threads never act as a Unix user here (Windows
/// impersonation is undone around each call by its own guard).
pub(crate) fn as_server<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// No reserve of descriptors on Windows (see the Unix `FdReserve`).
#[derive(Default)]
pub(crate) struct FdReserve;

impl FdReserve {
    /// No reserve.
    pub(crate) fn new() -> FdReserve {
        FdReserve
    }

    /// Nothing to open.
    pub(crate) fn restore(&mut self) {}

    /// There is none.
    pub(crate) fn is_held(&self) -> bool {
        false
    }

    /// Nothing to free here: `None`.
    pub(crate) fn with_released<T>(&mut self, _f: impl FnOnce() -> T) -> Option<T> {
        None
    }
}

/// Whether `e` says this process has no handle left: not told apart on
/// Windows.
pub(crate) fn out_of_descriptors(_e: &io::Error) -> bool {
    false
}
