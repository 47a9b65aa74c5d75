//! A program that embeds a forking server may have a thread of its own
//! writing to stdout at the moment the server forks: the child inherits
//! stdout's lock held by a thread it does not have. Nothing in a forked
//! child may wait for that lock, or the child never exits (std's own exit
//! path only try-locks stdout for this reason).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::{ConcurrencyModel, ServerBuilder};

mod common;

/// Connect and read the banner (`None` if none comes within `wait`).
fn banner(addr: std::net::SocketAddr, wait: Duration) -> Option<(TcpStream, String)> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    let mut line = String::new();
    BufReader::new(s.try_clone().ok()?)
        .read_line(&mut line)
        .ok()?;
    (!line.is_empty()).then_some((s, line))
}

/// Every process below `pid` (children first found, then theirs).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for (c, _) in common::procs::children_of(p) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

fn forked_children_exit_while_stdout_is_locked(model: ConcurrencyModel) {
    let dir = tempfile::tempdir().unwrap();
    let users = MemoryAuthorizer::new();
    users.add_anonymous(dir.path()).unwrap();
    let server = ServerBuilder::new(users)
        .configure(|c| {
            c.concurrency = model;
            c.auth_failed_delay = Duration::ZERO;
            c.shutdown_grace = Duration::from_secs(1);
        })
        .bind("127.0.0.1:0")
        .unwrap();

    // another thread of the program holds stdout while the server forks
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let lock = std::io::stdout().lock();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
        drop(lock);
    });
    held_rx.recv().unwrap();
    let proc = server.spawn_process().unwrap();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let addr = proc.local_addr();
    let supervisor = proc.pid().unwrap();

    // sessions that end (their processes exit, or in pre-fork their worker
    // serves the next one), then one more that must still get its banner
    let mut served = 0;
    for _ in 0..4 {
        let Some((mut s, line)) = banner(addr, Duration::from_secs(5)) else {
            break;
        };
        assert!(line.starts_with("220"), "{line}");
        s.write_all(b"QUIT\r\n").unwrap();
        let mut rest = String::new();
        let _ = BufReader::new(s).read_line(&mut rest);
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let stuck = descendants(supervisor);
    let started = Instant::now();
    let stopped = proc.shutdown();
    let took = started.elapsed();
    // leave nothing behind, whatever happened (only processes of this test binary)
    let me = std::env::current_exe().unwrap();
    for p in descendants(supervisor).into_iter().chain(stuck) {
        if std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e == me) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    assert_eq!(
        served, 4,
        "the server stopped answering after {served} sessions"
    );
    assert!(
        stopped.is_ok() && took < Duration::from_secs(5),
        "shutdown: {stopped:?} after {took:?}"
    );
}

#[test]
fn process_model_children_exit_while_the_program_holds_stdout() {
    forked_children_exit_while_stdout_is_locked(ConcurrencyModel::Process);
}

#[test]
fn prefork_workers_exit_while_the_program_holds_stdout() {
    forked_children_exit_while_stdout_is_locked(ConcurrencyModel::Prefork { workers: 2 });
}
