//! The tutorial's Unix daemon (pyftpdlib's `demo/unix_daemon.py`): an FTP
//! server that detaches from the terminal, writes a pid file, logs to a
//! file and stops cleanly on SIGTERM (idle sessions get `421`, running
//! transfers a grace period, then the pid file is removed).
//!
//! ```text
//! cargo run --example daemon_ftpd -- start  [--pid-file PATH] [--log-file PATH] [--port N] [--dir PATH]
//! cargo run --example daemon_ftpd -- status [--pid-file PATH]
//! cargo run --example daemon_ftpd -- stop   [--pid-file PATH]
//! ```
//!
//! `start` binds the port first, so that an error (a port in use) reaches
//! the terminal, then detaches with the `daemonize` crate: fork, `setsid`,
//! fork again, `chdir /`, standard streams to `/dev/null`, and a pid file
//! locked for the daemon's life (a second `start` with the same pid file
//! fails). The forks happen before the process has any other thread.

#[cfg(not(unix))]
fn main() {
    eprintln!("daemon_ftpd is a Unix daemon (fork, setsid, signals)");
    std::process::exit(1);
}

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    unix::main()
}

#[cfg(unix)]
mod unix {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::{Duration, Instant};

    use clap::{Parser, ValueEnum};
    use ftpdlib::auth::MemoryAuthorizer;
    use ftpdlib::server::ServerBuilder;

    #[derive(Clone, Copy, Debug, ValueEnum)]
    enum Command {
        /// Start the daemon.
        Start,
        /// Stop it (SIGTERM) and wait until it is gone.
        Stop,
        /// Tell whether it runs.
        Status,
    }

    #[derive(Parser, Debug)]
    #[command(about = "An FTP server running as a Unix daemon.")]
    struct Cli {
        /// What to do.
        command: Command,
        /// The pid file.
        #[arg(long, default_value = "/tmp/ftpdlib-daemon.pid")]
        pid_file: PathBuf,
        /// The log file.
        #[arg(long, default_value = "/tmp/ftpdlib-daemon.log")]
        log_file: PathBuf,
        /// The port to listen on (all interfaces).
        #[arg(long, default_value_t = 2121)]
        port: u16,
        /// The directory to share (user `user`, password `12345`; anonymous read-only).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    }

    /// The pid the pid file names, if it names a running process.
    fn running_pid(pid_file: &Path) -> Option<nix::unistd::Pid> {
        let text = std::fs::read_to_string(pid_file).ok()?;
        let pid = nix::unistd::Pid::from_raw(text.trim().parse().ok()?);
        nix::sys::signal::kill(pid, None).ok().map(|()| pid)
    }

    fn start(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(pid) = running_pid(&cli.pid_file) {
            return Err(format!("already running (pid {pid})").into());
        }
        // paths are taken before the daemon changes to /
        let cwd = std::env::current_dir()?;
        let pid_file = cwd.join(&cli.pid_file);
        let log_file = cwd.join(&cli.log_file);
        let authorizer = MemoryAuthorizer::new();
        authorizer.add_user("user", "12345", &cli.dir, "elradfmwMT")?;
        authorizer.add_anonymous(&cli.dir)?;
        let server = ServerBuilder::new(authorizer).bind(("0.0.0.0", cli.port))?;
        println!(
            "starting the FTP daemon on port {}; pid file {}, log {}",
            cli.port,
            pid_file.display(),
            log_file.display()
        );
        // the original process exits here; the daemon goes on
        daemonize::Daemonize::new()
            .pid_file(&pid_file)
            .working_directory("/")
            .start()?;
        ftpdlib::logging::init(log::LevelFilter::Info, Some(&log_file))?;
        log::info!("daemon started, pid {}", std::process::id());
        let served = server.serve_until_signalled();
        let _ = std::fs::remove_file(&pid_file);
        match served {
            Ok(()) => {
                log::info!("daemon stopped");
                Ok(())
            }
            Err(e) => {
                log::error!("daemon failed: {e}");
                Err(e.into())
            }
        }
    }

    fn stop(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
        let Some(pid) = running_pid(&cli.pid_file) else {
            return Err(format!("not running (no live pid in {})", cli.pid_file.display()).into());
        };
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        // the shutdown grace (5 s) and a margin; the daemon removes its pid
        // file as it stops (its exit may leave a zombie where nothing reaps)
        let deadline = Instant::now() + Duration::from_secs(15);
        while cli.pid_file.exists() && nix::sys::signal::kill(pid, None).is_ok() {
            if Instant::now() > deadline {
                return Err(format!("pid {pid} did not stop within 15 s").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("stopped (pid {pid})");
        Ok(())
    }

    pub(super) fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Start => start(&cli),
            Command::Stop => stop(&cli),
            Command::Status => {
                match running_pid(&cli.pid_file) {
                    Some(pid) => println!("running (pid {pid})"),
                    None => println!("not running"),
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("daemon_ftpd: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
