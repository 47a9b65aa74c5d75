//! Non-blocking TLS on the control and data connections.
//!
//! Handshakes, reads, writes and close_notify are all resumable: a call that
//! would block returns `WouldBlock` and is repeated on the next readiness
//! event, so the poll loop never waits on a slow or silent TLS peer.
//!
//! The socket itself is shared (an `Arc`) between the connection, which
//! registers it with the poller by descriptor, and the TLS layer. That lets a
//! TLS session end (REIN) while the TCP connection goes on in the clear.

use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{AsSocket, BorrowedSocket};
use std::sync::Arc;

use mio::net::TcpStream;
use native_tls::{HandshakeError, MidHandshakeTlsStream, TlsAcceptor, TlsStream};

/// A shared socket as a byte stream, with bytes already read from it
/// (pipelined after `AUTH TLS`) served first.
pub(crate) struct SockIo {
    sock: Arc<TcpStream>,
    pre: Vec<u8>,
}

impl SockIo {
    /// A stream over `sock` that first yields `pre`.
    pub(crate) fn new(sock: Arc<TcpStream>, pre: Vec<u8>) -> Self {
        SockIo { sock, pre }
    }
}

impl Read for SockIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.pre.is_empty() {
            let n = buf.len().min(self.pre.len());
            buf[..n].copy_from_slice(&self.pre[..n]);
            self.pre.drain(..n);
            return Ok(n);
        }
        (&*self.sock).read(buf)
    }
}

impl Write for SockIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.sock).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl AsFd for SockIo {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(windows)]
impl AsSocket for SockIo {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.sock.as_socket()
    }
}

/// A TLS stream the transfer pump can drive (it needs the descriptor only
/// for zero-copy, which is off on TLS data channels).
pub(crate) struct Tls(pub(crate) TlsStream<SockIo>);

impl Read for Tls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Tls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(unix)]
impl AsFd for Tls {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

#[cfg(windows)]
impl AsSocket for Tls {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.0.get_ref().as_socket()
    }
}

/// Where a TLS session on one socket stands.
#[cfg_attr(windows, allow(clippy::large_enum_variant))]
pub(crate) enum TlsState {
    /// The handshake waits for the peer.
    Handshaking(MidHandshakeTlsStream<SockIo>),
    /// Established.
    Ready(Tls),
    /// Failed or finished; nothing more will be read or written.
    Gone,
}

/// The outcome of a handshake step.
pub(crate) enum Step {
    /// Established.
    Ready,
    /// Waiting for the peer.
    Blocked,
    /// Failed.
    Failed(io::Error),
}

impl TlsState {
    /// Start a server-side handshake on `io`.
    pub(crate) fn accept(acceptor: &TlsAcceptor, io: SockIo) -> (TlsState, Step) {
        Self::from_result(acceptor.accept(io))
    }

    fn from_result(r: Result<TlsStream<SockIo>, HandshakeError<SockIo>>) -> (TlsState, Step) {
        match r {
            Ok(s) => (TlsState::Ready(Tls(s)), Step::Ready),
            Err(HandshakeError::WouldBlock(mid)) => (TlsState::Handshaking(mid), Step::Blocked),
            Err(HandshakeError::Failure(e)) => (
                TlsState::Gone,
                Step::Failed(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            ),
        }
    }

    /// Continue the handshake, if one is under way.
    pub(crate) fn advance(&mut self) -> Step {
        match std::mem::replace(self, TlsState::Gone) {
            TlsState::Handshaking(mid) => {
                let (state, step) = Self::from_result(mid.handshake());
                *self = state;
                step
            }
            TlsState::Ready(s) => {
                *self = TlsState::Ready(s);
                Step::Ready
            }
            TlsState::Gone => Step::Failed(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS session is gone",
            )),
        }
    }

    /// Whether the handshake is done.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self, TlsState::Ready(_))
    }

    /// The established stream.
    pub(crate) fn stream(&mut self) -> Option<&mut Tls> {
        match self {
            TlsState::Ready(s) => Some(s),
            _ => None,
        }
    }
}

/// A data connection secured with TLS (`PROT P`).
pub(crate) struct DataTls {
    /// The socket, shared with the TLS layer.
    pub(crate) sock: Arc<TcpStream>,
    /// The TLS session.
    pub(crate) state: TlsState,
    /// The transfer is over and close_notify is being sent.
    pub(crate) closing: bool,
}

impl DataTls {
    /// The descriptor the poller knows the socket by.
    #[cfg(unix)]
    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Send close_notify; `Ok(true)` once it is on its way, `Ok(false)` if
    /// the socket would block.
    pub(crate) fn close_notify(&mut self) -> io::Result<bool> {
        let Some(s) = self.state.stream() else {
            return Ok(true);
        };
        match s.0.shutdown() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The control connection: the socket and whether TLS runs on it.
pub(crate) struct Ctrl {
    /// The socket, shared with the TLS layer.
    pub(crate) sock: Arc<TcpStream>,
    /// Clear, TLS, or ending TLS.
    pub(crate) mode: CtrlMode,
}

/// The security of the control connection.
pub(crate) enum CtrlMode {
    /// In the clear.
    Plain,
    /// TLS (handshaking or established).
    Tls(TlsState),
    /// Ending TLS (REIN): close_notify `sent`, waiting for the client's.
    Unwrapping {
        /// The TLS session being ended.
        state: TlsState,
        /// Whether our close_notify went out.
        sent: bool,
    },
    /// The handshake failed; the connection is closing.
    Broken,
}

impl Ctrl {
    /// A clear control connection on `sock`.
    pub(crate) fn new(sock: TcpStream) -> Self {
        Ctrl {
            sock: Arc::new(sock),
            mode: CtrlMode::Plain,
        }
    }

    /// Whether commands can be read and replies written now.
    pub(crate) fn ready(&self) -> bool {
        matches!(
            self.mode,
            CtrlMode::Plain | CtrlMode::Tls(TlsState::Ready(_))
        )
    }

    /// Read command bytes (`WouldBlock` while a handshake runs).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.mode {
            CtrlMode::Plain => (&*self.sock).read(buf),
            CtrlMode::Tls(TlsState::Ready(s)) => s.read(buf),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Write reply bytes (`WouldBlock` while a handshake runs).
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.mode {
            CtrlMode::Plain => (&*self.sock).write(buf),
            CtrlMode::Tls(TlsState::Ready(s)) => s.write(buf),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// The descriptor the poller knows the socket by.
    #[cfg(unix)]
    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Closing: send close_notify if TLS is up (best effort, never waits).
    pub(crate) fn close_notify(&mut self) {
        if let CtrlMode::Tls(TlsState::Ready(s)) = &mut self.mode {
            let _ = s.0.shutdown();
        }
    }
}
