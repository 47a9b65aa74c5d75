//! File-safety guarantees through the real server: atomic replacement,
//! hard links, resumable new uploads, disk full, big directories, non-UTF-8
//! names and per-directory permissions.
mod common;

each_model!(
    stor_over_existing_file_is_atomic,
    stor_replaces_a_hard_link_instead_of_writing_through_it,
    stor_over_existing_file_releases_the_old_cached_pages,
    replaced_files_are_closed_after_the_commit,
    stor_never_hides_a_directory_made_over_its_target,
    new_file_upload_is_in_place_and_resumable,
    disk_full_gives_452_and_keeps_old_file,
    big_directory_is_listed_completely,
    non_utf8_names_work_as_raw_bytes,
    utf8_names_and_spaces_round_trip,
    per_directory_permission_overrides,
    an_urgent_byte_in_an_upload_loses_nothing_after_it,
);
mod confine_util;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{Cursor, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use common::{Raw, TestServer};
use confine_util::{
    close_and_wait, cmd_bytes, contains, data_conn, get, lines, login, put, reset, temp_files,
    wait_until, xfer,
};

#[track_caller]
fn code(r: &str, want: &str) {
    assert!(r.starts_with(want), "expected {want}, got {r:?}");
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32) as u8)
        .collect()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The size of the single temporary upload file in `dir` (0 if none yet).
fn temp_len(dir: &Path) -> u64 {
    temp_files(dir)
        .first()
        .map(|n| file_len(&dir.join(n)))
        .unwrap_or(0)
}

/// Start `STOR name` over a raw session and send the first `half` bytes of `data`;
/// returns once the server has written them to its temporary file.
fn start_replacing_upload(
    srv: &TestServer,
    name: &str,
    data: &[u8],
    half: usize,
) -> (Raw, std::net::TcpStream) {
    let mut r = login(srv);
    let mut d = data_conn(&mut r);
    code(&r.cmd(&format!("STOR {name}")), "1");
    d.write_all(&data[..half]).unwrap();
    wait_until("the first half in the temporary file", 20, || {
        temp_len(srv.dir.path()) == half as u64
    });
    (r, d)
}

/// While a replacing upload runs, the old file is complete, for readers too.
fn assert_old_whole(srv: &TestServer, name: &str, old: &[u8]) {
    assert_eq!(std::fs::read(srv.path(name)).unwrap(), old);
    let mut c = srv.client();
    assert_eq!(c.retr_as_buffer(name).unwrap().into_inner(), old);
    let _ = c.quit();
}

fn stor_over_existing_file_is_atomic() {
    let srv = common::start(|_| {});
    let old = pattern(150_000, 1);
    let new = pattern(400_000, 2);
    let half = 200_000;
    std::fs::write(srv.path("f.bin"), &old).unwrap();

    // 1. ABOR in the middle.
    let (mut r, d) = start_replacing_upload(&srv, "f.bin", &new, half);
    assert_eq!(temp_files(srv.dir.path()).len(), 1);
    assert!(temp_files(srv.dir.path())[0].starts_with(".f.bin.ftpdlib-"));
    assert_old_whole(&srv, "f.bin", &old);
    code(&r.cmd("ABOR"), "426");
    code(&r.reply(), "226");
    drop(d);
    assert_eq!(std::fs::read(srv.path("f.bin")).unwrap(), old);
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());
    code(&r.cmd("NOOP"), "200");
    drop(r);

    // 2. The client vanishes: control connection closed, then the data connection.
    let (r, d) = start_replacing_upload(&srv, "f.bin", &new, half);
    assert_old_whole(&srv, "f.bin", &old);
    close_and_wait(r);
    drop(d);
    assert_eq!(std::fs::read(srv.path("f.bin")).unwrap(), old);
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());

    // 3. The data connection is reset (not an end of file).
    let (mut r, d) = start_replacing_upload(&srv, "f.bin", &new, half);
    reset(d);
    code(&r.reply(), "426");
    assert_eq!(std::fs::read(srv.path("f.bin")).unwrap(), old);
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());
    code(&r.cmd("NOOP"), "200");

    // 4. A completed upload replaces the content (and keeps the mode).
    std::fs::set_permissions(
        srv.path("f.bin"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    let ino = std::fs::metadata(srv.path("f.bin")).unwrap().ino();
    let x = put(&mut r, "STOR f.bin", &new);
    code(&x.last, "226");
    assert_eq!(std::fs::read(srv.path("f.bin")).unwrap(), new);
    let m = std::fs::metadata(srv.path("f.bin")).unwrap();
    assert_ne!(m.ino(), ino, "replaced by rename, not rewritten in place");
    assert_eq!(m.mode() & 0o777, 0o640);
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());
    let x = get(&mut r, "RETR f.bin");
    assert_eq!(x.data, new);
}

