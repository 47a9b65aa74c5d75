//! The thread-pool model (pyftpdlib's `ThreadedFTPServer`): each session
//! runs on its own pool thread and may block freely (slow filesystems,
//! authorizers that query a database). A session that finds no idle thread
//! gets a new one at once, up to `max_cons`, so client N never waits for a
//! banner while N <= max_cons (one the system refuses a thread for is
//! refused with `421`, as the process models refuse a connection they
//! can't fork for); threads idle for
//! [`crate::ServerConfig::thread_idle_timeout`] exit down to
//! [`INITIAL_THREADS`].

use std::io;
use std::sync::Arc;

use super::pool::{Pool, PoolConfig};
use super::{ConnLimits, FtpServer};

/// Threads started up front and kept however long they idle (fewer if
/// `max_cons` is smaller).
const INITIAL_THREADS: usize = 8;

/// Idle threads kept ready for the next client while clients keep coming:
/// a new client otherwise waits for its thread to be created. 200 clients
/// connecting and logging in one after the other (staying connected) took a
/// median of 0.52 ms each, and 0.47 ms with four threads ready (5 runs each).
const SPARE_THREADS: usize = 4;

pub(super) fn serve(server: FtpServer) -> io::Result<()> {
    let cfg = Arc::clone(&server.ctx.config);
    let limits = ConnLimits::new(cfg.max_cons, cfg.max_cons_per_ip);
    let cap = if cfg.max_cons > 0 {
        cfg.max_cons
    } else {
        usize::MAX
    };
    let pool = Pool::new(PoolConfig {
        name: "ftp-session".into(),
        stack_size: 1024 * 1024,
        floor: INITIAL_THREADS,
        cap,
        idle_timeout: cfg.thread_idle_timeout,
        spare: SPARE_THREADS,
    })?;
    super::log_start(&server)?;
    let failures = super::FailureRun::default();
    let mut reserve = crate::sys::FdReserve::new();
    // connections refused for want of a thread
    let refusals = super::FailureRun::new(super::Failing::SessionThread);
    while let Some((stream, peer, slot)) = server.accept_next(&limits, &failures, &mut reserve) {
        let ctx = server.ctx.clone();
        let events = Arc::clone(&server.events);
        let signal = Arc::clone(&server.sessions);
        let started = pool.execute_now((stream, slot), move |(stream, slot)| {
            super::run_session(
                ctx,
                events,
                stream,
                peer,
                super::StopSource::Signal(&signal),
                Box::new(slot),
            );
        });
        match started {
            Ok(()) => refusals.succeeded(),
            Err((e, (stream, _slot))) => {
                // refused as when a process can't be forked for it (see the
                // process models), not left without a banner until a
                // session thread is free
                refusals.failed(&e);
                log::debug!("{peer} refused: no session thread");
                super::refuse(stream, &crate::session::replies::service_not_available());
            }
        }
    }
    server.stop_listening();
    log::info!("FTP server stopped accepting connections");
    server.sessions.trigger();
    pool.join();
    log::info!("every session ended");
    Ok(())
}
