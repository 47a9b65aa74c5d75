//! Transfers on storage that may be slow (a filesystem that does not say it
//! is local and fast): the poll loop moves the file side of every transfer
//! to its worker threads, so other sessions are answered meanwhile, and the
//! bytes, endings and files come out exactly as with inline file I/O.
mod common;
mod confine_util;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ftpdlib::auth::Account;
use ftpdlib::fs::{
    DirEntries, Filesystem, FilesystemFactory, LocalFs, ReadFile, WriteFile, WriteMode,
};
use ftpdlib::proto::listing::EntryInfo;

use common::TestServer;
use confine_util::{close_and_wait, data_conn, get, lines, login, put, temp_files, wait_until};

mod poll {
    #[test]
    fn noop_is_answered_while_transfers_wait_on_slow_storage() {
        crate::common::with_model(
            ftpdlib::ConcurrencyModel::Poll,
            super::noop_is_answered_while_transfers_wait_on_slow_storage,
        )
    }
}

macro_rules! poll_and_threads {
    ($($name:ident),* $(,)?) => {
        mod threads_exact {
            $(#[test] fn $name() { $crate::common::with_model(ftpdlib::ConcurrencyModel::ThreadPool, super::$name) })*
        }
        mod poll_exact {
            $(#[test] fn $name() { $crate::common::with_model(ftpdlib::ConcurrencyModel::Poll, super::$name) })*
        }
    };
}

poll_and_threads!(
    transfers_are_byte_exact_on_slow_storage,
    abort_and_disconnect_mid_upload_keep_the_old_file,
    abort_mid_download_on_slow_storage,
);

/// Delays added to the calls of [`LocalFs`] that move file content or
/// produce listing entries (what a transfer calls); the other calls (open,
/// metadata, rename...) are made by the session and stay fast here.
#[derive(Clone, Copy)]
struct Delays {
    read: Duration,
    write: Duration,
    entry: Duration,
}

struct SlowFsFactory(Delays);

impl FilesystemFactory for SlowFsFactory {
    fn open(&self, account: &Account) -> io::Result<Box<dyn Filesystem>> {
        Ok(Box::new(SlowFs {
            inner: LocalFs::new(&account.home)?,
            delays: self.0,
        }))
    }
}

/// A [`LocalFs`] that sleeps in read, write and each listing entry, and that
/// says nothing of being local and fast (the default).
struct SlowFs {
    inner: LocalFs,
    delays: Delays,
}

struct SlowRead(Box<dyn ReadFile>, Duration);

impl Read for SlowRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::thread::sleep(self.1);
        self.0.read(buf)
    }
}

impl Seek for SlowRead {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

impl ReadFile for SlowRead {
    fn raw_fd(&self) -> Option<RawFd> {
        // no descriptor: every byte goes through the slow read
        None
    }
}

struct SlowWrite(Box<dyn WriteFile>, Duration);

impl Write for SlowWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        std::thread::sleep(self.1);
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl WriteFile for SlowWrite {
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }
    fn commit(self: Box<Self>) -> io::Result<()> {
        self.0.commit()
    }
    fn abort(self: Box<Self>) -> io::Result<()> {
        self.0.abort()
    }
}

