//! One data transfer and its pump.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::ascii::{FromNetwork, ToNetwork};
use super::throttle::Throttle;
use crate::fs::{ReadFile, WriteFile};

/// Size of one read from a file or a socket.
const CHUNK: usize = 256 * 1024;
/// Bytes moved by one splice(2) of an upload.
const SPLICE_CHUNK: usize = 1024 * 1024;

/// The command that started a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferCmd {
    /// RETR
    Retr,
    /// STOR
    Stor,
    /// APPE
    Appe,
    /// STOU
    Stou,
    /// LIST
    List,
    /// NLST
    Nlst,
    /// MLSD
    Mlsd,
}

impl TransferCmd {
    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            TransferCmd::Retr => "RETR",
            TransferCmd::Stor => "STOR",
            TransferCmd::Appe => "APPE",
            TransferCmd::Stou => "STOU",
            TransferCmd::List => "LIST",
            TransferCmd::Nlst => "NLST",
            TransferCmd::Mlsd => "MLSD",
        }
    }

    /// Whether data flows from the client to the server.
    pub fn is_upload(self) -> bool {
        matches!(
            self,
            TransferCmd::Stor | TransferCmd::Appe | TransferCmd::Stou
        )
    }
}

/// Which way data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server to client.
    Send,
    /// Client to server.
    Receive,
}

/// What a sending transfer reads from.
pub enum Source {
    /// A file (RETR).
    File(Box<dyn ReadFile>),
    /// Listing lines produced lazily (LIST, NLST, MLSD).
    Lines(Box<dyn Iterator<Item = Vec<u8>> + Send>),
}

/// Why a transfer stopped early.
#[derive(Debug)]
pub enum TransferError {
    /// The data connection failed.
    Network(io::Error),
    /// Reading or writing the local file failed (e.g. the disk is full).
    Local(io::Error),
    /// Stopped by ABOR (or because the session is closing).
    Aborted,
    /// No data moved for longer than the data timeout.
    TimedOut,
    /// The TLS handshake on the data connection failed (`PROT P`).
    Handshake(io::Error),
}

/// Where the pump stands after a call to [`Transfer::pump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pump {
    /// The byte budget of this call is spent; call again.
    Progress,
    /// The socket would block; wait for readiness.
    Blocked,
    /// Throttled: call again at this instant.
    Paused(Instant),
    /// All data moved (for a download: written to the socket; for an upload: the client closed).
    Done,
}

