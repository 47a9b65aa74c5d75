use super::*;

fn fs() -> (MemoryFsFactory, MemoryFs) {
    let f = MemoryFsFactory::new();
    let fs = f.fs();
    (f, fs)
}

fn code(r: io::Result<impl Sized>) -> i32 {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("no OS code: {e}")),
    }
}

fn kind(r: io::Result<impl Sized>) -> io::ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

fn read_all(fs: &MemoryFs, p: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    fs.open_read(p).unwrap().read_to_end(&mut v).unwrap();
    v
}

fn write(fs: &MemoryFs, p: &[u8], mode: WriteMode, data: &[u8]) {
    let mut w = fs.open_write(p, mode).unwrap();
    w.write_all(data).unwrap();
    w.commit().unwrap();
}

fn names(fs: &MemoryFs, p: &[u8]) -> Vec<Vec<u8>> {
    fs.read_dir(p).unwrap().map(|e| e.name).collect()
}

#[test]
fn root_is_an_empty_directory() {
    let (_, fs) = fs();
    let m = fs.metadata(b"/").unwrap();
    assert_eq!(m.kind, FileKind::Dir);
    assert_eq!(m.name, b"/");
    assert!(names(&fs, b"/").is_empty());
}

#[test]
fn files_round_trip_with_metadata() {
    let (_, fs) = fs();
    fs.mkdir(b"/d").unwrap();
    write(&fs, b"/d/f", WriteMode::Replace, b"hello");
    assert_eq!(read_all(&fs, b"/d/f"), b"hello");
    let m = fs.metadata(b"/d/f").unwrap();
    assert_eq!(
        (m.kind, m.size, m.mode, m.name.as_slice()),
        (FileKind::File, 5, 0o644, &b"f"[..])
    );
    assert_eq!(fs.symlink_metadata(b"/d/f").unwrap(), m);
    assert_eq!(fs.metadata(b"/d").unwrap().mode, 0o755);
    assert_ne!(fs.metadata(b"/d").unwrap().ino, m.ino);
}

#[test]
fn missing_entries_and_files_on_the_way_give_posix_errors() {
    let (f, fs) = fs();
    f.put_file(b"/file", b"x").unwrap();
    assert_eq!(code(fs.metadata(b"/nope")), libc::ENOENT);
    assert_eq!(code(fs.metadata(b"/nope/x")), libc::ENOENT);
    assert_eq!(code(fs.metadata(b"/file/x")), libc::ENOTDIR);
    assert_eq!(code(fs.read_dir(b"/file")), libc::ENOTDIR);
    assert_eq!(code(fs.open_read(b"/")), libc::EISDIR);
    assert_eq!(code(fs.open_write(b"/", WriteMode::Replace)), libc::EISDIR);
    assert_eq!(
        code(fs.open_write(b"/nope/f", WriteMode::Replace)),
        libc::ENOENT
    );
    assert_eq!(
        code(fs.open_write(b"/nope", WriteMode::Resume(0))),
        libc::ENOENT
    );
    let long = [b"/".as_slice(), &[b'a'; 256]].concat();
    assert_eq!(code(fs.mkdir(&long)), libc::ENAMETOOLONG);
    let max = [b"/".as_slice(), &[b'a'; 255]].concat();
    fs.mkdir(&max).unwrap();
}

#[test]
fn errors_render_like_the_os() {
    let (_, fs) = fs();
    let e = fs.metadata(b"/nope").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(
        e.to_string().starts_with("No such file or directory"),
        "{e}"
    );
}

#[test]
fn paths_that_are_not_normalised_are_refused_and_recorded() {
    let (f, fs) = fs();
    for p in [
        &b""[..],
        b"a",
        b"/a/",
        b"//",
        b"/a//b",
        b"/.",
        b"/a/..",
        b"/a/./b",
        b"/a\0",
    ] {
        assert_eq!(kind(fs.metadata(p)), io::ErrorKind::InvalidInput, "{p:?}");
    }
    assert_eq!(f.take_paths_seen().len(), 9);
    fs.metadata(b"/").unwrap();
    let _ = fs.rename(b"/a", b"/b");
    let _ = fs.display_path(b"/c");
    assert_eq!(
        f.paths_seen(),
        vec![
            b"/".to_vec(),
            b"/a".to_vec(),
            b"/b".to_vec(),
            b"/c".to_vec()
        ]
    );
}

