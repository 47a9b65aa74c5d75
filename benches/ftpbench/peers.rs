//! The servers measured: `ftpdlib` in each model (and a baseline build),
//! and the peers pyftpdlib (async, threaded, forking), pure-ftpd, vsftpd
//! and proftpd: where they are installed, their configuration, how each is
//! launched and stopped.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::clients::Ctl;
use crate::plan::{PASS, USER};
use crate::procs::{drop_cgroup, halt_if_stopping, proc_table, track_dir, tree, wait_quiet};
use crate::server::{self, free_port, Server};
use crate::tables::Results;

/// A server the bench measures.
pub(crate) enum Kind {
    /// The `ftpdlib` binary in this `--concurrency` model.
    Ftpdlib(String),
    /// Another build of `ftpdlib` (`FTPBENCH_BASELINE`, e.g. an older
    /// commit) in this model, to compare builds in the same run.
    Baseline(PathBuf, String),
    Pyftpdlib,
    /// pyftpdlib's server class for this model of ours: `multi-thread`
    /// (`ThreadedFTPServer`) or `multi-proc` (`MultiprocessFTPServer`),
    /// each model against its like.
    PyftpdlibModel(&'static str),
    PureFtpd,
    Vsftpd,
    Proftpd,
}

impl Kind {
    pub(crate) fn name(&self) -> String {
        match self {
            Kind::Ftpdlib(m) => format!("ftpdlib {m}"),
            Kind::Baseline(_, m) => format!("baseline {m}"),
            Kind::Pyftpdlib => "pyftpdlib async".into(),
            Kind::PyftpdlibModel(m) => format!("pyftpdlib {m}"),
            Kind::PureFtpd => "pure-ftpd".into(),
            Kind::Vsftpd => "vsftpd".into(),
            Kind::Proftpd => "proftpd".into(),
        }
    }
    pub(crate) fn ours(&self) -> bool {
        matches!(self, Kind::Ftpdlib(_) | Kind::Baseline(..))
    }
}

/// A started server with its own directory; on drop it is stopped and
/// every process of its tree that outlived it (the sessions of a forking
/// server) is killed.
pub(crate) struct Running {
    server: Option<Server>,
    pub(crate) dir: PathBuf,
    _guard: Option<tempfile::TempDir>,
}

impl Running {
    fn srv(&self) -> &Server {
        self.server.as_ref().expect("running")
    }
    pub(crate) fn name(&self) -> &str {
        &self.srv().name
    }
    pub(crate) fn addr(&self) -> SocketAddr {
        self.srv().addr
    }
    pub(crate) fn pid(&self) -> u32 {
        self.srv().child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(s) = self.server.take() else {
            return;
        };
        let pid = s.child.id();
        let rest: Vec<u32> = tree(pid).into_iter().skip(1).collect();
        drop(s);
        let table = proc_table();
        for p in rest {
            if table.iter().any(|&(q, _)| q == p) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        drop_cgroup(pid);
    }
}

/// Where the unpacked peers (`benches/peers.sh`) are.
pub(crate) struct Peers {
    root: Option<PathBuf>,
}

impl Peers {
    pub(crate) fn find() -> Peers {
        let mut cands = Vec::new();
        if let Ok(d) = std::env::var("FTPBENCH_PEERS_DIR") {
            cands.push(PathBuf::from(d));
        }
        cands.push(target_dir().join("peers"));
        cands.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers"));
        Peers {
            root: cands
                .into_iter()
                .map(|c| c.join("root"))
                .find(|r| r.is_dir()),
        }
    }
    /// The unpacked `rel` (e.g. `usr/sbin/vsftpd`), or `name` on `PATH`.
    fn bin(&self, rel: &str) -> Option<PathBuf> {
        if let Some(r) = &self.root {
            let p = r.join(rel);
            if p.is_file() {
                return Some(p);
            }
        }
        let name = Path::new(rel).file_name()?;
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    }
    /// A command for `bin` with the unpacked libraries on its library path.
    fn command(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        if let Some(r) = &self.root {
            if bin.starts_with(r) {
                let arch = std::env::consts::ARCH;
                let libs = [
                    format!("usr/lib/{arch}-linux-gnu"),
                    format!("lib/{arch}-linux-gnu"),
                ]
                .map(|l| r.join(l).to_string_lossy().into_owned())
                .join(":");
                c.env("LD_LIBRARY_PATH", libs);
            }
        }
        c
    }
    /// The Debian version of `pkg`: the installed one when `bin` is not
    /// unpacked, else from the name of the unpacked package file.
    fn version(&self, pkg: &str, bin: &Path) -> String {
        if let Some(r) = &self.root {
            if bin.starts_with(r) {
                let debs = r.parent().map(|p| p.join("debs"));
                if let Some(v) = debs
                    .and_then(|d| std::fs::read_dir(d).ok())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .find_map(|n| {
                        n.strip_prefix(&format!("{pkg}_"))
                            .and_then(|r| r.split('_').next().map(str::to_string))
                    })
                {
                    return v;
                }
            }
        }
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", pkg])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "?".into())
    }
}

/// The crate's target directory (where the bench binary's `ftpdlib` is).
pub(crate) fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ftpdlib"))
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

pub(crate) fn quiet_ok(c: &mut Command) -> bool {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn id_of(flag: &str, user: &str) -> Option<String> {
    let o = Command::new("id").args([flag, user]).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn sha512_crypt(pass: &str) -> Option<String> {
    let o = Command::new("openssl")
        .args(["passwd", "-6", pass])
        .output()
        .ok()?;
    let h = String::from_utf8(o.stdout).ok()?.trim().to_string();
    (o.status.success() && h.starts_with("$6$")).then_some(h)
}

/// pure-ftpd with one virtual user (uid nobody) whose home is `dir`. The
/// password is stored as SHA-512 crypt so that logins cost what they cost
/// on a typical install (pure-pw's default argon2 takes seconds here).
fn pure_ftpd(peers: &Peers, dir: &Path, port: u16) -> Result<(Command, tempfile::TempDir), String> {
    let (Some(bin), Some(pw)) = (
        peers.bin("usr/sbin/pure-ftpd"),
        peers.bin("usr/bin/pure-pw"),
    ) else {
        return Err("not installed (sh benches/peers.sh)".into());
    };
    let db = tempfile::tempdir().map_err(|e| e.to_string())?;
    track_dir(db.path());
    let hash = sha512_crypt(PASS).ok_or("openssl passwd -6 failed")?;
    let (uid, gid) = (
        id_of("-u", "nobody").ok_or("no user nobody")?,
        id_of("-g", "nobody").ok_or("no user nobody")?,
    );
    let passwd = db.path().join("pureftpd.passwd");
    std::fs::write(
        &passwd,
        format!(
            "{USER}:{hash}:{uid}:{gid}::{}/./::::::::::::\n",
            dir.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let pdb = db.path().join("pureftpd.pdb");
    if !quiet_ok(
        peers
            .command(&pw)
            .arg("mkdb")
            .arg(&pdb)
            .arg("-f")
            .arg(&passwd),
    ) {
        return Err("pure-pw mkdb failed".into());
    }
    let mut cmd = peers.command(&bin);
    cmd.arg("-l")
        .arg(format!("puredb:{}", pdb.display()))
        .args([
            "-S",
            &format!("127.0.0.1,{port}"),
            "-c",
            "5000",
            "-C",
            "5000",
            "-E",
        ]);
    Ok((cmd, db))
}

/// vsftpd in standalone mode for the local user `ftpbench` (PAM: without a
/// service file of its own it falls back to `/etc/pam.d/other`, the system
/// password), starting in `dir`, passive ports chosen by the kernel. Its
/// default `lock_upload_files=YES` makes an upload wait for the lock of
/// another upload to the same name; ftpbench's concurrent STOR opens every
/// upload before it sends any data, so with the lock it never ends.
fn vsftpd(peers: &Peers, dir: &Path, port: u16) -> Result<(Command, tempfile::TempDir), String> {
    let bin = peers
        .bin("usr/sbin/vsftpd")
        .ok_or("not installed (sh benches/peers.sh)")?;
    if id_of("-u", USER).is_none() {
        return Err(format!(
            "needs the local user {USER} with password {PASS} (sh benches/peers.sh creates it)"
        ));
    }
    let cfg = tempfile::tempdir().map_err(|e| e.to_string())?;
    track_dir(cfg.path());
    let empty = cfg.path().join("empty");
    std::fs::create_dir(&empty).map_err(|e| e.to_string())?;
    let conf = cfg.path().join("vsftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             background=NO\nanonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\n\
             local_umask=022\nlocal_root={}\nchroot_local_user=NO\n\
             pam_service_name=ftpbench-vsftpd\nseccomp_sandbox=NO\nsecure_chroot_dir={}\n\
             max_clients=0\nmax_per_ip=0\nxferlog_enable=NO\nsession_support=NO\n\
             tcp_wrappers=NO\nconnect_from_port_20=NO\npasv_enable=YES\nssl_enable=NO\n\
             userlist_enable=NO\nidle_session_timeout=600\nlock_upload_files=NO\n",
            dir.display(),
            empty.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = peers.command(&bin);
    cmd.arg(&conf);
    Ok((cmd, cfg))
}

/// proftpd standalone (`-n`) with a virtual user from an `AuthUserFile`
/// (uid nobody), chrooted to `dir`.
fn proftpd(peers: &Peers, dir: &Path, port: u16) -> Result<(Command, tempfile::TempDir), String> {
    use std::os::unix::fs::PermissionsExt;
    let bin = peers
        .bin("usr/sbin/proftpd")
        .ok_or("not installed (sh benches/peers.sh)")?;
    let cfg = tempfile::tempdir().map_err(|e| e.to_string())?;
    track_dir(cfg.path());
    let hash = sha512_crypt(PASS).ok_or("openssl passwd -6 failed")?;
    let (uid, gid) = (
        id_of("-u", "nobody").ok_or("no user nobody")?,
        id_of("-g", "nobody").ok_or("no user nobody")?,
    );
    let group = Command::new("id")
        .args(["-gn", "nobody"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "nogroup".into());
    let p = cfg.path();
    let passwd = p.join("passwd");
    std::fs::write(
        &passwd,
        format!("{USER}:{hash}:{uid}:{gid}::{}:/bin/sh\n", dir.display()),
    )
    .map_err(|e| e.to_string())?;
    // proftpd refuses a world-readable AuthUserFile
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let conf = p.join("proftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerType standalone\nServerName \"ftpbench\"\nDefaultAddress 127.0.0.1\n\
             SocketBindTight on\nPort {port}\nUseIPv6 off\nUser nobody\nGroup {group}\n\
             Umask 022\nAllowOverwrite on\nDefaultRoot ~\nAuthUserFile {}\n\
             AuthOrder mod_auth_file.c\nRequireValidShell off\nPidFile {}\n\
             ScoreboardFile {}\nControlsEngine off\nControlsSocket {}\nDelayEngine off\n\
             WtmpLog off\nTransferLog none\nUseReverseDNS off\nTimeoutIdle 600\n",
            passwd.display(),
            p.join("proftpd.pid").display(),
            p.join("scoreboard").display(),
            p.join("ctrls.sock").display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = peers.command(&bin);
    cmd.arg("-n").arg("-c").arg(&conf);
    Ok((cmd, cfg))
}

/// `python3 -m pyftpdlib` sharing `dir` on 127.0.0.1:`port`.
fn pyftpdlib(port: u16, dir: &Path) -> Command {
    let mut py = server::pyftpdlib(port, dir, USER, PASS);
    py.args(["--max-cons", "5000"]);
    py
}

/// pyftpdlib's threaded or forking server (`model`: `multi-thread` or
/// `multi-proc`) sharing `dir` on 127.0.0.1:`port`, with the account and
/// limits of [`pyftpdlib`]. Started from the library, not `python3 -m
/// pyftpdlib`: pyftpdlib 2.2's command line fails for these two models.
fn pyftpdlib_model(model: &str, port: u16, dir: &Path) -> Command {
    const SERVE: &str = "import sys\n\
        from pyftpdlib.authorizers import DummyAuthorizer\n\
        from pyftpdlib.handlers import FTPHandler\n\
        from pyftpdlib.servers import ThreadedFTPServer, MultiprocessFTPServer\n\
        model, port, root, user, password = sys.argv[1:6]\n\
        auth = DummyAuthorizer()\n\
        auth.add_user(user, password, root, perm='elradfmwMT')\n\
        FTPHandler.authorizer = auth\n\
        cls = ThreadedFTPServer if model == 'multi-thread' else MultiprocessFTPServer\n\
        server = cls(('127.0.0.1', int(port)), FTPHandler)\n\
        server.max_cons = 5000\n\
        server.serve_forever()\n";
    let mut py = Command::new("python3");
    py.args(["-c", SERVE, model, &port.to_string()])
        .arg(dir)
        .args([USER, PASS]);
    py
}

/// Start `cmd` and wait (bounded) until it greets with 220.
fn start(name: &str, mut cmd: Command, port: u16) -> Result<Server, String> {
    halt_if_stopping();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not be started: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = Server {
        name: name.to_string(),
        child,
        addr,
    };
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Ok(Some(st)) = s.child.try_wait() {
            return Err(format!("exited at start ({st})"));
        }
        if let Ok(c) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut line = String::new();
            if BufReader::new(c).read_line(&mut line).is_ok() && line.starts_with("220") {
                return Ok(s);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("no 220 within 30 s".into())
}

/// What every server shares.
pub(crate) struct Ctx {
    pub(crate) certfile: PathBuf,
    pub(crate) keyfile: PathBuf,
    pub(crate) peers: Peers,
}

/// A directory of its own for one server under `base`, holding (hard links
/// to) the big file and the 10 MiB file, writable by any user the server
/// may run its sessions as.
pub(crate) fn server_dir(base: &Path, slug: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = base.join(slug);
    std::fs::create_dir_all(&d).expect("server dir");
    for f in ["big.bin", "ten.bin"] {
        if std::fs::hard_link(base.join(f), d.join(f)).is_err() {
            std::fs::copy(base.join(f), d.join(f)).expect("copy");
        }
    }
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    d
}

/// Start a fresh instance of `kind` on a free port serving `dir`, and check
/// that its user can log in; a peer that fails is reported and skipped.
pub(crate) fn launch(kind: &Kind, ctx: &Ctx, dir: &Path, res: &mut Results) -> Option<Running> {
    let name = kind.name();
    let port = free_port();
    let made: Result<(Command, Option<tempfile::TempDir>), String> = match kind {
        Kind::Ftpdlib(model) | Kind::Baseline(_, model) => {
            let bin: PathBuf = match kind {
                Kind::Baseline(b, _) => b.clone(),
                _ => env!("CARGO_BIN_EXE_ftpdlib").into(),
            };
            let mut cmd = Command::new(bin);
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-w", "-u", USER, "-P", PASS])
                .args(["--concurrency", model, "--max-cons", "0"])
                .arg("-d")
                .arg(dir)
                .arg("--tls")
                .arg("--certfile")
                .arg(&ctx.certfile)
                .arg("--keyfile")
                .arg(&ctx.keyfile);
            Ok((cmd, None))
        }
        Kind::Pyftpdlib => Ok((pyftpdlib(port, dir), None)),
        Kind::PyftpdlibModel(m) => Ok((pyftpdlib_model(m, port, dir), None)),
        Kind::PureFtpd => pure_ftpd(&ctx.peers, dir, port).map(|(c, g)| (c, Some(g))),
        Kind::Vsftpd => vsftpd(&ctx.peers, dir, port).map(|(c, g)| (c, Some(g))),
        Kind::Proftpd => proftpd(&ctx.peers, dir, port).map(|(c, g)| (c, Some(g))),
    };
    let (cmd, guard) = match made {
        Ok(x) => x,
        Err(e) => {
            res.note(format!("{name}: {e}; left out"));
            return None;
        }
    };
    let server = match start(&name, cmd, port) {
        Ok(s) => s,
        Err(e) => {
            res.note(format!("{name}: {e}; left out"));
            return None;
        }
    };
    let run = Running {
        server: Some(server),
        dir: dir.to_path_buf(),
        _guard: guard,
    };
    let login = Ctl::login(run.addr()).and_then(|mut c| c.cmd("QUIT"));
    if login.is_none() {
        res.note(format!(
            "{name}: started, but {USER}/{PASS} could not log in; left out"
        ));
        return None;
    }
    wait_quiet(run.addr());
    Some(run)
}

/// pyftpdlib's version, if it is installed.
pub(crate) fn pyftpdlib_version() -> Option<String> {
    Command::new("python3")
        .args(["-c", "import pyftpdlib; print(pyftpdlib.__ver__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The servers to measure: ftpdlib in each of `models` (and the
/// `FTPBENCH_BASELINE` build in the same models), then each peer of
/// `peer_list` that can be run.
pub(crate) fn kinds(
    models: &str,
    peer_list: &[&str],
    py_ver: Option<&str>,
    res: &mut Results,
) -> Vec<Kind> {
    let want = |p: &str| peer_list.contains(&p);
    if want("pyftpdlib") && py_ver.is_none() {
        res.note("pyftpdlib: not installed (pip install pyftpdlib); left out".into());
    }
    let mut kinds: Vec<Kind> = models
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| Kind::Ftpdlib(m.to_string()))
        .collect();
    if let Ok(base) = std::env::var("FTPBENCH_BASELINE") {
        let base = PathBuf::from(base);
        let base_models: Vec<Kind> = kinds
            .iter()
            .filter_map(|k| match k {
                Kind::Ftpdlib(m) => Some(Kind::Baseline(base.clone(), m.clone())),
                _ => None,
            })
            .collect();
        kinds.extend(base_models);
    }
    if want("pyftpdlib") && py_ver.is_some() {
        kinds.push(Kind::Pyftpdlib);
    }
    for (name, model) in [
        ("pyftpdlib-multi-thread", "multi-thread"),
        ("pyftpdlib-multi-proc", "multi-proc"),
    ] {
        if want(name) && py_ver.is_some() {
            kinds.push(Kind::PyftpdlibModel(model));
        }
    }
    for (name, kind) in [
        ("pure-ftpd", Kind::PureFtpd),
        ("vsftpd", Kind::Vsftpd),
        ("proftpd", Kind::Proftpd),
    ] {
        if want(name) {
            kinds.push(kind);
        }
    }
    kinds
}

/// The version of each peer installed, for the report.
pub(crate) fn versions(peers: &Peers, py_ver: Option<&str>) -> Vec<String> {
    let mut versions = Vec::new();
    if let Some(v) = py_ver {
        versions.push(format!("pyftpdlib {v}"));
    }
    for (pkg, rel) in [
        ("pure-ftpd", "usr/sbin/pure-ftpd"),
        ("vsftpd", "usr/sbin/vsftpd"),
        ("proftpd-core", "usr/sbin/proftpd"),
    ] {
        if let Some(b) = peers.bin(rel) {
            versions.push(format!("{pkg} {}", peers.version(pkg, &b)));
        }
    }
    versions
}

/// A second pyftpdlib, with TLS_FTPHandler (`--tls`, needs pyopenssl),
/// serving `dir`, for its FTPS figures; reported and skipped if it fails.
pub(crate) fn launch_pyftpdlib_tls(ctx: &Ctx, dir: &Path, res: &mut Results) -> Option<Running> {
    let port = free_port();
    let mut py = pyftpdlib(port, dir);
    py.arg("--tls")
        .arg("--certfile")
        .arg(&ctx.certfile)
        .arg("--keyfile")
        .arg(&ctx.keyfile);
    match start("pyftpdlib async", py, port) {
        Ok(s) => Some(Running {
            server: Some(s),
            dir: dir.to_path_buf(),
            _guard: None,
        }),
        Err(e) => {
            res.note(format!(
                "pyftpdlib --tls: {e} (pip install pyopenssl); left out"
            ));
            None
        }
    }
}