/// Bytes of `path` in the page cache (`fincore`), or `None` without the tool.
fn resident_bytes(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A replacing upload keeps the old file whole but hands its page cache back
/// when it starts (the new content would otherwise need memory of its own
/// while the old copy sits in the cache), on filesystems whose cache is not
/// the file itself.
fn stor_over_existing_file_releases_the_old_cached_pages() {
    let srv = common::start(|_| {});
    let on_tmpfs = nix::sys::statfs::statfs(srv.dir.path())
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .unwrap_or(true);
    let old = pattern(4 << 20, 7);
    let keep = srv.path(".old-inode");
    {
        let mut f = std::fs::File::create(srv.path("f.bin")).unwrap();
        f.write_all(&old).unwrap();
        f.sync_all().unwrap(); // clean pages: dropping them needs no writeback
    }
    std::fs::hard_link(srv.path("f.bin"), &keep).unwrap();
    assert_eq!(std::fs::read(&keep).unwrap(), old);
    let Some(before) = resident_bytes(&keep) else {
        eprintln!("skipped: fincore (util-linux) is not installed");
        return;
    };
    if on_tmpfs || before == 0 {
        eprintln!(
            "skipped: the test directory's page cache is the file itself (tmpfs) or not kept"
        );
        return;
    }
    let mut r = login(&srv);
    code(&r.cmd("TYPE I"), "200");
    let x = put(&mut r, "STOR f.bin", b"new");
    code(&x.last, "226");
    assert_eq!(std::fs::read(srv.path("f.bin")).unwrap(), b"new");
    let after = resident_bytes(&keep).unwrap_or(u64::MAX);
    assert!(
        after < old.len() as u64 / 4,
        "the replaced file still has {after} of {before} bytes cached"
    );
    // the old content itself is untouched
    assert_eq!(std::fs::read(&keep).unwrap(), old);
}

/// Descriptors of this process open on files with no name left.
fn open_deleted_files(dir: &Path) -> usize {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|t| t.to_string_lossy().into_owned())
                .filter(|t| t.starts_with(&prefix) && t.ends_with(" (deleted)"))
                .count()
        })
        .unwrap_or(0)
}

/// The file a commit replaces is held open across the rename (so that
/// freeing it happens off the reply's path) and closed right after: after
/// many replacing uploads, no descriptor on a replaced file remains (in the
/// models that serve in this process; the others exit per session or
/// worker).
fn replaced_files_are_closed_after_the_commit() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("f.bin"), pattern(64 * 1024, 1)).unwrap();
    let mut r = login(&srv);
    code(&r.cmd("TYPE I"), "200");
    for i in 0..30u8 {
        let data = pattern(64 * 1024 + i as usize, i);
        let x = put(&mut r, "STOR f.bin", &data);
        code(&x.last, "226");
        assert_eq!(std::fs::read(srv.path("f.bin")).unwrap(), data);
    }
    wait_until("every replaced file closed", 20, || {
        open_deleted_files(srv.dir.path()) == 0
    });
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());
}

