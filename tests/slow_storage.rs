//! Slow storage must not stall other sessions, in every concurrency model.
//!
//! A session waiting on its filesystem (a slow FUSE mount, or a
//! `Filesystem` that sleeps in every call) or on its authorizer must not
//! delay the replies of the other sessions of the same server: a NOOP from
//! another client is answered within [`NOOP_BOUND`] throughout, and twenty
//! sessions that each wait on the filesystem at once finish in about the
//! time of their own calls. In the pre-fork model the server has one worker
//! (`workers: 1`), so that every session shares one poll loop.
mod common;

each_model!(
    noop_stays_fast_while_another_session_works_on_a_slow_mount,
    twenty_sessions_on_a_slow_filesystem_run_side_by_side,
    noop_stays_fast_while_slow_logins_run,
    noop_stays_fast_while_another_session_lists_a_big_local_directory,
    a_login_does_not_wait_behind_other_sessions_filesystem_work,
);

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::delayfs::{DelayFsFactory, SlowAuthorizer};
use common::slowfs::SlowMount;
use common::{Raw, PASS, USER};
use ftpdlib::{ConcurrencyModel, ServerBuilder, ServerConfig};

/// The longest a NOOP may wait for its reply while other sessions wait on
/// slow storage.
const NOOP_BOUND: Duration = Duration::from_millis(50);
/// How often the watching client sends NOOP.
const NOOP_EVERY: Duration = Duration::from_millis(50);
/// Each metadata, lookup, readdir or open call of the slow mount.
const MOUNT_DELAY: Duration = Duration::from_millis(200);
/// Rounds of LIST, NLST, SIZE, MDTM, CWD, CWD, RETR on the slow mount.
const MOUNT_ROUNDS: usize = 1;
/// Each call of the slow `Filesystem`.
const FS_DELAY: Duration = Duration::from_secs(1);
/// Sessions waiting on the slow `Filesystem` at once.
const SESSIONS: usize = 20;
/// Those sessions must all be done within this many times the time one
/// session alone takes for the slowest of their commands (all twenty one
/// after the other would take about 12 times as long).
const SIDE_BY_SIDE_FACTOR: u32 = 6;
/// Each login check of the slow authorizer.
const AUTH_DELAY: Duration = Duration::from_secs(1);
/// Logins running at once against the slow authorizer.
const LOGINS: usize = 10;

/// Entries of the local directory listed by
/// [`noop_stays_fast_while_another_session_lists_a_big_local_directory`].
const BIG_DIR_ENTRIES: usize = 20_000;

/// The model under test, with a single pre-fork worker so that every
/// session of the test shares one poll loop.
fn one_poll_loop(c: &mut ServerConfig) {
    if let ConcurrencyModel::Prefork { .. } = c.concurrency {
        c.concurrency = ConcurrencyModel::Prefork { workers: 1 };
    }
}

fn logged_in(addr: SocketAddr, user: &str, pass: &str) -> Raw {
    let mut r = Raw::connect(addr);
    r.login(user, pass);
    assert!(r.cmd("TYPE I").starts_with("200"));
    r
}

/// Reply times of a client that sends NOOP every [`NOOP_EVERY`].
struct Latencies(Vec<Duration>);

impl Latencies {
    fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }
    fn p99(&self) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v.get((v.len() * 99).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }
    fn late(&self) -> usize {
        self.0.iter().filter(|d| **d >= NOOP_BOUND).count()
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} NOOPs, worst {:.1} ms, p99 {:.1} ms, {} at or over {} ms",
            self.0.len(),
            self.max().as_secs_f64() * 1e3,
            self.p99().as_secs_f64() * 1e3,
            self.late(),
            NOOP_BOUND.as_millis()
        )
    }
}

/// A logged-in client sending NOOP every [`NOOP_EVERY`] on a thread of its
/// own until [`Noops::finish`], timing each reply.
struct Noops {
    stop: Arc<AtomicBool>,
    stream: TcpStream,
    done: std::sync::mpsc::Receiver<Vec<Duration>>,
}

impl Noops {
    fn start(raw: Raw) -> Noops {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let stream = raw.stream.try_clone().unwrap();
        let (tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut w = raw.stream.try_clone().unwrap();
            w.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut r = BufReader::new(w.try_clone().unwrap());
            let mut took = Vec::new();
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                let t = Instant::now();
                let mut line = String::new();
                let ok = w.write_all(b"NOOP\r\n").is_ok() && r.read_line(&mut line).is_ok();
                took.push(t.elapsed());
                if !ok || !line.starts_with("200") {
                    if !stopped.load(Ordering::Relaxed) {
                        eprintln!("NOOP answered {line:?}");
                    }
                    break;
                }
                next += NOOP_EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            drop(raw);
            let _ = tx.send(took);
        });
        Noops { stop, stream, done }
    }

    /// Stop; a NOOP still unanswered a second later is cut off and counts
    /// with the time it waited.
    fn finish(self) -> Latencies {
        self.stop.store(true, Ordering::Relaxed);
        let took = match self.done.recv_timeout(Duration::from_secs(1)) {
            Ok(t) => t,
            Err(_) => {
                let _ = self.stream.shutdown(std::net::Shutdown::Both);
                self.done.recv().expect("the NOOP client")
            }
        };
        Latencies(took)
    }
}