#[test]
fn replace_keeps_the_old_content_until_commit() {
    let (f, fs) = fs();
    f.put_file(b"/f", b"old content").unwrap();
    fs.chmod(b"/f", 0o600).unwrap();
    let mut w = fs.open_write(b"/f", WriteMode::Replace).unwrap();
    w.write_all(b"new").unwrap();
    assert_eq!(read_all(&fs, b"/f"), b"old content");
    w.commit().unwrap();
    assert_eq!(read_all(&fs, b"/f"), b"new");
    assert_eq!(fs.metadata(b"/f").unwrap().mode, 0o600);

    let mut w = fs.open_write(b"/f", WriteMode::Replace).unwrap();
    w.write_all(b"discarded").unwrap();
    w.abort().unwrap();
    assert_eq!(read_all(&fs, b"/f"), b"new");
}

#[test]
fn a_new_file_is_visible_at_once_and_kept_on_abort() {
    let (_, fs) = fs();
    let mut w = fs.open_write(b"/n", WriteMode::Replace).unwrap();
    w.write_all(b"part").unwrap();
    assert_eq!(read_all(&fs, b"/n"), b"part");
    w.abort().unwrap();
    assert_eq!(read_all(&fs, b"/n"), b"part");
}

#[test]
fn append_and_resume() {
    let (_, fs) = fs();
    write(&fs, b"/a", WriteMode::Append, b"one");
    write(&fs, b"/a", WriteMode::Append, b"two");
    assert_eq!(read_all(&fs, b"/a"), b"onetwo");
    write(&fs, b"/a", WriteMode::Resume(3), b"TW");
    assert_eq!(read_all(&fs, b"/a"), b"oneTWo");
    write(&fs, b"/a", WriteMode::Resume(6), b"!");
    assert_eq!(read_all(&fs, b"/a"), b"oneTWo!");
    assert_eq!(
        kind(fs.open_write(b"/a", WriteMode::Resume(8))),
        io::ErrorKind::InvalidInput
    );
    fs.mkdir(b"/d").unwrap();
    assert_eq!(code(fs.open_write(b"/d", WriteMode::Append)), libc::EISDIR);
    assert_eq!(
        code(fs.open_write(b"/d", WriteMode::Resume(0))),
        libc::EISDIR
    );
}

#[test]
fn reads_seek_and_see_the_file_not_the_name() {
    let (f, fs) = fs();
    f.put_file(b"/f", b"0123456789").unwrap();
    let mut r = fs.open_read(b"/f").unwrap();
    assert_eq!(r.seek(SeekFrom::Start(7)).unwrap(), 7);
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"789");
    assert_eq!(r.seek(SeekFrom::End(-2)).unwrap(), 8);
    assert_eq!(r.seek(SeekFrom::Current(-8)).unwrap(), 0);
    assert!(r.seek(SeekFrom::Current(-1)).is_err());
    assert_eq!(r.seek(SeekFrom::Start(100)).unwrap(), 100);
    assert_eq!(r.read(&mut [0u8; 4]).unwrap(), 0);
    r.seek(SeekFrom::Start(0)).unwrap();
    fs.remove_file(b"/f").unwrap();
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"0123456789");
    assert!(r.raw_fd().is_none());
}

#[test]
fn a_writer_follows_its_file_through_a_rename() {
    let (_, fs) = fs();
    let mut w = fs.open_write(b"/a", WriteMode::Append).unwrap();
    fs.rename(b"/a", b"/b").unwrap();
    w.write_all(b"data").unwrap();
    w.commit().unwrap();
    assert_eq!(read_all(&fs, b"/b"), b"data");
    assert_eq!(code(fs.metadata(b"/a")), libc::ENOENT);
}

