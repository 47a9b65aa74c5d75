use super::*;
use std::os::unix::fs::{symlink, MetadataExt as _, PermissionsExt as _};
use tempfile::TempDir;

/// A root `<tmp>/root` and a sibling `<tmp>/outside` holding `secret` files.
struct Fixture {
    tmp: TempDir,
    fs: LocalFs,
}

impl Fixture {
    fn new() -> Self {
        let tmp = TempDir::new().unwrap();
        std::fs::create_dir(tmp.path().join("root")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/secret"), b"top secret").unwrap();
        let fs = LocalFs::new(tmp.path().join("root")).unwrap();
        Fixture { tmp, fs }
    }
    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }
    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }
    fn put(&self, rel: &str, data: &[u8]) {
        std::fs::write(self.root().join(rel), data).unwrap();
    }
    fn read(&self, path: &[u8]) -> Vec<u8> {
        let mut f = self.fs.open_read(path).unwrap();
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        v
    }
    fn write(&self, path: &[u8], mode: WriteMode, data: &[u8]) {
        let mut w = self.fs.open_write(path, mode).unwrap();
        w.write_all(data).unwrap();
        w.commit().unwrap();
    }
    fn names(&self, path: &[u8]) -> Vec<Vec<u8>> {
        let mut v: Vec<_> = self.fs.read_dir(path).unwrap().map(|e| e.name).collect();
        v.sort();
        v
    }
    fn secret_intact(&self) {
        let p = self.outside().join("secret");
        assert_eq!(std::fs::read(&p).unwrap(), b"top secret");
    }
}

fn denied(r: io::Result<impl Sized>) {
    match r {
        Ok(_) => panic!("escape was allowed"),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}"),
    }
}

#[test]
fn new_requires_directory() {
    let f = Fixture::new();
    assert!(LocalFs::new(f.root().join("missing")).is_err());
    f.put("file", b"x");
    assert!(LocalFs::new(f.root().join("file")).is_err());
    assert!(format!("{:?}", f.fs).contains("root"));
}

#[test]
fn path_helpers() {
    assert_eq!(rel_path(b"/"), Path::new("."));
    assert_eq!(rel_path(b"//"), Path::new("."));
    assert_eq!(rel_path(b"/a/b"), Path::new("a/b"));
    assert_eq!(rel_path(b"//a"), Path::new("a"));
    assert_eq!(last_name(b"/"), b"/");
    assert_eq!(last_name(b"/a"), b"a");
    assert_eq!(last_name(b"/a/b/"), b"b");
    let (p, n) = split_parent(Path::new("a/b")).unwrap();
    assert_eq!(
        (p.as_path(), n.as_os_str()),
        (Path::new("a"), OsStr::new("b"))
    );
    let (p, n) = split_parent(Path::new("b")).unwrap();
    assert_eq!(
        (p.as_path(), n.as_os_str()),
        (Path::new("."), OsStr::new("b"))
    );
    assert!(split_parent(Path::new(".")).is_err());
}