/// A control connection that reports a missing reply instead of panicking
/// (for clients that may wait past their deadline). Single-line replies only.
struct Ctl {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Ctl {
    fn new(raw: &Raw, wait: Duration) -> Ctl {
        let w = raw.stream.try_clone().unwrap();
        w.set_read_timeout(Some(wait)).unwrap();
        Ctl {
            r: BufReader::new(w.try_clone().unwrap()),
            w,
        }
    }

    fn reply(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) => Err("connection closed".into()),
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(format!("no reply: {e}")),
        }
    }

    fn cmd(&mut self, line: &str) -> Result<String, String> {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        self.reply()
    }

    /// PASV and a connection to the data port it announced.
    fn pasv(&mut self) -> Result<TcpStream, String> {
        let r = self.cmd("PASV")?;
        let data = TcpStream::connect(common::pasv_addr(&r)).map_err(|e| e.to_string())?;
        data.set_read_timeout(self.w.read_timeout().unwrap())
            .unwrap();
        Ok(data)
    }

    /// A data command over `data`, from PASV: what came over it.
    fn transfer(&mut self, mut data: TcpStream, cmd: &str) -> Result<Vec<u8>, String> {
        let first = self.cmd(cmd)?;
        if !first.starts_with("150") && !first.starts_with("125") {
            return Err(format!("{cmd}: {first}"));
        }
        let mut got = Vec::new();
        data.read_to_end(&mut got).map_err(|e| e.to_string())?;
        let last = self.reply()?;
        if !last.starts_with("226") {
            return Err(format!("{cmd}: {last}"));
        }
        Ok(got)
    }
}

