//! `session`: a [`Session`] over a `MemoryFs`, driven the way a driver drives it.
//!
//! The input picks a configuration (TLS or not, its policy switches,
//! IPv4/IPv6, privileged/foreign ports, time zone) and then a sequence of
//! steps: control lines (commands from the table with interesting arguments,
//! or raw bytes), an over-long line, the client connecting to the passive
//! listener, the active connection succeeding or failing, the running
//! transfer ending (pumped to completion through a socket pair, or failed
//! with each error kind), a deferred login check or filesystem task being
//! run, TLS changes reported done, shutdown, the client going away, and the
//! fake clock: steps forward with a tick, ticks early, and jumps to the
//! session's next deadline (every timeout is the session's own).
//!
//! The harness behaves like the drivers in `src/server`: it answers
//! `ListenPassive` at once (as both drivers do), runs a `Login` either at
//! once or later (an offloaded check), connects actively only in the
//! background (so lines can arrive while connecting), feeds `DataConnected`
//! only for a listener or a connect the session asked for and that is still
//! open, `TransferDone` only for a transfer it was given (with `Aborted` only
//! when asked to abort, or once shutting down), stops feeding lines once the
//! session closed or a TLS handshake failed, and ends with `Disconnected`.
//!
//! # Invariants
//!
//! - Replies are well-formed: the wire form of every `Reply` action is
//!   whole CRLF-terminated lines; no LF inside a line and a CR only as CR
//!   NUL; it starts with `ddd-` or `ddd ` (100..=599, the reply's code) and
//!   a multi-line one ends with the same code and a space: exactly one reply.
//! - Every command line gets at most one final reply (2xx-5xx): the number
//!   of final replies never exceeds the number of lines fed. Once the
//!   session is quiescent (no login check pending, no transfer running, no
//!   active connect in progress, no passive listener waiting — so no
//!   transfer can be waiting either — and not closing) every line fed has
//!   had exactly one.
//!
//!   Accounting of the exceptions. 421 replies are not counted as answers
//!   (idle timeout, shutdown, a data timeout: all of them close the
//!   session), except the 421 of a passive timeout while a transfer waited
//!   for its connection (150 sent): that one is the transfer command's final
//!   reply. Lines queued when AUTH or REIN changes the security of the
//!   control connection are dropped, never run (counted as dropped, and a
//!   reply to one of them later is a failure). Otherwise lines legitimately
//!   go unanswered only on the way out: after QUIT
//!   during a transfer (the session closes when the transfer ends), after
//!   `Shutdown` (queued lines are dropped, later ones ignored; the session
//!   closes), and when the session closes or the control TLS handshake fails
//!   (the driver feeds no more lines). In all of these the session never
//!   becomes quiescent again, so the exact count is only checked while
//!   nothing of this has happened.
//! - Every path the filesystem sees is absolute and normalised (no `.`,
//!   `..` or empty component): nothing outside the virtual root.
//! - `StartTransfer` comes only after a 125/150 preliminary reply that no
//!   transfer has used yet, on an established data connection, with no
//!   other transfer running. `CloseData` never comes while a transfer runs.
//!   `ConnectActive` targets the client's own address and a port >= 1024
//!   unless the configuration permits otherwise.
//! - Listing data (LIST, NLST, MLSD) is CRLF-terminated lines with no bare
//!   CR or LF inside, even for the file whose name holds CR and LF.
//!
//! Also: nothing is handled after `Disconnected`; the session never asks
//! for two login checks at once; a 1xx never comes during a transfer or
//! while another one waits.
//!
//! The findings this target made in `src/session` (a PORT left without a
//! reply, lines stranded behind a cancelled transfer, queued commands run
//! before the driver answered a PASV, two lines answered by one 425, lines
//! dropped during a login check, a too-long line overtaking queued
//! replies) are fixed; their inputs are in `fuzz/regressions/session/`.
//! Set `FTPD_FUZZ_TRACE=1` to print every input and action.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::data::{Pump, Transfer, TransferCmd, TransferError};
use ftpdlib::fs::MemoryFsFactory;
use ftpdlib::proto::command;
use ftpdlib::session::{canonical_ip, Action, FsTask, Input, LoginTask, Session, SessionContext};
use ftpdlib::tls::TlsConfig;
use ftpdlib::ServerConfig;