impl Filesystem for SlowFs {
    fn metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.inner.metadata(path)
    }
    fn symlink_metadata(&self, path: &[u8]) -> io::Result<EntryInfo> {
        self.inner.symlink_metadata(path)
    }
    fn read_dir(&self, path: &[u8]) -> io::Result<DirEntries> {
        let delay = self.delays.entry;
        Ok(Box::new(
            self.inner
                .read_dir(path)?
                .inspect(move |_| std::thread::sleep(delay)),
        ))
    }
    fn open_read(&self, path: &[u8]) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(SlowRead(
            self.inner.open_read(path)?,
            self.delays.read,
        )))
    }
    fn open_write(&self, path: &[u8], mode: WriteMode) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(SlowWrite(
            self.inner.open_write(path, mode)?,
            self.delays.write,
        )))
    }
    fn create_unique(&self, dir: &[u8], prefix: &str) -> io::Result<(Vec<u8>, Box<dyn WriteFile>)> {
        let (p, f) = self.inner.create_unique(dir, prefix)?;
        Ok((p, Box::new(SlowWrite(f, self.delays.write))))
    }
    fn mkdir(&self, path: &[u8]) -> io::Result<()> {
        self.inner.mkdir(path)
    }
    fn rmdir(&self, path: &[u8]) -> io::Result<()> {
        self.inner.rmdir(path)
    }
    fn remove_file(&self, path: &[u8]) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn chmod(&self, path: &[u8], mode: u32) -> io::Result<()> {
        self.inner.chmod(path, mode)
    }
    fn set_mtime(&self, path: &[u8], secs: i64) -> io::Result<()> {
        self.inner.set_mtime(path, secs)
    }
    fn display_path(&self, path: &[u8]) -> PathBuf {
        self.inner.display_path(path)
    }
}

fn start_slow(read: u64, write: u64, entry_us: u64) -> TestServer {
    common::start_fs(
        SlowFsFactory(Delays {
            read: Duration::from_millis(read),
            write: Duration::from_millis(write),
            entry: Duration::from_micros(entry_us),
        }),
        |_| {},
    )
}

#[track_caller]
fn code(r: &str, want: &str) {
    assert!(r.starts_with(want), "expected {want}, got {r:?}");
}

/// Bytes that differ from chunk to chunk (a misplaced chunk shows).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Text with LF line endings, some lines with a CR inside.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u32;
    while out.len() < len {
        out.extend_from_slice(format!("line {i} of the text").as_bytes());
        if i % 7 == 0 {
            out.push(b'\r');
        }
        out.push(b'\n');
        i += 1;
    }
    out
}

/// While `busy` runs in another session, NOOPs of a second session are
/// answered within 50 ms each.
fn assert_noop_fast_during(srv: &TestServer, what: &str, busy: impl FnOnce() + Send) {
    let mut other = login(srv);
    let done = AtomicBool::new(false);
    let mut worst = Duration::ZERO;
    let mut count = 0;
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            busy();
            done.store(true, Ordering::SeqCst);
        });
        // let the transfer start
        std::thread::sleep(Duration::from_millis(100));
        while !done.load(Ordering::SeqCst) {
            let t = Instant::now();
            code(&other.cmd("NOOP"), "200");
            worst = worst.max(t.elapsed());
            count += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        h.join().unwrap();
    });
    eprintln!("{what}: {count} NOOPs, slowest answer {worst:?}");
    assert!(count >= 5, "{what} was too quick to measure anything");
    assert!(
        worst < Duration::from_millis(50),
        "{what}: a NOOP waited {worst:?}"
    );
}

fn noop_is_answered_while_transfers_wait_on_slow_storage() {
    // every read or write of a file takes 100 ms, every listing entry 1 ms
    let srv = start_slow(100, 100, 1000);
    let big = pattern(2 * 1024 * 1024, 1);
    std::fs::write(srv.path("big.bin"), &big).unwrap();
    std::fs::create_dir(srv.path("dir")).unwrap();
    for i in 0..1500 {
        std::fs::File::create(srv.path(&format!("dir/entry-{i:05}"))).unwrap();
    }

    assert_noop_fast_during(&srv, "RETR", || {
        let mut r = login(&srv);
        let x = get(&mut r, "RETR big.bin");
        code(&x.last, "226");
        assert!(x.data == big, "RETR content differs");
    });
    assert_noop_fast_during(&srv, "STOR", || {
        let mut r = login(&srv);
        let x = put(&mut r, "STOR up.bin", &big);
        code(&x.last, "226");
    });
    assert_eq!(std::fs::read(srv.path("up.bin")).unwrap(), big);
    assert_noop_fast_during(&srv, "LIST", || {
        let mut r = login(&srv);
        let x = get(&mut r, "LIST dir");
        code(&x.last, "226");
        assert_eq!(lines(&x.data).len(), 1500);
    });
}