#[test]
fn metadata_and_symlink_metadata() {
    let f = Fixture::new();
    f.put("file.txt", b"hello");
    std::fs::set_permissions(
        f.root().join("file.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    symlink("file.txt", f.root().join("link")).unwrap();
    let real = std::fs::metadata(f.root().join("file.txt")).unwrap();

    let e = f.fs.metadata(b"/file.txt").unwrap();
    assert_eq!(e.name, b"file.txt");
    assert_eq!(e.kind, FileKind::File);
    assert_eq!(e.size, 5);
    assert_eq!(e.mode, 0o640);
    assert_eq!(e.nlink, 1);
    assert_eq!(e.uid, real.uid());
    assert_eq!(e.gid, real.gid());
    assert_eq!(e.ino, real.ino());
    assert_eq!(e.dev, real.dev());
    assert_eq!(e.mtime, real.mtime());
    assert_eq!(e.link_target, None);
    if real.uid() == 0 {
        assert_eq!(e.owner.as_deref(), Some("root"));
    }

    // metadata follows the link, under the link's name.
    let e = f.fs.metadata(b"/link").unwrap();
    assert_eq!(e.name, b"link");
    assert_eq!(e.kind, FileKind::File);
    assert_eq!(e.size, 5);
    assert_eq!(e.link_target, None);
    // symlink_metadata does not.
    let e = f.fs.symlink_metadata(b"/link").unwrap();
    assert_eq!(e.kind, FileKind::Symlink);
    assert_eq!(e.size, "file.txt".len() as u64);
    assert_eq!(e.link_target.as_deref(), Some(&b"file.txt"[..]));

    let e = f.fs.metadata(b"/").unwrap();
    assert_eq!(e.name, b"/");
    assert_eq!(e.kind, FileKind::Dir);
    let e = f.fs.symlink_metadata(b"/").unwrap();
    assert_eq!(e.kind, FileKind::Dir);

    let err = f.fs.metadata(b"/missing").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn dangling_link_has_no_target() {
    let f = Fixture::new();
    symlink("nowhere", f.root().join("dangling")).unwrap();
    let e = f.fs.symlink_metadata(b"/dangling").unwrap();
    assert_eq!(e.kind, FileKind::Symlink);
    assert_eq!(e.link_target, None);
    assert_eq!(
        f.fs.metadata(b"/dangling").unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn special_files() {
    let f = Fixture::new();
    nix::unistd::mkfifo(
        &f.root().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    assert_eq!(f.fs.metadata(b"/fifo").unwrap().kind, FileKind::Other('p'));
    // Neither blocks nor succeeds.
    assert_eq!(
        f.fs.open_read(b"/fifo").err().unwrap().kind(),
        io::ErrorKind::InvalidInput
    );
    assert!(f.fs.open_write(b"/fifo", WriteMode::Append).is_err());
    assert!(f.fs.open_write(b"/fifo", WriteMode::Resume(0)).is_err());
    assert!(f.fs.open_write(b"/fifo", WriteMode::Replace).is_err());
    f.fs.set_mtime(b"/fifo", 1_000_000).unwrap();
    assert_eq!(f.fs.metadata(b"/fifo").unwrap().mtime, 1_000_000);
}

#[test]
fn read_dir_lists_entries() {
    let f = Fixture::new();
    f.put("a", b"1");
    f.put("b", b"22");
    std::fs::create_dir(f.root().join("d")).unwrap();
    symlink("a", f.root().join("l")).unwrap();
    let mut entries: Vec<EntryInfo> = f.fs.read_dir(b"/").unwrap().collect();
    entries.sort_by(|x, y| x.name.cmp(&y.name));
    let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(names, [&b"a"[..], b"b", b"d", b"l"]);
    assert_eq!(entries[1].size, 2);
    assert_eq!(entries[2].kind, FileKind::Dir);
    assert_eq!(entries[3].kind, FileKind::Symlink);
    assert_eq!(entries[3].link_target.as_deref(), Some(&b"a"[..]));
    assert!(f.fs.read_dir(b"/a").is_err());
    assert_eq!(
        f.fs.read_dir(b"/missing").err().unwrap().kind(),
        io::ErrorKind::NotFound
    );
    // Through a symlink to a directory inside the root.
    symlink("d", f.root().join("dl")).unwrap();
    f.put("d/x", b"");
    symlink("../a", f.root().join("d/up")).unwrap();
    let mut entries: Vec<EntryInfo> = f.fs.read_dir(b"/dl").unwrap().collect();
    entries.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].name, b"up");
    assert_eq!(entries[0].link_target.as_deref(), Some(&b"../a"[..]));
}

#[test]
fn read_dir_is_send_and_outlives_fs() {
    let f = Fixture::new();
    f.put("a", b"1");
    let it = f.fs.read_dir(b"/").unwrap();
    let Fixture { tmp, fs } = f;
    drop(fs);
    let names: Vec<_> = std::thread::spawn(move || it.map(|e| e.name).collect::<Vec<_>>())
        .join()
        .unwrap();
    assert_eq!(names, vec![b"a".to_vec()]);
    drop(tmp);
}

#[test]
fn read_dir_streams_large_directory() {
    let f = Fixture::new();
    std::fs::create_dir(f.root().join("big")).unwrap();
    const N: usize = 20_000;
    let big = f.root().join("big");
    for i in 0..N {
        std::fs::File::create(big.join(i.to_string())).unwrap();
    }
    let mut it = f.fs.read_dir(b"/big").unwrap();
    let first = it.next().unwrap();
    assert_eq!(first.kind, FileKind::File);
    assert_eq!(1 + it.count(), N);
}

#[test]
fn open_read_and_seek() {
    let f = Fixture::new();
    f.put("data", b"0123456789");
    let mut r = f.fs.open_read(b"/data").unwrap();
    assert!(r.raw_fd().is_some());
    r.seek(SeekFrom::Start(4)).unwrap();
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "456789");
    std::fs::create_dir(f.root().join("dir")).unwrap();
    let e = f.fs.open_read(b"/dir").err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    assert!(f.fs.open_read(b"/").is_err());
    assert_eq!(
        f.fs.open_read(b"/nope").err().unwrap().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn replace_creates_new_file_in_place() {
    let f = Fixture::new();
    let mut w = f.fs.open_write(b"/new", WriteMode::Replace).unwrap();
    assert!(w.raw_fd().is_some());
    w.write_all(b"part").unwrap();
    // Visible in place while uploading (resumable)...
    assert_eq!(std::fs::read(f.root().join("new")).unwrap(), b"part");
    // ...and kept on abort.
    w.abort().unwrap();
    assert_eq!(std::fs::read(f.root().join("new")).unwrap(), b"part");
    let mut w = f.fs.open_write(b"/new", WriteMode::Resume(4)).unwrap();
    w.write_all(b"ial").unwrap();
    w.commit().unwrap();
    assert_eq!(f.read(b"/new"), b"partial");
}

#[test]
fn replace_existing_is_atomic() {
    let f = Fixture::new();
    f.put("file", b"old content");
    std::fs::set_permissions(
        f.root().join("file"),
        std::fs::Permissions::from_mode(0o4640),
    )
    .unwrap();
    let mut w = f.fs.open_write(b"/file", WriteMode::Replace).unwrap();
    w.write_all(b"new").unwrap();
    assert_eq!(
        std::fs::read(f.root().join("file")).unwrap(),
        b"old content"
    );
    // The temporary file is hidden beside the target.
    let tmp_names: Vec<_> = f
        .names(b"/")
        .into_iter()
        .filter(|n| n.starts_with(b".file.ftpdlib-"))
        .collect();
    assert_eq!(tmp_names.len(), 1, "{tmp_names:?}");
    w.commit().unwrap();
    assert_eq!(std::fs::read(f.root().join("file")).unwrap(), b"new");
    assert_eq!(f.names(b"/"), vec![b"file".to_vec()]);
    // Permission bits copied, set-id bits dropped.
    let mode = std::fs::metadata(f.root().join("file")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o640);
}

#[test]
fn replace_abort_and_drop_leave_old_file() {
    let f = Fixture::new();
    f.put("file", b"old content");
    let mut w = f.fs.open_write(b"/file", WriteMode::Replace).unwrap();
    w.write_all(b"garbage").unwrap();
    w.abort().unwrap();
    assert_eq!(
        std::fs::read(f.root().join("file")).unwrap(),
        b"old content"
    );
    assert_eq!(f.names(b"/"), vec![b"file".to_vec()]);
    let mut w = f.fs.open_write(b"/file", WriteMode::Replace).unwrap();
    w.write_all(b"garbage").unwrap();
    drop(w);
    assert_eq!(
        std::fs::read(f.root().join("file")).unwrap(),
        b"old content"
    );
    assert_eq!(f.names(b"/"), vec![b"file".to_vec()]);
}

#[test]
fn replace_long_name() {
    let f = Fixture::new();
    let name = "n".repeat(255);
    f.put(&name, b"old");
    let vpath = format!("/{name}");
    f.write(vpath.as_bytes(), WriteMode::Replace, b"new");
    assert_eq!(f.read(vpath.as_bytes()), b"new");
    assert_eq!(f.names(b"/").len(), 1);
}

#[test]
fn replace_hard_link_to_outside_is_not_written_through() {
    let f = Fixture::new();
    std::fs::hard_link(f.outside().join("secret"), f.root().join("hl")).unwrap();
    f.write(b"/hl", WriteMode::Replace, b"overwritten");
    assert_eq!(f.read(b"/hl"), b"overwritten");
    f.secret_intact();
}

#[test]
fn replace_refuses_directory() {
    let f = Fixture::new();
    std::fs::create_dir(f.root().join("dir")).unwrap();
    let e = f.fs.open_write(b"/dir", WriteMode::Replace).err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    assert!(f.fs.open_write(b"/", WriteMode::Replace).is_err());
    assert!(f.fs.open_write(b"/dir", WriteMode::Append).is_err());
    assert!(f.fs.open_write(b"/dir", WriteMode::Resume(0)).is_err());
    assert!(f.fs.open_write(b"/missing/x", WriteMode::Replace).is_err());
}

#[test]
fn replace_through_inside_symlink_keeps_link() {
    let f = Fixture::new();
    std::fs::create_dir(f.root().join("d")).unwrap();
    f.put("d/target", b"old");
    symlink("d/target", f.root().join("link")).unwrap();
    f.write(b"/link", WriteMode::Replace, b"new");
    assert!(std::fs::symlink_metadata(f.root().join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(f.root().join("d/target")).unwrap(), b"new");
    // A dangling link inside the root: its target gets created.
    symlink("d/created", f.root().join("dang")).unwrap();
    f.write(b"/dang", WriteMode::Replace, b"fresh");
    assert_eq!(std::fs::read(f.root().join("d/created")).unwrap(), b"fresh");
    // Append and resume through a link.
    f.write(b"/link", WriteMode::Append, b"+");
    assert_eq!(f.read(b"/d/target"), b"new+");
}

#[test]
fn append_and_resume() {
    let f = Fixture::new();
    f.write(b"/log", WriteMode::Append, b"one");
    f.write(b"/log", WriteMode::Append, b"two");
    assert_eq!(f.read(b"/log"), b"onetwo");
    f.write(b"/log", WriteMode::Resume(3), b"TWO");
    assert_eq!(f.read(b"/log"), b"oneTWO");
    f.write(b"/log", WriteMode::Resume(6), b"3");
    assert_eq!(f.read(b"/log"), b"oneTWO3");
    // Resume in the middle overwrites without truncating.
    f.write(b"/log", WriteMode::Resume(1), b"N");
    assert_eq!(f.read(b"/log"), b"oNeTWO3");
    let e =
        f.fs.open_write(b"/log", WriteMode::Resume(8))
            .err()
            .unwrap();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e =
        f.fs.open_write(b"/nope", WriteMode::Resume(0))
            .err()
            .unwrap();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    // Abort of an append keeps what was written.
    let mut w = f.fs.open_write(b"/log", WriteMode::Append).unwrap();
    w.write_all(b"!").unwrap();
    w.abort().unwrap();
    assert_eq!(f.read(b"/log"), b"oNeTWO3!");
}

#[test]
fn create_unique_files() {
    let f = Fixture::new();
    std::fs::create_dir(f.root().join("up")).unwrap();
    let (p1, mut w) = f.fs.create_unique(b"/up", "ftpd.").unwrap();
    w.write_all(b"x").unwrap();
    w.commit().unwrap();
    let (p2, w) = f.fs.create_unique(b"/up", "ftpd.").unwrap();
    w.commit().unwrap();
    assert_ne!(p1, p2);
    assert!(p1.starts_with(b"/up/ftpd."));
    assert_eq!(p1.len(), "/up/ftpd.".len() + RANDOM_LEN);
    assert_eq!(f.read(&p1), b"x");
    let (p3, w) = f.fs.create_unique(b"/", "").unwrap();
    w.abort().unwrap();
    assert_eq!(p3.len(), 1 + RANDOM_LEN);
    assert!(f.fs.metadata(&p3).is_ok());
    assert!(f.fs.create_unique(b"/up", "a/b").is_err());
    assert!(f.fs.create_unique(b"/missing", "x").is_err());
}

#[test]
fn directory_operations() {
    let f = Fixture::new();
    f.fs.mkdir(b"/d").unwrap();
    f.fs.mkdir(b"/d/e").unwrap();
    assert_eq!(
        f.fs.mkdir(b"/d").unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        f.fs.mkdir(b"/x/y").unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert!(f.fs.rmdir(b"/d").is_err()); // not empty
    f.fs.rmdir(b"/d/e").unwrap();
    f.fs.rmdir(b"/d").unwrap();
    assert_eq!(
        f.fs.rmdir(b"/d").unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    f.put("file", b"x");
    assert!(f.fs.rmdir(b"/file").is_err());
    // The root itself can't be removed or renamed.
    assert!(f.fs.rmdir(b"/").is_err());
    assert!(f.fs.remove_file(b"/").is_err());
    assert!(f.fs.rename(b"/", b"/x").is_err());
    assert!(f.root().is_dir());
}

#[test]
fn remove_and_rename() {
    let f = Fixture::new();
    f.put("a", b"A");
    f.fs.rename(b"/a", b"/b").unwrap();
    assert_eq!(f.read(b"/b"), b"A");
    f.fs.mkdir(b"/d").unwrap();
    f.fs.rename(b"/b", b"/d/c").unwrap();
    assert_eq!(f.read(b"/d/c"), b"A");
    f.fs.rename(b"/d", b"/e").unwrap();
    assert_eq!(f.read(b"/e/c"), b"A");
    assert!(f.fs.rename(b"/e", b"/e/inside").is_err());
    assert_eq!(
        f.fs.rename(b"/nope", b"/x").unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert!(f.fs.remove_file(b"/e").is_err()); // a directory
    f.fs.remove_file(b"/e/c").unwrap();
    assert_eq!(
        f.fs.remove_file(b"/e/c").unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    // Removing a symlink removes the link, not its target.
    f.put("t", b"T");
    symlink("t", f.root().join("l")).unwrap();
    f.fs.remove_file(b"/l").unwrap();
    assert_eq!(f.read(b"/t"), b"T");
    symlink(f.outside().join("secret"), f.root().join("l2")).unwrap();
    f.fs.remove_file(b"/l2").unwrap();
    f.secret_intact();
}

#[test]
fn chmod_and_set_mtime() {
    let f = Fixture::new();
    f.put("file", b"x");
    f.fs.chmod(b"/file", 0o600).unwrap();
    assert_eq!(f.fs.metadata(b"/file").unwrap().mode, 0o600);
    f.fs.chmod(b"/file", 0o100_755).unwrap();
    assert_eq!(f.fs.metadata(b"/file").unwrap().mode, 0o755);
    f.fs.mkdir(b"/d").unwrap();
    f.fs.chmod(b"/d", 0o700).unwrap();
    assert_eq!(f.fs.metadata(b"/d").unwrap().mode, 0o700);

    let before = std::fs::metadata(f.root().join("file")).unwrap();
    f.fs.set_mtime(b"/file", 1_234_567_890).unwrap();
    let after = std::fs::metadata(f.root().join("file")).unwrap();
    assert_eq!(after.mtime(), 1_234_567_890);
    assert_eq!(after.atime(), before.atime());
    assert_eq!(f.fs.metadata(b"/file").unwrap().mtime, 1_234_567_890);
    f.fs.set_mtime(b"/d", 1_000).unwrap();
    assert_eq!(f.fs.metadata(b"/d").unwrap().mtime, 1_000);
    f.fs.set_mtime(b"/d", -1_000).unwrap();
    assert_eq!(f.fs.metadata(b"/d").unwrap().mtime, -1_000);
    // Absurd times fail or succeed, but never panic.
    let _ = f.fs.set_mtime(b"/d", i64::MAX);
    let _ = f.fs.set_mtime(b"/d", i64::MIN);
    assert_eq!(
        f.fs.set_mtime(b"/nope", 1).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        f.fs.chmod(b"/nope", 0o644).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );

    // Through a symlink inside the root: the target changes.
    symlink("file", f.root().join("l")).unwrap();
    f.fs.chmod(b"/l", 0o640).unwrap();
    f.fs.set_mtime(b"/l", 42).unwrap();
    let m = std::fs::metadata(f.root().join("file")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o640, 42));
}

#[test]
fn nul_bytes_are_errors() {
    let f = Fixture::new();
    assert!(f.fs.metadata(b"/a\0b").is_err());
    assert!(f.fs.open_write(b"/a\0b", WriteMode::Replace).is_err());
    assert!(f.fs.mkdir(b"/a\0b").is_err());
    assert!(f.fs.rename(b"/a\0b", b"/c").is_err());
    assert!(f.fs.create_unique(b"/", "a\0").is_err());
}

#[test]
fn display_path() {
    let f = Fixture::new();
    let canon = std::fs::canonicalize(f.root()).unwrap();
    assert_eq!(f.fs.display_path(b"/"), canon);
    assert_eq!(f.fs.display_path(b"/a/b"), canon.join("a/b"));
    assert_eq!(
        f.fs.display_path(b"/caf\xe9"),
        canon.join(OsStr::from_bytes(b"caf\xe9"))
    );
}

#[test]
fn non_utf8_names() {
    let f = Fixture::new();
    let name: &[u8] = b"/caf\xe9\xff";
    f.write(name, WriteMode::Replace, b"bytes");
    assert_eq!(f.names(b"/"), vec![name[1..].to_vec()]);
    assert_eq!(f.read(name), b"bytes");
    assert_eq!(f.fs.metadata(name).unwrap().name, &name[1..]);
    f.write(name, WriteMode::Replace, b"again");
    assert_eq!(f.read(name), b"again");
    let dir: &[u8] = b"/d\x80";
    f.fs.mkdir(dir).unwrap();
    let moved: &[u8] = b"/d\x80/\xfe\xfe";
    f.fs.rename(name, moved).unwrap();
    assert_eq!(f.names(dir), vec![b"\xfe\xfe".to_vec()]);
    f.fs.chmod(moved, 0o600).unwrap();
    f.fs.set_mtime(moved, 7).unwrap();
    let (u, w) = f.fs.create_unique(dir, "\u{e9}").unwrap();
    w.commit().unwrap();
    assert!(u.starts_with(b"/d\x80/\xc3\xa9"));
    f.fs.remove_file(&u).unwrap();
    f.fs.remove_file(moved).unwrap();
    f.fs.rmdir(dir).unwrap();
    assert!(f.names(b"/").is_empty());
}

// ---- confinement ----

#[test]
fn dotdot_paths_cannot_escape() {
    let f = Fixture::new();
    f.put("inside", b"in");
    f.fs.mkdir(b"/a").unwrap();
    for p in [
        &b"/../outside/secret"[..],
        b"/../../../../etc/passwd",
        b"/a/../../outside/secret",
        b"/..",
    ] {
        denied(f.fs.metadata(p));
        denied(f.fs.symlink_metadata(p));
        denied(f.fs.open_read(p));
        denied(f.fs.open_write(p, WriteMode::Replace));
        denied(f.fs.open_write(p, WriteMode::Append));
        denied(f.fs.chmod(p, 0o777));
        denied(f.fs.set_mtime(p, 0));
        denied(f.fs.remove_file(p));
        denied(f.fs.rename(b"/inside", p));
        denied(f.fs.rename(p, b"/stolen"));
        denied(f.fs.read_dir(p));
    }
    denied(f.fs.mkdir(b"/../newdir"));
    denied(f.fs.rmdir(b"/../outside"));
    denied(f.fs.create_unique(b"/..", "x"));
    assert!(!f.tmp.path().join("newdir").exists());
    assert!(f.outside().is_dir());
    f.secret_intact();
    assert_eq!(f.read(b"/inside"), b"in");
    // Going down and up inside the root is fine.
    assert_eq!(f.read(b"/a/../inside"), b"in");
}

#[test]
fn absolute_symlink_outside() {
    let f = Fixture::new();
    symlink("/etc", f.root().join("etc")).unwrap();
    symlink(f.outside().join("secret"), f.root().join("secret")).unwrap();
    denied(f.fs.metadata(b"/etc"));
    denied(f.fs.metadata(b"/etc/passwd"));
    denied(f.fs.read_dir(b"/etc"));
    denied(f.fs.open_read(b"/etc/passwd"));
    denied(f.fs.open_read(b"/secret"));
    denied(f.fs.open_write(b"/secret", WriteMode::Replace));
    denied(f.fs.open_write(b"/secret", WriteMode::Append));
    denied(f.fs.open_write(b"/secret", WriteMode::Resume(0)));
    denied(f.fs.create_unique(b"/etc", "x"));
    denied(f.fs.mkdir(b"/etc/ftpdlib-test-dir"));
    // The link itself is visible, without its target.
    let e = f.fs.symlink_metadata(b"/secret").unwrap();
    assert_eq!(e.kind, FileKind::Symlink);
    assert_eq!(e.link_target, None);
    assert_eq!(e.size, f.outside().join("secret").as_os_str().len() as u64);
    f.secret_intact();
}

#[test]
fn relative_symlink_escaping() {
    let f = Fixture::new();
    std::fs::create_dir(f.root().join("sub")).unwrap();
    symlink("../../outside/secret", f.root().join("sub/up")).unwrap();
    symlink("../outside", f.root().join("updir")).unwrap();
    denied(f.fs.metadata(b"/sub/up"));
    denied(f.fs.open_read(b"/sub/up"));
    denied(f.fs.open_read(b"/updir/secret"));
    denied(f.fs.read_dir(b"/updir"));
    denied(f.fs.open_write(b"/sub/up", WriteMode::Replace));
    denied(f.fs.open_write(b"/updir/new", WriteMode::Replace));
    denied(f.fs.open_write(b"/updir/secret", WriteMode::Append));
    assert!(!f.outside().join("new").exists());
    assert_eq!(f.fs.symlink_metadata(b"/sub/up").unwrap().link_target, None);
    f.secret_intact();
}

#[test]
fn intermediate_symlink_dir_outside() {
    let f = Fixture::new();
    symlink(f.outside(), f.root().join("out")).unwrap();
    std::fs::create_dir(f.root().join("sub")).unwrap();
    symlink("../../outside", f.root().join("sub/rel")).unwrap();
    f.put("mine", b"mine");
    for dir in [&b"/out"[..], b"/sub/rel"] {
        let p = [dir, b"/secret"].concat();
        let newp = [dir, b"/new"].concat();
        denied(f.fs.metadata(&p));
        denied(f.fs.symlink_metadata(&p));
        denied(f.fs.open_read(&p));
        denied(f.fs.open_write(&p, WriteMode::Replace));
        denied(f.fs.open_write(&newp, WriteMode::Replace));
        denied(f.fs.remove_file(&p));
        denied(f.fs.mkdir(&newp));
        denied(f.fs.rmdir(&p));
        denied(f.fs.chmod(&p, 0o777));
        denied(f.fs.set_mtime(&p, 0));
        // RNFR/RNTO through the escaping directory, in either direction.
        denied(f.fs.rename(b"/mine", &newp));
        denied(f.fs.rename(&p, b"/stolen"));
        denied(f.fs.create_unique(dir, "x"));
    }
    assert_eq!(f.read(b"/mine"), b"mine");
    let names: Vec<_> = std::fs::read_dir(f.outside()).unwrap().collect();
    assert_eq!(names.len(), 1);
    f.secret_intact();
    let m = std::fs::metadata(f.outside().join("secret")).unwrap();
    assert_ne!(m.mode() & 0o777, 0o777);
    assert_ne!(m.mtime(), 0);
}

#[test]
fn chmod_and_mtime_through_escaping_link_refused() {
    let f = Fixture::new();
    let secret = f.outside().join("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = std::fs::metadata(&secret).unwrap();
    symlink(&secret, f.root().join("abs")).unwrap();
    symlink("../outside/secret", f.root().join("rel")).unwrap();
    for p in [&b"/abs"[..], b"/rel"] {
        denied(f.fs.chmod(p, 0o777));
        denied(f.fs.set_mtime(p, 0));
    }
    let after = std::fs::metadata(&secret).unwrap();
    assert_eq!(after.mode(), before.mode());
    assert_eq!(after.mtime(), before.mtime());
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
}

#[test]
fn read_dir_with_escaping_symlink() {
    let f = Fixture::new();
    symlink(f.outside().join("secret"), f.root().join("abs")).unwrap();
    symlink("../outside/secret", f.root().join("rel")).unwrap();
    symlink("/etc", f.root().join("etc")).unwrap();
    let entries: Vec<EntryInfo> = f.fs.read_dir(b"/").unwrap().collect();
    assert_eq!(entries.len(), 3);
    let outside_ino = std::fs::metadata(f.outside().join("secret")).unwrap().ino();
    for e in entries {
        assert_eq!(e.kind, FileKind::Symlink, "{e:?}");
        assert_eq!(e.link_target, None);
        assert_ne!(e.ino, outside_ino);
        let own = std::fs::symlink_metadata(f.root().join(OsStr::from_bytes(&e.name))).unwrap();
        assert_eq!(e.ino, own.ino());
        assert_eq!(e.size, own.size());
    }
}

#[test]
fn symlinks_inside_root_work() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.root().join("a/b")).unwrap();
    f.put("a/b/file", b"deep");
    symlink("a/b", f.root().join("rel_dir")).unwrap();
    symlink("b/file", f.root().join("a/down_file")).unwrap();
    symlink("../../a/b/file", f.root().join("a/b/up_file")).unwrap();
    assert_eq!(f.read(b"/rel_dir/file"), b"deep");
    assert_eq!(f.read(b"/a/down_file"), b"deep");
    assert_eq!(f.read(b"/a/b/up_file"), b"deep");
    assert_eq!(f.read(b"/rel_dir/up_file"), b"deep");
    assert_eq!(f.fs.metadata(b"/rel_dir").unwrap().kind, FileKind::Dir);
    assert_eq!(
        f.names(b"/rel_dir"),
        vec![b"file".to_vec(), b"up_file".to_vec()]
    );
    let e = f.fs.symlink_metadata(b"/rel_dir/up_file").unwrap();
    assert_eq!(e.link_target.as_deref(), Some(&b"../../a/b/file"[..]));
    f.write(b"/rel_dir/new", WriteMode::Replace, b"n");
    assert_eq!(std::fs::read(f.root().join("a/b/new")).unwrap(), b"n");
    f.fs.rename(b"/rel_dir/new", b"/a/renamed").unwrap();
    assert_eq!(f.read(b"/a/renamed"), b"n");
}

#[test]
fn absolute_symlink_inside_root_works() {
    let f = Fixture::new();
    std::fs::create_dir(f.root().join("d")).unwrap();
    f.put("d/file", b"abs");
    let canon = std::fs::canonicalize(f.root()).unwrap();
    symlink(canon.join("d"), f.root().join("absdir")).unwrap();
    symlink(canon.join("d/file"), f.root().join("absfile")).unwrap();
    // Written with the non-canonical root path too.
    symlink(f.root().join("d/file"), f.root().join("absfile2")).unwrap();
    assert_eq!(f.read(b"/absdir/file"), b"abs");
    assert_eq!(f.read(b"/absfile"), b"abs");
    assert_eq!(f.read(b"/absfile2"), b"abs");
    assert_eq!(f.fs.metadata(b"/absdir").unwrap().kind, FileKind::Dir);
    assert_eq!(f.names(b"/absdir"), vec![b"file".to_vec()]);
    let e = f.fs.symlink_metadata(b"/absfile").unwrap();
    assert_eq!(
        e.link_target.as_deref(),
        Some(canon.join("d/file").as_os_str().as_bytes())
    );
    f.write(b"/absdir/new", WriteMode::Replace, b"x");
    f.write(b"/absfile", WriteMode::Replace, b"replaced");
    assert_eq!(std::fs::read(f.root().join("d/file")).unwrap(), b"replaced");
    assert!(std::fs::symlink_metadata(f.root().join("absfile"))
        .unwrap()
        .file_type()
        .is_symlink());
    f.fs.chmod(b"/absfile", 0o604).unwrap();
    f.fs.set_mtime(b"/absfile", 99).unwrap();
    let m = std::fs::metadata(f.root().join("d/file")).unwrap();
    assert_eq!((m.mode() & 0o777, m.mtime()), (0o604, 99));
    f.fs.rename(b"/absdir/new", b"/absdir/new2").unwrap();
    f.fs.mkdir(b"/absdir/sub").unwrap();
    f.fs.rmdir(b"/absdir/sub").unwrap();
    let (u, w) = f.fs.create_unique(b"/absdir", "u").unwrap();
    w.commit().unwrap();
    f.fs.remove_file(&u).unwrap();
    f.fs.remove_file(b"/absdir/new2").unwrap();
    assert_eq!(f.names(b"/d"), vec![b"file".to_vec()]);
    // An absolute link that climbs out after entering the root is still refused.
    symlink(canon.join("../outside/secret"), f.root().join("sneaky")).unwrap();
    denied(f.fs.open_read(b"/sneaky"));
    assert_eq!(f.fs.symlink_metadata(b"/sneaky").unwrap().link_target, None);
}

#[test]
fn symlink_loops_fail_cleanly() {
    let f = Fixture::new();
    symlink("b", f.root().join("a")).unwrap();
    symlink("a", f.root().join("b")).unwrap();
    let canon = std::fs::canonicalize(f.root()).unwrap();
    symlink(canon.join("c"), f.root().join("c")).unwrap();
    for p in [&b"/a"[..], b"/c"] {
        assert!(f.fs.metadata(p).is_err());
        assert!(f.fs.open_read(p).is_err());
        assert!(f.fs.open_write(p, WriteMode::Replace).is_err());
        assert_eq!(f.fs.symlink_metadata(p).unwrap().link_target, None);
    }
    assert_eq!(
        f.fs.root
            .resolve(Path::new("c"), true)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ELOOP)
    );
}

#[test]
fn resolver() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.root().join("a/b")).unwrap();
    symlink("a/b", f.root().join("l")).unwrap();
    let r = &f.fs.root;
    assert_eq!(
        r.resolve(Path::new("l/x"), true).unwrap(),
        Path::new("a/b/x")
    );
    assert_eq!(r.resolve(Path::new("l"), false).unwrap(), Path::new("l"));
    assert_eq!(r.resolve(Path::new("l"), true).unwrap(), Path::new("a/b"));
    assert_eq!(r.resolve(Path::new("."), true).unwrap(), Path::new("."));
    assert_eq!(r.resolve(Path::new("a/.."), true).unwrap(), Path::new("."));
    assert!(is_escape(&r.resolve(Path::new(".."), true).unwrap_err()));
    assert!(is_escape(
        &r.resolve(Path::new("l/../../.."), true).unwrap_err()
    ));
    assert_eq!(
        r.resolve(Path::new("missing/x"), true).unwrap(),
        Path::new("missing/x")
    );
}

#[test]
fn rename_onto_escaping_symlink_replaces_link_only() {
    let f = Fixture::new();
    f.put("mine", b"mine");
    symlink(f.outside().join("secret"), f.root().join("link")).unwrap();
    // RNTO onto the link name replaces the link, not the outside file.
    f.fs.rename(b"/mine", b"/link").unwrap();
    assert_eq!(f.read(b"/link"), b"mine");
    f.secret_intact();
}

#[test]
fn factory_shares_one_root_handle_per_home() {
    let tmp = TempDir::new().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let account = Account::new("u", home.clone(), crate::proto::perm::PermTable::default());
    let factory = LocalFsFactory::default();
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = fds();
    let many: Vec<_> = (0..300).map(|_| factory.open(&account).unwrap()).collect();
    assert!(fds() < before + 100, "each filesystem opened its own root");
    drop(many);
    // a home replaced on disk is opened anew
    let keep = factory.open(&account).unwrap();
    std::fs::rename(&home, tmp.path().join("old")).unwrap();
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("new.txt"), b"x").unwrap();
    let fresh = factory.open(&account).unwrap();
    assert!(fresh.metadata(b"/new.txt").is_ok());
    assert!(keep.metadata(b"/new.txt").is_err());
}

#[test]
fn local_disk_and_memory_filesystems_are_local_fast_others_not() {
    // tmpfs is on the allow-list
    if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
        assert!(LocalFs::new(shm.path()).unwrap().is_local_fast());
    }
    // procfs is not a disk: anything not on the list may be slow
    assert!(!LocalFs::new("/proc/self").unwrap().is_local_fast());
    let disk = Fixture::new();
    let kind = nix::sys::statfs::fstatfs(&disk.fs.root.dir).map(|s| s.filesystem_type());
    if kind == Ok(nix::sys::statfs::EXT4_SUPER_MAGIC) {
        assert!(disk.fs.is_local_fast());
    }
}

#[test]
fn replace_target_made_a_directory_during_the_upload_is_refused_and_kept() {
    // rename(2) of a file over a directory fails (EISDIR); the commit must
    // too, leaving the directory, its content and no temporary file.
    let f = Fixture::new();
    f.put("file", b"old content");
    let mut w = f.fs.open_write(b"/file", WriteMode::Replace).unwrap();
    w.write_all(b"new").unwrap();
    std::fs::remove_file(f.root().join("file")).unwrap();
    std::fs::create_dir(f.root().join("file")).unwrap();
    std::fs::write(f.root().join("file/inner"), b"inner").unwrap();
    let e = w.commit().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
    assert!(f.root().join("file").is_dir());
    assert_eq!(
        std::fs::read(f.root().join("file/inner")).unwrap(),
        b"inner"
    );
    assert_eq!(f.names(b"/"), vec![b"file".to_vec()]);
}

#[test]
fn replace_target_removed_during_the_upload_is_created() {
    let f = Fixture::new();
    f.put("file", b"old content");
    let mut w = f.fs.open_write(b"/file", WriteMode::Replace).unwrap();
    w.write_all(b"new").unwrap();
    std::fs::remove_file(f.root().join("file")).unwrap();
    w.commit().unwrap();
    assert_eq!(std::fs::read(f.root().join("file")).unwrap(), b"new");
    assert_eq!(f.names(b"/"), vec![b"file".to_vec()]);
}

#[test]
fn replace_keeps_open_readers_and_other_links_on_the_old_content() {
    let f = Fixture::new();
    f.put("file", b"old content");
    std::fs::hard_link(f.root().join("file"), f.root().join("other")).unwrap();
    let mut reader = std::fs::File::open(f.root().join("file")).unwrap();
    f.write(b"/file", WriteMode::Replace, b"new");
    assert_eq!(std::fs::read(f.root().join("file")).unwrap(), b"new");
    assert_eq!(
        std::fs::read(f.root().join("other")).unwrap(),
        b"old content"
    );
    let mut old = Vec::new();
    reader.read_to_end(&mut old).unwrap();
    assert_eq!(old, b"old content");
    assert_eq!(f.names(b"/"), vec![b"file".to_vec(), b"other".to_vec()]);
    // the replaced inode has no name left; the new file is another inode
    let now = std::fs::metadata(f.root().join("file")).unwrap();
    assert_ne!(now.ino(), reader.metadata().unwrap().ino());
    assert_eq!(reader.metadata().unwrap().nlink(), 1);
}

#[test]
fn many_replacing_uploads_of_one_name_leave_one_whole_content() {
    let f = Fixture::new();
    f.put("file", b"old");
    let writers: Vec<_> = (0..16u8)
        .map(|i| {
            let mut w = f.fs.open_write(b"/file", WriteMode::Replace).unwrap();
            w.write_all(&vec![b'a' + i; 4096 + usize::from(i)]).unwrap();
            w
        })
        .collect();
    std::thread::scope(|s| {
        for w in writers {
            s.spawn(move || w.commit().unwrap());
        }
    });
    let content = std::fs::read(f.root().join("file")).unwrap();
    let i = content[0] - b'a';
    assert_eq!(content, vec![b'a' + i; 4096 + usize::from(i)]);
    assert_eq!(f.names(b"/"), vec![b"file".to_vec()]);
    assert!(finish_background_work(std::time::Duration::from_secs(10)));
}

#[test]
fn a_forked_child_does_not_wait_for_its_parents_background_work() {
    // A process that embeds a forking server (the test harness does) may
    // have commits' work queued on its own background thread when it
    // forks: the child has no such thread, and must not wait for it (a
    // session process would linger 10 s after every session) nor touch
    // the parent's queue.
    let (hold, held) = crossbeam_channel::bounded::<()>(0);
    later(Later::Hold(held));
    match crate::sys::fork().unwrap() {
        crate::sys::Forked::Child => {
            let start = std::time::Instant::now();
            let done = finish_background_work(std::time::Duration::from_secs(3));
            let quick = start.elapsed() < std::time::Duration::from_secs(1);
            crate::sys::exit_immediately(if done && quick { 0 } else { 1 })
        }
        crate::sys::Forked::Parent(pid) => {
            let status = nix::sys::wait::waitpid(pid, None).unwrap();
            drop(hold);
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
        }
    }
    assert!(finish_background_work(std::time::Duration::from_secs(10)));
}

#[test]
#[cfg(any(target_os = "linux", target_os = "android"))]
fn an_undone_exchange_gives_the_name_back_even_when_it_was_removed() {
    // The moment after an exchange took a directory out of the target's
    // name: the name now holds the new file, the directory the temporary
    // name. Whatever happened to the name since, the undo puts the
    // directory back under it, and the failed commit removes only its own
    // file from the temporary name.
    let f = Fixture::new();
    let dir = Dir::open_ambient_dir(f.root(), cap_std::ambient_authority()).unwrap();
    let upload = |name: &str| {
        std::fs::write(f.root().join(name), b"new").unwrap();
        std::fs::File::open(f.root().join(name)).unwrap()
    };
    let p = PendingRename {
        dir,
        tmp: ".t.ftpdlib-test".into(),
        target: "t".into(),
    };
    for removed in [false, true] {
        std::fs::create_dir(f.root().join(".t.ftpdlib-test")).unwrap();
        std::fs::write(f.root().join(".t.ftpdlib-test/inner"), b"inner").unwrap();
        let ours = upload("t");
        if removed {
            std::fs::remove_file(f.root().join("t")).unwrap();
        }
        p.undo_exchange();
        p.remove_temp(&ours);
        assert_eq!(std::fs::read(f.root().join("t/inner")).unwrap(), b"inner");
        assert_eq!(f.names(b"/"), vec![b"t".to_vec()], "removed: {removed}");
        std::fs::remove_dir_all(f.root().join("t")).unwrap();
    }
    // another object took the name meanwhile: it is swapped back under the
    // temporary name, and not removed from there (it is not ours)
    std::fs::create_dir(f.root().join(".t.ftpdlib-test")).unwrap();
    let ours = upload("mine");
    std::fs::write(f.root().join("t"), b"someone else's").unwrap();
    p.undo_exchange();
    p.remove_temp(&ours);
    assert!(f.root().join("t").is_dir());
    assert_eq!(
        std::fs::read(f.root().join(".t.ftpdlib-test")).unwrap(),
        b"someone else's"
    );
}

#[test]
#[cfg(unix)]
fn a_full_background_queue_has_the_committer_do_the_work_itself() {
    let dir = tempfile::tempdir().unwrap();
    let file = |i: usize| std::fs::File::create(dir.path().join(i.to_string())).unwrap();
    // the thread busy: what is queued meanwhile waits, up to the bound
    let (hold, held) = crossbeam_channel::bounded::<()>(0);
    later(Later::Hold(held));
    for i in 0..BACKGROUND_QUEUE {
        later(Later::Close(file(i)));
    }
    // (other tests' commits may have taken places in the queue: it is
    // full now either way)
    let (done, probe) = crossbeam_channel::bounded::<()>(1);
    later(Later::Done(done));
    assert!(
        probe.try_recv().is_ok(),
        "done here, not queued behind a busy thread"
    );
    drop(hold);
    assert!(finish_background_work(std::time::Duration::from_secs(10)));
}