use super::codecs::is_normalised;
use super::cursor::Cursor;

/// Steps per input, at most.
const MAX_STEPS: usize = 200;
/// Bytes one upload sends, at most.
const MAX_UPLOAD: usize = 2048;

/// Whether to print what happens (`FTPD_FUZZ_TRACE=1`, for reading a crash).
fn tracing() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTPD_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($t:tt)*) => {
        if tracing() {
            eprintln!($($t)*);
        }
    };
}

/// The TLS configuration every TLS-enabled input uses (made once).
fn tls_config() -> Option<TlsConfig> {
    static TLS: OnceLock<Option<TlsConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        let (cert, key) = super::pem::real_pair()?;
        TlsConfig::from_pem(cert, key).ok()
    })
    .clone()
}

/// Arguments worth trying, beside raw bytes.
const ARGS: &[&[u8]] = &[
    b"/",
    b".",
    b"..",
    b"../..",
    b"/../../etc/passwd",
    b"dir",
    b"dir/",
    b"dir/file",
    b"dir/../file.txt",
    b"dir//./sub",
    b"file.txt",
    b"empty",
    b"/nonexistent",
    b"new",
    b"new/deeper",
    b"we\r\nird",
    b"sp ace",
    b"-la",
    b"-la dir",
    b"*",
    b"0",
    b"1",
    b"5",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-1",
    b"I",
    b"A",
    b"L 8",
    b"S",
    b"F",
    b"P",
    b"C",
    b"E",
    b"TLS",
    b"SSL",
    b"ALL",
    b"2",
    b"user",
    b"pw",
    b"anonymous",
    b"ro",
    b"MLST type;size;modify;",
    b"MLST",
    b"UTF8 ON",
    b"755 file.txt",
    b"0777 dir",
    b"20200101000000 file.txt",
    b"99991231235959 dir/file",
    b"19700101000000.123 file.txt",
    b"CHMOD",
    b"HELP",
];

/// A control line for `remote` (PORT/EPRT arguments that reach the client).
fn line(c: &mut Cursor, remote: SocketAddr) -> Vec<u8> {
    let table = command::table();
    let mut l = match c.u8() % 8 {
        0 => c.bytes(96).to_vec(),
        1 => {
            let port = c.u16();
            let [p1, p2] = port.to_be_bytes();
            match canonical_ip(remote.ip()) {
                IpAddr::V4(v4) if c.bool() => {
                    let [a, b, c_, d] = v4.octets();
                    format!("PORT {a},{b},{c_},{d},{p1},{p2}").into_bytes()
                }
                IpAddr::V4(v4) => format!("EPRT |1|{v4}|{port}|").into_bytes(),
                IpAddr::V6(v6) => format!("EPRT |2|{v6}|{port}|").into_bytes(),
            }
        }
        2 => b"USER user".to_vec(),
        3 => b"PASS pw".to_vec(),
        n => {
            let spec = table[c.below(table.len())];
            let mut l = spec.name.as_bytes().to_vec();
            if n == 7 && c.bool() {
                l.make_ascii_lowercase();
            }
            match c.u8() % 4 {
                0 => {}
                1 => {
                    l.push(b' ');
                    l.extend_from_slice(c.bytes(48));
                }
                _ => {
                    l.push(b' ');
                    l.extend_from_slice(c.pick(ARGS));
                }
            }
            l
        }
    };
    // The framer never gives a LF inside a line.
    l.retain(|&b| b != b'\n');
    l
}

/// How the running transfer ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Complete,
    Network,
    Local,
    Disk,
    TimedOut,
    Handshake,
    /// Cut at the end of the shutdown grace period.
    ShutdownCut,
}

