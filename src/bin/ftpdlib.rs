//! `ftpdlib`: share a directory over FTP in one command.
//! Takes the options of `python3 -m pyftpdlib`, and accounts from a users
//! file (`--users-file`, whose hashes `ftpdlib hash-password` makes).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ftpdlib::auth::{Authorizer, MemoryAuthorizer, UsersFile};
use ftpdlib::proto::perm::{ALL_PERMS, READ_PERMS};
use ftpdlib::server::ServerBuilder;
use ftpdlib::ConcurrencyModel;

#[derive(Parser, Debug)]
#[command(
    name = "ftpdlib",
    version,
    about = "Start a standalone anonymous FTP server.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// without one: start the server
    #[command(subcommand)]
    command: Option<Cmd>,
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
    /// ban a client address after N failed logins within 10 minutes (see --ban-time)
    #[arg(long = "ban-after-failed-logins", value_name = "N")]
    ban_after_failed_logins: Option<u32>,
    /// ban a client address whose session sends more than N commands within SECONDS, e.g. 300/1
    #[arg(long = "ban-after-commands", value_name = "N/SECONDS")]
    ban_after_commands: Option<String>,
    /// how long a ban lasts, in seconds (default 600; needs a --ban-after-* option)
    #[arg(long = "ban-time", value_name = "SECONDS")]
    ban_time: Option<u64>,
    #[command(flatten)]
    unix: UnixUsers,
    /// serve the users of this PostgreSQL database (see `ftpdlib db init`); -u, -P and -w do not apply
    #[arg(long = "db-url", value_name = "URL", conflicts_with_all = ["username", "password", "write"])]
    db_url: Option<String>,
    /// the accounts: a TOML users file (hashed passwords, homes, permissions, limits; an [anonymous] table for anonymous login); SIGHUP reloads it. -d is the home of an account without one
    #[arg(
        long = "users-file",
        value_name = "PATH",
        conflicts_with_all = ["write", "username", "password"]
    )]
    users_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// manage the PostgreSQL users database (builds with `--features postgres`)
    Db {
        #[command(subcommand)]
        action: DbCmd,
    },
    /// print a new argon2id hash of a password, for a users file (read without echo from a terminal, else one line of standard input)
    HashPassword,
}

#[derive(Subcommand, Debug)]
enum DbCmd {
    /// create the tables ftp_users and ftp_perm_overrides where missing (safe to repeat)
    Init {
        /// the database, e.g. postgresql://ftpd:secret@localhost/ftpd
        #[arg(long = "db-url", value_name = "URL")]
        db_url: String,
    },
    /// add a user (other columns keep their defaults; change them with SQL)
    AddUser {
        /// the database, e.g. postgresql://ftpd:secret@localhost/ftpd
        #[arg(long = "db-url", value_name = "URL")]
        db_url: String,
        /// the login name
        name: String,
        /// the password hash (PHC/crypt string, e.g. from `ftpdlib hash-password`)
        #[arg(long = "password-hash", value_name = "HASH")]
        password_hash: String,
        /// the home directory (absolute)
        #[arg(long = "home", value_name = "PATH")]
        home: PathBuf,
        /// permission letters
        #[arg(long = "perm", default_value = "elr")]
        perm: String,
    },
}

/// System users (pyftpdlib's UnixAuthorizer); the server must run as root.
#[derive(clap::Args, Debug)]
struct UnixUsers {
    /// log in the system's users with their passwords; each session's file operations run as its user, who starts in the home directory and sees the real paths (root is refused)
    #[arg(long = "unix-users")]
    unix_users: bool,
    /// with --unix-users: show each user only their home directory, as /
    #[arg(long = "confine-to-home", requires = "unix_users")]
    confine_to_home: bool,
    /// with --unix-users: check passwords through this PAM service (/etc/pam.d/NAME) instead of /etc/shadow
    #[arg(long = "pam-service", value_name = "NAME", requires = "unix_users")]
    pam_service: Option<String>,
    /// with --unix-users: let "anonymous" log in (any password, read-only) as this system user, e.g. ftp
    #[arg(long = "anonymous-user", value_name = "USER", requires = "unix_users")]
    anonymous_user: Option<String>,
    /// with --unix-users: only these users may log in (comma-separated)
    #[arg(
        long = "allowed-users",
        value_name = "USERS",
        value_delimiter = ',',
        requires = "unix_users",
        conflicts_with = "rejected_users"
    )]
    allowed_users: Option<Vec<String>>,
    /// with --unix-users: these users may not log in either (comma-separated; root never may)
    #[arg(
        long = "rejected-users",
        value_name = "USERS",
        value_delimiter = ',',
        requires = "unix_users"
    )]
    rejected_users: Option<Vec<String>>,
    /// with --unix-users: accept users whose login shell is not in /etc/shells (e.g. /usr/sbin/nologin)
    #[arg(long = "any-shell", requires = "unix_users")]
    any_shell: bool,
}

