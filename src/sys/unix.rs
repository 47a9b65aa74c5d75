//! The only module with `unsafe` code: thin wrappers over OS calls that the
//! safe crates do not cover. Each block states why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};

/// `sendfile(2)` from the file descriptor `in_fd` (at its current offset,
/// which advances) to `out`, at most `count` bytes.
pub(crate) fn sendfile(out: &impl AsFd, in_fd: RawFd, count: usize) -> io::Result<usize> {
    // SAFETY: callers pass the descriptor of a file they own and keep open
    // for the duration of this call (a `ReadFile` borrowed by the transfer),
    // so the borrowed descriptor is valid while it is used here.
    let input = unsafe { BorrowedFd::borrow_raw(in_fd) };
    nix::sys::sendfile::sendfile(out.as_fd(), input, None, count).map_err(io::Error::from)
}

/// `renameat2(RENAME_EXCHANGE)`: swap the objects named `a` and `b` in the
/// directory `dir`, atomically (Linux 3.15; `EINVAL` where the filesystem
/// does not support it, `ENOENT` if either name is missing).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn rename_exchange(
    dir: &impl AsFd,
    a: &std::ffi::OsStr,
    b: &std::ffi::OsStr,
) -> io::Result<()> {
    renameat2_in(dir, a, b, libc::RENAME_EXCHANGE as libc::c_uint)
}

/// `renameat2(RENAME_NOREPLACE)`: rename `from` to `to` in the directory
/// `dir` unless `to` exists (`EEXIST`; Linux 3.15, `EINVAL` where the
/// filesystem does not support it).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn rename_noreplace(
    dir: &impl AsFd,
    from: &std::ffi::OsStr,
    to: &std::ffi::OsStr,
) -> io::Result<()> {
    renameat2_in(dir, from, to, libc::RENAME_NOREPLACE as libc::c_uint)
}

/// `renameat2(2)` of `from` to `to`, both names in the directory `dir`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn renameat2_in(
    dir: &impl AsFd,
    from: &std::ffi::OsStr,
    to: &std::ffi::OsStr,
    flags: libc::c_uint,
) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let from = std::ffi::CString::new(from.as_bytes())?;
    let to = std::ffi::CString::new(to.as_bytes())?;
    let fd = dir.as_fd().as_raw_fd();
    // SAFETY: `fd` is borrowed from `dir`, open for the call; `from` and
    // `to` are NUL-terminated strings that outlive the call; the kernel
    // reads them and keeps no pointer.
    zero_or_errno(unsafe { libc::renameat2(fd, from.as_ptr(), fd, to.as_ptr(), flags) })
}