/// Check the wire form of one `Reply` and return the codes of the replies it holds.
fn parse_replies(bytes: &[u8]) -> Vec<u16> {
    assert!(
        bytes.ends_with(b"\r\n"),
        "reply not ending in CRLF: {bytes:?}"
    );
    let body = &bytes[..bytes.len() - 2];
    let mut codes = Vec::new();
    let mut multi: Option<Vec<u8>> = None;
    for l in split_crlf(body) {
        assert!(!l.contains(&b'\n'), "LF inside a reply line: {bytes:?}");
        for (i, &b) in l.iter().enumerate() {
            if b == b'\r' {
                assert_eq!(l.get(i + 1), Some(&0), "bare CR in a reply line: {bytes:?}");
            }
        }
        match &multi {
            Some(code) => {
                if l.len() >= 4 && l[..3] == code[..] && l[3] == b' ' {
                    codes.push(code_of(code));
                    multi = None;
                }
            }
            None => {
                let ok = l.len() >= 4
                    && (b'1'..=b'5').contains(&l[0])
                    && l[1..3].iter().all(u8::is_ascii_digit)
                    && (l[3] == b' ' || l[3] == b'-');
                assert!(ok, "malformed reply line {l:?} in {bytes:?}");
                if l[3] == b'-' {
                    multi = Some(l[..3].to_vec());
                } else {
                    codes.push(code_of(&l[..3]));
                }
            }
        }
    }
    assert!(multi.is_none(), "multi-line reply not ended: {bytes:?}");
    codes
}

fn code_of(d: &[u8]) -> u16 {
    d.iter().fold(0u16, |a, &b| a * 10 + u16::from(b - b'0'))
}

/// Split at CRLF (a CR followed by NUL stays inside its line).
fn split_crlf(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\r' && b[i + 1] == b'\n' {
            out.push(&b[start..i]);
            i += 2;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&b[start..]);
    out
}

/// Check listing data: CRLF lines, no bare CR or LF.
fn check_listing(cmd: TransferCmd, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    assert!(
        data.ends_with(b"\r\n"),
        "{cmd:?} data not ending in CRLF: {data:?}"
    );
    for l in split_crlf(&data[..data.len() - 2]) {
        assert!(
            !l.contains(&b'\n'),
            "{cmd:?}: LF inside a listing line: {data:?}"
        );
        for (i, &b) in l.iter().enumerate() {
            if b == b'\r' {
                assert_eq!(
                    l.get(i + 1),
                    Some(&0),
                    "{cmd:?}: bare CR in a listing line: {data:?}"
                );
            }
        }
    }
}