impl UnixUsers {
    /// The authorizer these options describe (system users are Unix ones).
    #[cfg(not(unix))]
    fn authorizer(&self) -> Result<MemoryAuthorizer, String> {
        Err("--unix-users needs a Unix system (on Windows, see WindowsAuthorizer)".into())
    }

    /// The authorizer these options describe.
    #[cfg(unix)]
    fn authorizer(&self) -> Result<ftpdlib::auth::UnixAuthorizer, String> {
        for (option, users) in [
            ("--allowed-users", &self.allowed_users),
            ("--rejected-users", &self.rejected_users),
        ] {
            if let Some(users) = users {
                if users.is_empty() || users.iter().any(|u| u.trim().is_empty()) {
                    return Err(format!(
                        "{option}: an empty user name in {:?}",
                        users.join(",")
                    ));
                }
            }
        }
        let mut auth = ftpdlib::auth::UnixAuthorizer::new()
            .confine_to_home(self.confine_to_home)
            .require_valid_shell(!self.any_shell);
        if let Some(users) = &self.rejected_users {
            // besides root, always: the command has no way to want root in
            let mut users = users.clone();
            if !users.iter().any(|u| u == "root") {
                users.push("root".into());
            }
            auth = auth.rejected_users(users).map_err(|e| e.to_string())?;
        }
        if let Some(users) = &self.allowed_users {
            auth = auth
                .rejected_users(Vec::<String>::new())
                .and_then(|a| a.allowed_users(users))
                .map_err(|e| e.to_string())?;
        }
        if let Some(user) = &self.anonymous_user {
            auth = auth.anonymous_user(user).map_err(|e| e.to_string())?;
        }
        if let Some(service) = &self.pam_service {
            #[cfg(feature = "pam")]
            {
                auth = auth.pam_service(service);
            }
            #[cfg(not(feature = "pam"))]
            return Err(format!(
                "--pam-service {service}: this build has no PAM support (build with --features pam)"
            ));
        }
        Ok(auth)
    }
}

/// Options that contradict each other or do not apply to the rest of the
/// command line: refused (one line, exit 2) rather than silently ignored,
/// so that the server never starts with something else than asked.
fn check_combination(cli: &Cli) -> Result<(), String> {
    let sources = [
        cli.db_url.is_some(),
        cli.users_file.is_some(),
        cli.unix.unix_users,
    ];
    if sources.iter().filter(|&&s| s).count() > 1 {
        return Err(
            "--db-url, --users-file and --unix-users are sources of accounts: choose one".into(),
        );
    }
    if cli.workers.is_some() && cli.concurrency != "pre-fork" {
        return Err(format!(
            "--workers applies to --concurrency pre-fork only (not {:?})",
            cli.concurrency
        ));
    }
    if cli.db_url.is_some() && cli.directory.is_some() {
        return Err("-d does not apply to --db-url (each user's row has its home)".into());
    }
    match cli.username.as_deref() {
        Some("") => return Err("-u: the user name is empty".into()),
        Some(u) if u.eq_ignore_ascii_case("anonymous") => {
            return Err(
                "-u anonymous: anonymous logs in with any password; leave out -u and -P for anonymous access"
                    .into(),
            )
        }
        Some(u) if u.contains(['\0', '\r', '\n']) => {
            return Err(format!("-u {u:?}: a user name can't hold control characters"))
        }
        Some(_) => {}
        None if cli.password.is_some() => {
            return Err("-P needs -u (without -u, anonymous logs in with any password)".into())
        }
        None => {}
    }
    if let Some(IpAddr::V6(v6)) = cli.nat_address {
        if v6.to_ipv4_mapped().is_none() {
            return Err(format!(
                "-n {v6}: PASV replies carry an IPv4 address only (IPv6 clients use EPSV)"
            ));
        }
    }
    if cli.ban_after_failed_logins == Some(0) {
        return Err("--ban-after-failed-logins must be at least 1".into());
    }
    if let Some(service) = &cli.unix.pam_service {
        pam_service_exists(service)?;
    }
    Ok(())
}

