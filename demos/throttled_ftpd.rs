//! The tutorial's "Throttle bandwidth": downloads and uploads limited to
//! 30 KiB/s each (pyftpdlib's `ThrottledDTPHandler`).
//!
//! Run: `cargo run --example throttled_ftpd -- [PORT]`.

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::server::ServerBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(2121);
    let cwd = std::env::current_dir()?;
    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", &cwd, "elradfmw")?;
    authorizer.add_anonymous(&cwd)?;
    ServerBuilder::new(authorizer)
        .configure(|c| {
            c.read_limit = 30 * 1024; // 30 KiB/s uploads
            c.write_limit = 30 * 1024; // 30 KiB/s downloads
        })
        .bind(("0.0.0.0", port))?
        .serve_forever()?;
    Ok(())
}