/// Move a transfer through a socket pair: a download to its end (returned),
/// an upload of `upload` bytes to the client's close.
fn pump(t: &mut Transfer, upload: &[u8]) -> Result<Vec<u8>, TransferError> {
    let (mut ours, mut theirs) = UnixStream::pair().map_err(TransferError::Network)?;
    ours.set_nonblocking(true).map_err(TransferError::Network)?;
    theirs
        .set_nonblocking(true)
        .map_err(TransferError::Network)?;
    let upload_cmd = t.cmd.is_upload();
    if upload_cmd {
        theirs.write_all(upload).map_err(TransferError::Network)?;
        theirs
            .shutdown(std::net::Shutdown::Write)
            .map_err(TransferError::Network)?;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    for _ in 0..100_000 {
        let p = t.pump(&mut ours, 1 << 16, Instant::now())?;
        if !upload_cmd {
            loop {
                match theirs.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        match p {
            Pump::Done => {
                drop(ours);
                if !upload_cmd {
                    let _ = theirs.set_nonblocking(false);
                    let _ = theirs.read_to_end(&mut got);
                }
                return Ok(got);
            }
            Pump::Paused(_) | Pump::Blocked | Pump::Progress | Pump::Waiting => {}
        }
        // (file jobs only run for storage that may be slow; run them inline)
        if let Some(job) = t.take_file_job() {
            t.file_done(job.run());
        }
    }
    panic!("{:?} never finished", t.cmd);
}

/// The driver's view of the session.
struct Driver {
    s: Session,
    factory: MemoryFsFactory,
    /// The fake monotonic clock.
    now: Instant,
    remote: SocketAddr,
    permit_foreign: bool,
    permit_privileged: bool,
    /// A login check asked for and not answered yet.
    login: Option<LoginTask>,
    /// Filesystem tasks run later (offloaded), oldest first.
    fs_tasks: std::collections::VecDeque<FsTask>,
    /// An active connect in progress.
    connecting: bool,
    /// A passive listener waiting for the client.
    listening: bool,
    /// An established data connection.
    data_open: bool,
    /// A 125/150 sent for a transfer that has not started yet.
    preliminary: bool,
    /// The running transfer.
    running: Option<Transfer>,
    /// Bytes the client sends in the next upload.
    upload: Vec<u8>,
    /// The session asked to close, or the driver closes (failed handshake).
    closing: bool,
    disconnected: bool,
    shutdown: bool,
    /// Lines fed (while the session reads them).
    fed: usize,
    /// Final replies counted as answers.
    answered: usize,
    /// Lines the session dropped at a change of security state.
    dropped: usize,
    /// Whether the current input is a tick: a 421 then may be a passive
    /// timeout, the final answer of a transfer that waited for its
    /// connection; a CloseData may cancel a connect that timed out.
    passive_timeout_input: bool,
    /// A TLS change asked for on the control connection, not reported done yet.
    tls_pending: bool,
    /// A data connection being secured, not reported done yet.
    data_tls_pending: bool,
}

impl Driver {
    /// Give the session an input (every input goes through here).
    fn input(&mut self, input: Input<'_>) -> Vec<Action> {
        self.s.handle(input, self.now)
    }

    fn handle(&mut self, input: Input<'_>, c: &mut Cursor) {
        match &input {
            Input::Line(l) => trace!(">> Line({:?})", String::from_utf8_lossy(l)),
            other => trace!(">> {other:?}"),
        }
        let actions = self.input(input);
        self.actions(actions, c);
    }

    /// Carry out actions in order, as `server::conn` does (follow-ups first).
    fn actions(&mut self, actions: Vec<Action>, c: &mut Cursor) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            trace!("   {a:?}");
            let follow_up = match a {
                Action::Reply(reply) => {
                    let codes = parse_replies(&reply.to_bytes());
                    assert_eq!(codes, [reply.code], "not one reply: {reply:?}");
                    for code in codes {
                        self.on_reply(code);
                    }
                    None
                }
                Action::ListenPassive(_) => {
                    self.listening = false;
                    // Answered at once, as both drivers do.
                    let input = match c.u8() % 8 {
                        6 => Input::PassiveFailed(std::io::ErrorKind::AddrInUse.into()),
                        7 => Input::PassiveFailed(std::io::Error::from_raw_os_error(libc::EMFILE)),
                        _ => {
                            self.listening = true;
                            Input::PassiveListening(1024 + c.u16() % 64000)
                        }
                    };
                    // The session only keeps the listener if it announced it.
                    trace!(">> {input:?}");
                    let more = self.input(input);
                    if more.iter().any(|a| matches!(a, Action::CloseData)) {
                        self.listening = false;
                    }
                    Some(more)
                }
                Action::ConnectActive { remote, local: _ } => {
                    if !self.permit_foreign {
                        assert_eq!(
                            canonical_ip(remote.ip()),
                            canonical_ip(self.remote.ip()),
                            "active connect to a foreign address"
                        );
                    }
                    if !self.permit_privileged {
                        assert!(remote.port() >= 1024, "active connect to {remote}");
                    }
                    self.data_open = false;
                    self.listening = false;
                    self.connecting = true;
                    None
                }
                Action::CloseData => {
                    assert!(self.running.is_none(), "CloseData during a transfer");
                    assert!(
                        !self.connecting || self.passive_timeout_input,
                        "CloseData cancels a PORT before its reply"
                    );
                    self.listening = false;
                    self.connecting = false;
                    self.data_open = false;
                    // at a deadline, the reply that follows (421 passive
                    // timeout, 425 connect timeout) answers a waiting transfer
                    if !self.passive_timeout_input {
                        self.preliminary = false;
                    }
                    None
                }
                Action::StartTls => {
                    self.drop_at_security_change();
                    if c.u8() % 16 == 15 {
                        // The handshake fails: the driver closes the connection.
                        self.closing = true;
                    }
                    self.tls_pending = true;
                    None
                }
                Action::StopTls => {
                    self.drop_at_security_change();
                    self.tls_pending = true;
                    None
                }
                Action::SecureData => {
                    assert!(self.data_open, "SecureData without a data connection");
                    self.data_tls_pending = true;
                    None
                }
                Action::StartTransfer(t) => {
                    assert!(self.preliminary, "StartTransfer without a 125/150 reply");
                    assert!(self.data_open, "StartTransfer without a data connection");
                    assert!(self.running.is_none(), "two transfers at once");
                    self.preliminary = false;
                    self.running = Some(t);
                    None
                }
                Action::AbortTransfer => self.running.take().map(|t| {
                    trace!(">> TransferDone(Aborted)");
                    self.data_open = false;
                    self.input(Input::TransferDone {
                        transfer: t,
                        result: Err(TransferError::Aborted),
                        seconds: 0.0,
                    })
                }),
                Action::Login(task) => {
                    assert!(self.login.is_none(), "two login checks at once");
                    if c.u8() % 4 == 3 {
                        // Offloaded: answered by a later step.
                        self.login = Some(task);
                        None
                    } else {
                        let outcome = task.run();
                        trace!(">> LoginDone({outcome:?})");
                        Some(self.input(Input::LoginDone(outcome)))
                    }
                }
                Action::Fs(task) => {
                    if c.u8() % 4 == 3 {
                        // Offloaded: answered by a later step.
                        self.fs_tasks.push_back(task);
                        None
                    } else {
                        let done = task.run();
                        trace!(">> FsDone({done:?})");
                        Some(self.input(Input::FsDone(done)))
                    }
                }
                Action::Event(_) => None,
                Action::Offence(report) => {
                    report.record();
                    None
                }
                Action::Close | Action::CloseNow => {
                    self.closing = true;
                    None
                }
                other => panic!("an action the harness does not know: {other:?}"),
            };
            if let Some(more) = follow_up {
                for a in more.into_iter().rev() {
                    queue.push_front(a);
                }
            }
            self.check_paths();
        }
        assert!(
            self.answered + self.dropped <= self.fed,
            "{} final replies for {} lines ({} dropped at a TLS change)",
            self.answered,
            self.fed,
            self.dropped
        );
    }

    /// AUTH or REIN changes the security of the control connection: the
    /// lines the session holds were received before the change and are
    /// dropped, never run after it. AUTH/REIN itself was answered (its reply
    /// comes before this action), and while a line waits no other line can
    /// be outstanding for another reason (nothing runs behind a queued line),
    /// so every line without a reply now is one of them.
    fn drop_at_security_change(&mut self) {
        self.dropped = self.fed - self.answered;
    }

    fn on_reply(&mut self, code: u16) {
        match code {
            100..=199 => {
                assert!(
                    !self.preliminary,
                    "two preliminary replies without a transfer"
                );
                assert!(
                    self.running.is_none(),
                    "preliminary reply during a transfer"
                );
                self.preliminary = true;
            }
            421 => {
                if self.passive_timeout_input && self.preliminary {
                    self.answered += 1;
                    self.preliminary = false;
                }
            }
            _ => self.answered += 1,
        }
    }

    fn check_paths(&mut self) {
        for p in self.factory.take_paths_seen() {
            assert!(is_normalised(&p), "the filesystem was asked about {p:?}");
        }
    }

    /// A tick at the current time.
    fn tick(&mut self, c: &mut Cursor) {
        if self.disconnected {
            return;
        }
        self.passive_timeout_input = true;
        self.handle(Input::Tick, c);
        self.passive_timeout_input = false;
    }

    /// Time passes up to the session's next deadline, and the driver ticks.
    fn expire(&mut self, c: &mut Cursor) {
        if let Some(d) = self.s.next_deadline() {
            assert!(
                d >= self.now - Duration::from_secs(3600 * 24),
                "a deadline far in the past"
            );
            self.now = self.now.max(d);
        }
        self.tick(c);
    }

    fn quiescent(&self) -> bool {
        !self.s.awaits_driver()
            && self.login.is_none()
            && self.fs_tasks.is_empty()
            && self.running.is_none()
            && !self.connecting
            && !self.listening
            && !self.closing
            && !self.disconnected
            && !self.shutdown
    }

    fn check_quiescent(&self) {
        if self.quiescent() {
            assert_eq!(
                self.answered + self.dropped,
                self.fed,
                "quiescent with {} lines fed, {} answered, {} dropped at a TLS change",
                self.fed,
                self.answered,
                self.dropped
            );
        }
    }

    fn feed_line(&mut self, l: &[u8], c: &mut Cursor) {
        if self.closing || self.disconnected {
            return;
        }
        // A full queue: the driver stops reading the control connection.
        if !self.s.accepts_lines() {
            return;
        }
        self.fed += 1;
        self.handle(Input::Line(l), c);
    }

    /// Run a deferred login check, or else the oldest deferred filesystem task.
    fn run_login(&mut self, c: &mut Cursor) {
        if let Some(task) = self.login.take() {
            self.handle(Input::LoginDone(task.run()), c);
        } else if let Some(task) = self.fs_tasks.pop_front() {
            self.handle(Input::FsDone(task.run()), c);
        }
    }

    fn end_transfer(&mut self, how: End, c: &mut Cursor) {
        let Some(mut t) = self.running.take() else {
            return;
        };
        let result = match how {
            End::Complete => match pump(&mut t, &self.upload) {
                Ok(data) => {
                    if matches!(
                        t.cmd,
                        TransferCmd::List | TransferCmd::Nlst | TransferCmd::Mlsd
                    ) {
                        check_listing(t.cmd, &data);
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
            End::Network => {
                if t.cmd.is_upload() {
                    // Part of the upload arrived before the connection broke.
                    let n = self.upload.len() / 2;
                    let _ = pump(&mut t, &self.upload[..n]);
                }
                Err(TransferError::Network(
                    std::io::ErrorKind::ConnectionReset.into(),
                ))
            }
            End::Local => Err(TransferError::Local(std::io::Error::from_raw_os_error(
                libc::EIO,
            ))),
            End::Disk => Err(TransferError::Local(std::io::Error::from_raw_os_error(
                libc::ENOSPC,
            ))),
            End::TimedOut => Err(TransferError::TimedOut),
            End::Handshake => Err(TransferError::Handshake(
                std::io::ErrorKind::InvalidData.into(),
            )),
            End::ShutdownCut => Err(TransferError::Aborted),
        };
        self.data_open = false;
        self.handle(
            Input::TransferDone {
                transfer: t,
                result,
                seconds: 0.25,
            },
            c,
        );
    }

    /// The driver closes the control connection (after Close, a failed
    /// handshake, or the client leaving): a running transfer is cut first.
    fn disconnect(&mut self, c: &mut Cursor) {
        if self.disconnected {
            return;
        }
        if !self.closing && c.u8() % 2 == 0 {
            // the client went away while the session was not closing: the
            // driver says so first (the session stops its work and decides
            // what becomes of a running transfer), then finishes
            let upload_sent = c.u8() % 2 == 0;
            let answered = self.answered;
            self.handle(Input::ControlLost { upload_sent }, c);
            assert_eq!(
                self.answered, answered,
                "a reply after the control connection was lost"
            );
            self.closing = true;
            // work already out comes back
            while let Some(task) = self.fs_tasks.pop_front() {
                let answered = self.answered;
                self.handle(Input::FsDone(task.run()), c);
                assert_eq!(
                    self.answered, answered,
                    "a reply after the control connection was lost"
                );
            }
        }
        if self.running.is_some() {
            self.end_transfer(End::Network, c);
        }
        self.login = None;
        self.closing = true;
        self.handle(Input::Disconnected, c);
        self.disconnected = true;
        // Filesystem tasks out at the end still come back (as the drivers
        // keep a connection until they do): an upload is finished, nothing
        // is said.
        for _ in 0..8 {
            let Some(task) = self.fs_tasks.pop_front() else {
                break;
            };
            let after = self.s.handle(Input::FsDone(task.run()), self.now);
            assert!(
                after
                    .iter()
                    .all(|a| matches!(a, Action::Event(_) | Action::Fs(_))),
                "a task's result answered after Disconnected: {after:?}"
            );
            for a in after {
                if let Action::Fs(t) = a {
                    self.fs_tasks.push_back(t);
                }
            }
        }
        let after = self.s.handle(Input::Line(b"NOOP"), self.now);
        assert!(
            after.is_empty(),
            "input handled after Disconnected: {after:?}"
        );
    }

    fn step(&mut self, c: &mut Cursor) {
        if self.closing && !self.disconnected && c.u8() % 2 == 0 {
            return self.disconnect(c);
        }
        match c.u8() % 16 {
            0..=6 => {
                let l = line(c, self.remote);
                self.feed_line(&l, c);
            }
            7 => {
                // Log in (two lines).
                let user = c.pick(&[
                    &b"USER user"[..],
                    b"USER ro",
                    b"USER anonymous",
                    b"USER nobody",
                ]);
                self.feed_line(user, c);
                let pass = c.pick(&[&b"PASS pw"[..], b"PASS wrong", b"PASS"]);
                self.feed_line(pass, c);
            }
            8 => {
                if !self.closing && !self.disconnected {
                    self.fed += 1;
                    self.handle(Input::LineTooLong, c);
                }
            }
            9 => self.run_login(c),
            10 => {
                if self.connecting {
                    self.connecting = false;
                    // a transfer command waits behind the connect: no 150
                    // while it runs (the lines run once it is answered may
                    // start a transfer of their own)
                    assert!(!self.preliminary, "a 150 before the connect was made");
                    if c.u8() % 4 == 0 {
                        self.handle(
                            Input::ActiveFailed(std::io::ErrorKind::ConnectionRefused.into()),
                            c,
                        );
                    } else {
                        self.data_open = true;
                        self.handle(Input::DataConnected, c);
                    }
                } else if self.listening && !self.data_open {
                    self.listening = false;
                    if c.u8() % 4 == 0 {
                        // nobody connects: the session's deadline passes
                        self.listening = true;
                        self.expire(c);
                    } else {
                        self.data_open = true;
                        self.handle(Input::DataConnected, c);
                    }
                }
            }
            11 => {
                let how = match c.u8() % 10 {
                    0 => End::Network,
                    1 => End::Local,
                    2 => End::Disk,
                    3 => End::TimedOut,
                    4 => End::Handshake,
                    5 if self.shutdown => End::ShutdownCut,
                    _ => End::Complete,
                };
                self.upload = c.bytes(255).repeat(1 + usize::from(c.u8() % 8));
                self.upload.truncate(MAX_UPLOAD);
                self.end_transfer(how, c);
            }
            12 => self.expire(c),
            13 => {
                if !self.shutdown && !self.closing {
                    self.shutdown = true;
                    self.handle(Input::Shutdown, c);
                }
            }
            14 => {
                if c.u8() % 4 == 0 {
                    self.disconnect(c);
                } else {
                    // a driver that wakes late: time passed, one tick
                    self.now += Duration::from_secs(u64::from(c.u16()));
                    self.tick(c);
                }
            }
            _ => {
                if self.tls_pending && c.u8() % 2 == 0 {
                    self.tls_pending = false;
                    self.handle(Input::TlsSwitched, c);
                } else if self.data_tls_pending && self.data_open {
                    self.data_tls_pending = false;
                    self.handle(Input::DataSecured, c);
                } else {
                    // an early tick (harmless), or one at a deadline
                    if c.u8() % 2 == 0 {
                        self.tick(c);
                    } else {
                        self.expire(c);
                    }
                }
            }
        }
        self.check_quiescent();
    }

    /// Bring the session to rest the way a patient client and driver would.
    fn settle(&mut self, c: &mut Cursor) {
        for _ in 0..8 {
            if self.closing || self.disconnected {
                break;
            }
            if self.login.is_some() || !self.fs_tasks.is_empty() {
                self.run_login(c);
            } else if self.tls_pending {
                self.tls_pending = false;
                self.handle(Input::TlsSwitched, c);
            } else if self.running.is_some() {
                self.end_transfer(End::Complete, c);
            } else if self.connecting {
                self.connecting = false;
                self.data_open = true;
                self.handle(Input::DataConnected, c);
            } else if self.listening {
                self.listening = false;
                self.data_open = true;
                self.handle(Input::DataConnected, c);
            } else if self.s.awaits_driver() {
                // a failed login's delay
                self.expire(c);
            } else {
                break;
            }
        }
        self.check_quiescent();
        self.disconnect(c);
    }
}

/// Make the tree every input starts from.
fn populate(f: &MemoryFsFactory) {
    let _ = f.create_dir_all(b"/dir/sub");
    let _ = f.create_dir_all(b"/empty");
    let _ = f.put_file(b"/file.txt", b"line one\nline two\r\n\x00\xff");
    let _ = f.put_file(b"/dir/file", &[0x42; 3000]);
    let _ = f.put_file(b"/we\r\nird", b"a name with CR LF");
    let _ = f.put_file(b"/dir/sub/x y", b"");
    f.take_paths_seen();
}

fn build(c: &mut Cursor) -> Driver {
    let flags = c.u8();
    let flags2 = c.u8();
    let mut config = ServerConfig {
        permit_privileged_ports: flags & 0x20 != 0,
        permit_foreign_addresses: flags & 0x40 != 0,
        use_gmt_times: flags & 0x80 == 0,
        max_login_attempts: u32::from(flags2 % 4),
        banner: if flags2 & 0x10 != 0 {
            "x".repeat(100)
        } else {
            "ready".into()
        },
        ..ServerConfig::default()
    };
    if flags & 1 != 0 {
        if let Some(mut tls) = tls_config() {
            tls.control_required = flags & 2 != 0;
            tls.data_required = flags & 4 != 0;
            tls.implicit = flags & 8 != 0;
            config.tls = Some(tls);
        }
    }
    if flags2 & 0x80 != 0 {
        // anti-flood bans: a few commands per (fake) second, two failed logins
        config.ban = Some(ftpdlib::config::BanPolicy {
            max_failed_logins: 2,
            max_commands: 8,
            ..Default::default()
        });
    }
    if flags2 & 0x20 != 0 {
        config.masquerade_address = Some(IpAddr::from([203, 0, 113, 7]));
    }
    let (remote, local) = match (flags >> 4) & 1 | (flags2 >> 5) & 2 {
        0 => (sa("127.0.0.1:40000"), sa("127.0.0.1:21")),
        1 => (sa("[::1]:40000"), sa("[::1]:21")),
        2 => (sa("[::ffff:10.0.0.2]:40000"), sa("[::ffff:10.0.0.1]:21")),
        _ => (sa("10.0.0.2:40000"), sa("10.0.0.1:21")),
    };
    let factory = MemoryFsFactory::new();
    populate(&factory);
    let auth = MemoryAuthorizer::new();
    // The homes must exist on disk for the authorizer; MemoryFs ignores them.
    let _ = auth.add_user("user", "pw", "/", "elradfmwMT");
    let _ = auth.add_user("ro", "pw", "/", "elr");
    let _ = auth.add_anonymous("/");
    let ctx = SessionContext::new(config, Arc::new(auth), Arc::new(factory.clone()))
        .expect("a shared memory region");
    let permit_foreign = ctx.config.permit_foreign_addresses;
    let permit_privileged = ctx.config.permit_privileged_ports;
    Driver {
        s: Session::new(ctx, remote, local),
        factory,
        now: Instant::now(),
        remote,
        permit_foreign,
        permit_privileged,
        login: None,
        fs_tasks: std::collections::VecDeque::new(),
        connecting: false,
        listening: false,
        data_open: false,
        preliminary: false,
        running: None,
        upload: Vec::new(),
        closing: false,
        disconnected: false,
        shutdown: false,
        fed: 0,
        answered: 0,
        dropped: 0,
        passive_timeout_input: false,
        tls_pending: false,
        data_tls_pending: false,
    }
}

/// A socket address from a literal (the ones above always parse).
fn sa(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 40000)))
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let mut d = build(&mut c);
    // The greeting is the answer to the connection, counted as a line.
    d.fed += 1;
    d.handle(Input::Connected, &mut c);
    let mut steps = 0;
    while !c.is_empty() && steps < MAX_STEPS && !d.disconnected {
        d.step(&mut c);
        steps += 1;
    }
    d.settle(&mut c);
}

/// REST argument parsing, through a logged-in session in binary mode: 350
/// with the number exactly when `arg` is all digits and fits a u64, else 501.
pub fn check_rest(arg: &[u8]) {
    if arg.contains(&b'\n') {
        return;
    }
    let mut c = Cursor::new(&[]);
    let mut d = build(&mut c);
    d.fed += 1;
    d.handle(Input::Connected, &mut c);
    for l in [&b"USER user"[..], b"PASS pw", b"TYPE I"] {
        d.feed_line(l, &mut c);
    }
    let mut line = b"REST ".to_vec();
    line.extend_from_slice(arg);
    let actions = d.s.handle(Input::Line(&line), d.now);
    let sent: Vec<u8> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r) => Some(r.to_bytes()),
            _ => None,
        })
        .flatten()
        .collect();
    let text = String::from_utf8_lossy(&sent);
    let arg_nonempty = !arg.is_empty();
    let expected = std::str::from_utf8(arg)
        .ok()
        .filter(|s| arg_nonempty && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok());
    match expected {
        Some(n) => assert_eq!(text, format!("350 Restarting at position {n}.\r\n")),
        None => assert!(text.starts_with("501 "), "REST {arg:?}: {text}"),
    }
}