/// A PAM service named on the command line must have a configuration: for
/// an unknown name PAM falls back to the `other` service, which checks
/// something else than asked (on Debian, every system password).
fn pam_service_exists(service: &str) -> Result<(), String> {
    if service.is_empty() || service.contains(['/', '\0']) || service.starts_with('.') {
        return Err(format!("--pam-service {service:?}: not a service name"));
    }
    let dirs = ["/etc/pam.d", "/usr/lib/pam.d", "/lib/pam.d"];
    if dirs
        .iter()
        .any(|d| std::path::Path::new(d).join(service).is_file())
        // Linux-PAM reads /etc/pam.conf only when /etc/pam.d is missing
        || (!std::path::Path::new("/etc/pam.d").is_dir()
            && std::path::Path::new("/etc/pam.conf").is_file())
    {
        return Ok(());
    }
    Err(format!(
        "--pam-service {service}: no such PAM service (/etc/pam.d/{service} is missing)"
    ))
}

/// The ban policy the `--ban-*` options ask for (`None` without them).
fn ban_policy(cli: &Cli) -> Result<Option<ftpdlib::config::BanPolicy>, String> {
    if cli.ban_after_failed_logins.is_none() && cli.ban_after_commands.is_none() {
        if cli.ban_time.is_some() {
            return Err(
                "--ban-time requires --ban-after-failed-logins or --ban-after-commands".into(),
            );
        }
        return Ok(None);
    }
    let mut policy = ftpdlib::config::BanPolicy {
        max_failed_logins: cli.ban_after_failed_logins.unwrap_or(0),
        max_commands: 0,
        ..Default::default()
    };
    if let Some(spec) = &cli.ban_after_commands {
        let bad =
            || format!("invalid --ban-after-commands {spec:?}: expected N/SECONDS, e.g. 300/1");
        let (n, secs) = spec.split_once('/').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let secs: f64 = secs.trim().parse().map_err(|_| bad())?;
        if n == 0 || !(secs > 0.0 && secs <= 86_400.0) {
            return Err(bad());
        }
        let window = Duration::from_secs_f64(secs);
        // a window too short to share among n commands would never count one
        if window < Duration::from_millis(1) || (window / n).is_zero() {
            return Err(format!(
                "invalid --ban-after-commands {spec:?}: the window is too short (at least 0.001 s)"
            ));
        }
        policy.max_commands = n;
        policy.commands_window = window;
    }
    if let Some(t) = cli.ban_time {
        if t == 0 {
            return Err("--ban-time must be at least 1 second".into());
        }
        policy.ban_time = Duration::from_secs(t);
    }
    Ok(Some(policy))
}