/// The target of a replacing upload is made a directory while the upload
/// runs, and the name is deleted again and again by someone else when the
/// upload ends (what another client's DELE would do): the upload fails, as
/// a rename over a directory does, and the directory keeps its name and
/// content. It was swapped out of its name with the new file, and when the
/// name had gone by the time the exchange was undone, left under the
/// hidden temporary name.
fn stor_never_hides_a_directory_made_over_its_target() {
    let srv = common::start(|_| {});
    let dir = srv.dir.path().to_path_buf();
    let target = srv.path("t");
    let mut r = login(&srv);
    for round in 0..40 {
        std::fs::write(&target, b"old").unwrap();
        let mut d = data_conn(&mut r);
        code(&r.cmd("STOR t"), "1");
        d.write_all(b"new content").unwrap();
        wait_until("the bytes in the temporary file", 20, || {
            temp_len(&dir) == 11
        });
        std::fs::remove_file(&target).unwrap();
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inner"), b"inner").unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let racer = {
            let (stop, target) = (stop.clone(), target.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if std::fs::remove_file(&target).is_ok() {
                        return;
                    }
                }
            })
        };
        drop(d);
        let reply = r.reply();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        racer.join().unwrap();
        assert!(
            std::fs::read(target.join("inner")).is_ok_and(|c| c == b"inner"),
            "round {round}: {reply}; the directory is gone from its name: {:?}",
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>()
        );
        code(&reply, "4");
        assert_eq!(temp_files(&dir), Vec::<String>::new(), "round {round}");
        std::fs::remove_dir_all(&target).unwrap();
    }
}

fn stor_replaces_a_hard_link_instead_of_writing_through_it() {
    let parent = tempfile::tempdir().unwrap();
    let home = parent.path().join("home");
    let outside = parent.path().join("outside");
    std::fs::create_dir(&home).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("target"), b"outside content").unwrap();
    std::fs::hard_link(outside.join("target"), home.join("hl")).unwrap();
    assert_eq!(
        std::fs::metadata(outside.join("target")).unwrap().nlink(),
        2
    );

    let srv = common::start_setup(
        |_| {},
        |auth, _| auth.add_user("hl", "pw", &home, "elradfmwMT").unwrap(),
    );
    let mut r = srv.raw();
    r.login("hl", "pw");
    code(&r.cmd("TYPE I"), "200");
    let x = get(&mut r, "RETR hl");
    assert_eq!(x.data, b"outside content");
    let x = put(&mut r, "STOR hl", b"new content from the client");
    code(&x.last, "226");
    assert_eq!(
        std::fs::read(home.join("hl")).unwrap(),
        b"new content from the client"
    );
    assert_eq!(
        std::fs::read(outside.join("target")).unwrap(),
        b"outside content"
    );
    assert_eq!(
        std::fs::metadata(outside.join("target")).unwrap().nlink(),
        1
    );
    assert_eq!(std::fs::metadata(home.join("hl")).unwrap().nlink(), 1);
    assert_eq!(temp_files(&home), Vec::<String>::new());
}

