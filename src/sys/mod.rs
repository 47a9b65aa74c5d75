//! The only modules with `unsafe` code: thin wrappers over OS calls that
//! the safe crates do not cover, one module per family of systems behind
//! the same function names. Each `unsafe` block states why it is sound.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;