/// Run a data command (LIST, NLST, RETR) over a passive connection and
/// return what came over it.
fn transfer(c: &mut Raw, cmd: &str) -> Vec<u8> {
    let addr = c.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    data.set_read_timeout(c.stream.read_timeout().unwrap())
        .unwrap();
    let first = c.cmd(cmd);
    assert!(
        first.starts_with("150") || first.starts_with("125"),
        "{cmd}: {first}"
    );
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    let last = c.reply();
    assert!(last.starts_with("226"), "{cmd}: {last}");
    got
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One client lists, stats, changes directory and downloads on a FUSE mount
/// that takes [`MOUNT_DELAY`] for every lookup, getattr, readdir and open,
/// while another logged-in client of the same server sends NOOP every 50 ms:
/// each NOOP is answered within [`NOOP_BOUND`].
fn noop_stays_fast_while_another_session_works_on_a_slow_mount() {
    let mount = match SlowMount::mount(Duration::ZERO) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    std::fs::write(mount.backing().join("small.txt"), b"a small file\n").unwrap();
    std::fs::create_dir(mount.backing().join("sub")).unwrap();
    let home = mount.path().to_path_buf();
    let srv = common::start_setup(one_poll_loop, |auth, _| {
        auth.add_user("slow", "pw", &home, "elradfmwMT").unwrap()
    });
    // both log in at full speed; the measurement starts with the delay
    let noop = logged_in(srv.addr, "slow", "pw");
    let mut work = logged_in(srv.addr, "slow", "pw");
    mount.set_delay(MOUNT_DELAY);
    let noops = Noops::start(noop);
    let started = Instant::now();
    let mut commands = 0;
    for _ in 0..MOUNT_ROUNDS {
        let list = transfer(&mut work, "LIST");
        assert!(String::from_utf8_lossy(&list).contains("small.txt"));
        let names = transfer(&mut work, "NLST");
        assert!(String::from_utf8_lossy(&names).contains("sub"));
        let r = work.cmd("SIZE small.txt");
        assert!(r.starts_with("213 13"), "{r}");
        let r = work.cmd("MDTM small.txt");
        assert!(r.starts_with("213 "), "{r}");
        let r = work.cmd("CWD sub");
        assert!(r.starts_with("250"), "{r}");
        let r = work.cmd("CWD /");
        assert!(r.starts_with("250"), "{r}");
        assert_eq!(transfer(&mut work, "RETR small.txt"), b"a small file\n");
        commands += 7;
    }
    let took = started.elapsed();
    let lat = noops.finish();
    mount.set_delay(Duration::ZERO);
    let model = srv.model;
    eprintln!(
        "{model:?}: {commands} commands on the slow mount took {:.0} ms; {lat}",
        ms(took)
    );
    assert!(
        lat.max() < NOOP_BOUND,
        "{model:?}: another session's NOOP waited {:.0} ms (bound {} ms) while one session \
         ran {commands} commands on a mount with {} ms per call ({:.0} ms in all): {lat}",
        ms(lat.max()),
        NOOP_BOUND.as_millis(),
        MOUNT_DELAY.as_millis(),
        ms(took)
    );
}

/// What one of the twenty sessions sends.
#[derive(Clone, Copy, Debug)]
enum Job {
    List,
    Size,
    Mkd(usize),
    Retr,
}

/// Twenty sessions at once each send LIST, SIZE, MKD or RETR to a server
/// whose `Filesystem` takes [`FS_DELAY`] for every call: they are all done
/// within [`SIDE_BY_SIDE_FACTOR`] times the time one LIST (two calls, the
/// slowest of the four) takes alone, and another session's NOOP is answered
/// within [`NOOP_BOUND`] throughout.
fn twenty_sessions_on_a_slow_filesystem_run_side_by_side() {
    let srv = common::start_with(
        one_poll_loop,
        |_, home| std::fs::write(home.join("small.txt"), b"a small file\n").unwrap(),
        |auth| {
            ServerBuilder::with_shared_authorizer(auth).filesystem(DelayFsFactory::new(FS_DELAY))
        },
    );
    let model = srv.model;
    let noop = logged_in(srv.addr, USER, PASS);

    // one session alone
    let mut solo = logged_in(srv.addr, USER, PASS);
    let t = Instant::now();
    transfer(&mut solo, "LIST");
    let alone = t.elapsed();
    drop(solo);
    let bound = alone * SIDE_BY_SIDE_FACTOR;

    let ready = Arc::new(Barrier::new(SESSIONS + 1));
    let clients: Vec<JoinHandle<Result<Duration, String>>> = (0..SESSIONS)
        .map(|i| {
            let job = match i % 4 {
                0 => Job::List,
                1 => Job::Size,
                2 => Job::Mkd(i),
                _ => Job::Retr,
            };
            let (addr, ready) = (srv.addr, ready.clone());
            std::thread::spawn(move || {
                let raw = logged_in(addr, USER, PASS);
                // a session still waiting after the bound has failed: stop there
                let mut c = Ctl::new(&raw, bound + Duration::from_secs(1));
                let data = match job {
                    Job::List | Job::Retr => Some(c.pasv()),
                    _ => None,
                };
                ready.wait();
                let t = Instant::now();
                match job {
                    Job::List => {
                        c.transfer(data.unwrap()?, "LIST")?;
                    }
                    Job::Retr => {
                        let got = c.transfer(data.unwrap()?, "RETR small.txt")?;
                        if got != b"a small file\n" {
                            return Err(format!("RETR got {got:?}"));
                        }
                    }
                    Job::Size => {
                        let r = c.cmd("SIZE small.txt")?;
                        if !r.starts_with("213 13") {
                            return Err(format!("SIZE: {r}"));
                        }
                    }
                    Job::Mkd(n) => {
                        let r = c.cmd(&format!("MKD d{n}"))?;
                        if !r.starts_with("257") {
                            return Err(format!("MKD: {r}"));
                        }
                    }
                }
                Ok(t.elapsed())
            })
        })
        .collect();
    let noops = Noops::start(noop);
    ready.wait();
    let started = Instant::now();
    let done: Vec<Result<Duration, String>> = clients
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
        .collect();
    let wall = started.elapsed();
    let lat = noops.finish();
    let finished = done.iter().flatten().count();
    let slowest = done.iter().flatten().max().copied().unwrap_or_default();
    let failures: Vec<&String> = done.iter().filter_map(|r| r.as_ref().err()).collect();
    let failures = match failures.first() {
        Some(first) => format!("{} sessions failed, the first: {first}", failures.len()),
        None => "no session failed".into(),
    };
    eprintln!(
        "{model:?}: one LIST alone {:.0} ms; {finished} of {SESSIONS} sessions done in {:.0} ms \
         (slowest {:.0} ms, bound {:.0} ms); {lat}",
        ms(alone),
        ms(wall),
        ms(slowest),
        ms(bound)
    );
    assert!(
        finished == SESSIONS && slowest < bound,
        "{model:?}: {SESSIONS} sessions each waiting on a filesystem with {} ms per call: \
         {finished} done within {:.0} ms ({SIDE_BY_SIDE_FACTOR} x one LIST alone, {:.0} ms), \
         slowest {:.0} ms; {lat}; {failures}",
        FS_DELAY.as_millis(),
        ms(bound),
        ms(alone),
        ms(slowest)
    );
    assert!(
        lat.max() < NOOP_BOUND,
        "{model:?}: another session's NOOP waited {:.0} ms (bound {} ms) while {SESSIONS} \
         sessions waited on the filesystem: {lat}",
        ms(lat.max()),
        NOOP_BOUND.as_millis()
    );
}

/// Ten clients log in at once against an authorizer that takes
/// [`AUTH_DELAY`] per check, while another logged-in client sends NOOP every
/// 50 ms: each NOOP is answered within [`NOOP_BOUND`].
fn noop_stays_fast_while_slow_logins_run() {
    let srv = common::start_with(
        one_poll_loop,
        |_, _| {},
        |auth| {
            ServerBuilder::with_shared_authorizer(Arc::new(SlowAuthorizer::new(auth, AUTH_DELAY)))
        },
    );
    let model = srv.model;
    let noops = Noops::start(logged_in(srv.addr, USER, PASS));
    let started = Instant::now();
    let logins: Vec<JoinHandle<()>> = (0..LOGINS)
        .map(|_| {
            let addr = srv.addr;
            std::thread::spawn(move || {
                let mut c = Raw::connect(addr);
                c.login(USER, PASS);
            })
        })
        .collect();
    let ok = logins.into_iter().filter_map(|h| h.join().ok()).count();
    let took = started.elapsed();
    let lat = noops.finish();
    eprintln!(
        "{model:?}: {ok} of {LOGINS} slow logins done in {:.0} ms; {lat}",
        ms(took)
    );
    assert_eq!(ok, LOGINS, "{model:?}: logins failed");
    assert!(
        lat.max() < NOOP_BOUND,
        "{model:?}: another session's NOOP waited {:.0} ms (bound {} ms) while {LOGINS} logins \
         took {} ms each: {lat}",
        ms(lat.max()),
        NOOP_BOUND.as_millis(),
        AUTH_DELAY.as_millis()
    );
}

/// A listing makes a filesystem call per entry: even on a local disk, a
/// directory of [`BIG_DIR_ENTRIES`] files listed again and again by one
/// client must not delay another client's NOOP past [`NOOP_BOUND`] (the
/// listing runs off the poll loop, in bounded pieces).
fn noop_stays_fast_while_another_session_lists_a_big_local_directory() {
    let srv = common::start(one_poll_loop);
    std::fs::create_dir(srv.path("big")).unwrap();
    for i in 0..BIG_DIR_ENTRIES {
        std::fs::File::create(srv.path(&format!("big/entry-{i:06}"))).unwrap();
    }
    let mut lister = logged_in(srv.addr, USER, PASS);
    assert!(lister.cmd("CWD big").starts_with("250"));
    let noop = logged_in(srv.addr, USER, PASS);
    let watch = Noops::start(noop);
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || started.elapsed() < Duration::from_secs(1) {
        let listed = transfer(&mut lister, "LIST");
        let lines = listed.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        assert_eq!(lines.count(), BIG_DIR_ENTRIES);
        rounds += 1;
        assert!(rounds < 100, "bounded");
    }
    let lat = watch.finish();
    eprintln!(
        "{:?}: {rounds} LISTs of {BIG_DIR_ENTRIES} entries in {} ms; {lat}",
        common::model(),
        started.elapsed().as_millis()
    );
    assert!(lat.max() < NOOP_BOUND, "{lat}");
}

/// More sessions than a poll loop has filesystem workers (128) each wait on
/// a filesystem call that takes 2 s; a new client's login (which the slow
/// filesystem does not delay) is answered at once all the same: login
/// checks have workers of their own.
fn a_login_does_not_wait_behind_other_sessions_filesystem_work() {
    let marks = tempfile::tempdir().unwrap();
    let fs = DelayFsFactory::marking(Duration::from_secs(2), marks.path().to_path_buf());
    let srv = common::start_fs(fs, one_poll_loop);
    std::fs::write(srv.path("f"), b"x").unwrap();
    let mut busy: Vec<Raw> = (0..140)
        .map(|_| {
            let mut r = Raw::connect(srv.addr);
            r.login(USER, PASS);
            r
        })
        .collect();
    for r in &mut busy {
        r.send(b"MDTM f\r\n");
    }
    // every worker of the loop is busy (a poll loop has 128; the other
    // models start one call per session)
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(marks.path()).unwrap().count() < 128 {
        assert!(Instant::now() < deadline, "the calls did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let mut late = Raw::connect(srv.addr);
    late.login(USER, PASS);
    let took = started.elapsed();
    eprintln!(
        "{:?}: a login behind 140 slow filesystem calls took {} ms",
        common::model(),
        took.as_millis()
    );
    assert!(took < Duration::from_millis(1000), "login took {took:?}");
    drop(busy);
}
