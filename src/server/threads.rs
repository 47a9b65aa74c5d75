//! The thread-pool model (pyftpdlib's `ThreadedFTPServer`): each session
//! runs on its own pool thread and may block freely (slow filesystems,
//! authorizers that query a database). The pool grows as sessions arrive,
//! up to `max_cons`, so client N never waits for a banner while N <= max_cons.

use std::io;
use std::sync::Arc;

use super::{ConnLimits, FtpServer};

/// Threads started up front.
const INITIAL_THREADS: usize = 8;

pub(super) fn serve(server: FtpServer) -> io::Result<()> {
    let cfg = Arc::clone(&server.ctx.config);
    let limits = ConnLimits::new(cfg.max_cons, cfg.max_cons_per_ip);
    let cap = if cfg.max_cons > 0 {
        cfg.max_cons
    } else {
        usize::MAX
    };
    let mut pool = threadpool::Builder::new()
        .num_threads(INITIAL_THREADS.min(cap).max(1))
        .thread_name("ftp-session".into())
        .thread_stack_size(1024 * 1024)
        .build();
    super::log_start(&server)?;
    while let Some((stream, peer, slot)) = server.accept_next(&limits) {
        // Grow the pool so that this session starts at once.
        let busy = pool.active_count() + pool.queued_count();
        if busy >= pool.max_count() && pool.max_count() < cap {
            pool.set_num_threads(pool.max_count().saturating_mul(2).min(cap));
        }
        let ctx = server.ctx.clone();
        let events = Arc::clone(&server.events);
        let signal = Arc::clone(&server.sessions);
        pool.execute(move || {
            let _slot = slot;
            super::run_session(
                ctx,
                events,
                stream,
                peer,
                super::StopSource::Signal(&signal),
            );
        });
    }
    log::info!("FTP server stopped accepting connections");
    server.sessions.trigger();
    pool.join();
    log::info!("every session ended");
    Ok(())
}
