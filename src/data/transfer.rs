//! One data transfer and its pump.

use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::fd::AsFd;
// The pump takes any socket; zero-copy (Unix only) needs its descriptor.
#[cfg(windows)]
use std::os::windows::io::AsSocket as AsFd;
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
#[cfg(unix)]
const SPLICE_CHUNK: usize = 1024 * 1024;
/// Listing bytes produced at once (one refill, or one file job).
const LINES_CHUNK: usize = 64 * 1024;
/// Listing lines produced at once: each may cost a filesystem call.
const LINES_MAX: usize = 1024;

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
#[non_exhaustive]
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
    /// The file side is busy: hand [`Transfer::take_file_job`] to a worker
    /// and call again once its result went to [`Transfer::file_done`].
    Waiting,
}

/// One bounded piece of a transfer's file-side work (read the next chunk
/// of the file or of the listing, or write a received chunk to the upload's
/// file), to run off the thread that serves the sockets when the storage
/// may be slow. It owns the source or sink while it runs; its
/// [`FileDone`] hands them back.
pub struct FileJob(Job);

enum Job {
    Read {
        source: Source,
        to_net: Option<ToNetwork>,
        buf: Vec<u8>,
        raw: Vec<u8>,
    },
    Write {
        sink: Box<dyn WriteFile>,
        data: Vec<u8>,
        flush: bool,
    },
}

/// What a [`FileJob`] did: the source or sink it took, and the bytes read.
pub struct FileDone(Done);

enum Done {
    Read {
        source: Source,
        to_net: Option<ToNetwork>,
        buf: Vec<u8>,
        raw: Vec<u8>,
        result: io::Result<bool>,
    },
    Write {
        sink: Box<dyn WriteFile>,
        data: Vec<u8>,
        flush: bool,
        result: io::Result<()>,
    },
}

impl FileJob {
    /// Do the work (blocking file or filesystem I/O).
    pub fn run(self) -> FileDone {
        FileDone(match self.0 {
            Job::Read {
                mut source,
                mut to_net,
                mut buf,
                mut raw,
            } => {
                let result = next_chunk(&mut source, to_net.as_mut(), &mut buf, &mut raw);
                Done::Read {
                    source,
                    to_net,
                    buf,
                    raw,
                    result,
                }
            }
            Job::Write {
                mut sink,
                mut data,
                flush,
            } => {
                let mut result = sink.write_all(&data);
                if result.is_ok() && flush {
                    result = sink.flush();
                }
                data.clear();
                Done::Write {
                    sink,
                    data,
                    flush,
                    result,
                }
            }
        })
    }
}

impl FileDone {
    /// The transfer it belongs to is gone: abort an upload's file (see
    /// [`WriteFile::abort`]) rather than drop it unfinished.
    pub fn discard(self) {
        if let Done::Write { sink, .. } = self.0 {
            let _ = sink.abort();
        }
    }
}

impl std::fmt::Debug for FileDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Done::Read { buf, result, .. } => f
                .debug_struct("FileDone::Read")
                .field("bytes", &buf.len())
                .field("result", result)
                .finish(),
            Done::Write { result, .. } => f
                .debug_struct("FileDone::Write")
                .field("result", result)
                .finish(),
        }
    }
}

/// Produce the next chunk of `source` into `out` (cleared first), converting
/// a file to network form when `to_net` is given (`raw` holds the bytes
/// read). True at the end of the source.
fn next_chunk(
    source: &mut Source,
    to_net: Option<&mut ToNetwork>,
    out: &mut Vec<u8>,
    raw: &mut Vec<u8>,
) -> io::Result<bool> {
    out.clear();
    match source {
        Source::File(file) => {
            let target = if to_net.is_some() {
                &mut *raw
            } else {
                &mut *out
            };
            target.resize(CHUNK, 0);
            let n = loop {
                match file.read(target) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        target.clear();
                        return Err(e);
                    }
                }
            };
            target.truncate(n);
            if let Some(t) = to_net {
                t.convert(raw, out);
            }
            Ok(n == 0)
        }
        Source::Lines(lines) => {
            for _ in 0..LINES_MAX {
                if out.len() >= LINES_CHUNK {
                    break;
                }
                match lines.next() {
                    Some(line) => out.extend_from_slice(&line),
                    None => return Ok(true),
                }
            }
            Ok(false)
        }
    }
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
    #[cfg(unix)]
    splice: Option<crate::sys::SplicePipe>,
    protected: bool,
    upload: bool,
    /// The storage said it is local and fast (see [`Filesystem::is_local_fast`]).
    ///
    /// [`Filesystem::is_local_fast`]: crate::fs::Filesystem::is_local_fast
    fast_storage: bool,
    /// The file side runs as [`FileJob`]s.
    jobs: bool,
    /// Buffers and the job of a file side run as jobs.
    side: Box<Side>,
    /// A job is out: the source or sink is away.
    job_out: bool,
    /// Upload: the client closed the data connection.
    net_eof: bool,
    /// Upload: the last bytes are written and the file flushed.
    flushed: bool,
}

