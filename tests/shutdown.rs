//! SIGTERM / SIGINT in every concurrency model, through the real binary:
//! idle sessions get 421, running transfers finish within the grace period
//! (or are cut after it), every child is reaped, and the daemon exits 0; a
//! second signal exits at once.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

const MODELS: [&[&str]; 4] = [
    &["--concurrency", "multi-thread"],
    &["--concurrency", "async"],
    &["--concurrency", "multi-proc"],
    &["--concurrency", "pre-fork", "--workers", "2"],
];

use common::procs::children_of;
use common::{daemon, Daemon};

struct Ctl {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Ctl {
    fn login(addr: SocketAddr) -> Ctl {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Ctl {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        };
        assert!(c.line().starts_with("220"));
        assert!(c.cmd("USER user").starts_with("331"));
        assert!(c.cmd("PASS 12345").starts_with("230"));
        assert!(c.cmd("TYPE I").starts_with("200"));
        c
    }
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    }
    fn cmd(&mut self, c: &str) -> String {
        self.w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        self.line()
    }
    /// Start `RETR name` on a passive connection; returns the data socket.
    fn retr(&mut self, name: &str) -> TcpStream {
        let r = self.cmd("EPSV");
        assert!(r.starts_with("229"), "{r}");
        let port: u16 = r
            .split("|||")
            .nth(1)
            .unwrap()
            .trim_end_matches([')', '.', '|'])
            .parse()
            .unwrap();
        let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let pre = self.cmd(&format!("RETR {name}"));
        assert!(pre.starts_with("125") || pre.starts_with("150"), "{pre}");
        data
    }
}