/// A libc call's result: `Ok` for 0, else the `errno` it left.
fn zero_or_errno(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)` over the whole of `file`: start
/// the writeback of its dirty pages without waiting for it to complete.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn start_writeback(file: &impl AsFd) -> io::Result<()> {
    // SAFETY: the descriptor is borrowed from `file`, open for the call; the
    // call takes no pointers.
    let r = unsafe {
        libc::sync_file_range(
            file.as_fd().as_raw_fd(),
            0,
            0,
            libc::SYNC_FILE_RANGE_WRITE as libc::c_uint,
        )
    };
    zero_or_errno(r)
}

/// `setsockopt(SO_RCVLOWAT)`: readiness for reading is signalled once
/// `bytes` are queued (or at the end of the stream, or an error).
pub(crate) fn set_recv_lowat(sock: &impl AsFd, bytes: usize) -> io::Result<()> {
    let value =
        libc::c_int::try_from(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor is borrowed from `sock`, open for the call;
    // the option value points at a live `c_int` whose size is passed.
    let r = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    zero_or_errno(r)
}

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// Which side of a fork this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The original process; the child's pid.
    Parent(nix::unistd::Pid),
}

/// `fork(2)`. Callers must call it from a process whose other threads hold
/// no locks the child will need (the servers fork from their single
/// acceptor thread, or once from the caller of `spawn_process`), and the
/// child must end with [`std::process::exit`] rather than return into the
/// parent's code.
///
/// The child starts with no route for the signals this module handles
/// (SIGINT, SIGTERM, SIGHUP; SIGCHLD is back to its default action, see
/// [`ChildExits`]): the handlers it inherits only count them
/// until it sets up its own ([`signal_pipe`], [`hangup_flag`]), which then
/// see what came meanwhile. Inherited as they were, they wrote into the
/// parent's pipes: a signal sent to a child just forked stopped or
/// reloaded the parent instead, and the child never saw it.
pub(crate) fn fork() -> io::Result<Forked> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
    // held back across the fork, so that none is handled in the child
    // before its routes are cleared
    let mut routed = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        routed.add(sig);
    }
    let mut mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&routed), Some(&mut mask))
        .map_err(io::Error::from)?;
    // SAFETY: the process models call this from the acceptor loop, which
    // holds no locks at that point (`spawn_process` from its caller, which
    // holds none of ours); the child only runs the server code
    // (which allocates and logs, both fork-safe under glibc's atfork
    // handlers when no other thread holds their locks) and then exits.
    let forked = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            clear_signal_routes();
            Ok(Forked::Child)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child)),
        Err(e) => Err(io::Error::from(e)),
    };
    // the signals held meanwhile are delivered now, each to its own process
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
    forked
}

/// In a forked child that must not accept: swap its copy of the listening
/// socket for `/dev/null`. The port is then held by the parent alone, so a
/// server restarted after its parent died can bind it again while old
/// sessions still run, and no connection can queue on a socket that nobody
/// accepts from. The descriptor number stays open (and owned by the same
/// `TcpListener`); only the file behind it changes.
pub(crate) fn release_listener(listener: &std::net::TcpListener) -> io::Result<()> {
    release_descriptor(listener.as_fd())
}

/// In a forked child: swap its copy of an inherited descriptor that the
/// parent alone must use for `/dev/null`, in place (see
/// [`release_listener`]): its owner still closes it, and nothing else gets
/// its number meanwhile.
pub(crate) fn release_descriptor(fd: BorrowedFd<'_>) -> io::Result<()> {
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: both descriptors are open for the duration of the call (`null`
    // is owned here, `fd` is borrowed from its owner); dup2 atomically
    // re-points `fd`'s number at /dev/null, so no descriptor is closed under
    // its owner and none is left dangling.
    let r = unsafe { libc::dup2(null.as_raw_fd(), fd.as_raw_fd()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Send one file descriptor and `payload` (a few bytes) over a Unix
/// socket (`SCM_RIGHTS`), in one message.
pub(crate) fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>, payload: &[u8]) -> io::Result<()> {
    let iov = [IoSlice::new(payload)];
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    // MSG_NOSIGNAL: a receiver gone is an error here, not a SIGPIPE (whose
    // default action ends a program that embeds the server)
    let n = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(io::Error::from)?;
    if n != payload.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short sendmsg"));
    }
    Ok(())
}

/// What [`recv_fd`] received with a message's payload.
pub(crate) enum Received {
    /// The descriptor sent.
    Fd(OwnedFd),
    /// The payload came, but the kernel could not give this process the
    /// descriptor (`MSG_CTRUNC`: it is at its limit of open files) and
    /// closed it.
    Lost,
}

/// A descriptor (of `/dev/null`) kept open so that one passed with
/// `SCM_RIGHTS` has a number to take when the process is at its limit of
/// open files: [`recv_fd`] closes it right before its `recvmsg` and opens
/// it again after. Without it, a process out of descriptors loses each
/// descriptor passed to it (the kernel closes it): a client's connection
/// closed without a reply.
pub(crate) struct FdReserve(Option<OwnedFd>);

impl FdReserve {
    /// Hold a descriptor in reserve (none if none can be opened now: it
    /// is tried again after each receive).
    pub(crate) fn new() -> FdReserve {
        let mut r = FdReserve(None);
        r.restore();
        r
    }

    /// Open the reserve's descriptor again if it is not held (after what
    /// took its number closed).
    pub(crate) fn restore(&mut self) {
        if self.0.is_none() {
            self.0 = std::fs::File::open("/dev/null").ok().map(OwnedFd::from);
        }
    }

    /// Whether the reserve holds its descriptor (after [`Self::with_released`]:
    /// whether one could be opened again, that is, whether the process has
    /// descriptors to spare again).
    pub(crate) fn is_held(&self) -> bool {
        self.0.is_some()
    }

    /// Run `f` with the reserve's descriptor closed (its number free for
    /// what `f` opens); `None` when there is no reserve to free.
    pub(crate) fn with_released<T>(&mut self, f: impl FnOnce() -> T) -> Option<T> {
        // (one lost to another thread before is taken back if it can be)
        self.restore();
        self.0.take()?;
        let out = f();
        self.restore();
        Some(out)
    }
}

impl Default for FdReserve {
    fn default() -> FdReserve {
        FdReserve::new()
    }
}

/// Whether `e` says this process (`EMFILE`) or the system (`ENFILE`) has
/// no descriptor left.
pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Receive one file descriptor sent by [`send_fd`], its payload into
/// `payload` (which must be the payload's exact length); `None` at end of
/// stream. Waits for the message first, then receives it with `reserve`'s
/// descriptor closed.
pub(crate) fn recv_fd(
    sock: &UnixStream,
    payload: &mut [u8],
    reserve: &mut FdReserve,
) -> io::Result<Option<Received>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => return recv_ready(sock, payload, reserve),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// [`recv_fd`] once a message (or the end of stream) is there.
fn recv_ready(
    sock: &UnixStream,
    payload: &mut [u8],
    reserve: &mut FdReserve,
) -> io::Result<Option<Received>> {
    let want = payload.len();
    // the reserve's number is free for the descriptor to come (another
    // thread of this process may take it first: then it is lost as without)
    reserve.0 = None;
    let got = {
        let mut iov = [IoSliceMut::new(payload)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io::Error::from)
        .and_then(|msg| {
            if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
                return Ok((msg.bytes, Received::Lost));
            }
            let mut received = None;
            for c in msg.cmsgs().map_err(io::Error::from)? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for fd in fds {
                        // SAFETY: the kernel just installed this descriptor in
                        // our table for us (SCM_RIGHTS); nothing else owns it.
                        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                        if received.is_none() {
                            received = Some(owned);
                        }
                    }
                }
            }
            Ok((msg.bytes, received.map_or(Received::Lost, Received::Fd)))
        })
    };
    reserve.restore();
    let (n, received) = got?;
    if n == 0 {
        return Ok(None);
    }
    if n != want {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short fd message",
        ));
    }
    Ok(Some(received))
}

/// Wait until `sock` brings a descriptor sent by [`send_fd`] or `stop`
/// becomes readable, whichever is first, and return the descriptor (its
/// payload in `payload`, as [`recv_fd`]); `None` at end of stream on
/// `sock` or when `stop` is readable and no descriptor waits. A descriptor
/// sent before the stop is still received (its client is then told of the
/// stop rather than see its connection close with no reply). No timeout:
/// the caller's peer ends the wait by sending or by closing its end.
pub(crate) fn recv_fd_or_stop(
    sock: &UnixStream,
    stop: BorrowedFd<'_>,
    payload: &mut [u8],
    reserve: &mut FdReserve,
) -> io::Result<Option<Received>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop, PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
        if fds[0].any().unwrap_or(false) {
            return recv_ready(sock, payload, reserve);
        }
        if fds[1].any().unwrap_or(false) {
            return Ok(None);
        }
    }
}

/// Raise the soft limit of open files to the hard limit (each session needs
/// two or three descriptors); returns the limit now in force.
pub(crate) fn raise_nofile_limit() -> io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    Ok(hard.max(soft))
}

use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
/// What a second SIGINT/SIGTERM does in this process: one of
/// [`SECOND_EXITS`], [`SECOND_DEFERRED`], [`SECOND_IGNORED`].
static SECOND_SIGNAL: AtomicU8 = AtomicU8::new(SECOND_EXITS);
/// The process exits in the handler (status 130): a server whose sessions
/// are its own threads.
const SECOND_EXITS: u8 = 0;
/// The parent of session processes or workers sees it
/// ([`second_signal`]), kills its children and exits.
const SECOND_DEFERRED: u8 = 1;
/// A forked child (a session process, a worker, a spare, a supervisor):
/// every SIGINT/SIGTERM is the graceful stop. A child often gets the same
/// stop twice, once from a signal sent to the whole process group (a
/// terminal's Ctrl-C, a service manager stopping the group) and once from
/// its parent passing the stop on; the second must not cut its sessions'
/// transfers short. Its parent forces it (SIGKILL) when the parent is
/// forced or the grace period is over.
const SECOND_IGNORED: u8 = 2;

/// In a parent of session processes or workers: a second SIGINT/SIGTERM
/// no longer exits in the handler, which would leave the children running
/// with nobody to stop them; the parent's stop sees it
/// ([`second_signal`]), kills its children and exits with status 130.
/// Nothing changes in a forked child, whose second signal stays ignored
/// (see [`SECOND_IGNORED`]).
pub(crate) fn defer_second_signal() {
    let _ = SECOND_SIGNAL.compare_exchange(
        SECOND_EXITS,
        SECOND_DEFERRED,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
}

/// Whether a second SIGINT or SIGTERM arrived (after
/// [`defer_second_signal`], in a process that was not forked by the
/// server: always `false` in a forked child).
pub(crate) fn second_signal() -> bool {
    SECOND_SIGNAL.load(Ordering::SeqCst) == SECOND_DEFERRED && SIGNALS.load(Ordering::SeqCst) >= 2
}

/// When the first SIGINT/SIGTERM arrived (`CLOCK_MONOTONIC`, in
/// nanoseconds; 0: none yet).
static FIRST_SIGNAL_AT: AtomicU64 = AtomicU64::new(0);

/// `CLOCK_MONOTONIC` in nanoseconds (at least 1), or 0 if it can't be
/// read. Async-signal-safe.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime is async-signal-safe and writes only to `ts`,
    // which outlives the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    let ns = u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0));
    ns.max(1)
}

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only async-signal-safe calls here: atomics, clock_gettime(2),
    // write(2), _exit(2).
    let now = monotonic_ns();
    let first = FIRST_SIGNAL_AT.load(Ordering::SeqCst);
    if first != 0 && now != 0 && now.saturating_sub(first) < super::SAME_STOP.as_nanos() as u64 {
        // the first one again (see `super::SAME_STOP`)
        return;
    }
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        if SECOND_SIGNAL.load(Ordering::SeqCst) == SECOND_EXITS {
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(130) };
        }
    } else {
        FIRST_SIGNAL_AT.store(now, Ordering::SeqCst);
    }
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; `byte` outlives the call and
        // the pipe's write end stays open for the life of the process.
        let _ = unsafe { libc::write(fd, std::ptr::addr_of!(byte).cast(), 1) };
    }
}

/// Whether SIGINT or SIGTERM arrived since [`signal_pipe`] was set up in
/// this process (for a check between blocking calls, where the pipe is not
/// polled).
pub(crate) fn signal_received() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Route SIGINT and SIGTERM to a fresh non-blocking pipe, whose read end is
/// returned (readable once a signal arrived); a second signal exits the
/// process at once (status 130), except in a parent that deferred it and
/// in a forked child (see [`SECOND_SIGNAL`]). Called by single-threaded process-model
/// parents and again in each child, so that every process has its own pipe;
/// in a child, a signal that came since the fork (see [`fork`]) makes the
/// new pipe readable at once.
pub(crate) fn signal_pipe() -> io::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let (read_end, write_end) =
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let first = SIGNAL_PIPE.load(Ordering::SeqCst) < 0;
    if !first {
        // a later server of this process: the signals of the one before are spent
        SIGNALS.store(0, Ordering::SeqCst);
        FIRST_SIGNAL_AT.store(0, Ordering::SeqCst);
    }
    let write_end = std::os::fd::IntoRawFd::into_raw_fd(write_end);
    let old = SIGNAL_PIPE.swap(write_end, Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: `old` is the write end created by an earlier call and owned
        // by SIGNAL_PIPE alone; it was just replaced, so nothing uses it again.
        drop(unsafe { OwnedFd::from_raw_fd(old) });
    }
    if first && SIGNALS.load(Ordering::SeqCst) > 0 {
        // one came since the fork, before this pipe existed
        // SAFETY: `write_end` is the pipe's write end, owned by SIGNAL_PIPE
        // from now on and open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(write_end) };
        let _ = nix::unistd::write(fd, &[1u8]);
    }
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only performs async-signal-safe operations.
        unsafe { sigaction(sig, &action) }.map_err(io::Error::from)?;
    }
    Ok(read_end)
}

static HANGUP_PIPE: AtomicI32 = AtomicI32::new(-1);
static HANGUP_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_hangup(_sig: libc::c_int) {
    // Only async-signal-safe calls here: atomics and write(2).
    let fd = HANGUP_PIPE.load(Ordering::SeqCst);
    if fd < 0 {
        HANGUP_SEEN.store(true, Ordering::SeqCst);
        return;
    }
    let byte = 1u8;
    // SAFETY: write(2) is async-signal-safe; `byte` outlives the call; the
    // write end is non-blocking (a full pipe already has a reload pending)
    // and stays open until a later `hangup_pipe`/`hangup_flag` replaces it.
    let _ = unsafe { libc::write(fd, std::ptr::addr_of!(byte).cast(), 1) };
}

fn install_hangup_handler() -> io::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_hangup),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only performs async-signal-safe operations.
    unsafe { sigaction(Signal::SIGHUP, &action) }.map_err(io::Error::from)?;
    Ok(())
}

/// Replace the write end SIGHUP writes to (`-1`: none), closing the old one.
fn set_hangup_pipe(fd: RawFd) {
    let old = HANGUP_PIPE.swap(fd, Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: `old` is a write end created by `hangup_pipe` and owned by
        // HANGUP_PIPE alone; it was just replaced, so nothing uses it again.
        drop(unsafe { OwnedFd::from_raw_fd(old) });
    }
}

/// Route SIGHUP (the reload request) to a fresh pipe, whose read end is
/// returned: one byte arrives per signal (several pending signals may
/// leave fewer bytes). The read end blocks unless `nonblocking`. Replaces
/// any handler installed before (the `ctrlc` crate's, whose `termination`
/// feature takes SIGHUP as a request to stop).
pub(crate) fn hangup_pipe(nonblocking: bool) -> io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    fcntl(&write_end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
    if nonblocking {
        fcntl(&read_end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
    }
    set_hangup_pipe(std::os::fd::IntoRawFd::into_raw_fd(write_end));
    install_hangup_handler()?;
    Ok(read_end)
}

/// In a forked child: SIGHUP only raises a flag, read by
/// [`take_hangup`]; a SIGHUP that came since the fork is kept (the
/// parent's pipe, inherited, was closed by [`fork`], so that the child's
/// signals never reach the parent).
pub(crate) fn hangup_flag() -> io::Result<()> {
    set_hangup_pipe(-1);
    install_hangup_handler()
}

/// In a child just forked, the routed signals still blocked: close its
/// copies of the parent's signal pipes and forget the parent's signals, so
/// that the handlers inherited only count the child's own from now on.
fn clear_signal_routes() {
    SIGNALS.store(0, Ordering::SeqCst);
    FIRST_SIGNAL_AT.store(0, Ordering::SeqCst);
    SECOND_SIGNAL.store(SECOND_IGNORED, Ordering::SeqCst);
    let old = SIGNAL_PIPE.swap(-1, Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: `old` is this process's copy of the parent's write end,
        // owned by SIGNAL_PIPE alone; it was just taken out, so nothing uses
        // it again.
        drop(unsafe { OwnedFd::from_raw_fd(old) });
    }
    set_hangup_pipe(-1);
    HANGUP_SEEN.store(false, Ordering::SeqCst);
    if CHILD_PIPE.load(Ordering::SeqCst) >= 0 {
        // the parent's route for its children's exits is not this
        // process's: its own children (a PAM helper) are waited for by
        // whoever started them
        end_child_route();
    }
}

/// The write end SIGCHLD writes to (`-1`: SIGCHLD is not routed).
static CHILD_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_child(_sig: libc::c_int) {
    // Only async-signal-safe calls here: atomics and write(2).
    let fd = CHILD_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; `byte` outlives the call;
        // the write end is non-blocking (a full pipe already has a wake-up
        // pending) and stays open until `end_child_route` takes it out.
        let _ = unsafe { libc::write(fd, std::ptr::addr_of!(byte).cast(), 1) };
    }
}

/// SIGCHLD back to its default action, and the route's write end closed.
fn end_child_route() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: restores the default action; no handler runs.
    let _ = unsafe { sigaction(Signal::SIGCHLD, &dfl) };
    let old = CHILD_PIPE.swap(-1, Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: `old` is the write end created by `ChildExits::new`, owned
        // by CHILD_PIPE alone; it was just taken out (and the handler that
        // used it is gone), so nothing uses it again.
        drop(unsafe { OwnedFd::from_raw_fd(old) });
    }
}

/// SIGCHLD routed to a pipe, for a process that owns its signals (the
/// `ftpdlib` program, not a program that embeds the server: SIGCHLD's
/// action is its own): the read end becomes readable when a child exits,
/// however it ended. The fork-per-connection parent learns of a session
/// process killed outright at once instead of at its check of its children
/// every second. Dropping it puts SIGCHLD back to its default action.
pub(crate) struct ChildExits {
    read: OwnedFd,
}

impl ChildExits {
    /// Route SIGCHLD (`SA_NOCLDSTOP`: stops and continues are not exits).
    pub(crate) fn new() -> io::Result<ChildExits> {
        use nix::fcntl::OFlag;
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let old = CHILD_PIPE.swap(std::os::fd::IntoRawFd::into_raw_fd(write), Ordering::SeqCst);
        if old >= 0 {
            // SAFETY: `old` is the write end of an earlier route, owned by
            // CHILD_PIPE alone; it was just replaced, so nothing uses it again.
            drop(unsafe { OwnedFd::from_raw_fd(old) });
        }
        let action = SigAction::new(
            SigHandler::Handler(on_child),
            SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
            SigSet::empty(),
        );
        // SAFETY: the handler only performs async-signal-safe operations.
        if let Err(e) = unsafe { sigaction(Signal::SIGCHLD, &action) } {
            end_child_route();
            return Err(io::Error::from(e));
        }
        Ok(ChildExits { read })
    }

    /// The read end, for a poller.
    pub(crate) fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Read what the handler wrote (one byte per delivered SIGCHLD, fewer
    /// when they came together).
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(n) if n == buf.len() => {}
                Err(nix::errno::Errno::EINTR) => {}
                _ => return,
            }
        }
    }
}

impl Drop for ChildExits {
    fn drop(&mut self) {
        end_child_route();
    }
}

/// A child of this process that has exited and is not reaped yet, left
/// unreaped (`waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`): the caller
/// reaps it by pid if it is one of its own. `None` when there is none, or
/// where `waitid` is not available.
pub(crate) fn exited_child() -> Option<nix::unistd::Pid> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        use nix::sys::wait::{waitid, Id, WaitPidFlag};
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        loop {
            match waitid(Id::All, flags) {
                Ok(status) => return status.pid(),
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return None,
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    None
}

/// Whether SIGHUP arrived since the last call (after [`hangup_flag`]).
pub(crate) fn take_hangup() -> bool {
    HANGUP_SEEN.swap(false, Ordering::SeqCst)
}

/// Ask a child process to reload (SIGHUP).
pub(crate) fn hangup(pid: nix::unistd::Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
}

/// Ask a child process to shut down (SIGTERM), then continue it
/// (SIGCONT), as service managers do: a stopped process (SIGSTOP, a
/// debugger let go) acts on the SIGTERM at once rather than be killed
/// when its time is up, with its clients told nothing.
pub(crate) fn terminate(pid: nix::unistd::Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
}

/// End a child process that ignored [`terminate`] (SIGKILL).
pub(crate) fn kill(pid: nix::unistd::Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
}

/// A kernel pipe used to move upload bytes from a socket to a file with
/// `splice(2)`, without copying them through user space.
pub(crate) struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
}

/// A failed move out of a [`SplicePipe`]: the error and the bytes still in the pipe.
pub(crate) struct DrainError {
    /// What failed.
    pub(crate) error: io::Error,
    /// Bytes left in the pipe (read them with [`SplicePipe::read_rest`]).
    pub(crate) remaining: usize,
}

impl SplicePipe {
    /// A pipe of about 1 MiB.
    pub(crate) fn new() -> io::Result<Self> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(1 << 20));
        Ok(SplicePipe { read, write })
    }

    /// Move up to `len` bytes from `sock` into the pipe; `Ok(0)` at end of
    /// stream, `WouldBlock` when the socket has nothing now.
    pub(crate) fn fill_from(&self, sock: &impl AsFd, len: usize) -> io::Result<usize> {
        use nix::fcntl::{splice, SpliceFFlags};
        splice(
            sock.as_fd(),
            None,
            &self.write,
            None,
            len,
            SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK,
        )
        .map_err(io::Error::from)
    }

    /// Move exactly `n` bytes from the pipe to the file descriptor `file`
    /// (at its current offset).
    pub(crate) fn drain_to(&self, file: RawFd, mut n: usize) -> Result<(), DrainError> {
        use nix::fcntl::{splice, SpliceFFlags};
        // SAFETY: callers pass the descriptor of a file they own and keep
        // open for the duration of this call (the upload's `WriteFile`).
        let out = unsafe { BorrowedFd::borrow_raw(file) };
        while n > 0 {
            match splice(&self.read, None, out, None, n, SpliceFFlags::SPLICE_F_MOVE) {
                Ok(0) => {
                    return Err(DrainError {
                        error: io::ErrorKind::WriteZero.into(),
                        remaining: n,
                    });
                }
                Ok(k) => n -= k,
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(DrainError {
                        error: e.into(),
                        remaining: n,
                    })
                }
            }
        }
        Ok(())
    }

    /// Read `n` bytes still in the pipe into `buf` (after a failed [`SplicePipe::drain_to`]).
    pub(crate) fn read_rest(&self, n: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        use std::io::Read;
        let mut f = std::fs::File::from(self.read.try_clone()?);
        let start = buf.len();
        buf.resize(start + n, 0);
        f.read_exact(&mut buf[start..])
    }
}

/// `fnmatch(3)` with `FNM_PERIOD`: the C library's wildcard matcher, the
/// reference the pattern matcher of NLST/LIST is tested against. `false`
/// for a pattern or name with a NUL byte (no C string can hold it).
#[cfg(test)]
pub(crate) fn fnmatch_period(pattern: &[u8], name: &[u8]) -> bool {
    let (Ok(p), Ok(n)) = (
        std::ffi::CString::new(pattern),
        std::ffi::CString::new(name),
    ) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated C strings that outlive the call;
    // fnmatch only reads them.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), libc::FNM_PERIOD) == 0 }
}

/// `_exit(2)`: end this process now, without running `atexit` handlers or
/// library destructors (for a forked child whose own buffers are flushed).
pub(crate) fn exit_immediately(code: i32) -> ! {
    // SAFETY: `_exit` takes no pointers and never returns; skipping the exit
    // handlers is the point, and the caller flushed what it owns first.
    unsafe { libc::_exit(code) }
}

/// Size of the work area given to libxcrypt's `crypt_rn`: at least
/// `sizeof(struct crypt_data)` (32,768 bytes in libxcrypt 4.x).
const CRYPT_DATA_SIZE: usize = 64 * 1024;

#[link(name = "crypt")]
extern "C" {
    /// libxcrypt's reentrant `crypt`: hashes `phrase` with the method,
    /// cost and salt of `setting`; returns a pointer into `data`, or NULL
    /// on failure (it never returns the `*0` failure token).
    fn crypt_rn(
        phrase: *const libc::c_char,
        setting: *const libc::c_char,
        data: *mut libc::c_void,
        size: libc::c_int,
    ) -> *mut libc::c_char;
}

/// Hash `password` with the method, parameters and salt of the crypt(3)
/// string `setting` (a whole stored hash such as `$y$j9T$...`), through the
/// system's libxcrypt: every method Debian's `/etc/shadow` uses (yescrypt,
/// gost-yescrypt, scrypt, bcrypt, sha512-crypt, sha256-crypt, md5-crypt).
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for a password or setting holding a NUL
/// byte; the OS error libxcrypt sets (`EINVAL` for an unknown method or a
/// malformed setting, `ERANGE` for a password over its limit).
pub(crate) fn crypt(password: &[u8], setting: &str) -> io::Result<String> {
    let nul = |_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "NUL byte in a password or hash",
        )
    };
    let phrase = std::ffi::CString::new(password).map_err(nul)?;
    let setting = std::ffi::CString::new(setting).map_err(nul)?;
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    let size = libc::c_int::try_from(data.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: both strings are NUL-terminated and live across the call;
    // `data` is a zeroed, writable buffer of `size` bytes (crypt_rn checks
    // that it is at least `sizeof(struct crypt_data)`) that outlives the
    // returned pointer's use below.
    let out = unsafe {
        crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.as_mut_ptr().cast(),
            size,
        )
    };
    if out.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success crypt_rn returns a NUL-terminated string inside
    // `data`, which is still alive and not written to meanwhile.
    let hashed = unsafe { std::ffi::CStr::from_ptr(out) };
    Ok(hashed.to_string_lossy().into_owned())
}

/// The filesystem identity (fsuid, fsgid, supplementary groups) of the
/// calling thread, while a [`ThreadFsIdentity`] guard lives; dropping the
/// guard puts back what the thread had.
///
/// Linux keeps credentials per thread; the glibc wrappers of `setgroups`
/// and `setfs*id` change every thread of the process (glibc broadcasts
/// them), so the raw system calls are made here: only the calling thread
/// changes. Changing the fsuid from 0 to another id also clears the
/// filesystem capabilities (`CAP_DAC_OVERRIDE`, `CAP_FOWNER`, ...) from the
/// thread's effective set, and changing it back restores them
/// (capabilities(7)); the switch also empties the rest of the effective
/// set (`CAP_SYS_RESOURCE` would let a write go over a disk quota or into
/// blocks reserved for root) and the guard restores it, so the kernel
/// checks every file operation exactly as for the user.
#[derive(Debug)]
pub(crate) struct ThreadFsIdentity {
    /// What to restore; `None` when nothing was switched.
    saved: Option<Saved>,
    /// Whether this guard recorded the server's identity in
    /// [`SERVER_IDENTITY`] (the outermost switch of the thread).
    outermost: bool,
}

thread_local! {
    /// The server's identity while the thread acts as a user (set by the
    /// outermost [`ThreadFsIdentity`]), for [`as_server`].
    static SERVER_IDENTITY: std::cell::RefCell<Option<Saved>> =
        const { std::cell::RefCell::new(None) };
}

/// A thread's identity before a [`ThreadFsIdentity`] switch.
#[derive(Debug, Clone)]
struct Saved {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<libc::gid_t>,
    /// The capability sets; `None` until they were changed.
    caps: Option<[CapData; 2]>,
}

/// `setfsuid(2)` as a raw system call on the calling thread; returns the
/// previous fsuid (`u32::MAX` asks without changing it).
fn raw_setfsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid takes one integer and touches no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_setfsuid, libc::c_long::from(uid)) };
    // the previous fsuid, whatever happened (the call cannot fail otherwise)
    u32::try_from(r).unwrap_or(u32::MAX)
}

/// `setfsgid(2)`, like [`raw_setfsuid`].
fn raw_setfsgid(gid: u32) -> u32 {
    // SAFETY: as `raw_setfsuid`.
    let r = unsafe { libc::syscall(libc::SYS_setfsgid, libc::c_long::from(gid)) };
    u32::try_from(r).unwrap_or(u32::MAX)
}

/// `setgroups(2)` on the calling thread only.
fn raw_setgroups(groups: &[libc::gid_t]) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live slice of gid_t, which
    // the kernel only reads.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `_LINUX_CAPABILITY_VERSION_3` (linux/capability.h): two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's capability sets (`capget(2)`, pid 0: this thread).
fn thread_caps() -> io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` and `data` (two structs, as version 3 wants) are live
    // and writable for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            std::ptr::addr_of_mut!(header),
            data.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data)
}

