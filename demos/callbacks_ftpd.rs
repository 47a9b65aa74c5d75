//! The tutorial's "Event callbacks": print what happens, and remove
//! partially uploaded files.
//!
//! Run: `cargo run --example callbacks_ftpd -- [PORT]`.

use std::path::Path;

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::events::{EventHandler, SessionInfo};
use ftpdlib::server::ServerBuilder;

struct MyHandler;

impl EventHandler for MyHandler {
    fn on_connect(&self, s: &SessionInfo) {
        println!("{}:{} connected", s.remote.ip(), s.remote.port());
    }
    fn on_disconnect(&self, s: &SessionInfo) {
        println!("{} disconnected", s.remote);
    }
    fn on_login(&self, _s: &SessionInfo, username: &str) {
        println!("{username} logged in");
    }
    fn on_logout(&self, _s: &SessionInfo, username: &str) {
        println!("{username} logged out");
    }
    fn on_file_sent(&self, _s: &SessionInfo, file: &Path) {
        println!("sent {}", file.display());
    }
    fn on_file_received(&self, _s: &SessionInfo, file: &Path) {
        println!("received {}", file.display());
    }
    fn on_incomplete_file_sent(&self, _s: &SessionInfo, file: &Path) {
        println!("partially sent {}", file.display());
    }
    fn on_incomplete_file_received(&self, _s: &SessionInfo, file: &Path) {
        // remove partially uploaded files
        if let Err(e) = std::fs::remove_file(file) {
            eprintln!("can't remove {}: {e}", file.display());
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(2121);
    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", ".", "elradfmw")?;
    authorizer.add_anonymous(".")?;
    ServerBuilder::new(authorizer)
        .events(MyHandler)
        .bind(("0.0.0.0", port))?
        .serve_forever()?;
    Ok(())
}