fn new_file_upload_is_in_place_and_resumable() {
    let srv = common::start(|_| {});
    let data = pattern(300_000, 7);
    let half = 120_000;
    let target = srv.path("new.bin");

    // Upload half, then the client disappears (control, then data connection).
    let mut r = login(&srv);
    let mut d = data_conn(&mut r);
    code(&r.cmd("STOR new.bin"), "1");
    d.write_all(&data[..half]).unwrap();
    wait_until("the first half on disk", 20, || {
        file_len(&target) == half as u64
    });
    // Written in place: no temporary file for a new file.
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());
    close_and_wait(r);
    reset(d);
    assert_eq!(std::fs::read(&target).unwrap(), &data[..half]);

    // A new session resumes it.
    let mut r = login(&srv);
    assert_eq!(r.cmd("SIZE new.bin"), format!("213 {half}"));
    code(&r.cmd(&format!("REST {half}")), "350");
    let x = put(&mut r, "STOR new.bin", &data[half..]);
    code(&x.last, "226");
    assert_eq!(std::fs::read(&target).unwrap(), data);

    // The same with a reset data connection and the control connection kept.
    let other = srv.path("other.bin");
    let mut d = data_conn(&mut r);
    code(&r.cmd("STOR other.bin"), "1");
    d.write_all(&data[..half]).unwrap();
    wait_until("the first half on disk", 20, || {
        file_len(&other) == half as u64
    });
    reset(d);
    code(&r.reply(), "426");
    assert_eq!(std::fs::read(&other).unwrap(), &data[..half]);
    code(&r.cmd(&format!("REST {half}")), "350");
    let x = put(&mut r, "STOR other.bin", &data[half..]);
    code(&x.last, "226");
    assert_eq!(std::fs::read(&other).unwrap(), data);

    // REST beyond the end is refused and changes nothing.
    code(&r.cmd("REST 999999999"), "350");
    let x = put(&mut r, "STOR other.bin", b"x");
    code(x.reply(), "554");
    assert_eq!(std::fs::read(&other).unwrap(), data);

    // APPE appends, and creates a missing file.
    let x = put(&mut r, "APPE new.bin", b"+appended");
    code(&x.last, "226");
    let mut want = data.clone();
    want.extend_from_slice(b"+appended");
    assert_eq!(std::fs::read(&target).unwrap(), want);
    let x = put(&mut r, "APPE fresh.bin", b"first");
    code(&x.last, "226");
    let x = put(&mut r, "APPE fresh.bin", b" second");
    code(&x.last, "226");
    assert_eq!(
        std::fs::read(srv.path("fresh.bin")).unwrap(),
        b"first second"
    );
    // APPE after REST is refused.
    code(&r.cmd("REST 3"), "350");
    let x = put(&mut r, "APPE fresh.bin", b"x");
    code(x.reply(), "450");
    assert_eq!(
        std::fs::read(srv.path("fresh.bin")).unwrap(),
        b"first second"
    );
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A small tmpfs, lazily unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs { dir })
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn disk_full_gives_452_and_keeps_old_file() {
    if !is_root() {
        eprintln!("SKIP: disk-full test needs root to mount a tmpfs");
        return;
    }
    let fs = match Tmpfs::mount("1m") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("SKIP: can't mount a tmpfs: {e}");
            return;
        }
    };
    let keep = pattern(300_000, 3);
    std::fs::write(fs.path().join("keep.bin"), &keep).unwrap();
    let srv = common::start_setup(
        |_| {},
        |auth, _| {
            auth.add_user("full", "pw", fs.path(), "elradfmwMT")
                .unwrap()
        },
    );
    let mut r = srv.raw();
    r.login("full", "pw");
    code(&r.cmd("TYPE I"), "200");
    let big = pattern(4 << 20, 9);

    // Replacing an existing file with a too-big upload: the old file stays whole.
    let x = put(&mut r, "STOR keep.bin", &big);
    assert!(
        x.reply().starts_with("452") || x.reply().starts_with("552"),
        "{x:?}"
    );
    assert_eq!(std::fs::read(fs.path().join("keep.bin")).unwrap(), keep);
    assert_eq!(temp_files(fs.path()), Vec::<String>::new());

    // A new file that does not fit.
    let x = put(&mut r, "STOR new.bin", &big);
    assert!(
        x.reply().starts_with("452") || x.reply().starts_with("552"),
        "{x:?}"
    );
    assert!(file_len(&fs.path().join("new.bin")) < big.len() as u64);

    // The session and the server still work.
    code(&r.cmd("NOOP"), "200");
    let x = get(&mut r, "RETR keep.bin");
    code(&x.last, "226");
    assert_eq!(x.data, keep);
    let _ = r.cmd("DELE new.bin");
    let x = put(&mut r, "STOR small.bin", b"fits");
    code(&x.last, "226");
    assert_eq!(std::fs::read(fs.path().join("small.bin")).unwrap(), b"fits");
    let mut c = srv.client();
    c.put_file("elsewhere.bin", &mut Cursor::new(b"other client".to_vec()))
        .unwrap();
    assert_eq!(
        std::fs::read(srv.path("elsewhere.bin")).unwrap(),
        b"other client"
    );
    assert_eq!(c.noop().map(|_| ()).ok(), Some(()));
    drop(r);
    drop(srv);
    drop(fs);
}

