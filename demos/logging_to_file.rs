//! The tutorial's "Logging to a file": INFO lines to a file instead of stderr.
//!
//! Run: `cargo run --example logging_to_file -- /tmp/ftpd.log [PORT]`.

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::server::ServerBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let log_file = args.next().unwrap_or_else(|| "ftpd.log".into());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(2121);
    ftpdlib::logging::init(log::LevelFilter::Info, Some(log_file.as_ref()))?;

    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", ".", "elradfmwM")?;
    ServerBuilder::new(authorizer)
        .bind(("0.0.0.0", port))?
        .serve_forever()?;
    Ok(())
}
