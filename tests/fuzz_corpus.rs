//! Replays the fuzz targets' corpora and regression inputs on stable Rust.
//!
//! The bodies of the cargo-fuzz targets live in `fuzz/harness/` as plain
//! `run(&[u8])` functions; this test includes them and runs every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through them, so
//! that `cargo test` keeps every input the fuzzers found interesting (and
//! every crash that was fixed) passing.
//!
//! A fuzz finding that was fixed keeps its input in `fuzz/regressions/`.

use std::path::{Path, PathBuf};

#[path = "../fuzz/harness/mod.rs"]
mod harness;

/// The files directly under `dir` (none if it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().map_or(true, |e| e != "md"))
        .collect();
    v.sort();
    v
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Run `run` on every input of `dirs`; the names of the inputs that panicked.
fn failures(dirs: &[PathBuf], run: fn(&[u8])) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut failed = Vec::new();
    for dir in dirs {
        for f in files(dir) {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            count += 1;
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failed.push(f.display().to_string());
            }
        }
    }
    (count, failed)
}

fn replay(target: &str, run: fn(&[u8])) {
    let dirs = [
        fuzz_dir().join("corpus").join(target),
        fuzz_dir().join("regressions").join(target),
    ];
    let (count, failed) = failures(&dirs, run);
    assert!(count > 0, "no inputs for {target} under {:?}", dirs);
    assert!(failed.is_empty(), "{target}: inputs failing: {failed:#?}");
}

#[test]
fn line_command() {
    replay("line_command", harness::line_command::run);
}

#[test]
fn listing() {
    replay("listing", harness::listing::run);
}

#[test]
fn codecs() {
    replay("codecs", harness::codecs::run);
}

#[test]
fn pem() {
    replay("pem", harness::pem::run);
}

#[test]
fn session() {
    replay("session", harness::session::run);
}