/// Set the calling thread's capability sets (`capset(2)` acts on the
/// calling thread only; no glibc broadcast).
fn set_thread_caps(data: &[CapData; 2]) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    // SAFETY: `header` is live and writable, `data` holds the two structs
    // version 3 reads.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capset,
            std::ptr::addr_of_mut!(header),
            data.as_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's supplementary groups.
fn thread_groups() -> io::Result<Vec<libc::gid_t>> {
    // SAFETY: with a size of 0, getgroups only returns the count.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let mut groups = vec![0; n];
    let len = libc::c_int::try_from(n).unwrap_or(libc::c_int::MAX);
    // SAFETY: `groups` has room for `len` gid_t values.
    let got = unsafe { libc::getgroups(len, groups.as_mut_ptr()) };
    let got = usize::try_from(got).map_err(|_| io::Error::last_os_error())?;
    groups.truncate(got);
    Ok(groups)
}

impl ThreadFsIdentity {
    /// Switch the calling thread's filesystem identity to `uid`, `gid` and
    /// `groups` until the guard is dropped.
    ///
    /// A process that is not root cannot switch: it may only act as the
    /// identity it already has (a multi-proc session after
    /// [`drop_privileges`]), which gives a guard that changes nothing.
    ///
    /// # Errors
    /// [`io::ErrorKind::PermissionDenied`] when the process is not root and
    /// is not already `uid`/`gid`, or when the kernel did not take the new
    /// ids (the thread is left as it was); the OS error of `setgroups`.
    pub(crate) fn switch(uid: u32, gid: u32, groups: &[u32]) -> io::Result<Self> {
        let cur_uid = raw_setfsuid(u32::MAX);
        let cur_gid = raw_setfsgid(u32::MAX);
        if !nix::unistd::geteuid().is_root() {
            if cur_uid == uid && cur_gid == gid {
                return Ok(ThreadFsIdentity {
                    saved: None,
                    outermost: false,
                });
            }
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the server runs as uid {cur_uid} and cannot act as uid {uid}: start it as root"
                ),
            ));
        }
        let saved_groups = thread_groups()?;
        let caps = thread_caps()?;
        raw_setgroups(groups)?;
        let mut guard = ThreadFsIdentity {
            saved: Some(Saved {
                fsuid: cur_uid,
                fsgid: cur_gid,
                groups: saved_groups,
                caps: None,
            }),
            outermost: false,
        };
        // the group first: once the fsuid is not 0 the thread may lack the
        // capability to set it
        raw_setfsgid(gid);
        raw_setfsuid(uid);
        if raw_setfsuid(u32::MAX) != uid || raw_setfsgid(u32::MAX) != gid {
            drop(guard);
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the kernel refused to act as uid {uid} gid {gid}"),
            ));
        }
        // A new fsuid clears only the filesystem capabilities; the others
        // would still let a write take the blocks ext4 reserves for root or
        // go over a disk quota (CAP_SYS_RESOURCE), which the user may not.
        // The thread keeps no effective capability while it acts as the
        // user (the permitted set stays, to come back).
        if uid != 0 {
            let mut none = caps;
            none[0].effective = 0;
            none[1].effective = 0;
            if let Some(s) = guard.saved.as_mut() {
                s.caps = Some(caps);
            }
            set_thread_caps(&none)?;
        }
        if let Some(saved) = &guard.saved {
            guard.outermost = SERVER_IDENTITY.with(|s| {
                let mut s = s.borrow_mut();
                if s.is_some() {
                    return false;
                }
                *s = Some(saved.clone());
                true
            });
        }
        Ok(guard)
    }
}