fn signal(d: &Daemon, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &d.child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn wait_exit(d: &mut Daemon, within: Duration, model: &[&str]) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = d.child.try_wait().unwrap() {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{model:?}: daemon still running after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM while one client idles and another downloads (throttled, 2 s of
/// transfer): the idle one gets 421 at once, the download completes, the
/// daemon reaps everything and exits 0.
#[test]
fn sigterm_lets_running_transfers_finish() {
    for model in MODELS {
        let mut d = daemon(&[model, &["--write-limit", "1048576"]].concat());
        let data: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
        std::fs::write(d.dir.path().join("f.bin"), &data).unwrap();
        let mut idle = Ctl::login(d.addr);
        let mut busy = Ctl::login(d.addr);
        let mut sock = busy.retr("f.bin");
        let mut got = vec![0u8; 64 * 1024];
        sock.read_exact(&mut got).unwrap();
        let kids: Vec<u32> = children_of(d.child.id())
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        signal(&d, "-TERM");
        assert_eq!(idle.line(), "421 Server is shutting down.", "{model:?}");
        assert_eq!(idle.line(), "", "{model:?}: EOF after 421");
        sock.read_to_end(&mut got).unwrap();
        assert!(
            got == data,
            "{model:?}: download incomplete ({} bytes)",
            got.len()
        );
        assert_eq!(busy.line(), "226 Transfer complete.", "{model:?}");
        assert_eq!(busy.line(), "421 Server is shutting down.", "{model:?}");
        let st = wait_exit(&mut d, Duration::from_secs(15), model);
        assert_eq!(st.code(), Some(0), "{model:?}");
        for k in kids {
            let state = std::fs::read_to_string(format!("/proc/{k}/stat")).unwrap_or_default();
            assert!(
                state.is_empty(),
                "{model:?}: child {k} left behind: {state}"
            );
        }
    }
}

/// A transfer longer than the grace period is cut when it ends (426), the
/// partial upload of a new file stays, and the daemon still exits 0.
#[test]
fn sigterm_cuts_transfers_after_the_grace_period() {
    for model in MODELS {
        let mut d = daemon(&[model, &["--write-limit", "65536", "--shutdown-grace", "1"]].concat());
        std::fs::write(d.dir.path().join("big.bin"), vec![1u8; 4 << 20]).unwrap();
        let mut busy = Ctl::login(d.addr);
        let mut sock = busy.retr("big.bin");
        let mut first = [0u8; 1024];
        sock.read_exact(&mut first).unwrap();
        let t = Instant::now();
        signal(&d, "-TERM");
        let mut rest = Vec::new();
        let _ = sock.read_to_end(&mut rest);
        assert!(rest.len() < 4 << 20, "{model:?}: not cut");
        assert_eq!(
            busy.line(),
            "426 Transfer aborted: the server is shutting down.",
            "{model:?}"
        );
        assert_eq!(busy.line(), "421 Server is shutting down.", "{model:?}");
        let st = wait_exit(&mut d, Duration::from_secs(15), model);
        assert_eq!(st.code(), Some(0), "{model:?}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{model:?}: took {:?}",
            t.elapsed()
        );
    }
}

/// A second signal exits at once, mid-transfer.
#[test]
fn second_signal_exits_at_once() {
    for model in MODELS {
        let mut d =
            daemon(&[model, &["--write-limit", "65536", "--shutdown-grace", "60"]].concat());
        std::fs::write(d.dir.path().join("big.bin"), vec![1u8; 4 << 20]).unwrap();
        let mut idle = Ctl::login(d.addr);
        let mut busy = Ctl::login(d.addr);
        let mut sock = busy.retr("big.bin");
        let mut first = [0u8; 1024];
        sock.read_exact(&mut first).unwrap();
        signal(&d, "-INT");
        // The first signal has been handled once the idle session has its
        // 421; only then send the second (two signals sent back to back may
        // be merged by the kernel into one delivery).
        assert_eq!(idle.line(), "421 Server is shutting down.", "{model:?}");
        // the transfer goes on meanwhile
        sock.read_exact(&mut first).unwrap();
        // (one within 100 ms of the first is the same request delivered
        // twice, as a wrapper that passes signals on sends it; a person's
        // second Ctrl-C comes later)
        std::thread::sleep(Duration::from_millis(300));
        signal(&d, "-INT");
        let st = wait_exit(&mut d, Duration::from_secs(5), model);
        assert_ne!(st.code(), Some(0), "{model:?}: {st}");
    }
}

/// `FtpServer::spawn_process` in every model: the server runs in a process
/// of its own (sessions of the forking models in its children), and
/// `shutdown()` stops it as SIGTERM does: the idle client gets 421, a running
/// download completes, and every process is gone when it returns.
#[test]
fn spawn_process_stops_like_sigterm() {
    use ftpdlib::auth::MemoryAuthorizer;
    use ftpdlib::{ConcurrencyModel, ServerBuilder};
    // forks: run alone, so no other test's sockets are inherited
    common::with_model(ConcurrencyModel::Process, || {
        for model in [
            ConcurrencyModel::ThreadPool,
            ConcurrencyModel::Poll,
            ConcurrencyModel::Process,
            ConcurrencyModel::Prefork { workers: 2 },
        ] {
            let dir = tempfile::tempdir().unwrap();
            let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
            std::fs::write(dir.path().join("big.bin"), &data).unwrap();
            let users = MemoryAuthorizer::new();
            users
                .add_user("user", "12345", dir.path(), "elradfmwMT")
                .unwrap();
            let server = ServerBuilder::new(users)
                .configure(|c| {
                    c.concurrency = model;
                    c.write_limit = 2_000_000; // about 1.5 s for big.bin
                    c.shutdown_grace = Duration::from_secs(10);
                })
                .bind("127.0.0.1:0")
                .unwrap()
                .spawn_process()
                .unwrap();
            let pid = server.pid().unwrap();
            assert_ne!(pid, std::process::id());
            let mut idle = Ctl::login(server.local_addr());
            let mut busy = Ctl::login(server.local_addr());
            let mut data_conn = busy.retr("big.bin");
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                data_conn.read_to_end(&mut got).unwrap();
                got
            });
            if matches!(
                model,
                ConcurrencyModel::Process | ConcurrencyModel::Prefork { .. }
            ) {
                assert!(!children_of(pid).is_empty(), "{model:?}: no children");
            }
            server.shutdown().unwrap();
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{model:?}: the server process is still there"
            );
            assert_eq!(idle.line(), "421 Server is shutting down.", "{model:?}");
            assert_eq!(reader.join().unwrap(), data, "{model:?}");
            assert_eq!(busy.line(), "226 Transfer complete.", "{model:?}");
        }
    });
}