/// The state of a file side run as [`FileJob`]s (boxed: most transfers
/// never use it).
#[derive(Default)]
struct Side {
    /// A job ready to be handed out.
    job: Option<FileJob>,
    /// Download: the next buffer, read ahead.
    ahead: Option<Vec<u8>>,
    /// A buffer to reuse for the next job.
    spare: Vec<u8>,
    /// Download: the scratch buffer of an ASCII conversion.
    raw: Vec<u8>,
    /// A file job failed; reported in order.
    file_error: Option<io::Error>,
    /// Upload: received bytes (converted) waiting to be written.
    pending: Vec<u8>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("cmd", &self.cmd)
            .field("file_path", &self.file_path)
            .field("ascii", &self.ascii)
            .field("zero_copy", &self.zero_copy)
            .field("protected", &self.protected)
            .field("fast_storage", &self.fast_storage)
            .field("jobs", &self.jobs)
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
            upload: sink.is_some(),
            source,
            sink,
            ascii,
            // sendfile(2) and splice(2) are Linux calls; elsewhere every transfer copies
            zero_copy: zero_copy && cfg!(unix),
            throttle,
            to_net: ToNetwork::default(),
            from_net: FromNetwork::default(),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            bytes: Arc::new(AtomicU64::new(0)),
            started: None,
            #[cfg(unix)]
            splice: None,
            protected: false,
            fast_storage: false,
            jobs: false,
            side: Box::default(),
            job_out: false,
            net_eof: false,
            flushed: false,
        }
    }

    /// Also keep to a user's bandwidth shared by all of that user's
    /// transfers ([`crate::auth::AccountLimits`]); zero-copy is then off.
    pub(crate) fn with_user_rate(mut self, rate: Option<crate::shared::SharedRate>) -> Self {
        if let Some(r) = rate {
            self.throttle.share(r);
            self.zero_copy = false;
        }
        self
    }

    /// Whether the storage is local and fast (see
    /// [`Filesystem::is_local_fast`](crate::fs::Filesystem::is_local_fast)).
    /// Without it, a driver whose thread serves other sessions too moves
    /// the file side off that thread (see [`Transfer::use_file_jobs`]).
    pub fn with_fast_storage(mut self, fast: bool) -> Self {
        self.fast_storage = fast;
        self
    }

    /// Called by a driver whose thread serves other sessions, before the
    /// first pump: unless the storage is local and fast, every file or
    /// filesystem call of this transfer then runs as a [`FileJob`] (the
    /// pump answers [`Pump::Waiting`]; see [`Transfer::take_file_job`]),
    /// and zero-copy is off (sendfile and splice block on the file too).
    /// A listing always runs as jobs: it makes a filesystem call per entry
    /// (a `stat`), so even on a local disk a big directory would hold the
    /// thread for long; as jobs it goes in bounded pieces.
    /// True when the transfer runs its file side as jobs.
    pub fn use_file_jobs(&mut self) -> bool {
        let listing = matches!(self.source, Some(Source::Lines(_)));
        if !self.fast_storage || listing {
            self.jobs = true;
            self.zero_copy = false;
        }
        self.jobs
    }

    /// The file work to run next, if any: run it ([`FileJob::run`], on any
    /// thread) and give its result to [`Transfer::file_done`]. At most one
    /// job is out at a time.
    pub fn take_file_job(&mut self) -> Option<FileJob> {
        let job = self.side.job.take();
        if job.is_some() {
            self.job_out = true;
        }
        job
    }

    /// Whether a file job is out: the transfer's source or sink is away
    /// until [`Transfer::file_done`] brings it back, so the transfer must
    /// not be finished before.
    pub fn file_busy(&self) -> bool {
        self.job_out
    }

    /// The transfer ends: take back a job not handed out yet.
    pub fn recall_file_job(&mut self) {
        match self.side.job.take().map(|j| j.0) {
            None => {}
            Some(Job::Read {
                source,
                to_net,
                buf,
                raw,
            }) => {
                self.source = Some(source);
                if let Some(t) = to_net {
                    self.to_net = t;
                }
                self.side.spare = buf;
                self.side.raw = raw;
            }
            Some(Job::Write { sink, mut data, .. }) => {
                self.sink = Some(sink);
                data.append(&mut self.side.pending);
                self.side.pending = data;
            }
        }
    }

    /// The result of the job last taken with [`Transfer::take_file_job`].
    pub fn file_done(&mut self, done: FileDone) {
        self.job_out = false;
        match done.0 {
            Done::Read {
                source,
                to_net,
                buf,
                raw,
                result,
            } => {
                self.source = Some(source);
                if let Some(t) = to_net {
                    self.to_net = t;
                }
                self.side.raw = raw;
                match result {
                    Ok(eof) => {
                        self.eof = eof;
                        self.side.ahead = Some(buf);
                    }
                    Err(e) => {
                        self.side.spare = buf;
                        self.side.file_error = Some(e);
                    }
                }
            }
            Done::Write {
                sink,
                data,
                flush,
                result,
            } => {
                self.sink = Some(sink);
                self.side.spare = data;
                match result {
                    Ok(()) => self.flushed = flush,
                    Err(e) => self.side.file_error = Some(e),
                }
            }
        }
    }

    /// Download with jobs: read ahead while the socket side works.
    fn read_ahead(&mut self) {
        if self.upload
            || self.job_out
            || self.side.job.is_some()
            || self.side.ahead.is_some()
            || self.eof
            || self.side.file_error.is_some()
        {
            return;
        }
        let Some(source) = self.source.take() else {
            return;
        };
        let to_net = (self.ascii && matches!(source, Source::File(_)))
            .then(|| std::mem::take(&mut self.to_net));
        self.side.job = Some(FileJob(Job::Read {
            source,
            to_net,
            buf: std::mem::take(&mut self.side.spare),
            raw: std::mem::take(&mut self.side.raw),
        }));
    }

    /// Upload with jobs: hand what was received to a write job (the last one
    /// flushes the file). False when the sink is away.
    fn write_behind(&mut self, flush: bool) -> bool {
        if self.job_out || self.side.job.is_some() {
            return false;
        }
        let Some(sink) = self.sink.take() else {
            return false;
        };
        let data = std::mem::replace(&mut self.side.pending, std::mem::take(&mut self.side.spare));
        self.side.job = Some(FileJob(Job::Write { sink, data, flush }));
        true
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

    /// An upload whose client closed the data connection: every byte it
    /// sent is read (what is left is writing it to the file).
    pub fn client_done(&self) -> bool {
        self.net_eof
    }

    /// Whether the transfer is protected with TLS (PROT P).
    pub fn is_protected(&self) -> bool {
        self.protected
    }

    /// The direction of the transfer.
    pub fn direction(&self) -> Direction {
        if self.upload {
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

    /// Where the latest pause of its bandwidth limit ends, readable while
    /// the transfer runs (the session's stall timer).
    pub(crate) fn pause_end(&self) -> super::PauseEnd {
        self.throttle.pause_end()
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
        match (self.direction(), self.jobs) {
            (Direction::Send, false) => self.pump_send(sock, budget, now),
            (Direction::Receive, false) => self.pump_receive(sock, budget, now),
            (Direction::Send, true) => {
                let r = self.pump_send_jobs(sock, budget, now);
                if r.is_ok() {
                    self.read_ahead();
                }
                r
            }
            (Direction::Receive, true) => self.pump_receive_jobs(sock, budget, now),
        }
    }

    /// A download whose file side runs as jobs: write the current buffer,
    /// then the one read ahead.
    fn pump_send_jobs<S: Write>(
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
                if let Some(next) = self.side.ahead.take() {
                    self.side.spare = std::mem::replace(&mut self.buf, next);
                    self.pos = 0;
                    continue;
                }
                if let Some(e) = self.side.file_error.take() {
                    return Err(TransferError::Local(e));
                }
                if self.eof {
                    return Ok(Pump::Done);
                }
                self.read_ahead();
                return Ok(Pump::Waiting);
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

    /// An upload whose file side runs as jobs: read the socket into a
    /// buffer of at most about two chunks while the previous one is written.
    fn pump_receive_jobs<S: Read>(
        &mut self,
        sock: &mut S,
        budget: usize,
        now: Instant,
    ) -> Result<Pump, TransferError> {
        let mut moved = 0usize;
        loop {
            if let Some(e) = self.side.file_error.take() {
                return Err(TransferError::Local(e));
            }
            if self.net_eof {
                if self.job_out
                    || self.side.job.is_some()
                    || (!self.flushed && self.write_behind(true))
                {
                    return Ok(Pump::Waiting);
                }
                return Ok(Pump::Done);
            }
            if let Some(at) = self.throttle.resume_at(now) {
                return Ok(Pump::Paused(at));
            }
            if moved >= budget {
                return Ok(Pump::Progress);
            }
            if self.side.pending.len() >= CHUNK {
                if self.write_behind(false) {
                    continue;
                }
                return Ok(Pump::Waiting);
            }
            let limit = self.throttle.chunk(CHUNK);
            let read = if self.ascii {
                if self.buf.len() < limit {
                    self.buf.resize(limit, 0);
                }
                sock.read(&mut self.buf[..limit])
            } else {
                let start = self.side.pending.len();
                self.side.pending.resize(start + limit, 0);
                let r = sock.read(&mut self.side.pending[start..]);
                self.side
                    .pending
                    .truncate(start + *r.as_ref().unwrap_or(&0));
                r
            };
            match read {
                Ok(0) => {
                    if self.ascii {
                        self.from_net.finish(&mut self.side.pending);
                    }
                    self.net_eof = true;
                }
                Ok(n) => {
                    if self.ascii {
                        self.from_net
                            .convert(&self.buf[..n], &mut self.side.pending);
                    }
                    moved += n;
                    self.count(n, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.side.pending.is_empty() {
                        self.write_behind(false);
                    }
                    return Ok(Pump::Blocked);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TransferError::Network(e)),
            }
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
                #[cfg(unix)]
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
        self.pos = 0;
        let Some(source) = &mut self.source else {
            self.buf.clear();
            self.eof = true;
            return Ok(());
        };
        let to_net = (self.ascii && matches!(source, Source::File(_))).then_some(&mut self.to_net);
        match next_chunk(source, to_net, &mut self.buf, &mut self.side.raw) {
            Ok(eof) => {
                self.eof = eof;
                Ok(())
            }
            Err(e) => Err(TransferError::Local(e)),
        }
    }

    /// Zero-copy upload step: socket -> pipe -> file. `None` when splice is
    /// not possible here (the caller then copies); `Some(Ok(None))` when the
    /// socket would block; `Some(Ok(Some(0)))` at the end of the upload.
    #[cfg(unix)]
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
        let mut converted = Vec::new();
        loop {
            if let Some(at) = self.throttle.resume_at(now) {
                return Ok(Pump::Paused(at));
            }
            if moved >= budget {
                return Ok(Pump::Progress);
            }
            #[cfg(unix)]
            if self.zero_copy {
                match self.splice_receive(sock, now) {
                    Some(Err(e)) => return Err(e),
                    Some(Ok(Some(n))) if n > 0 => {
                        moved += n;
                        continue;
                    }
                    // Nothing more to splice, or its end of stream: a
                    // read(2) tells which. splice(2) stops before TCP urgent
                    // data (a byte a client sent with MSG_OOB) and finds
                    // nothing past it, not even the end of the stream, so
                    // the bytes behind it would be lost, or wait forever.
                    // The read steps over the urgent byte, as the copy
                    // path's reads (and pyftpdlib's recv) do, and splice
                    // moves the rest.
                    Some(Ok(_)) => {}
                    // no splice here: copy (for now, or from now on)
                    None => {}
                }
            }
            match self.receive_copy(sock, &mut converted, now)? {
                Some(0) => return Ok(Pump::Done),
                Some(n) => moved += n,
                None => return Ok(Pump::Blocked),
            }
        }
    }

    /// One read of an upload's bytes, written to the sink (converted for
    /// TYPE A); `None` when the socket would block, `Some(0)` at the end of
    /// the upload (the sink flushed).
    fn receive_copy<S: Read>(
        &mut self,
        sock: &mut S,
        converted: &mut Vec<u8>,
        now: Instant,
    ) -> Result<Option<usize>, TransferError> {
        if self.buf.len() < CHUNK {
            self.buf.resize(CHUNK, 0);
        }
        let limit = self.throttle.chunk(CHUNK);
        let n = loop {
            match sock.read(&mut self.buf[..limit]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TransferError::Network(e)),
            }
        };
        let Some(sink) = self.sink.as_mut() else {
            return Ok(Some(0));
        };
        if n == 0 {
            if self.ascii {
                converted.clear();
                self.from_net.finish(converted);
                sink.write_all(converted).map_err(TransferError::Local)?;
            }
            sink.flush().map_err(TransferError::Local)?;
            return Ok(Some(0));
        }
        if self.ascii {
            converted.clear();
            self.from_net.convert(&self.buf[..n], converted);
            sink.write_all(converted).map_err(TransferError::Local)?;
        } else {
            sink.write_all(&self.buf[..n])
                .map_err(TransferError::Local)?;
        }
        self.count(n, now);
        Ok(Some(n))
    }
}

/// sendfile reports errors of both sides; a failing read of the file is local.
#[cfg(unix)]
fn classify_sendfile_error(e: io::Error) -> TransferError {
    match e.raw_os_error() {
        Some(libc::EIO) | Some(libc::EOVERFLOW) | Some(libc::ENOMEM) => TransferError::Local(e),
        _ => TransferError::Network(e),
    }
}
