//! The tutorial's "Windows FTP Server": Windows accounts log in with their
//! own passwords (checked by `LogonUserW`), each is served its profile
//! directory (`C:\Users\NAME`), and every file operation runs
//! impersonating the user, so Windows' own access rights apply.
//!
//! Run on Windows: `cargo run --example winnt_ftpd -- [PORT] [GUEST [PASSWORD]]`
//! (default port 2121). With GUEST (e.g. `Guest`), `anonymous` logs in as
//! that Windows account, read-only; the account must be enabled, have the
//! password given (default empty) and a profile directory, as in
//! pyftpdlib's demo. `Administrator` may not log in.
//!
//! Built for another system it prints that it needs Windows and exits
//! with status 1 (it has nothing to serve there); to build it from Linux:
//! `cargo build --example winnt_ftpd --target x86_64-pc-windows-gnu`.

#[cfg(windows)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use ftpdlib::auth::{WindowsAuthorizer, WindowsUserOverride};
    use ftpdlib::server::ServerBuilder;

    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args.first().map(|p| p.parse()).transpose()?.unwrap_or(2121);

    let mut authorizer = WindowsAuthorizer::new().with_rejected_users(["Administrator"])?;
    if let Some(guest) = args.get(1) {
        // Use the Guest user with an empty password for anonymous sessions:
        // the account must be enabled first, its password set and its
        // profile directory created.
        let password = args.get(2).map_or("", String::as_str);
        authorizer = authorizer.with_anonymous_user(guest, password)?;
        authorizer.override_user(
            "anonymous",
            WindowsUserOverride {
                perm: Some("elr".into()),
                ..WindowsUserOverride::default()
            },
        )?;
    }
    // every file operation of a session runs as its Windows user
    let filesystem = authorizer.filesystem();

    let server = ServerBuilder::new(authorizer)
        .filesystem(filesystem)
        .bind(("0.0.0.0", port))?;
    server.serve_until_signalled()?;
    Ok(())
}

#[cfg(not(windows))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "winnt_ftpd serves Windows accounts (LogonUserW, impersonation) and runs on \
         Windows only; build it with --target x86_64-pc-windows-gnu (or on Windows)"
    );
    std::process::ExitCode::FAILURE
}
