//! The tutorial's "FTPS (FTP over TLS/SSL) server": RFC 4217 explicit FTPS
//! (AUTH TLS / AUTH SSL, PBSZ, PROT) with a certificate and key from PEM files.
//!
//! Run: `cargo run --example tls_ftpd -- CERTFILE [KEYFILE] [PORT]`; the key
//! may sit in CERTFILE (pyftpdlib's `keycert.pem` layout). A throwaway
//! certificate for trying it out:
//!
//! ```text
//! openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
//!     -keyout keycert.pem -out keycert.pem
//! cargo run --example tls_ftpd -- keycert.pem
//! curl -k --ssl-reqd ftp://user:12345@127.0.0.1:2121/
//! ```

use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::server::ServerBuilder;
use ftpdlib::tls::TlsConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let certfile = args.first().map_or("keycert.pem", String::as_str);
    // an optional key file, then an optional port
    let (keyfile, port) = match args.get(1) {
        Some(a) if a.parse::<u16>().is_ok() => (None, a.parse()?),
        Some(k) => (
            Some(k.as_str()),
            args.get(2).map(|p| p.parse()).transpose()?.unwrap_or(2121),
        ),
        None => (None, 2121),
    };

    let authorizer = MemoryAuthorizer::new();
    authorizer.add_user("user", "12345", ".", "elradfmw")?;
    authorizer.add_anonymous(".")?;

    let mut tls = TlsConfig::from_pem_files(certfile.as_ref(), keyfile.map(AsRef::as_ref))?;
    // true requires TLS on the control channel (no USER/PASS before AUTH TLS)
    tls.control_required = false;
    // true requires TLS on the data channel (no PASV/PORT before PROT P)
    tls.data_required = false;
    // true serves implicit FTPS (TLS from the first byte, the ftps:// style)
    tls.implicit = false;

    let server = ServerBuilder::new(authorizer)
        .configure(|c| c.tls = Some(tls))
        .bind(("0.0.0.0", port))?;
    server.serve_forever()?;
    Ok(())
}
