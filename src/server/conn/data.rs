//! The data channel: the passive listener and the active connect, the data
//! connection (secured with TLS under PROT P), and the pump that moves a
//! transfer's bytes, in bounded steps, with its file side off the loop on
//! storage that may be slow.

use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::*;

/// How soon a passive data listener's `accept` is tried again after it
/// failed for a reason that may pass (50 ms, as the control listener's).
const PASSIVE_ACCEPT_AGAIN: std::time::Duration = std::time::Duration::from_millis(50);

impl Connection {
    // --- data channel

    pub(super) fn listen_passive(
        &mut self,
        ip: IpAddr,
        registry: &Registry,
        now: Instant,
    ) -> Vec<Action> {
        self.drop_passive(registry);
        let result = bind_passive(ip, self.config.passive_ports.clone()).and_then(|mut l| {
            registry.register(&mut l, self.token(Slot::Passive), Interest::READABLE)?;
            let port = l.local_addr()?.port();
            Ok((l, port))
        });
        match result {
            Ok((l, port)) => {
                self.passive = Some(l);
                self.session.handle(Input::PassiveListening(port), now)
            }
            Err(e) => self.session.handle(Input::PassiveFailed(e), now),
        }
    }

    pub(super) fn connect_active(
        &mut self,
        remote: SocketAddr,
        local: IpAddr,
        registry: &Registry,
        now: Instant,
    ) -> Option<Vec<Action>> {
        self.drop_data(registry);
        let result = start_connect(remote, local).and_then(|mut s| {
            registry.register(
                &mut s,
                self.token(Slot::Data),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(s)
        });
        match result {
            Ok(stream) => {
                self.data = DataSock::Connecting(stream);
                None
            }
            Err(e) => Some(self.session.handle(Input::ActiveFailed(e), now)),
        }
    }

    pub(super) fn finish_connect(&mut self, registry: &Registry, now: Instant) {
        let DataSock::Connecting(stream) = &self.data else {
            return;
        };
        let state = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        };
        match state {
            Ok(false) => {}
            Ok(true) => {
                if let DataSock::Connecting(stream) =
                    std::mem::replace(&mut self.data, DataSock::None)
                {
                    limit_unsent(&stream);
                    self.data = DataSock::Open(stream);
                }
                self.feed(Input::DataConnected, registry, now);
            }
            Err(e) => {
                self.drop_data(registry);
                self.feed(Input::ActiveFailed(e), registry, now);
            }
        }
    }

