//! The tutorial's "Unix FTP Server": the system's users log in with their
//! own passwords, start in their home directory, see the real filesystem,
//! and every file operation runs as them (the kernel decides what they may
//! do). `root` is refused and a valid login shell is required.
//!
//! Run as root: `cargo run --example unix_ftpd -- [PORT]` (default port 21).

#[cfg(not(unix))]
fn main() {
    eprintln!("unix_ftpd serves the users of a Unix system: see winnt_ftpd on Windows");
    std::process::exit(1);
}

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use ftpdlib::auth::UnixAuthorizer;
    use ftpdlib::server::ServerBuilder;

    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(21);
    let authorizer = UnixAuthorizer::new()
        .rejected_users(["root"])?
        .require_valid_shell(true);
    ServerBuilder::new(authorizer)
        .bind(("0.0.0.0", port))?
        .serve_until_signalled()?;
    Ok(())
}
