//! The tutorial's anti-flood server: an address that floods commands (more
//! than 300 a second, as pyftpdlib's `AntiFloodHandler`) or fails five
//! logins within ten minutes is banned for an hour. A banned address's
//! connections are refused with `421` until the ban expires; the counts
//! and bans hold across every process, whatever the concurrency model.
//!
//! Run: `cargo run --example anti_flood_ftpd -- [PORT]`, then e.g.
//! `for i in $(seq 400); do echo NOOP; done | nc 127.0.0.1 2121`.

use std::time::Duration;

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::config::BanPolicy;
use ftpdlib::server::ServerBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(2121);
    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", ".", "elradfmwMT")?;
    authorizer.add_anonymous(".")?;
    ServerBuilder::new(authorizer)
        .configure(|c| {
            c.ban = Some(BanPolicy {
                max_commands: 300,
                commands_window: Duration::from_secs(1),
                max_failed_logins: 5,
                failed_logins_window: Duration::from_secs(600),
                ban_time: Duration::from_secs(60 * 60),
            });
        })
        .bind(("0.0.0.0", port))?
        .serve_until_signalled()?;
    Ok(())
}