    pub(super) fn accept_data(&mut self, registry: &Registry, now: Instant) {
        loop {
            let Some(listener) = &self.passive else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    if !self.session.permit_data_peer(peer.ip()) {
                        log::warn!(
                            "{} rejected data connection from foreign address {peer}",
                            self.session.log_prefix()
                        );
                        let _ = stream.shutdown(Shutdown::Both);
                        continue;
                    }
                    if matches!(self.data, DataSock::Open(_)) {
                        // one data connection per PASV
                        let _ = stream.shutdown(Shutdown::Both);
                        continue;
                    }
                    if let Err(e) = registry.register(
                        &mut stream,
                        self.token(Slot::Data),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        log::warn!(
                            "{} can't register data connection: {e}",
                            self.session.log_prefix()
                        );
                        continue;
                    }
                    self.drop_passive(registry);
                    limit_unsent(&stream);
                    self.data = DataSock::Open(stream);
                    self.feed(Input::DataConnected, registry, now);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // tried again shortly, until the session's deadline for
                    // the data connection (logged once per listener)
                    if !self.accept_failed {
                        self.accept_failed = true;
                        log::warn!(
                            "{} passive accept failed: {e}; trying again every {PASSIVE_ACCEPT_AGAIN:?}",
                            self.session.log_prefix()
                        );
                    }
                    self.accept_again = Some(now + PASSIVE_ACCEPT_AGAIN);
                    return;
                }
            }
        }
    }

    pub(super) fn drop_passive(&mut self, registry: &Registry) {
        self.accept_again = None;
        self.accept_failed = false;
        if let Some(mut l) = self.passive.take() {
            let _ = registry.deregister(&mut l);
        }
    }

    pub(super) fn drop_data(&mut self, registry: &Registry) {
        self.data_tls_awaited = false;
        match std::mem::replace(&mut self.data, DataSock::None) {
            DataSock::Open(mut s) | DataSock::Connecting(mut s) => {
                let _ = registry.deregister(&mut s);
            }
            // (on Windows the registration ends when the socket is dropped)
            #[cfg_attr(not(unix), allow(unused_variables))]
            DataSock::Secure(t) => {
                #[cfg(unix)]
                let _ = registry.deregister(&mut SourceFd(&t.fd()));
            }
            DataSock::None => {}
        }
    }

    /// Wrap the open data connection in TLS (server side) for a `PROT P` transfer.
    pub(super) fn secure_data(&mut self) {
        let Some(tls) = self.config.tls.clone() else {
            return;
        };
        if !matches!(self.data, DataSock::Open(_)) {
            return;
        }
        if let DataSock::Open(stream) = std::mem::replace(&mut self.data, DataSock::None) {
            let sock = Arc::new(stream);
            let (state, _) =
                TlsState::accept(tls.acceptor(), SockIo::new(Arc::clone(&sock), Vec::new()));
            self.data_tls_awaited = true;
            // a failed start leaves the state Gone: the pump reports it as a failed handshake
            self.data = DataSock::Secure(DataTls {
                sock,
                state,
                closing: false,
            });
        }
    }

    pub(super) fn pump(&mut self, registry: &Registry, now: Instant) {
        self.hot = false;
        let Some(r) = self.running.as_mut().filter(|r| r.active()) else {
            return;
        };
        if r.paused_until.is_some() {
            return;
        }
        let before = r.transfer.bytes();
        let result = match &mut self.data {
            DataSock::Open(sock) => r.transfer.pump(sock, PUMP_BUDGET, now),
            DataSock::Secure(t) => match t.state.advance() {
                Step::Blocked => return,
                Step::Failed(e) => Err(TransferError::Handshake(e)),
                Step::Ready if t.closing => match t.close_notify() {
                    Ok(false) => return,
                    Ok(true) => Ok(Pump::Done),
                    Err(e) => {
                        log::debug!(
                            "{} data channel close_notify: {e}",
                            self.session.log_prefix()
                        );
                        Ok(Pump::Done)
                    }
                },
                Step::Ready => match t.state.stream() {
                    Some(s) => match r.transfer.pump(s, PUMP_BUDGET, now) {
                        Ok(Pump::Done) => {
                            // every TLS data stream ends with close_notify
                            t.closing = true;
                            self.hot = true;
                            Ok(Pump::Progress)
                        }
                        other => other,
                    },
                    None => return,
                },
            },
            _ => return,
        };
        if let Some(job) = r.transfer.take_file_job() {
            match &self.offload {
                Some(off) => {
                    // (the pool keeps threads alive: it refuses a job only
                    // when none runs and none can start)
                    if let Err(e) = off.submit_file(job) {
                        log::error!(
                            "{} can't run a transfer's file work: {e}",
                            self.session.log_prefix()
                        );
                    }
                }
                // (only a driver with a pool turns file jobs on)
                None => r.transfer.file_done(job.run()),
            }
        }
        r.read_again_at = None;
        if let (Some(b), DataSock::Open(sock), Ok(Pump::Blocked)) =
            (r.batching.as_mut(), &self.data, &result)
        {
            if r.transfer.bytes() != before {
                // bytes are coming: in batches from now on, and what
                // trickles in below the mark is read at the latest then
                b.raise(sock);
                r.read_again_at = Some(now + READ_AGAIN_AFTER);
            } else if b.lower(sock) {
                // the client went quiet: its next byte wakes us, and no
                // timer does meanwhile. Bytes that came in between the
                // last read and the change are read now.
                self.hot = true;
            } else if b.is_raised() {
                // (the mark could not be put back)
                r.read_again_at = Some(now + READ_AGAIN_AFTER);
            }
        }
        match result {
            Ok(p) => match p {
                Pump::Progress => self.hot = true,
                Pump::Blocked | Pump::Waiting => {}
                Pump::Paused(at) => r.paused_until = Some(at),
                Pump::Done => self.end_transfer(Ok(()), registry, now),
            },
            Err(e) => self.end_transfer(Err(e), registry, now),
        }
    }

    /// Stop the running transfer with `result`. The data connection closes
    /// now; the session hears of the end once no file job holds the
    /// transfer's source or sink (an upload's file must come back to be
    /// committed or aborted).
    pub(super) fn end_transfer(
        &mut self,
        result: Result<(), TransferError>,
        registry: &Registry,
        now: Instant,
    ) {
        let Some(r) = self.running.as_mut().filter(|r| r.active()) else {
            return;
        };
        r.transfer.recall_file_job();
        let busy = r.transfer.file_busy();
        let result = if busy {
            r.ending = Some(result);
            None
        } else {
            Some(result)
        };
        match &self.data {
            DataSock::Open(s) => {
                let _ = s.shutdown(Shutdown::Write);
            }
            DataSock::Secure(t) => {
                let _ = t.sock.shutdown(Shutdown::Write);
            }
            _ => {}
        }
        self.drop_data(registry);
        self.hot = false;
        if let Some(result) = result {
            self.finish_transfer(result, registry, now);
        }
    }

    /// Report the end of the running transfer (no file job out) to the session.
    pub(super) fn finish_transfer(
        &mut self,
        result: Result<(), TransferError>,
        registry: &Registry,
        now: Instant,
    ) {
        let Some(r) = self.running.take() else { return };
        let seconds = now.saturating_duration_since(r.started).as_secs_f64();
        self.feed(
            Input::TransferDone {
                transfer: r.transfer,
                result,
                seconds,
            },
            registry,
            now,
        );
        // commands queued during the transfer may have been read already
        self.resume_input(registry);
    }
}