fn transfers_are_byte_exact_on_slow_storage() {
    let srv = start_slow(1, 1, 0);
    let mut r = login(&srv);

    // RETR, several chunks and a partial one
    let a = pattern(3 * 1024 * 1024 + 12_345, 2);
    std::fs::write(srv.path("a.bin"), &a).unwrap();
    let x = get(&mut r, "RETR a.bin");
    code(&x.last, "226");
    assert!(x.data == a, "RETR");

    // REST + RETR
    code(&r.cmd("REST 1000001"), "350");
    let x = get(&mut r, "RETR a.bin");
    code(&x.last, "226");
    assert!(x.data == a[1_000_001..], "REST + RETR");

    // STOR of a new file, then over it
    let b = pattern(2 * 1024 * 1024 + 777, 3);
    let x = put(&mut r, "STOR b.bin", &b);
    code(&x.last, "226");
    assert!(std::fs::read(srv.path("b.bin")).unwrap() == b, "STOR new");
    let c = pattern(1024 * 1024 + 3, 4);
    let x = put(&mut r, "STOR b.bin", &c);
    code(&x.last, "226");
    assert!(
        std::fs::read(srv.path("b.bin")).unwrap() == c,
        "STOR replace"
    );

    // APPE
    let d = pattern(700_001, 5);
    let x = put(&mut r, "APPE b.bin", &d);
    code(&x.last, "226");
    assert!(
        std::fs::read(srv.path("b.bin")).unwrap() == [c.as_slice(), &d].concat(),
        "APPE"
    );

    // REST + STOR (resume): written over the file from the offset
    let e = pattern(900_000, 6);
    let mut want = std::fs::read(srv.path("b.bin")).unwrap();
    code(&r.cmd("REST 500000"), "350");
    let x = put(&mut r, "STOR b.bin", &e);
    code(&x.last, "226");
    want[500_000..1_400_000].copy_from_slice(&e);
    assert!(
        std::fs::read(srv.path("b.bin")).unwrap() == want,
        "REST + STOR"
    );

    // STOU
    let x = put(&mut r, "STOU", &d);
    code(&x.last, "226");
    let name = x.first.split("FILE: ").nth(1).unwrap().trim().to_string();
    assert!(std::fs::read(srv.path(&name)).unwrap() == d, "STOU");

    // TYPE A both ways
    let t = text(700_000);
    std::fs::write(srv.path("t.txt"), &t).unwrap();
    code(&r.cmd("TYPE A"), "200");
    let x = get(&mut r, "RETR t.txt");
    code(&x.last, "226");
    let mut crlf = Vec::new();
    let mut last = 0u8;
    for &byte in &t {
        if byte == b'\n' && last != b'\r' {
            crlf.push(b'\r');
        }
        crlf.push(byte);
        last = byte;
    }
    assert!(x.data == crlf, "ASCII RETR");
    let x = put(&mut r, "STOR t2.txt", &crlf);
    code(&x.last, "226");
    let mut lf = Vec::new();
    let mut i = 0;
    while i < crlf.len() {
        if crlf[i] == b'\r' && crlf.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        lf.push(crlf[i]);
        i += 1;
    }
    assert!(
        std::fs::read(srv.path("t2.txt")).unwrap() == lf,
        "ASCII STOR"
    );
    code(&r.cmd("TYPE I"), "200");

    // listings of a directory bigger than one chunk of lines
    std::fs::create_dir(srv.path("dir")).unwrap();
    let n = 5000;
    let mut want: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("entry-with-a-longish-name-{i:06}").into_bytes())
        .collect();
    for w in &want {
        std::fs::File::create(srv.path("dir").join(String::from_utf8_lossy(w).as_ref())).unwrap();
    }
    want.sort();
    let x = get(&mut r, "NLST dir");
    code(&x.last, "226");
    let mut got: Vec<Vec<u8>> = lines(&x.data)
        .into_iter()
        .map(|l| l.strip_prefix(b"dir/").map(<[u8]>::to_vec).unwrap_or(l))
        .collect();
    got.sort();
    assert!(got == want, "NLST");
    let x = get(&mut r, "LIST dir");
    code(&x.last, "226");
    assert_eq!(lines(&x.data).len(), n);
    let x = get(&mut r, "MLSD dir");
    code(&x.last, "226");
    assert_eq!(lines(&x.data).len(), n);
    code(&r.cmd("NOOP"), "200");
}

