//! `ftpdlib`: share a directory over FTP in one command.
//! Takes the options of `python3 -m pyftpdlib`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ftpdlib::auth::MemoryAuthorizer;
use ftpdlib::proto::perm::{ALL_PERMS, READ_PERMS};
use ftpdlib::server::ServerBuilder;
use ftpdlib::ConcurrencyModel;

#[derive(Parser, Debug)]
#[command(
    name = "ftpdlib",
    version,
    about = "Start a standalone anonymous FTP server."
)]
struct Cli {
    /// specify the interface to run on (default: all interfaces)
    #[arg(short = 'i', long = "interface", value_name = "ADDRESS")]
    interface: Option<String>,
    /// specify port number to run on
    #[arg(short = 'p', long = "port", default_value_t = 2121)]
    port: u16,
    /// grants write access for logged in user (default: read-only)
    #[arg(short = 'w', long = "write")]
    write: bool,
    /// specify the directory to share (default: current directory)
    #[arg(short = 'd', long = "directory", value_name = "PATH")]
    directory: Option<PathBuf>,
    /// the NAT address to use for passive connections
    #[arg(short = 'n', long = "nat-address", value_name = "ADDRESS")]
    nat_address: Option<IpAddr>,
    /// the range of TCP ports to use for passive connections (e.g. -r 8000-9000)
    #[arg(short = 'r', long = "range", value_name = "FROM-TO")]
    range: Option<String>,
    /// enable DEBUG logging level
    #[arg(short = 'D', long = "debug")]
    debug: bool,
    /// specify username to login with (anonymous login will be disabled and password required if supplied)
    #[arg(short = 'u', long = "username")]
    username: Option<String>,
    /// specify a password to login with (username required to be useful)
    #[arg(short = 'P', long = "password")]
    password: Option<String>,
    /// the concurrency model: 'async', 'multi-thread', 'multi-proc' or 'pre-fork'
    #[arg(long = "concurrency", default_value = "multi-thread")]
    concurrency: String,
    /// number of worker processes for 'pre-fork' (default: number of CPUs)
    #[arg(long = "workers")]
    workers: Option<usize>,
    /// whether to enable FTPS (FTP over TLS); requires --certfile (and --keyfile unless the key is in the certfile)
    #[arg(long = "tls")]
    tls: bool,
    /// the TLS key file (PEM: PKCS#8, PKCS#1 or SEC1); default: the key inside --certfile
    #[arg(long = "keyfile", value_name = "PATH")]
    keyfile: Option<PathBuf>,
    /// implicit FTPS: TLS from the first byte, the ftps:// style (implies --tls)
    #[arg(long = "tls-implicit")]
    tls_implicit: bool,
    /// the TLS certificate file (PEM, the server certificate first, then its chain)
    #[arg(long = "certfile", value_name = "PATH")]
    certfile: Option<PathBuf>,
    /// impose TLS for the control connection (before login)
    #[arg(long = "tls-control-required")]
    tls_control_required: bool,
    /// impose TLS for the data connection
    #[arg(long = "tls-data-required")]
    tls_data_required: bool,
    /// connection timeout in seconds
    #[arg(long = "timeout", default_value_t = 300)]
    timeout: u64,
    /// the message sent when client connects
    #[arg(long = "banner")]
    banner: Option<String>,
    /// allow data connections from an IP address different than the control connection
    #[arg(long = "permit-foreign-addresses")]
    permit_foreign_addresses: bool,
    /// allow data connections (PORT) over privileged TCP ports
    #[arg(long = "permit-privileged-ports")]
    permit_privileged_ports: bool,
    /// the encoding used for client / server communication
    #[arg(long = "encoding", default_value = "utf8")]
    encoding: String,
    /// display directory listings with the time in your local time zone (default: use GMT)
    #[arg(long = "use-localtime")]
    use_localtime: bool,
    /// disable sendfile() syscall, used for faster file transfers
    #[arg(long = "disable-sendfile")]
    disable_sendfile: bool,
    /// max number of simultaneous connections (0 = unlimited)
    #[arg(long = "max-cons", default_value_t = 512)]
    max_cons: usize,
    /// maximum number connections from the same IP address (0 = unlimited)
    #[arg(long = "max-cons-per-ip", default_value_t = 0)]
    max_cons_per_ip: usize,
    /// max number of failed authentications before disconnect
    #[arg(long = "max-login-attempts", default_value_t = 3)]
    max_login_attempts: u32,
    /// download speed limit in bytes per second (0 = unlimited)
    #[arg(long = "write-limit", default_value_t = 0)]
    write_limit: u64,
    /// upload speed limit in bytes per second (0 = unlimited)
    #[arg(long = "read-limit", default_value_t = 0)]
    read_limit: u64,
    /// on SIGINT/SIGTERM, seconds running transfers may go on before they are cut
    #[arg(long = "shutdown-grace", value_name = "SECONDS", default_value_t = 5)]
    shutdown_grace: u64,
    /// write the log to this file instead of stderr
    #[arg(long = "log-file", value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// log line prefix; may use %(username)s, %(remote_ip)s, %(remote_port)s
    #[arg(long = "log-prefix")]
    log_prefix: Option<String>,
}

/// A value the server cannot use: one line, exit code 2.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("ftpdlib: error: {msg}");
    ExitCode::from(2)
}