impl Drop for ThreadFsIdentity {
    fn drop(&mut self) {
        let Some(saved) = self.saved.take() else {
            return;
        };
        if self.outermost {
            SERVER_IDENTITY.with(|s| s.borrow_mut().take());
        }
        restore(&saved, "the server's");
    }
}

/// Put back the identity `s` on the calling thread (from a user's: the
/// capabilities first, which setgroups needs, then the ids); a thread that
/// cannot must not go on serving, and the process aborts. `whose` names
/// the identity in the log.
fn restore(s: &Saved, whose: &str) {
    if let Some(caps) = &s.caps {
        if let Err(e) = set_thread_caps(caps) {
            log::error!("can't restore {whose} capabilities ({e}); exiting");
            std::process::abort();
        }
    }
    // the uid before the gid: back to 0, the thread has its filesystem
    // capabilities again
    raw_setfsuid(s.fsuid);
    raw_setfsgid(s.fsgid);
    if let Err(e) = raw_setgroups(&s.groups) {
        log::error!("can't restore {whose} groups ({e}); exiting");
        std::process::abort();
    }
    if raw_setfsuid(u32::MAX) != s.fsuid || raw_setfsgid(u32::MAX) != s.fsgid {
        log::error!("can't restore {whose} filesystem identity; exiting");
        std::process::abort();
    }
}

