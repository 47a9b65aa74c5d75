//! The tutorial's "Changing log line prefix", with DEBUG logging so every
//! command and reply shows (passwords as `******`):
//!
//! ```text
//! [I 13-02-01 19:12:26] XXX []@127.0.0.1 FTP session opened (connect)
//! [I 13-02-01 19:12:26] XXX [user]@127.0.0.1 USER 'user' logged in.
//! ```
//!
//! Run: `cargo run --example log_prefix -- [PORT]`.

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::server::ServerBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Debug, None)?;
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(2121);
    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", ".", "elradfmwMT")?;
    ServerBuilder::new(authorizer)
        .configure(|c| c.log_prefix = "XXX [%(username)s]@%(remote_ip)s".into())
        .bind(("0.0.0.0", port))?
        .serve_forever()?;
    Ok(())
}
