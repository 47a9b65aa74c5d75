//! The tutorial's multiple-process server (pyftpdlib's
//! `MultiprocessFTPServer`): each session runs in a process of its own,
//! forked for it, so a crash touches one session only and a slow handler
//! blocks nobody else.
//!
//! `user` may also have at most two sessions at once, and his downloads
//! share 10 MiB/s: both limits hold across the session processes (they
//! are kept in memory the processes share).
//!
//! Run: `cargo run --example multiproc_ftpd -- [PORT]`; Ctrl-C stops it
//! (idle sessions get `421`, running transfers a grace period).

use ftpdlib::auth::{AccountLimits, MemoryAuthorizer};
use ftpdlib::server::ServerBuilder;
use ftpdlib::ConcurrencyModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(2121);
    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", ".", "elradfmwMT")?;
    let mut limits = AccountLimits::default();
    limits.max_sessions = 2;
    limits.write_limit = 10 * 1024 * 1024;
    authorizer.set_limits("user", limits)?;
    ServerBuilder::new(authorizer)
        .configure(|c| c.concurrency = ConcurrencyModel::Process)
        .bind(("0.0.0.0", port))?
        .serve_until_signalled()?;
    Ok(())
}
