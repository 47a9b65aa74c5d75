//! A server process under measurement, shared by the benches: started on a
//! free loopback port, stopped on drop (SIGTERM, then SIGKILL after 10 s);
//! and pyftpdlib's launch command, the peer both benches compare with.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running server and where it listens.
pub struct Server {
    pub name: String,
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now (0 if none could be had).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// `python3 -m pyftpdlib` on 127.0.0.1:`port`, sharing `dir` with `user`,
/// password `pass`, write access (its async server).
pub fn pyftpdlib(port: u16, dir: &Path, user: &str, pass: &str) -> Command {
    let mut py = Command::new("python3");
    py.args([
        "-m",
        "pyftpdlib",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ])
    .args(["-w", "-u", user, "-P", pass])
    .arg("-d")
    .arg(dir);
    py
}
