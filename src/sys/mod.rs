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

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(any(windows, test))]
mod win_names;