/// One transfer on a data connection.
pub struct Transfer {
    /// The command that started it.
    pub cmd: TransferCmd,
    /// The file's display path (logs and event callbacks), if a file is involved.
    pub file_path: Option<PathBuf>,
    source: Option<Source>,
    sink: Option<Box<dyn WriteFile>>,
    ascii: bool,
    zero_copy: bool,
    throttle: Throttle,
    to_net: ToNetwork,
    from_net: FromNetwork,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    bytes: Arc<AtomicU64>,
    started: Option<Instant>,
    splice: Option<crate::sys::SplicePipe>,
    protected: bool,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("cmd", &self.cmd)
            .field("file_path", &self.file_path)
            .field("ascii", &self.ascii)
            .field("zero_copy", &self.zero_copy)
            .field("protected", &self.protected)
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl Transfer {
    /// A download (RETR, LIST, NLST, MLSD) from `source`. `zero_copy` allows
    /// sendfile for a binary file source; `limit` is bytes per second (0 = none).
    pub fn send(
        cmd: TransferCmd,
        source: Source,
        ascii: bool,
        zero_copy: bool,
        limit: u64,
    ) -> Self {
        let throttle = Throttle::new(limit);
        let zero_copy = zero_copy && !ascii && !throttle.is_limited();
        Self::new(cmd, Some(source), None, ascii, zero_copy, throttle)
    }

    /// An upload (STOR, APPE, STOU) into `sink`. `zero_copy` allows
    /// splice(2) from the socket to a binary sink that is a plain file;
    /// `limit` is bytes per second (0 = none).
    pub fn receive(
        cmd: TransferCmd,
        sink: Box<dyn WriteFile>,
        ascii: bool,
        zero_copy: bool,
        limit: u64,
    ) -> Self {
        let throttle = Throttle::new(limit);
        let zero_copy = zero_copy && !ascii && !throttle.is_limited();
        Self::new(cmd, None, Some(sink), ascii, zero_copy, throttle)
    }

    fn new(
        cmd: TransferCmd,
        source: Option<Source>,
        sink: Option<Box<dyn WriteFile>>,
        ascii: bool,
        zero_copy: bool,
        throttle: Throttle,
    ) -> Self {
        Transfer {
            cmd,
            file_path: None,
            source,
            sink,
            ascii,
            zero_copy,
            throttle,
            to_net: ToNetwork::default(),
            from_net: FromNetwork::default(),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            bytes: Arc::new(AtomicU64::new(0)),
            started: None,
            splice: None,
            protected: false,
        }
    }

    /// Set the display path of the file involved.
    pub fn with_path(mut self, path: PathBuf) -> Self {
        self.file_path = Some(path);
        self
    }

    /// Run the transfer over TLS (`PROT P`): the driver handshakes on the data
    /// connection first, and zero-copy is off since the bytes are encrypted.
    pub fn with_tls(mut self, protected: bool) -> Self {
        self.protected = protected;
        if protected {
            self.zero_copy = false;
        }
        self
    }

    /// Whether the data connection must be secured with TLS before the transfer moves bytes.
    pub fn is_protected(&self) -> bool {
        self.protected
    }

    /// The direction of the transfer.
    pub fn direction(&self) -> Direction {
        if self.sink.is_some() {
            Direction::Receive
        } else {
            Direction::Send
        }
    }

    /// Bytes moved over the network so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// A shared counter of bytes moved, readable while the transfer runs (STAT).
    pub fn byte_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes)
    }

    /// Seconds since the first byte moved (0 if none moved yet).
    pub fn elapsed(&self, now: Instant) -> f64 {
        self.started
            .map(|s| now.saturating_duration_since(s).as_secs_f64())
            .unwrap_or(0.0)
    }

    /// Whether this transfer may use sendfile (binary, unthrottled, plain file).
    pub fn uses_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Take the upload sink out (to commit or abort it once the transfer ended).
    pub fn take_sink(&mut self) -> Option<Box<dyn WriteFile>> {
        self.sink.take()
    }

    /// Move data between the file side and `sock` until the socket would
    /// block, the transfer is done or throttled, or about `budget` bytes moved.
    pub fn pump<S: Read + Write + AsFd>(
        &mut self,
        sock: &mut S,
        budget: usize,
        now: Instant,
    ) -> Result<Pump, TransferError> {
        self.started.get_or_insert(now);
        match self.direction() {
            Direction::Send => self.pump_send(sock, budget, now),
            Direction::Receive => self.pump_receive(sock, budget, now),
        }
    }

    fn count(&mut self, n: usize, now: Instant) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.throttle.record(n as u64, now);
    }

    fn pump_send<S: Read + Write + AsFd>(
        &mut self,
        sock: &mut S,
        budget: usize,
        now: Instant,
    ) -> Result<Pump, TransferError> {
        let mut moved = 0usize;
        loop {
            if let Some(at) = self.throttle.resume_at(now) {
                return Ok(Pump::Paused(at));
            }
            if moved >= budget {
                return Ok(Pump::Progress);
            }
            if self.pos >= self.buf.len() {
                if self.eof {
                    return Ok(Pump::Done);
                }
                if self.zero_copy {
                    if let Some(Source::File(file)) = &self.source {
                        if let Some(fd) = file.raw_fd() {
                            match crate::sys::sendfile(sock, fd, CHUNK.min(budget.max(1))) {
                                Ok(0) => {
                                    self.eof = true;
                                    continue;
                                }
                                Ok(n) => {
                                    moved += n;
                                    self.count(n, now);
                                    continue;
                                }
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                    return Ok(Pump::Blocked)
                                }
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                // sendfile is not possible for this pair: fall back to copying
                                Err(e)
                                    if matches!(
                                        e.raw_os_error(),
                                        Some(libc::EINVAL) | Some(libc::ENOSYS)
                                    ) =>
                                {
                                    self.zero_copy = false;
                                    continue;
                                }
                                Err(e) => return Err(classify_sendfile_error(e)),
                            }
                        }
                    }
                    self.zero_copy = false;
                }
                self.fill()?;
                continue;
            }
            let limit = self.throttle.chunk(CHUNK);
            let end = self.buf.len().min(self.pos + limit);
            match sock.write(&self.buf[self.pos..end]) {
                Ok(0) => return Err(TransferError::Network(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.pos += n;
                    moved += n;
                    self.count(n, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Pump::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TransferError::Network(e)),
            }
        }
    }

    /// Refill the send buffer from the source.
    fn fill(&mut self) -> Result<(), TransferError> {
        self.buf.clear();
        self.pos = 0;
        let mut raw = Vec::new();
        match &mut self.source {
            None => self.eof = true,
            Some(Source::File(file)) => {
                raw.resize(CHUNK, 0);
                let n = loop {
                    match file.read(&mut raw) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(TransferError::Local(e)),
                    }
                };
                raw.truncate(n);
                if n == 0 {
                    self.eof = true;
                }
            }
            Some(Source::Lines(lines)) => {
                while raw.len() < 64 * 1024 {
                    match lines.next() {
                        Some(line) => raw.extend_from_slice(&line),
                        None => {
                            self.eof = true;
                            break;
                        }
                    }
                }
            }
        }
        if self.ascii && matches!(self.source, Some(Source::File(_))) {
            self.to_net.convert(&raw, &mut self.buf);
        } else {
            self.buf = raw;
        }
        Ok(())
    }

    /// Zero-copy upload step: socket -> pipe -> file. `None` when splice is
    /// not possible here (the caller then copies); `Some(Ok(None))` when the
    /// socket would block; `Some(Ok(Some(0)))` at the end of the upload.
    fn splice_receive<S: AsFd>(
        &mut self,
        sock: &S,
        now: Instant,
    ) -> Option<Result<Option<usize>, TransferError>> {
        let fd = self.sink.as_ref()?.raw_fd()?;
        if self.splice.is_none() {
            match crate::sys::SplicePipe::new() {
                Ok(p) => self.splice = Some(p),
                Err(_) => {
                    self.zero_copy = false;
                    return None;
                }
            }
        }
        let pipe = self.splice.as_ref()?;
        let n = loop {
            match pipe.fill_from(sock, SPLICE_CHUNK) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Ok(None)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
                    ) =>
                {
                    self.zero_copy = false;
                    return None;
                }
                Err(e) => return Some(Err(TransferError::Network(e))),
            }
        };
        if n == 0 {
            return Some(Ok(Some(0)));
        }
        if let Err(d) = pipe.drain_to(fd, n) {
            if d.error.raw_os_error() != Some(libc::EINVAL) {
                return Some(Err(TransferError::Local(d.error)));
            }
            // this file takes no splice (e.g. opened for appending): copy what
            // the pipe still holds, and copy from now on
            self.zero_copy = false;
            let mut rest = Vec::new();
            if let Err(e) = pipe.read_rest(d.remaining, &mut rest) {
                return Some(Err(TransferError::Local(e)));
            }
            if let Some(sink) = self.sink.as_mut() {
                if let Err(e) = sink.write_all(&rest) {
                    return Some(Err(TransferError::Local(e)));
                }
            }
        }
        self.count(n, now);
        Some(Ok(Some(n)))
    }

    fn pump_receive<S: Read + Write + AsFd>(
        &mut self,
        sock: &mut S,
        budget: usize,
        now: Instant,
    ) -> Result<Pump, TransferError> {
        let mut moved = 0usize;
        while self.zero_copy {
            if let Some(at) = self.throttle.resume_at(now) {
                return Ok(Pump::Paused(at));
            }
            if moved >= budget {
                return Ok(Pump::Progress);
            }
            match self.splice_receive(sock, now) {
                None => break,
                Some(Err(e)) => return Err(e),
                Some(Ok(None)) => return Ok(Pump::Blocked),
                Some(Ok(Some(0))) => {
                    if let Some(sink) = self.sink.as_mut() {
                        sink.flush().map_err(TransferError::Local)?;
                    }
                    return Ok(Pump::Done);
                }
                Some(Ok(Some(n))) => moved += n,
            }
        }
        if self.buf.len() < CHUNK {
            self.buf.resize(CHUNK, 0);
        }
        let mut converted = Vec::new();
        loop {
            if let Some(at) = self.throttle.resume_at(now) {
                return Ok(Pump::Paused(at));
            }
            if moved >= budget {
                return Ok(Pump::Progress);
            }
            let limit = self.throttle.chunk(CHUNK);
            let n = match sock.read(&mut self.buf[..limit]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Pump::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TransferError::Network(e)),
            };
            let Some(sink) = self.sink.as_mut() else {
                return Ok(Pump::Done);
            };
            if n == 0 {
                if self.ascii {
                    converted.clear();
                    self.from_net.finish(&mut converted);
                    sink.write_all(&converted).map_err(TransferError::Local)?;
                }
                sink.flush().map_err(TransferError::Local)?;
                return Ok(Pump::Done);
            }
            if self.ascii {
                converted.clear();
                self.from_net.convert(&self.buf[..n], &mut converted);
                sink.write_all(&converted).map_err(TransferError::Local)?;
            } else {
                sink.write_all(&self.buf[..n])
                    .map_err(TransferError::Local)?;
            }
            moved += n;
            self.count(n, now);
        }
    }
}

/// sendfile reports errors of both sides; a failing read of the file is local.
fn classify_sendfile_error(e: io::Error) -> TransferError {
    match e.raw_os_error() {
        Some(libc::EIO) | Some(libc::EOVERFLOW) | Some(libc::ENOMEM) => TransferError::Local(e),
        _ => TransferError::Network(e),
    }
}
