//! The tutorial's thread-based example (pyftpdlib's `ThreadedFTPServer`):
//! every session has its own thread, so handlers may block freely.
//!
//! Run: `cargo run --example threaded_ftpd -- [PORT]`.

use ftpdlib::auth::MemoryAuthorizer;
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
    ServerBuilder::new(authorizer)
        .configure(|c| c.concurrency = ConcurrencyModel::ThreadPool)
        .bind(("0.0.0.0", port))?
        .serve_forever()?;
    Ok(())
}
