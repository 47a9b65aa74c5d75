//! The bodies of the fuzz targets, shared by the cargo-fuzz crate
//! (`fuzz/fuzz_targets/*.rs`) and the stable corpus replay
//! (`tests/fuzz_corpus.rs`). Each target is a `run(&[u8])` function that
//! panics when an invariant breaks.
#![allow(dead_code)]

pub mod codecs;
pub mod cursor;
pub mod line_command;
pub mod listing;
pub mod pem;
pub mod session;
