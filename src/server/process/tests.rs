//! The process models' parent: its exit notices, its accept batches, its stop.

use super::*;

#[test]
fn exit_notices_skip_what_is_not_a_record() {
    let mut n = ExitNotices::new().unwrap();
    assert!(n.take().is_empty(), "nothing announced yet");
    let write_end = n.write.try_clone().unwrap();
    let w = |b: &[u8]| {
        nix::unistd::write(&write_end, b).unwrap();
    };
    w(&ExitNotices::record(1234));
    // a stray byte, a long run of garbage, pid 0 and a value no pid
    // can have, each followed by a record that must still be read
    w(&[1]);
    w(&ExitNotices::record(11));
    w(&[7u8; 100]);
    w(&ExitNotices::record(12));
    w(&ExitNotices::record(0));
    w(&ExitNotices::record(u32::MAX));
    // half a record now, the rest later
    let r = ExitNotices::record(5678);
    w(&r[..3]);
    assert_eq!(
        n.take(),
        vec![Pid::from_raw(1234), Pid::from_raw(11), Pid::from_raw(12)]
    );
    w(&r[3..]);
    assert_eq!(n.take(), vec![Pid::from_raw(5678)]);
    // (announce writes this process's own pid)
    n.announce();
    assert_eq!(n.take(), vec![Pid::from_raw(std::process::id() as i32)]);
}

#[test]
fn a_flood_of_exit_notices_is_read_in_bounded_rounds() {
    let mut n = ExitNotices::new().unwrap();
    let mut written = 0;
    while nix::unistd::write(&n.write, &ExitNotices::record(42)).is_ok() {
        written += 1;
    }
    assert!(written > NOTICES_PER_WAKE, "{written} records fit the pipe");
    let mut read = 0;
    loop {
        let got = n.take().len();
        assert!(got <= NOTICES_PER_WAKE);
        if got == 0 {
            break;
        }
        read += got;
    }
    assert_eq!(read, written);
}

/// A server on 127.0.0.1 port 0 whose listening socket is non-blocking, as
/// the parent's, and room for `n` connections in its backlog.
fn parent_server(n: i32) -> FtpServer {
    let mut config = crate::config::ServerConfig::default();
    config.backlog = n.max(config.backlog);
    crate::server::ServerBuilder::new(crate::auth::MemoryAuthorizer::new())
        .config(config)
        .bind("127.0.0.1:0")
        .unwrap()
}

/// `n` connections established with the server (waiting in its backlog).
fn connect(server: &FtpServer, n: usize) -> Vec<TcpStream> {
    let addr = server.local_addr().unwrap();
    (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect()
}

/// Under a steady stream of clients the parent takes at most
/// `ACCEPT_BATCH` connections before it looks at its other events (a
/// shutdown signal among them), and asks to accept the rest at once after
/// them. It used to accept until the backlog was empty, and kept accepting
/// about a thousand connections after SIGTERM.
#[test]
fn the_parent_accepts_in_bounded_batches() {
    let server = parent_server(256);
    server.listener.set_nonblocking(true).unwrap();
    let limits = ConnLimits::new(0, 0);
    let wakes = Wakes::default();
    let _clients = connect(&server, ACCEPT_BATCH + 36);
    let mut taken = Vec::new();
    accept_ready(&server, &limits, &wakes, &mut || {}, |s, _, slot| {
        taken.push((s, slot));
        true
    });
    assert_eq!(taken.len(), ACCEPT_BATCH);
    assert!(
        wakes
            .accept_again
            .get()
            .is_some_and(|at| at <= Instant::now()),
        "the rest are accepted right after the other events"
    );
    accept_ready(&server, &limits, &wakes, &mut || {}, |s, _, slot| {
        taken.push((s, slot));
        true
    });
    assert_eq!(taken.len(), ACCEPT_BATCH + 36);
    assert_eq!(wakes.accept_again.get(), None, "the backlog is empty");
}

/// When a shutdown signal and other events (a new connection, a tick due)
/// are seen on the same wake-up, the parent acts on none of them: nothing
/// is accepted or handed over after the stop. It used to go on with the
/// rest of that pass, and handed queued connections to a worker after
/// SIGTERM.
#[test]
fn the_parent_acts_on_nothing_once_it_sees_the_stop() {
    let server = parent_server(16);
    let mut parent = Parent::new(&server).unwrap();
    let (signal_read, signal_write) = nix::unistd::pipe().unwrap();
    parent
        .registry()
        .register(
            &mut SourceFd(&signal_read.as_raw_fd()),
            SIGNAL,
            Interest::READABLE,
        )
        .unwrap();
    let _clients = connect(&server, 3);
    nix::unistd::write(&signal_write, &[1]).unwrap();
    let wakes = Wakes::default();
    wakes.tick_by.set(Some(Instant::now()));
    wakes.accept_again.set(Some(Instant::now()));
    let mut seen = Vec::new();
    parent_loop(&server, &mut parent, &wakes, |_, token| seen.push(token)).unwrap();
    assert!(seen.is_empty(), "acted on {seen:?} after the stop");
    assert!(server.stop.load(std::sync::atomic::Ordering::SeqCst));
}
