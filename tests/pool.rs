//! The thread-pool model's threads: one for each session at once, given
//! back after `thread_idle_timeout` down to a small floor.
//!
//! These tests count the threads of this test process named `ftp-session`,
//! so they run one at a time (see [`alone`]) in a test binary of their own.
mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::Raw;
use ftpdlib::ConcurrencyModel;

/// The name of the thread-pool model's session threads.
const SESSION_THREAD: &str = "ftp-session";
/// Session threads the pool keeps however long they idle (`INITIAL_THREADS`
/// in src/server/threads.rs).
const FLOOR: usize = 8;
/// The idle timeout of these tests' servers.
const IDLE: Duration = Duration::from_millis(300);

/// Serialises the tests of this file: each counts every session thread of the process.
fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads of this process named `ftp-session`, from `/proc/self/task/*/comm`.
fn session_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == SESSION_THREAD)
        })
        .count()
}

/// Poll the session thread count every 20 ms, for up to 20 s, until
/// `done(count)`; the last count.
fn wait_for_threads(done: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = session_threads();
        if done(n) || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A thread-pool server whose idle session threads exit after [`IDLE`].
fn server(max_cons: usize) -> common::TestServer {
    common::start(|c| {
        c.concurrency = ConcurrencyModel::ThreadPool;
        c.max_cons = max_cons;
        c.thread_idle_timeout = IDLE;
    })
}

/// Open `n` sessions one after the other and keep them open; each must
/// get its 220 within 2 s of connecting, whatever the others do.
fn open_sessions(srv: &common::TestServer, n: usize) -> Vec<Raw> {
    (0..n)
        .map(|i| {
            let t = Instant::now();
            let r = srv.raw();
            let took = t.elapsed();
            assert!(r.greeting.starts_with("220 "), "client {i}: {}", r.greeting);
            assert!(
                took < Duration::from_secs(2),
                "client {i} waited {took:?} for its banner"
            );
            r
        })
        .collect()
}

/// QUIT every session and close it.
fn quit_all(open: Vec<Raw>) {
    for mut r in open {
        let reply = r.cmd("QUIT");
        assert!(reply.starts_with("221"), "{reply}");
    }
}

#[test]
fn idle_session_threads_exit_down_to_the_floor_after_a_burst() {
    const BURST: usize = 600;
    let _alone = alone();
    let srv = server(BURST);
    let open = open_sessions(&srv, BURST);
    // one thread for each open session
    let peak = session_threads();
    assert!(
        peak >= BURST,
        "{peak} session threads for {BURST} open sessions"
    );
    quit_all(open);

    let left = wait_for_threads(|n| n <= FLOOR);
    assert_eq!(
        left, FLOOR,
        "session threads 20 s after a burst of {BURST} sessions ended \
         (idle timeout {IDLE:?}, floor {FLOOR})"
    );
    // the floor stays warm: no count below it over several idle timeouts
    let watch = Instant::now();
    while watch.elapsed() < IDLE * 4 {
        assert_eq!(session_threads(), FLOOR, "the floor did not stay");
        std::thread::sleep(Duration::from_millis(20));
    }
    // a new client gets its banner and logs in at once
    let t = Instant::now();
    let mut r = srv.raw();
    assert!(r.greeting.starts_with("220 "), "{}", r.greeting);
    r.login(common::USER, common::PASS);
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "banner and login took {took:?}"
    );
    assert_eq!(r.cmd("QUIT"), "221 Goodbye.");
}

#[test]
fn a_burst_beyond_the_floor_gets_its_banners_at_once_again_after_shrinking() {
    const N: usize = 50;
    let _alone = alone();
    let srv = server(N);
    for round in 0..2 {
        // every client holds its session, so from the ninth on each one
        // needs a thread started for it
        let mut open = open_sessions(&srv, N);
        for r in open.iter_mut().rev() {
            assert_eq!(
                r.cmd("NOOP"),
                "200 I successfully did nothing.",
                "round {round}"
            );
        }
        quit_all(open);
        // the second round starts from a pool shrunk back to its floor
        let left = wait_for_threads(|n| n <= FLOOR);
        assert_eq!(left, FLOOR, "round {round}");
    }
}