/// Run `f` with the server's identity on a thread that may be acting as a
/// user ([`ThreadFsIdentity`]), then act as the user again: for work done
/// for the server from inside a user's operation. A thread started by `f`
/// gets the server's credentials (a new thread copies its creator's),
/// where it would otherwise act as that user for the rest of its life.
/// On a thread not acting as a user, `f` just runs.
pub(crate) fn as_server<T>(f: impl FnOnce() -> T) -> T {
    let Some(server) = SERVER_IDENTITY.with(|s| s.borrow_mut().take()) else {
        return f();
    };
    let user = match (thread_groups(), thread_caps()) {
        (Ok(groups), Ok(caps)) => Saved {
            fsuid: raw_setfsuid(u32::MAX),
            fsgid: raw_setfsgid(u32::MAX),
            groups,
            caps: Some(caps),
        },
        (Err(e), _) | (_, Err(e)) => {
            // stays the user: less than the server may, never more
            log::warn!("can't read the thread's identity ({e}): ran as the user");
            SERVER_IDENTITY.with(|s| *s.borrow_mut() = Some(server));
            return f();
        }
    };
    restore(&server, "the server's");
    let out = f();
    // back to the user, in the order of a switch: groups and ids with the
    // server's capabilities, then none
    let groups = user.groups.clone();
    if let Err(e) = raw_setgroups(&groups) {
        log::error!("can't act as the user again ({e}); exiting");
        std::process::abort();
    }
    raw_setfsgid(user.fsgid);
    raw_setfsuid(user.fsuid);
    if let Some(caps) = &user.caps {
        if let Err(e) = set_thread_caps(caps) {
            log::error!("can't act as the user again ({e}); exiting");
            std::process::abort();
        }
    }
    if raw_setfsuid(u32::MAX) != user.fsuid || raw_setfsgid(u32::MAX) != user.fsgid {
        log::error!("can't act as the user again; exiting");
        std::process::abort();
    }
    SERVER_IDENTITY.with(|s| *s.borrow_mut() = Some(server));
    out
}