#[test]
fn replace_commit_fails_when_the_name_became_a_directory_or_the_parent_left() {
    let (f, fs) = fs();
    f.create_dir_all(b"/d").unwrap();
    f.put_file(b"/d/f", b"x").unwrap();
    let w = fs.open_write(b"/d/f", WriteMode::Replace).unwrap();
    fs.remove_file(b"/d/f").unwrap();
    fs.mkdir(b"/d/f").unwrap();
    assert_eq!(code(w.commit()), libc::EISDIR);
    f.put_file(b"/d/g", b"x").unwrap();
    let w = fs.open_write(b"/d/g", WriteMode::Replace).unwrap();
    fs.rename(b"/d", b"/e").unwrap();
    assert_eq!(code(w.commit()), libc::ENOENT);
}

#[test]
fn create_unique_makes_fresh_names() {
    let (_, fs) = fs();
    fs.mkdir(b"/d").unwrap();
    let (p1, w1) = fs.create_unique(b"/d", "up.").unwrap();
    let (p2, w2) = fs.create_unique(b"/", "ftpd.").unwrap();
    w1.commit().unwrap();
    w2.commit().unwrap();
    assert!(p1.starts_with(b"/d/up."), "{p1:?}");
    assert!(p2.starts_with(b"/ftpd."), "{p2:?}");
    assert_eq!(fs.metadata(&p1).unwrap().size, 0);
    assert_eq!(
        kind(fs.create_unique(b"/", "a/b")),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(code(fs.create_unique(b"/nope", "x")), libc::ENOENT);
    assert_eq!(code(fs.create_unique(&p1, "x")), libc::ENOTDIR);
    assert_eq!(
        code(fs.create_unique(b"/", &"x".repeat(250))),
        libc::ENAMETOOLONG
    );
}

#[test]
fn mkdir_rmdir_remove_file() {
    let (f, fs) = fs();
    fs.mkdir(b"/d").unwrap();
    assert_eq!(code(fs.mkdir(b"/d")), libc::EEXIST);
    assert_eq!(code(fs.mkdir(b"/")), libc::EEXIST);
    f.put_file(b"/d/f", b"").unwrap();
    assert_eq!(code(fs.mkdir(b"/d/f")), libc::EEXIST);
    assert_eq!(code(fs.rmdir(b"/d")), libc::ENOTEMPTY);
    assert_eq!(code(fs.rmdir(b"/d/f")), libc::ENOTDIR);
    assert_eq!(code(fs.rmdir(b"/")), libc::EBUSY);
    assert_eq!(code(fs.remove_file(b"/d")), libc::EISDIR);
    assert_eq!(code(fs.remove_file(b"/nope")), libc::ENOENT);
    fs.remove_file(b"/d/f").unwrap();
    fs.rmdir(b"/d").unwrap();
    assert_eq!(code(fs.rmdir(b"/d")), libc::ENOENT);
    assert!(names(&fs, b"/").is_empty());
}

#[test]
fn rename_follows_rename_2() {
    let (f, fs) = fs();
    f.create_dir_all(b"/a/sub").unwrap();
    f.create_dir_all(b"/empty").unwrap();
    f.create_dir_all(b"/full/x").unwrap();
    f.put_file(b"/a/sub/f", b"f").unwrap();
    f.put_file(b"/g", b"g").unwrap();
    assert_eq!(code(fs.rename(b"/nope", b"/x")), libc::ENOENT);
    assert_eq!(code(fs.rename(b"/g", b"/nope/x")), libc::ENOENT);
    assert_eq!(code(fs.rename(b"/g", b"/a")), libc::EISDIR);
    assert_eq!(code(fs.rename(b"/a", b"/g")), libc::ENOTDIR);
    assert_eq!(code(fs.rename(b"/a", b"/full")), libc::ENOTEMPTY);
    assert_eq!(code(fs.rename(b"/a", b"/a/sub/in")), libc::EINVAL);
    assert_eq!(code(fs.rename(b"/", b"/x")), libc::EBUSY);
    assert_eq!(code(fs.rename(b"/g", b"/")), libc::EBUSY);
    fs.rename(b"/g", b"/g").unwrap();
    fs.rename(b"/a", b"/empty").unwrap();
    assert_eq!(read_all(&fs, b"/empty/sub/f"), b"f");
    assert_eq!(code(fs.metadata(b"/a")), libc::ENOENT);
    f.put_file(b"/h", b"h").unwrap();
    fs.rename(b"/h", b"/empty/sub/f").unwrap();
    assert_eq!(read_all(&fs, b"/empty/sub/f"), b"h");
    // a name that only starts like the source is not inside it
    fs.mkdir(b"/ab").unwrap();
    fs.rename(b"/empty", b"/ab/empty").unwrap();
}

#[test]
fn chmod_and_set_mtime() {
    let (f, fs) = fs();
    f.put_file(b"/f", b"").unwrap();
    fs.chmod(b"/f", 0o104_755).unwrap();
    assert_eq!(fs.metadata(b"/f").unwrap().mode, 0o4755);
    fs.set_mtime(b"/f", -5).unwrap();
    assert_eq!(fs.metadata(b"/f").unwrap().mtime, -5);
    fs.set_mtime(b"/", i64::MAX).unwrap();
    assert_eq!(fs.metadata(b"/").unwrap().mtime, i64::MAX);
    assert_eq!(code(fs.chmod(b"/nope", 0o644)), libc::ENOENT);
    assert_eq!(code(fs.set_mtime(b"/nope", 0)), libc::ENOENT);
}

#[test]
fn read_dir_is_lazy_and_sees_changes() {
    let (f, fs) = fs();
    for n in ["a", "b", "c", "d"] {
        f.put_file(format!("/{n}").as_bytes(), n.as_bytes())
            .unwrap();
    }
    fs.mkdir(b"/e").unwrap();
    let mut it = fs.read_dir(b"/").unwrap();
    assert_eq!(it.next().unwrap().name, b"a");
    fs.remove_file(b"/b").unwrap();
    f.put_file(b"/bb", b"").unwrap();
    let rest: Vec<_> = it.map(|e| (e.name, e.kind)).collect();
    assert_eq!(
        rest,
        vec![
            (b"bb".to_vec(), FileKind::File),
            (b"c".to_vec(), FileKind::File),
            (b"d".to_vec(), FileKind::File),
            (b"e".to_vec(), FileKind::Dir),
        ]
    );
    let mut it = fs.read_dir(b"/e").unwrap();
    fs.rmdir(b"/e").unwrap();
    assert!(it.next().is_none());
}

#[test]
fn sessions_share_one_tree_and_display_virtual_paths() {
    let f = MemoryFsFactory::new();
    let account = Account::new(
        "u",
        PathBuf::from("/nonexistent"),
        crate::proto::perm::PermTable::default(),
    );
    let a = f.open(&account).unwrap();
    let b = f.clone().open(&account).unwrap();
    a.mkdir(b"/shared").unwrap();
    assert_eq!(b.metadata(b"/shared").unwrap().kind, FileKind::Dir);
    assert_eq!(b.display_path(b"/shared/x"), PathBuf::from("/shared/x"));
    assert_eq!(
        f.read_file(b"/shared").unwrap_err().raw_os_error(),
        Some(libc::EISDIR)
    );
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MemoryFsFactory>();
    send_sync::<MemoryFs>();
}

#[test]
fn create_dir_all_and_put_file() {
    let f = MemoryFsFactory::new();
    f.create_dir_all(b"/a/b/c").unwrap();
    f.create_dir_all(b"/a/b").unwrap();
    f.put_file(b"/a/b/c/f", b"1").unwrap();
    assert_eq!(code(f.create_dir_all(b"/a/b/c/f")), libc::EEXIST);
    assert_eq!(code(f.create_dir_all(b"/a/b/c/f/g")), libc::ENOTDIR);
    assert_eq!(code(f.put_file(b"/a", b"")), libc::EISDIR);
    f.put_file(b"/a/b/c/f", b"2").unwrap();
    assert_eq!(f.read_file(b"/a/b/c/f").unwrap(), b"2");
    assert!(f.paths_seen().is_empty());
}
