//! Helpers shared by the suites that drive external clients (`clients.rs`,
//! `ftps.rs`): bounded command runs, curl, random data and file trees.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished command left behind.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Run `cmd` with stdin closed, killing it after `limit`.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Out {
    let tmp = tempfile::tempdir().unwrap();
    let (op, ep) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&op).unwrap())
        .stderr(File::create(&ep).unwrap());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("can't run {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&ep).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        status,
        stdout: std::fs::read(&op).unwrap(),
        stderr: String::from_utf8_lossy(&std::fs::read(&ep).unwrap()).into_owned(),
    }
}

/// Run `cmd` (60 s at most) and require success.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> Out {
    let out = run_limited(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout_text(),
        out.stderr
    );
    out
}

/// Whether `tool` is installed; prints the SKIP line when it is not.
pub fn need(tool: &str, test: &str) -> bool {
    if crate::common::have(tool) {
        true
    } else {
        eprintln!("SKIP: {test}: `{tool}` is not installed");
        false
    }
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// curl with the options every call uses: quiet but showing errors, bounded.
pub fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "50", "--connect-timeout", "10"]);
    c
}

#[track_caller]
pub fn assert_same_file(a: &Path, b: &Path) {
    let x = std::fs::read(a).unwrap_or_else(|e| panic!("{}: {e}", a.display()));
    let y = std::fs::read(b).unwrap_or_else(|e| panic!("{}: {e}", b.display()));
    assert!(
        x == y,
        "{} ({} bytes) and {} ({} bytes) differ",
        a.display(),
        x.len(),
        b.display(),
        y.len()
    );
}

/// Every regular file under `root`, as paths relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// A tree of `n` files in nested sub-directories, random sizes below
/// `max_size` bytes (a few empty files included). Returns the relative paths.
pub fn make_tree(root: &Path, n: usize, seed: u64, max_size: usize) -> Vec<PathBuf> {
    let sizes = random_bytes(n * 2, seed);
    let mut paths = Vec::new();
    for i in 0..n {
        let dir = match i % 4 {
            0 => format!("d{}", i % 7),
            1 => format!("d{}/sub{}", i % 7, i % 3),
            2 => format!("d{}/sub{}/deep", i % 5, i % 2),
            _ => String::new(),
        };
        let rel = if dir.is_empty() {
            PathBuf::from(format!("file{i:03}.bin"))
        } else {
            PathBuf::from(format!("{dir}/file{i:03}.bin"))
        };
        let size = if i % 50 == 0 {
            0
        } else {
            usize::from(u16::from_le_bytes([sizes[2 * i], sizes[2 * i + 1]])) % max_size
        };
        let p = root.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, random_bytes(size, seed + i as u64 + 1)).unwrap();
        paths.push(rel);
    }
    paths.sort();
    paths
}