fn big_directory_is_listed_completely() {
    // Creating 100_000 files takes ~15 s on this machine's disk but ~3 s on a
    // tmpfs: use /dev/shm when it is there, else 50_000 files on the disk.
    let (dir, n) = match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => (d, 100_000),
        Err(_) => (tempfile::tempdir().unwrap(), 50_000),
    };
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    let t = Instant::now();
    let name = |i: usize| format!("entry-{i:06}");
    for i in 0..n {
        std::fs::File::create(big.join(name(i))).unwrap();
    }
    eprintln!("created {n} files in {:?}", t.elapsed());
    let srv = common::start_setup(
        |_| {},
        |auth, _| {
            auth.add_user("big", "pw", dir.path(), "elradfmwMT")
                .unwrap()
        },
    );
    let mut r = srv.raw();
    r.login("big", "pw");
    let want: HashSet<Vec<u8>> = (0..n).map(|i| name(i).into_bytes()).collect();

    let t = Instant::now();
    let x = get(&mut r, "NLST big");
    code(&x.last, "226");
    let got: Vec<Vec<u8>> = lines(&x.data);
    assert_eq!(got.len(), n);
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), want);
    eprintln!("NLST: {:?}", t.elapsed());

    let t = Instant::now();
    let x = get(&mut r, "LIST big");
    code(&x.last, "226");
    let got: HashSet<Vec<u8>> = lines(&x.data)
        .into_iter()
        .map(|l| {
            assert!(l.starts_with(b"-rw"), "{}", String::from_utf8_lossy(&l));
            l.rsplit(|&b| b == b' ').next().unwrap().to_vec()
        })
        .collect();
    assert_eq!(got, want);
    eprintln!("LIST: {:?}", t.elapsed());

    let t = Instant::now();
    let x = get(&mut r, "MLSD big");
    code(&x.last, "226");
    let l = lines(&x.data);
    assert_eq!(l.len(), n);
    let got: HashSet<Vec<u8>> = l
        .into_iter()
        .map(|l| {
            let sp = l.iter().position(|&b| b == b' ').unwrap();
            assert!(contains(&l[..sp], b"type=file;"));
            l[sp + 1..].to_vec()
        })
        .collect();
    assert_eq!(got, want);
    eprintln!("MLSD: {:?}", t.elapsed());
    code(&r.cmd("NOOP"), "200");
}