fn parse_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("invalid port range {s:?}: expected FROM-TO, e.g. 60000-65535");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok(a..=b)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            // One line, like every other usage error (clap adds usage and a hint).
            let text = e.render().to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let first = first.trim().trim_start_matches("error:").trim();
            return fail(format_args!("{first} (see --help)"));
        }
    };

    let level = if cli.debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    if let Err(e) = ftpdlib::logging::init(level, cli.log_file.as_deref()) {
        let path = cli.log_file.as_deref().unwrap_or(std::path::Path::new(""));
        return fail(format_args!("can't open log file {}: {e}", path.display()));
    }

    let concurrency = match cli.concurrency.as_str() {
        "async" => ConcurrencyModel::Poll,
        "multi-thread" => ConcurrencyModel::ThreadPool,
        "multi-proc" => ConcurrencyModel::Process,
        "pre-fork" => match cli.workers {
            Some(0) => return fail("--workers must be at least 1"),
            Some(n) => ConcurrencyModel::Prefork { workers: n },
            None => ConcurrencyModel::Prefork {
                workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        },
        other => {
            return fail(format_args!(
            "invalid concurrency model {other:?}: use async, multi-thread, multi-proc or pre-fork"
        ))
        }
    };
    if !concurrency.is_supported() {
        return fail(format_args!(
            "the {} concurrency model forks processes, which only Unix systems can: \
             use async or multi-thread",
            concurrency.cli_name()
        ));
    }
    let tls = if cli.tls || cli.tls_implicit {
        let Some(certfile) = &cli.certfile else {
            return fail(
                "--tls requires --certfile (and --keyfile unless the key is in the certfile)",
            );
        };
        match ftpdlib::tls::TlsConfig::from_pem_files(certfile, cli.keyfile.as_deref()) {
            Ok(mut t) => {
                t.control_required = cli.tls_control_required;
                t.data_required = cli.tls_data_required;
                t.implicit = cli.tls_implicit;
                Some(t)
            }
            Err(e) => return fail(e),
        }
    } else if cli.keyfile.is_some()
        || cli.certfile.is_some()
        || cli.tls_control_required
        || cli.tls_data_required
    {
        return fail(
            "--keyfile, --certfile, --tls-control-required and --tls-data-required require --tls",
        );
    } else {
        None
    };
    if !matches!(cli.encoding.to_ascii_lowercase().as_str(), "utf8" | "utf-8") {
        return fail(format_args!(
            "unsupported encoding {:?}: only utf8 is supported",
            cli.encoding
        ));
    }
    let passive_ports = match cli.range.as_deref().map(parse_range).transpose() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let directory = match cli.directory.clone().map_or_else(std::env::current_dir, Ok) {
        Ok(d) => d,
        Err(e) => return fail(format_args!("can't determine the current directory: {e}")),
    };
    if !directory.is_dir() {
        return fail(format_args!("{} is not a directory", directory.display()));
    }

    let perm = if cli.write { ALL_PERMS } else { READ_PERMS };
    let auth = MemoryAuthorizer::new();
    let added = match &cli.username {
        Some(user) => auth.add_user(
            user,
            cli.password.as_deref().unwrap_or(""),
            &directory,
            perm,
        ),
        None => auth.add_anonymous_with_perm(&directory, perm),
    };
    if let Err(e) = added {
        return fail(e);
    }

    let bind_ip: IpAddr = match cli.interface.as_deref() {
        None | Some("") => IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED),
        Some(s) => match s.parse() {
            Ok(ip) => ip,
            Err(_) => match (s, 0).to_socket_addrs_first() {
                Some(a) => a.ip(),
                None => return fail(format_args!("invalid interface address {s:?}")),
            },
        },
    };

    let mut cfg = ftpdlib::ServerConfig::default();
    if let Some(b) = &cli.banner {
        cfg.banner = b.clone();
    }
    cfg.timeout = (cli.timeout > 0).then(|| Duration::from_secs(cli.timeout));
    cfg.data_timeout = cfg.timeout;
    cfg.masquerade_address = cli.nat_address;
    cfg.passive_ports = passive_ports;
    cfg.permit_foreign_addresses = cli.permit_foreign_addresses;
    cfg.permit_privileged_ports = cli.permit_privileged_ports;
    cfg.use_gmt_times = !cli.use_localtime;
    cfg.use_sendfile = !cli.disable_sendfile;
    cfg.max_cons = cli.max_cons;
    cfg.max_cons_per_ip = cli.max_cons_per_ip;
    cfg.max_login_attempts = cli.max_login_attempts;
    cfg.read_limit = cli.read_limit;
    cfg.write_limit = cli.write_limit;
    if let Some(p) = &cli.log_prefix {
        cfg.log_prefix = p.clone();
    }
    cfg.concurrency = concurrency;
    cfg.tls = tls;
    cfg.shutdown_grace = Duration::from_secs(cli.shutdown_grace);

    let auth = std::sync::Arc::new(auth);
    let bind = |ip: IpAddr| {
        ServerBuilder::with_shared_authorizer(auth.clone())
            .config(cfg.clone())
            .bind(SocketAddr::new(ip, cli.port))
    };
    let mut server = bind(bind_ip);
    if server.is_err() && cli.interface.is_none() {
        // no IPv6 on this machine: listen on IPv4 only
        server = bind(IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED));
    }
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            return fail(format_args!(
                "can't listen on {}:{}: {e}",
                bind_ip, cli.port
            ))
        }
    };
    match server.serve_until_signalled() {
        Ok(()) => {
            log::info!(">>> shutting down FTP server <<<");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

trait FirstAddr {
    fn to_socket_addrs_first(&self) -> Option<SocketAddr>;
}

impl FirstAddr for (&str, u16) {
    fn to_socket_addrs_first(&self) -> Option<SocketAddr> {
        std::net::ToSocketAddrs::to_socket_addrs(self).ok()?.next()
    }
}
