//! The tutorial's "Building a Base FTP server": a user with full
//! permissions, a read-only anonymous user, connection limits.
//!
//! Run: `cargo run --example basic_ftpd -- [PORT]` (default port 2121).

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

    // "virtual" users: a user with full r/w permissions and a read-only anonymous user
    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", &cwd, "elradfmwMT")?;
    authorizer.add_anonymous(&cwd)?;

    let server = ServerBuilder::new(authorizer)
        .configure(|c| {
            c.banner = "ftpdlib based ftpd ready.".into();
            // Behind a NAT: announce the public address and a port range.
            // c.masquerade_address = Some("151.25.42.11".parse().unwrap());
            // c.passive_ports = Some(60000..=65535);
            c.max_cons = 256;
            c.max_cons_per_ip = 5;
        })
        .bind(("0.0.0.0", port))?;
    server.serve_forever()?;
    Ok(())
}
