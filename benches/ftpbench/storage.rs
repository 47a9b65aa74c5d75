//! Where the served files are: a temporary directory on disk or in
//! `/dev/shm`, holding the big file and the 10 MiB file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::procs::track_dir;

/// The mount holding `path`: (filesystem type, source, mount point).
fn mount_of(path: &Path) -> (String, String, String) {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, (String, String, String))> = None;
    for l in info.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(mp), Some(dash)) = (f.get(4), f.iter().position(|x| *x == "-")) else {
            continue;
        };
        let mp = mp.replace("\\040", " ");
        let longer = match &best {
            Some(b) => mp.len() >= b.0,
            None => true,
        };
        if path.starts_with(&mp) && longer {
            let ty = f.get(dash + 1).unwrap_or(&"?").to_string();
            let src = f.get(dash + 2).unwrap_or(&"?").to_string();
            best = Some((mp.len(), (ty, src, mp)));
        }
    }
    best.map(|b| b.1)
        .unwrap_or_else(|| ("?".into(), "?".into(), "?".into()))
}

/// A storage: its base directory (the big file and the 10 MiB file) and a
/// description of its filesystem.
pub(crate) struct Storage {
    pub(crate) tag: String,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) fs: String,
}

pub(crate) fn make_storage(tag: &str, mb: u64) -> Option<Storage> {
    use std::os::unix::fs::PermissionsExt;
    let parent = match tag {
        "shm" => PathBuf::from("/dev/shm"),
        "disk" => std::env::var("FTPBENCH_DISK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| "/var/tmp".into()),
        _ => {
            eprintln!("FTPBENCH_STORAGE: unknown storage {tag:?} (disk, shm)");
            return None;
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("ftpbench-")
        .tempdir_in(&parent)
        .map_err(|e| eprintln!("{tag}: no temporary directory in {}: {e}", parent.display()))
        .ok()?;
    track_dir(dir.path());
    // every server's sessions, whatever user they run as, must reach it
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok()?;
    let tmpfs = nix::sys::statfs::statfs(dir.path())
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .unwrap_or(false);
    let (ty, src, mp) = mount_of(dir.path());
    let fs = format!(
        "{} on {ty} ({src} mounted at {mp}; statfs: {})",
        dir.path().display(),
        if tmpfs { "tmpfs" } else { "not tmpfs" }
    );
    if tag == "disk" && tmpfs {
        eprintln!(
            "WARNING: the disk storage {} is tmpfs, not a disk",
            dir.path().display()
        );
    }
    let chunk: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut f = std::fs::File::create(dir.path().join("big.bin")).ok()?;
    for _ in 0..mb {
        f.write_all(&chunk).ok()?;
    }
    f.sync_all().ok()?;
    std::fs::write(dir.path().join("ten.bin"), chunk.repeat(10)).ok()?;
    Some(Storage {
        tag: tag.into(),
        dir,
        fs: if tag == "disk" && tmpfs {
            format!("{fs} WARNING: tmpfs, not a disk")
        } else {
            fs
        },
    })
}