/// Become `uid`, `gid` and `groups` for good, in every thread of the
/// process (real, effective and saved ids, and the supplementary groups:
/// no way back to root). For a process that serves one session.
///
/// A process that already is that user (not root) succeeds without change.
///
/// # Errors
/// The OS error of `setgroups`, `setresgid` or `setresuid`
/// ([`io::ErrorKind::PermissionDenied`] when not root), or
/// [`io::ErrorKind::PermissionDenied`] if the ids did not all change.
pub(crate) fn drop_privileges(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    use nix::unistd::{getresgid, getresuid, Gid, Uid};
    let ids_are = |u: u32, g: u32| -> io::Result<bool> {
        let r = getresuid().map_err(io::Error::from)?;
        let g_ = getresgid().map_err(io::Error::from)?;
        Ok([r.real, r.effective, r.saved]
            .iter()
            .all(|x| x.as_raw() == u)
            && [g_.real, g_.effective, g_.saved]
                .iter()
                .all(|x| x.as_raw() == g))
    };
    if !nix::unistd::geteuid().is_root() {
        if ids_are(uid, gid)? {
            return Ok(());
        }
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the server is not root and cannot become uid {uid}"),
        ));
    }
    let groups: Vec<Gid> = groups.iter().map(|&g| Gid::from_raw(g)).collect();
    // glibc's wrappers change every thread of the process
    nix::unistd::setgroups(&groups).map_err(io::Error::from)?;
    let (g, u) = (Gid::from_raw(gid), Uid::from_raw(uid));
    nix::unistd::setresgid(g, g, g).map_err(io::Error::from)?;
    nix::unistd::setresuid(u, u, u).map_err(io::Error::from)?;
    if !ids_are(uid, gid)? || (uid != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("could not drop privileges to uid {uid} gid {gid}"),
        ));
    }
    Ok(())
}