/// Start `cmd` (a replacing upload) and send `data`; returns once the
/// server wrote something to its temporary file.
fn start_upload(srv: &TestServer, cmd: &str, data: &[u8]) -> (common::Raw, TcpStream) {
    let mut r = login(srv);
    let mut d = data_conn(&mut r);
    code(&r.cmd(cmd), "1");
    d.write_all(data).unwrap();
    wait_until("bytes in the temporary file", 20, || {
        temp_files(srv.dir.path())
            .first()
            .is_some_and(|n| std::fs::metadata(srv.path(n)).is_ok_and(|m| m.len() > 0))
    });
    (r, d)
}

fn abort_and_disconnect_mid_upload_keep_the_old_file() {
    // 30 ms a write: an ABOR finds a write job out most of the time
    let srv = start_slow(0, 30, 0);
    let old = pattern(300_000, 7);
    let new = pattern(1024 * 1024, 8);
    std::fs::write(srv.path("f.bin"), &old).unwrap();

    // ABOR
    let (mut r, d) = start_upload(&srv, "STOR f.bin", &new);
    code(&r.cmd("ABOR"), "426");
    code(&r.reply(), "226");
    drop(d);
    assert!(std::fs::read(srv.path("f.bin")).unwrap() == old, "ABOR");
    assert_eq!(temp_files(srv.dir.path()), Vec::<String>::new());
    code(&r.cmd("NOOP"), "200");
    drop(r);

    // the client vanishes
    let (r, d) = start_upload(&srv, "STOR f.bin", &new);
    close_and_wait(r);
    drop(d);
    wait_until("the temporary file removed", 20, || {
        temp_files(srv.dir.path()).is_empty()
    });
    assert!(std::fs::read(srv.path("f.bin")).unwrap() == old, "vanished");

    // a complete upload replaces the file
    let mut r = login(&srv);
    let x = put(&mut r, "STOR f.bin", &new[..123_457]);
    code(&x.last, "226");
    assert!(std::fs::read(srv.path("f.bin")).unwrap() == new[..123_457]);

    // an append aborted keeps what was written, in order
    let mut r = login(&srv);
    let mut d = data_conn(&mut r);
    code(&r.cmd("APPE f.bin"), "1");
    d.write_all(&new).unwrap();
    wait_until("appended bytes", 20, || {
        std::fs::metadata(srv.path("f.bin")).is_ok_and(|m| m.len() > 123_457)
    });
    code(&r.cmd("ABOR"), "426");
    code(&r.reply(), "226");
    drop(d);
    let now = std::fs::read(srv.path("f.bin")).unwrap();
    assert!(now.len() > 123_457 && now.len() <= 123_457 + new.len());
    assert!(now[..123_457] == new[..123_457]);
    assert!(now[123_457..] == new[..now.len() - 123_457], "APPE ABOR");
    code(&r.cmd("NOOP"), "200");
}

fn abort_mid_download_on_slow_storage() {
    // more than the socket buffers hold, and 2 s of reads: the ABOR comes
    // while the server still reads
    let srv = start_slow(20, 0, 0);
    let a = pattern(24 * 1024 * 1024, 9);
    std::fs::write(srv.path("a.bin"), &a).unwrap();
    let mut r = login(&srv);
    let mut d = data_conn(&mut r);
    code(&r.cmd("RETR a.bin"), "1");
    let mut first = vec![0u8; 1000];
    d.read_exact(&mut first).unwrap();
    assert!(first == a[..1000]);
    code(&r.cmd("ABOR"), "426");
    code(&r.reply(), "226");
    drop(d);
    code(&r.cmd("NOOP"), "200");
    // the session goes on with another transfer
    let x = get(&mut r, "RETR a.bin");
    code(&x.last, "226");
    assert!(x.data == a);
}
