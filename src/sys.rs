//! The only module with `unsafe` code: thin wrappers over OS calls that the
//! safe crates do not cover. Each block states why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};

/// `sendfile(2)` from the file descriptor `in_fd` (at its current offset,
/// which advances) to `out`, at most `count` bytes.
pub fn sendfile(out: &impl AsFd, in_fd: RawFd, count: usize) -> io::Result<usize> {
    // SAFETY: callers pass the descriptor of a file they own and keep open
    // for the duration of this call (a `ReadFile` borrowed by the transfer),
    // so the borrowed descriptor is valid while it is used here.
    let input = unsafe { BorrowedFd::borrow_raw(in_fd) };
    nix::sys::sendfile::sendfile(out.as_fd(), input, None, count).map_err(io::Error::from)
}