/// A user's entry in the shadow database (shadow(5)); the dates are days
/// since 1970-01-01, `None` for an empty field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShadowEntry {
    /// The password hash (`!` or `*` first: locked or no password).
    pub(crate) hash: String,
    /// The date of the last password change (`Some(0)`: the user must
    /// change it before logging in).
    pub(crate) last_change: Option<i64>,
    /// The maximum age of a password, in days.
    pub(crate) max_days: Option<i64>,
    /// Days after a password expired during which it is still accepted
    /// (and must be changed).
    pub(crate) inactive_days: Option<i64>,
    /// The date the account expires.
    pub(crate) expire: Option<i64>,
}

/// The entry of `user` in the shadow database (`/etc/shadow`, or whatever
/// NSS serves it from), through `getspnam_r(3)`; `None` when the user has
/// no shadow entry.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for a name with a NUL byte; the OS
/// error of the lookup (`EACCES` when the process may not read the shadow
/// database: it is not root).
pub(crate) fn shadow_entry(user: &str) -> io::Result<Option<ShadowEntry>> {
    let name = std::ffi::CString::new(user)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a user name"))?;
    let mut len = 1024usize;
    loop {
        let mut buf = vec![0 as libc::c_char; len];
        // SAFETY: spwd is plain old data; zeroes are a valid value.
        let mut entry: libc::spwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::spwd = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `entry`, `buf` (of `len` bytes)
        // and `found` are live and writable for the call; the strings of
        // `entry` point into `buf`, which outlives their use below.
        let r = unsafe {
            libc::getspnam_r(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        if r == libc::ERANGE && len < 1 << 20 {
            len *= 4;
            continue;
        }
        if found.is_null() {
            return match r {
                0 | libc::ENOENT => Ok(None),
                e => Err(io::Error::from_raw_os_error(e)),
            };
        }
        let hash = if entry.sp_pwdp.is_null() {
            String::new()
        } else {
            // SAFETY: on success sp_pwdp points to a NUL-terminated string in `buf`.
            let hash = unsafe { std::ffi::CStr::from_ptr(entry.sp_pwdp) };
            hash.to_string_lossy().into_owned()
        };
        // an empty field reads as -1; c_long is 32 bits on some targets
        #[allow(clippy::useless_conversion)]
        let field = |v: libc::c_long| (v >= 0).then(|| i64::from(v));
        return Ok(Some(ShadowEntry {
            hash,
            last_change: field(entry.sp_lstchg),
            max_days: field(entry.sp_max),
            inactive_days: field(entry.sp_inact),
            expire: field(entry.sp_expire),
        }));
    }
}

/// A zero-filled anonymous memory region shared with every process forked
/// after it was made (`mmap(MAP_SHARED | MAP_ANONYMOUS)`), seen as a slice of
/// 64-bit atomics. Processes that inherit it see each other's writes as
/// threads do; it is unmapped when the last handle of this process drops.
pub(crate) struct SharedWords {
    ptr: std::ptr::NonNull<AtomicU64>,
    words: usize,
}

// SAFETY: the region is only ever accessed through `&[AtomicU64]` (see
// `SharedWords::words`), and atomics may be used from any thread at once.
unsafe impl Send for SharedWords {}
// SAFETY: as for `Send`: shared access goes through atomics only.
unsafe impl Sync for SharedWords {}

impl SharedWords {
    /// A region of `words` zeroed 64-bit words (at least one).
    pub(crate) fn new(words: usize) -> io::Result<Self> {
        let words = words.max(1);
        let len = words
            .checked_mul(std::mem::size_of::<AtomicU64>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "shared region too big"))?;
        // SAFETY: an anonymous mapping asks for fresh memory at an address the
        // kernel picks (NULL hint, fd -1, offset 0): nothing existing is
        // touched. The result is checked against MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(p.cast::<AtomicU64>())
            .ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(SharedWords { ptr, words })
    }

    /// The region's words.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` is the start of a live mapping of `words * 8` bytes
        // (unmapped only in `drop`, which needs `&mut self`), page-aligned
        // and so aligned for `AtomicU64`; anonymous mappings are
        // zero-filled, and all-zero bytes are a valid `AtomicU64`. Every
        // access, from this or another process, is atomic, so handing out
        // shared references is sound (`AtomicU64` has interior mutability).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.words) }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, with its length; no reference
        // from `words` outlives `self` (they borrow it), so nothing uses the
        // memory after this. Other processes keep their own mappings.
        let _ = unsafe {
            libc::munmap(
                self.ptr.as_ptr().cast(),
                self.words * std::mem::size_of::<AtomicU64>(),
            )
        };
    }
}

#[cfg(test)]
mod tests;