/// Bind a passive listener on `ip`, on a free port of `range` (tried in random
/// order) or on any port. Fails with `AddrInUse` when every port of the range is taken.
pub(super) fn bind_passive(
    ip: IpAddr,
    range: Option<std::ops::RangeInclusive<u16>>,
) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return TcpListener::bind(SocketAddr::new(ip, 0));
    };
    let (lo, hi) = (*range.start(), *range.end());
    if lo > hi {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty passive port range",
        ));
    }
    let span = u32::from(hi - lo) + 1;
    let start = rand::random::<u32>() % span;
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..span {
        let port = lo + u16::try_from((start + i) % span).unwrap_or(0);
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(l) => return Ok(l),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) =>
            {
                last = e
            }
            Err(e) => return Err(e),
        }
    }
    if last.kind() == io::ErrorKind::PermissionDenied {
        return Err(last);
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port in the passive port range",
    ))
}

/// Start a non-blocking connect to `remote` from address `local`.
pub(super) fn start_connect(remote: SocketAddr, local: IpAddr) -> io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let domain = if remote.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::STREAM, None)?;
    if local.is_ipv4() == remote.is_ipv4() {
        sock.bind(&SocketAddr::new(local, 0).into())?;
    }
    sock.set_nonblocking(true)?;
    match sock.connect(&remote.into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

/// Bytes a data connection may hold queued but not yet sent (64 KiB).
///
/// Without a bound, Linux grows the send buffer of a fast connection to
/// `tcp_wmem`'s maximum (4 MiB) and a download queues that much ahead of the
/// receiver's window. The queued bytes then go out from the *receiver's* side:
/// each ACK it sends transmits the next window's worth in its own context
/// (softirq), in window-sized pieces. On loopback, and on any host where the
/// client is the busy side, that makes the client pay for our transmission
/// and read in small pieces: 100 Python asyncio clients reading 10 MiB each
/// took 0.53-0.66 s against pyftpdlib's 0.46 s, and 0.21-0.25 s with this
/// bound (same run). `TCP_NOTSENT_LOWAT` caps only the unsent part (bytes in
/// flight are not counted), so a long fat network still fills its window.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
const DATA_NOTSENT_LOWAT: u32 = 64 * 1024;

/// Bound the unsent bytes of a new data connection ([`DATA_NOTSENT_LOWAT`]);
/// a system without the option keeps the default (logged at debug level).
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android")),
    allow(unused_variables)
)]
fn limit_unsent(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(DATA_NOTSENT_LOWAT) {
        log::debug!("TCP_NOTSENT_LOWAT not set on a data connection: {e}");
    }
}

/// The receive low-water mark an upload's data connection is given, at most
/// (512 KiB; see [`Batching`]).
const UPLOAD_RCVLOWAT: usize = 512 * 1024;

/// How long an upload with a receive low-water mark may leave bytes unread
/// when fewer than the mark have come (200 ms): a slow client's bytes are
/// still read, written and counted as progress (the session's stall timer
/// watches it) at least this often.
const READ_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