fn non_utf8_names_work_as_raw_bytes() {
    let srv = common::start(|_| {});
    let name: &[u8] = b"caf\xe9.txt";
    std::fs::write(
        srv.dir.path().join(OsStr::from_bytes(name)),
        b"latin-1 name",
    )
    .unwrap();
    let mut r = login(&srv);

    let x = get(&mut r, "LIST");
    code(&x.last, "226");
    assert!(contains(&x.data, b" caf\xe9.txt\r\n"), "{:?}", x.data);
    let x = get(&mut r, "NLST");
    assert_eq!(lines(&x.data), vec![name.to_vec()]);
    let x = get(&mut r, "MLSD");
    assert!(contains(&x.data, b"; caf\xe9.txt\r\n"), "{:?}", x.data);

    let x = xfer(&mut r, b"RETR caf\xe9.txt", None);
    code(&x.last, "226");
    assert_eq!(x.data, b"latin-1 name");
    assert_eq!(cmd_bytes(&mut r, b"SIZE caf\xe9.txt"), "213 12");
    code(&cmd_bytes(&mut r, b"MDTM caf\xe9.txt"), "213");
    code(&cmd_bytes(&mut r, b"RNFR caf\xe9.txt"), "350");
    // On the control connection a literal 0xFF byte is sent doubled (Telnet IAC IAC).
    code(&cmd_bytes(&mut r, b"RNTO \xff\xffrenamed\xfe"), "250");
    let renamed = srv.dir.path().join(OsStr::from_bytes(b"\xffrenamed\xfe"));
    assert_eq!(std::fs::read(&renamed).unwrap(), b"latin-1 name");
    code(&cmd_bytes(&mut r, b"DELE \xff\xffrenamed\xfe"), "250");
    assert!(!renamed.exists());

    // Upload, directory and CWD with raw names.
    let x = xfer(&mut r, b"STOR up\xe9\x80", Some(b"raw upload"));
    code(&x.last, "226");
    assert_eq!(
        std::fs::read(srv.dir.path().join(OsStr::from_bytes(b"up\xe9\x80"))).unwrap(),
        b"raw upload"
    );
    code(&cmd_bytes(&mut r, b"MKD d\xe9"), "257");
    assert!(srv.dir.path().join(OsStr::from_bytes(b"d\xe9")).is_dir());
    code(&cmd_bytes(&mut r, b"CWD d\xe9"), "250");
    let x = xfer(&mut r, b"STOR inner\xff\xff", Some(b"inner"));
    code(&x.last, "226");
    code(&r.cmd("CDUP"), "250");
    let x = xfer(&mut r, b"NLST d\xe9", None);
    assert_eq!(lines(&x.data), vec![b"inner\xff".to_vec()]);
    code(&cmd_bytes(&mut r, b"DELE d\xe9/inner\xff\xff"), "250");
    code(&cmd_bytes(&mut r, b"RMD d\xe9"), "250");
    code(&cmd_bytes(&mut r, b"DELE up\xe9\x80"), "250");
    code(&r.cmd("NOOP"), "200");
    assert_eq!(std::fs::read_dir(srv.dir.path()).unwrap().count(), 0);
}

fn utf8_names_and_spaces_round_trip() {
    let srv = common::start(|_| {});
    let mut c = srv.client();
    let names = [
        "ünïcødé.txt",
        "with spaces.txt",
        "two  spaces  .txt",
        "日本語 ファイル.bin",
    ];
    for (i, n) in names.iter().enumerate() {
        let data = pattern(1000 + i, i as u8);
        c.put_file(*n, &mut Cursor::new(data.clone())).unwrap();
        assert_eq!(std::fs::read(srv.path(n)).unwrap(), data, "{n}");
        assert_eq!(c.retr_as_buffer(n).unwrap().into_inner(), data, "{n}");
        assert_eq!(c.size(n).unwrap(), data.len(), "{n}");
    }
    let mut listed = c.nlst(None).unwrap();
    listed.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(listed, want);
    let list = c.list(None).unwrap();
    for n in names {
        assert!(
            list.iter().any(|l| l.ends_with(&format!(" {n}"))),
            "{list:?}"
        );
    }
    c.mkdir("dír with späces").unwrap();
    c.cwd("dír with späces").unwrap();
    assert_eq!(c.pwd().unwrap(), "/dír with späces");
    c.rename("/ünïcødé.txt", "renamed ünï.txt").unwrap();
    assert!(srv.path("dír with späces/renamed ünï.txt").is_file());
    c.rm("renamed ünï.txt").unwrap();
    c.cdup().unwrap();
    c.rmdir("dír with späces").unwrap();
    assert!(!srv.path("dír with späces").exists());
    let _ = c.quit();
}

