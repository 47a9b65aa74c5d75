//! Accounts from a users file: hashed passwords, a home, permission letters
//! and limits per user, an anonymous account; `SIGHUP` reads the file again
//! without dropping a session (`ftpdlib --users-file` does the same).
//!
//! Run: `cargo run --example users_file_ftpd -- [USERS_FILE] [PORT]`.
//! Without a file, one is written to a temporary directory (user
//! `user`/`12345` with every permission in the current directory, a
//! read-only `incoming` override when that directory exists, anonymous
//! read-only) and its path printed: edit it, then
//!
//! ```text
//! kill -HUP <pid>                  # the pid is in the start line
//! ```
//!
//! New hashes come from `cargo run -- hash-password`.

use std::path::PathBuf;

use ftpdlib::auth::{hash, UsersFile};
use ftpdlib::server::ServerBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // an optional users file, then an optional port
    let port: u16 = match args.last().map(|p| p.parse()) {
        Some(Ok(port)) => {
            args.pop();
            port
        }
        _ => 2121,
    };
    // kept until the server stops
    let mut sample_dir = None;
    let path = match args.first() {
        Some(p) => PathBuf::from(p),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("users-file-demo")
                .tempdir()?;
            let path = dir.path().join("users.toml");
            std::fs::write(&path, sample(&std::env::current_dir()?)?)?;
            println!("users file: {}", path.display());
            sample_dir = Some(dir);
            path
        }
    };
    let users = UsersFile::load(&path)?;
    println!("users: {:?}", users.usernames());
    ServerBuilder::new(users)
        .bind(("0.0.0.0", port))?
        // SIGINT/SIGTERM stop it, SIGHUP reloads the users file
        .serve_until_signalled()?;
    drop(sample_dir);
    Ok(())
}

/// A users file for `home`.
fn sample(home: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    let home = home.display().to_string();
    let mut text = format!(
        r#"# one [[user]] table per account; unknown keys are an error
[[user]]
name = "user"
password = "{hash}"   # ftpdlib hash-password
home = {home:?}
perm = "elradfmwMT"
msg_login = "Welcome, user."
msg_quit = "Bye."
max_sessions = 2
allow_from = ["127.0.0.0/8", "::1/128"]
tls_required = false
"#,
        hash = hash::hash_password(b"12345")?,
    );
    if std::path::Path::new(&home).join("incoming").is_dir() {
        text.push_str(
            "\n[[user.override]]\npath = \"incoming\"\nperm = \"elr\"\nrecursive = true\n",
        );
    }
    text.push_str(&format!("\n[anonymous]\nhome = {home:?}\nperm = \"elr\"\n"));
    Ok(text)
}