/// `ftpdlib hash-password`: the hash on standard output.
fn hash_password() -> ExitCode {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let ask = |prompt: &str| rpassword::prompt_password(prompt);
        match (ask("Password: "), ask("Password (again): ")) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => return fail("the two passwords differ"),
            (Err(e), _) | (_, Err(e)) => return fail(format_args!("can't read the password: {e}")),
        }
    } else {
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => return fail("no password on standard input"),
            Ok(_) => {}
            Err(e) => {
                return fail(format_args!(
                    "can't read the password from standard input: {e}"
                ))
            }
        }
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    };
    if password.is_empty() {
        return fail("the password is empty");
    }
    match ftpdlib::auth::hash::hash_password(password.as_bytes()) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
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
    if let Some(Cmd::HashPassword) = cli.command {
        return hash_password();
    }

    if let Some(Cmd::Db { action }) = cli.command {
        return run_db(action);
    }

    let level = if cli.debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    if let Err(e) = ftpdlib::logging::init(level, cli.log_file.as_deref()) {
        let path = cli.log_file.as_deref().unwrap_or(std::path::Path::new(""));
        return fail(format_args!("can't open log file {}: {e}", path.display()));
    }

    if let Err(e) = check_combination(&cli) {
        return fail(e);
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
    let ban = match ban_policy(&cli) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
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

    let auth: std::sync::Arc<dyn Authorizer> = if let Some(url) = &cli.db_url {
        match db_authorizer(url, concurrency) {
            Ok(a) => a,
            Err(e) => return fail(e),
        }
    } else if cli.unix.unix_users {
        if cli.write || cli.username.is_some() || cli.password.is_some() || cli.directory.is_some()
        {
            return fail("-w, -u, -P and -d do not apply to --unix-users (each user starts in their home directory; the kernel's permissions apply)");
        }
        #[cfg(unix)]
        if !nix::unistd::geteuid().is_root() {
            return fail("--unix-users needs the server to run as root (to check passwords and act as each user)");
        }
        match cli.unix.authorizer() {
            Ok(a) => std::sync::Arc::new(a),
            Err(e) => return fail(e),
        }
    } else if let Some(path) = &cli.users_file {
        match UsersFile::load_with_default_home(path, &directory) {
            Ok(users) => {
                log::info!(
                    "users file {}: {} users, anonymous login {}",
                    path.display(),
                    users.usernames().len(),
                    if users.has_anonymous() { "on" } else { "off" }
                );
                std::sync::Arc::new(users)
            }
            Err(e) => return fail(e),
        }
    } else {
        match memory_authorizer(&cli, &directory) {
            Ok(a) => std::sync::Arc::new(a),
            Err(e) => return fail(e),
        }
    };

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
    cfg.ban = ban;

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

/// The users of `-u`/`-P` (or anonymous), sharing `directory`.
fn memory_authorizer(
    cli: &Cli,
    directory: &std::path::Path,
) -> Result<MemoryAuthorizer, ftpdlib::auth::AuthError> {
    let perm = if cli.write { ALL_PERMS } else { READ_PERMS };
    let auth = MemoryAuthorizer::new();
    match &cli.username {
        Some(user) => {
            auth.add_user(user, cli.password.as_deref().unwrap_or(""), directory, perm)?
        }
        None => auth.add_anonymous_with_perm(directory, perm)?,
    }
    Ok(auth)
}

/// The PostgreSQL users of `--db-url`, checked once before serving (the
/// tables must be there). Fork-per-connection sessions connect for each
/// login instead of keeping a pool each.
#[cfg(feature = "postgres")]
fn db_authorizer(
    url: &str,
    concurrency: ConcurrencyModel,
) -> Result<std::sync::Arc<dyn Authorizer>, String> {
    use ftpdlib::auth::pg::{PgAuthorizer, PgOptions};
    let mut options = PgOptions::default();
    if concurrency == ConcurrencyModel::Process {
        options.pool_size = 0;
    }
    let auth = PgAuthorizer::with_options(url, options).map_err(|e| e.to_string())?;
    auth.check().map_err(|e| {
        let e = e.to_string();
        // the hint only where it helps: the tables are missing
        let hint = if e.contains("relation") && e.contains("does not exist") {
            " (did `ftpdlib db init` run?)"
        } else {
            ""
        };
        format!("can't use the users database: {e}{hint}")
    })?;
    Ok(std::sync::Arc::new(auth))
}

#[cfg(not(feature = "postgres"))]
fn db_authorizer(
    _url: &str,
    _concurrency: ConcurrencyModel,
) -> Result<std::sync::Arc<dyn Authorizer>, String> {
    Err(NO_POSTGRES.into())
}

#[cfg(not(feature = "postgres"))]
const NO_POSTGRES: &str =
    "this ftpdlib was built without PostgreSQL support (cargo build --features postgres)";

/// `ftpdlib db ...`: one line on success (stdout) or failure (exit 2).
#[cfg(feature = "postgres")]
fn run_db(action: DbCmd) -> ExitCode {
    use ftpdlib::auth::pg::{NewUser, PgAuthorizer};
    let url = match &action {
        DbCmd::Init { db_url } | DbCmd::AddUser { db_url, .. } => db_url,
    };
    let auth = match PgAuthorizer::new(url) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let (done, what) = match &action {
        DbCmd::Init { .. } => (
            auth.init_schema(),
            "tables ftp_users and ftp_perm_overrides ready".to_string(),
        ),
        DbCmd::AddUser {
            name,
            password_hash,
            home,
            perm,
            ..
        } => (
            auth.add_user(&NewUser::new(name, password_hash, home, perm)),
            format!("user {name:?} added"),
        ),
    };
    match done {
        Ok(()) => {
            println!("{what}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(not(feature = "postgres"))]
fn run_db(_action: DbCmd) -> ExitCode {
    fail(NO_POSTGRES)
}

trait FirstAddr {
    fn to_socket_addrs_first(&self) -> Option<SocketAddr>;
}

impl FirstAddr for (&str, u16) {
    fn to_socket_addrs_first(&self) -> Option<SocketAddr> {
        std::net::ToSocketAddrs::to_socket_addrs(self).ok()?.next()
    }
}
