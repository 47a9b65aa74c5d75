//! Many sessions at once, and fairness between transfers on one poll thread.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

each_model!(thousand_concurrent_sessions);

/// 1000 clients connect and log in at the same instant; every one gets its
/// banner and 230, then NOOP, then QUIT.
fn thousand_concurrent_sessions() {
    const N: usize = 1000;
    let srv = common::start(|c| c.max_cons = 0);
    let addr = srv.addr;
    // 8 threads open N connections without waiting for replies, then read
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mine: Vec<TcpStream> = (t..N)
                    .step_by(8)
                    .map(|_| {
                        let mut s = TcpStream::connect(addr).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                        s.write_all(b"USER user\r\nPASS 12345\r\nNOOP\r\n").unwrap();
                        s
                    })
                    .collect();
                let mut ok = 0;
                for mut s in mine {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 512];
                    // 220, 331, 230, 200
                    while got.iter().filter(|&&b| b == b'\n').count() < 4 {
                        let n = s.read(&mut buf).unwrap();
                        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
                        got.extend_from_slice(&buf[..n]);
                    }
                    let text = String::from_utf8_lossy(&got).into_owned();
                    let codes: Vec<&str> = text.lines().map(|l| &l[..3]).collect();
                    assert_eq!(codes, ["220", "331", "230", "200"], "{text}");
                    s.write_all(b"QUIT\r\n").unwrap();
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    let ok: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(ok, N);
}

/// On the single poll thread, a 1 KiB download completes while a 1 GiB
/// download to another client is still running.
#[test]
fn small_retr_is_not_starved_by_a_big_one() {
    common::with_model(ftpdlib::ConcurrencyModel::Poll, || {
        let srv = common::start(|_| {});
        let big = std::fs::File::create(srv.path("big.bin")).unwrap();
        big.set_len(1 << 30).unwrap(); // sparse: no disk needed
        std::fs::write(srv.path("small.bin"), vec![7u8; 1024]).unwrap();

        let mut a = srv.raw();
        a.login(common::USER, common::PASS);
        assert!(a.cmd("TYPE I").starts_with("200"));
        let data_addr = a.pasv();
        let mut data = TcpStream::connect(data_addr).unwrap();
        a.send(b"RETR big.bin\r\n");
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match data.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        // wait until the big transfer is under way
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.load(Ordering::Relaxed) < 8 << 20 {
            assert!(Instant::now() < deadline, "big RETR never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        let mut b = srv.client();
        let small = b.retr_as_buffer("small.bin").unwrap().into_inner();
        let took = started.elapsed();
        let big_done_then = received.load(Ordering::Relaxed);
        assert_eq!(small, vec![7u8; 1024]);
        assert!(
            big_done_then < 1 << 30,
            "the 1 GiB download had finished before the 1 KiB one ({took:?})"
        );
        reader.join().unwrap();
        assert_eq!(received.load(Ordering::Relaxed), 1 << 30);
        let first = a.reply();
        assert!(
            first.starts_with("125") || first.starts_with("150"),
            "{first}"
        );
        assert_eq!(a.reply(), "226 Transfer complete.");
    });
}

/// An authorizer that takes a second to answer for one user (think argon2
/// or a database), and is quick for the others.
struct SlowAuth {
    inner: ftpdlib::auth::MemoryAuthorizer,
}

impl ftpdlib::auth::Authorizer for SlowAuth {
    fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<ftpdlib::auth::Account, ftpdlib::auth::AuthError> {
        if username == "slow" {
            std::thread::sleep(Duration::from_secs(1));
        }
        self.inner.authenticate(username, password)
    }
}

/// On the poll thread, a login that takes a second does not hold up other
/// sessions: their commands are answered meanwhile.
#[test]
fn slow_login_does_not_freeze_the_poll_loop() {
    let dir = tempfile::tempdir().unwrap();
    let inner = ftpdlib::auth::MemoryAuthorizer::new();
    inner.add_user("slow", "pw", dir.path(), "elr").unwrap();
    inner.add_user("fast", "pw", dir.path(), "elr").unwrap();
    let server = ftpdlib::ServerBuilder::new(SlowAuth { inner })
        .configure(|c| c.concurrency = ftpdlib::ConcurrencyModel::Poll)
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (handle, _join) = server.spawn().unwrap();

    let mut fast = common::Raw::connect(addr);
    fast.login("fast", "pw");
    let mut slow = common::Raw::connect(addr);
    assert!(slow.cmd("USER slow").starts_with("331"));
    let started = Instant::now();
    slow.send(b"PASS pw\r\n");
    // while the slow check runs, the other session is served promptly
    let mut answered = 0;
    while started.elapsed() < Duration::from_millis(700) {
        let t = Instant::now();
        assert!(fast.cmd("NOOP").starts_with("200"));
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "NOOP took {:?}",
            t.elapsed()
        );
        answered += 1;
    }
    assert!(answered > 5);
    assert!(slow.reply().starts_with("230"));
    assert!(started.elapsed() >= Duration::from_secs(1));
    handle.shutdown();
}
