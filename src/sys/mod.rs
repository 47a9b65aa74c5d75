//! The only modules with `unsafe` code: thin wrappers over OS calls that
//! the safe crates do not cover, one module per family of systems behind
//! the same function names. Each `unsafe` block states why it is sound.

#[cfg(unix)]
mod unix;
/// Paths as bytes (FTP paths are bytes; Windows names are UTF-16 and get
/// the same traits from [`windows`]).
#[cfg(unix)]
pub(crate) use std::os::unix::ffi::{OsStrExt, OsStringExt};
#[cfg(unix)]
pub(crate) use unix::*;

/// Another SIGINT/SIGTERM (or Ctrl-C) within this long of the first is the
/// same stop request delivered twice, not a second one, which would end
/// the server at once: a wrapper that passes signals on to the server
/// (`timeout`, a supervisor script) forwards the one the whole process
/// group got a fraction of a millisecond later. A person pressing Ctrl-C
/// twice takes longer.
pub(crate) const SAME_STOP: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(any(windows, test))]
mod win_names;