/// An upload's data connection that signals readiness only once a batch of
/// bytes is in, not at every segment (`SO_RCVLOWAT`), while bytes are
/// coming.
///
/// A client that writes 8 KiB at a time (ftplib's default block size, and
/// pyftpdlib's benchmark) otherwise wakes the session at every write. Where
/// each session has its own thread or process, that is a context switch per
/// 8 KiB, and on a host where the client runs too the woken threads take its
/// CPU: 200 such clients uploading 10 MiB each at once took 2.9-5.0 s
/// against 1.3 s for one poll thread; with a 16-64 KiB mark, 1.9-2.3 s.
///
/// Fewer bytes than the mark never signal (the end of the stream always
/// does), so while the mark is up the connection is read again every
/// [`READ_AGAIN_AFTER`] whatever the readiness. That timer must not run for
/// a client that sends nothing (a hundred idle uploads would wake the server
/// 500 times a second): the mark is raised when a read found bytes and put
/// back to 1 byte when a read found none, so a quiet connection costs
/// nothing until its next byte, which wakes it as any socket.
///
/// The mark is a quarter of the socket's receive buffer, up to
/// [`UPLOAD_RCVLOWAT`]: Linux clamps the receive window to the mark when the
/// buffer cannot hold twice the mark, which would slow a long fat network.
/// The buffer starts small (128 KiB by default, so a 32 KiB mark) and Linux
/// grows it while the client sends faster than the server reads (to 6 MiB
/// on loopback), so the mark is read again as bytes come until it reaches
/// its cap: a fast client is read in batches of up to 512 KiB, and a slow
/// one, whose buffer does not grow, keeps a small mark. TLS data
/// connections get no mark (the caller only asks for plain ones).
#[derive(Debug)]
pub(super) struct Batching {
    /// The mark while bytes come; grows with the receive buffer.
    mark: usize,
    /// The mark is set (else it is the default, 1 byte).
    raised: bool,
}

impl Batching {
    /// For a plain upload's data connection; `None` where no mark can be
    /// set (other systems, a receive buffer too small to batch).
    pub(super) fn new(stream: &TcpStream) -> Option<Batching> {
        if !cfg!(any(target_os = "linux", target_os = "android")) {
            return None;
        }
        let mark = Self::mark_for(stream)?;
        (mark >= 2).then_some(Batching {
            mark,
            raised: false,
        })
    }

    /// The mark the socket's receive buffer allows now (a quarter of it, at
    /// most [`UPLOAD_RCVLOWAT`]); `None` if the buffer can't be read.
    fn mark_for(stream: &TcpStream) -> Option<usize> {
        let buf = socket2::SockRef::from(stream).recv_buffer_size().ok()?;
        Some(UPLOAD_RCVLOWAT.min(buf / 4))
    }

    /// Bytes came: signal readiness from now on only once `mark` are in.
    /// Until the mark reaches its cap, the buffer is read again (it grows
    /// while the client outruns the server) and the mark follows it up.
    pub(super) fn raise(&mut self, stream: &TcpStream) {
        let grown = if self.mark < UPLOAD_RCVLOWAT {
            match Self::mark_for(stream) {
                Some(m) if m > self.mark => {
                    self.mark = m;
                    true
                }
                _ => false,
            }
        } else {
            false
        };
        if !self.raised {
            self.raised = self.set(stream, self.mark);
        } else if grown {
            // (if this fails, the smaller mark stays up: still raised)
            self.set(stream, self.mark);
        }
    }

    /// No byte came since the last read: signal readiness at the next one.
    /// Returns whether the mark was put back now (the caller then reads once
    /// more: what came meanwhile may not have signalled). A mark that could
    /// not be put back stays [raised](Self::is_raised).
    pub(super) fn lower(&mut self, stream: &TcpStream) -> bool {
        if !self.raised {
            return false;
        }
        self.raised = !self.set(stream, 1);
        !self.raised
    }

    /// Whether the mark is up: bytes below it are read only on the timer.
    pub(super) fn is_raised(&self) -> bool {
        self.raised
    }

    /// Set the mark; whether it was set.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn set(&self, stream: &TcpStream, bytes: usize) -> bool {
        match crate::sys::set_recv_lowat(stream, bytes) {
            Ok(()) => true,
            Err(e) => {
                log::debug!("SO_RCVLOWAT not set on a data connection: {e}");
                false
            }
        }
    }

    /// Other systems: no mark ([`Batching::new`] makes none).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn set(&self, _stream: &TcpStream, _bytes: usize) -> bool {
        false
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests;
