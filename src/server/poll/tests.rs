//! The poll loop: a connection that reaches it after the stop.

use std::io::{BufRead, BufReader};

use super::*;
use crate::auth::MemoryAuthorizer;
use crate::config::ServerConfig;
use crate::events::NoEvents;
use crate::fs::LocalFsFactory;

/// A poll loop stopped by `signal`, and a connection to hand it: the
/// client's end, the server's end and the client's address.
fn loop_and_connection(
    signal: Arc<ShutdownSignal>,
) -> (PollLoop, TcpStream, TcpStream, SocketAddr) {
    let ctx = SessionContext::new(
        ServerConfig::default(),
        Arc::new(MemoryAuthorizer::new()),
        Arc::new(LocalFsFactory::default()),
    )
    .unwrap();
    let poll_loop = PollLoop::new(ctx, Arc::new(NoEvents), signal).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, peer) = listener.accept().unwrap();
    (poll_loop, client, stream, peer)
}

/// A channel that hands the loop `conn`, then is closed.
fn handed(conn: NewConn) -> Receiver<NewConn> {
    let (tx, rx) = crossbeam_channel::unbounded();
    tx.send(conn).unwrap();
    rx
}

/// Run `poll_loop` on a thread of its own; the receiver gets a message
/// when the loop ended.
fn run(mut poll_loop: PollLoop, rx: Receiver<NewConn>) -> std::sync::mpsc::Receiver<()> {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        poll_loop.run(rx);
        let _ = done_tx.send(());
    });
    done_rx
}

/// A connection that reaches the loop after it began to stop (a
/// pre-fork worker's hand-over thread delivers what the parent sent
/// before SIGTERM) is told at once, as every session was: 220, then
/// 421, then the loop ends. Left open, it kept the worker alive until
/// the parent killed it.
#[test]
fn a_connection_handed_in_after_the_stop_is_told_at_once() {
    let signal = Arc::new(ShutdownSignal::default());
    let (poll_loop, client, stream, peer) = loop_and_connection(Arc::clone(&signal));
    let rx = handed(NewConn {
        stream,
        peer,
        slot: Box::new(()),
    });
    // the stop is seen on the same wake-up, before the connection is
    // taken from the channel
    signal.trigger();
    let done_rx = run(poll_loop, rx);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut lines = BufReader::new(client).lines();
    let greeting = lines.next().unwrap().unwrap();
    assert!(greeting.starts_with("220"), "{greeting}");
    let told = lines.next().unwrap().expect("a reply right after the 220");
    assert_eq!(told, "421 Server is shutting down.");
    assert!(
        lines.next().is_none(),
        "the connection is closed after the 421"
    );
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the loop ends once its last session did");
}

/// A connection the loop cannot watch (its registration fails: out of
/// memory, or of the user's epoll watches; here its descriptor is
/// registered already) is refused with `421`, not closed without a reply.
#[cfg(unix)]
#[test]
fn a_connection_that_cannot_be_watched_is_refused_with_421() {
    let (poll_loop, client, stream, peer) = loop_and_connection(Arc::default());
    poll_loop
        .poll
        .registry()
        .register(
            &mut SourceFd(&stream.as_raw_fd()),
            Token(usize::MAX - 1),
            Interest::READABLE,
        )
        .unwrap();
    let rx = handed(NewConn {
        stream,
        peer,
        slot: Box::new(()),
    });
    poll_loop.waker().wake().unwrap();
    let done_rx = run(poll_loop, rx);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut lines = BufReader::new(client).lines();
    let first = lines.next().unwrap().expect("a reply");
    assert_eq!(
        first,
        "421 Service not available, closing control connection."
    );
    assert!(lines.next().is_none(), "the connection is closed after it");
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the loop ends: no session, no more connections");
}

/// Looks at what the client has received when the loop says it took the
/// connection in.
struct Peek {
    client: TcpStream,
    seen: std::sync::mpsc::Sender<usize>,
}

impl Place for Peek {
    fn taken(&mut self) {
        let mut buf = [0u8; 64];
        let _ = self.client.set_nonblocking(true);
        let n = self.client.peek(&mut buf).unwrap_or(0);
        let _ = self.client.set_nonblocking(false);
        let _ = self.seen.send(n);
    }
}

/// The loop tells a connection's place that it took the connection in
/// before it greets the client: a pre-fork worker's report reaches the
/// parent before the client hears from the worker (told after the
/// greeting, a client could get a whole session and then the parent's
/// `421` for a connection "not taken").
#[test]
fn a_connection_is_reported_taken_before_its_greeting() {
    let (poll_loop, client, stream, peer) = loop_and_connection(Arc::default());
    let (seen_tx, seen) = std::sync::mpsc::channel();
    let rx = handed(NewConn {
        stream,
        peer,
        slot: Box::new(Peek {
            client: client.try_clone().unwrap(),
            seen: seen_tx,
        }),
    });
    poll_loop.waker().wake().unwrap();
    let done_rx = run(poll_loop, rx);
    let before = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(before, 0, "bytes the client had when the loop took it in");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut w = client.try_clone().unwrap();
    let mut lines = BufReader::new(client).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("220 "));
    std::io::Write::write_all(&mut w, b"QUIT\r\n").unwrap();
    assert!(lines.next().unwrap().unwrap().starts_with("221 "));
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the loop ends with its session");
}