fn per_directory_permission_overrides() {
    let srv = common::start_setup(
        |_| {},
        |auth, home| {
            for d in ["rec/sub", "flat/sub", "ro"] {
                std::fs::create_dir_all(home.join(d)).unwrap();
            }
            auth.override_perm(common::RO_USER, "rec", "elrw", true)
                .unwrap();
            auth.override_perm(common::RO_USER, "flat", "elrw", false)
                .unwrap();
        },
    );
    let mut r = srv.raw();
    r.login(common::RO_USER, common::RO_PASS);
    code(&r.cmd("TYPE I"), "200");

    let stor = |r: &mut Raw, p: &str| put(r, &format!("STOR {p}"), p.as_bytes());
    for p in ["rec/a", "rec/sub/b", "flat/c", "/rec/../flat/d"] {
        let x = stor(&mut r, p);
        code(&x.last, "226");
    }
    assert_eq!(std::fs::read(srv.path("rec/sub/b")).unwrap(), b"rec/sub/b");
    assert_eq!(
        std::fs::read(srv.path("flat/d")).unwrap(),
        b"/rec/../flat/d"
    );
    for p in ["top", "ro/x", "flat/sub/e", "rec/../top"] {
        let x = stor(&mut r, p);
        assert_eq!(x.reply(), "550 Not enough privileges.", "STOR {p}");
        assert!(!srv.path(p).exists(), "{p}");
    }
    // Only `w` was granted: no delete, rename or mkdir there.
    assert_eq!(r.cmd("DELE rec/a"), "550 Not enough privileges.");
    assert_eq!(r.cmd("MKD rec/new"), "550 Not enough privileges.");
    assert_eq!(r.cmd("RNFR rec/a"), "550 Not enough privileges.");
    // APPE needs `a`.
    let x = put(&mut r, "APPE rec/a", b"more");
    assert_eq!(x.reply(), "550 Not enough privileges.");
    // CWD into the directory does not change what is allowed.
    code(&r.cmd("CWD rec/sub"), "250");
    let x = stor(&mut r, "rel");
    code(&x.last, "226");
    let x = stor(&mut r, "../../top");
    code(x.reply(), "550");
    code(&r.cmd("CWD /flat/sub"), "250");
    let x = stor(&mut r, "f");
    code(x.reply(), "550");
    assert!(srv.path("rec/sub/rel").is_file());
    assert_eq!(std::fs::read_dir(srv.path("ro")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(srv.path("flat/sub")).unwrap().count(), 0);

    // The full-permission user and anonymous are unaffected.
    let mut c = srv.client();
    c.put_file("top", &mut Cursor::new(b"ok".to_vec())).unwrap();
    let mut a = srv.raw();
    a.login("anonymous", "x@y");
    let x = put(&mut a, "STOR rec/anon", b"no");
    code(x.reply(), "550");
    assert!(!srv.path("rec/anon").exists());
}

/// A byte sent as TCP urgent data (`MSG_OOB`) on an upload's data
/// connection is out of band: it is not part of the file (as with
/// pyftpdlib's `recv`), and every ordinary byte after it is. The zero-copy
/// receive path (splice) stops before urgent data, and used to take the
/// end of the stream behind it for the end of the file (226, file cut
/// short) or to wait forever for bytes it could not move (421).
fn an_urgent_byte_in_an_upload_loses_nothing_after_it() {
    let srv = common::start(|c| c.data_timeout = Some(std::time::Duration::from_secs(5)));
    let before = pattern(100_000, 3);
    // more than the kernel buffers on both sides: the client's sends
    // finish only if the server reads past the urgent byte
    let after = pattern(16 << 20, 4);
    for (name, head) in [("mid.bin", &before[..]), ("first.bin", &[][..])] {
        let mut r = login(&srv);
        let mut d = data_conn(&mut r);
        code(&r.cmd(&format!("STOR {name}")), "1");
        d.write_all(head).unwrap();
        let sent = socket2::SockRef::from(&d).send_out_of_band(b"U").unwrap();
        assert_eq!(sent, 1);
        d.write_all(&after).unwrap();
        d.shutdown(std::net::Shutdown::Write).unwrap();
        code(&r.reply(), "226");
        let got = std::fs::read(srv.path(name)).unwrap();
        assert_eq!(got.len(), head.len() + after.len(), "{name}");
        assert!(got == [head, &after[..]].concat(), "{name}: bytes differ");
        code(&r.cmd("NOOP"), "200");
    }
}
