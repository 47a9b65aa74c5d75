//! System users (`UnixAuthorizer`): passwords from /etc/shadow (yescrypt
//! and sha512-crypt), refused users, and file operations that run as the
//! logged-in user, so that the kernel enforces permissions even though the
//! server runs as root, in every concurrency model.
//!
//! Each test creates its own throwaway system users with `useradd` and
//! `chpasswd` and removes them when it ends (even by a panic). Needs root:
//! each test says it is skipped and passes otherwise.
mod common;
mod confine_util;

each_model!(
    passwords_from_shadow_log_in_and_wrong_ones_do_not,
    root_and_users_without_a_valid_shell_are_refused,
    files_are_the_users_and_the_kernel_decides,
    confined_users_see_only_their_home,
    users_file_style_accounts_without_identity_are_unchanged,
    the_command_serves_system_users,
    writes_clear_set_id_bits_as_the_users_would,
    users_cannot_fill_the_blocks_reserved_for_root,
    expired_accounts_and_passwords_are_refused,
    no_server_thread_is_left_acting_as_a_user,
    cwd_needs_search_permission_as_chdir_does,
    a_home_the_user_cannot_enter_refuses_the_login,
    other_names_of_root_are_refused_as_root,
);

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{start_with, Raw, TestServer};
use confine_util::{get, put};
use ftpdlib::auth::UnixAuthorizer;
use ftpdlib::server::ServerBuilder;

/// `useradd`/`userdel` lock /etc/passwd: one at a time in this process.
static USERDB: Mutex<()> = Mutex::new(());

/// One throwaway system user.
struct SysUser {
    name: String,
    pass: String,
    home: PathBuf,
    uid: u32,
    gid: u32,
}

/// Throwaway users, removed on drop; their homes live in one temporary
/// directory that every user may traverse.
struct SysUsers {
    users: Vec<SysUser>,
    _dir: tempfile::TempDir,
}

fn run(cmd: &mut Command, input: Option<&str>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl SysUsers {
    /// Users named after this process and `tag`, one per `(suffix, shell,
    /// crypt method)`; `None` (with a message) when not root.
    fn create(tag: &str, specs: &[(&str, &str, &str)]) -> Option<SysUsers> {
        if !is_root() {
            eprintln!("skipped: creating system users needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut made = SysUsers {
            users: Vec::new(),
            _dir: dir,
        };
        let _db = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        for (suffix, shell, method) in specs {
            // short: user names are at most 32 bytes
            let model = match common::model() {
                ftpdlib::ConcurrencyModel::ThreadPool => "t",
                ftpdlib::ConcurrencyModel::Poll => "p",
                ftpdlib::ConcurrencyModel::Process => "m",
                _ => "f",
            };
            let name = format!("ft{}{model}{tag}{suffix}", std::process::id());
            let home = made._dir.path().join(&name);
            // left over from a killed run of this process id
            let _ = Command::new("userdel")
                .arg(&name)
                .stderr(Stdio::null())
                .status();
            run(
                Command::new("useradd")
                    .args(["-M", "-s", shell, "-d"])
                    .arg(&home)
                    .arg(&name),
                None,
            );
            let user = nix::unistd::User::from_name(&name).unwrap().unwrap();
            // pushed at once: dropped (userdel) even if what follows fails
            let pass = format!("pw-{name}-{}", rand_word());
            made.users.push(SysUser {
                name: name.clone(),
                pass: pass.clone(),
                home: home.clone(),
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            });
            run(
                Command::new("chpasswd").args(["-c", method]),
                Some(&format!("{name}:{pass}\n")),
            );
            std::fs::create_dir(&home).unwrap();
            std::os::unix::fs::chown(&home, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .unwrap();
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Some(made)
    }

    fn get(&self, i: usize) -> &SysUser {
        &self.users[i]
    }
}

impl Drop for SysUsers {
    fn drop(&mut self) {
        let _db = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        for u in &self.users {
            let _ = Command::new("userdel")
                .arg(&u.name)
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn rand_word() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    format!("{:x}", h.finish())
}

/// The stored hash of `user` in /etc/shadow.
fn shadow_of(user: &str) -> String {
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    shadow
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(user)).then(|| f.next().unwrap_or("").to_owned())
        })
        .unwrap()
}

/// A server of the test's model whose users are the system's.
fn serve(auth: UnixAuthorizer) -> TestServer {
    let auth = Arc::new(auth);
    start_with(
        |_| {},
        |_, _| {},
        move |_| ServerBuilder::with_shared_authorizer(auth),
    )
}

fn login_reply(srv: &TestServer, user: &str, pass: &str) -> String {
    let mut raw = srv.raw();
    let r = raw.cmd(&format!("USER {user}"));
    assert!(r.starts_with("331"), "{r}");
    raw.cmd(&format!("PASS {pass}"))
}

fn login_as(srv: &TestServer, u: &SysUser) -> Raw {
    let mut raw = srv.raw();
    raw.login(&u.name, &u.pass);
    assert!(raw.cmd("TYPE I").starts_with("200"));
    raw
}

fn passwords_from_shadow_log_in_and_wrong_ones_do_not() {
    let Some(users) = SysUsers::create(
        "p",
        &[("y", "/bin/sh", "YESCRYPT"), ("s", "/bin/sh", "SHA512")],
    ) else {
        return;
    };
    let (y, s) = (users.get(0), users.get(1));
    assert!(shadow_of(&y.name).starts_with("$y$"), "not yescrypt");
    assert!(shadow_of(&s.name).starts_with("$6$"), "not sha512-crypt");
    let srv = serve(UnixAuthorizer::new());
    for u in [y, s] {
        let ok = login_reply(&srv, &u.name, &u.pass);
        assert!(ok.starts_with("230"), "{}: {ok}", u.name);
        let bad = login_reply(&srv, &u.name, &format!("{}x", u.pass));
        assert!(bad.starts_with("530"), "{}: {bad}", u.name);
        let empty = login_reply(&srv, &u.name, "");
        assert!(empty.starts_with("530"), "{}: {empty}", u.name);
    }
    let none = login_reply(&srv, &format!("{}zz", y.name), &y.pass);
    assert!(none.starts_with("530"), "{none}");
    // the session starts in the home directory, shown by its real path
    let mut raw = login_as(&srv, y);
    let pwd = raw.cmd("PWD");
    assert!(
        pwd.contains(&format!("\"{}\"", y.home.display())),
        "{pwd} (home {})",
        y.home.display()
    );
}

fn root_and_users_without_a_valid_shell_are_refused() {
    let Some(users) = SysUsers::create(
        "r",
        &[
            ("n", "/usr/sbin/nologin", "SHA512"),
            ("k", "/bin/sh", "YESCRYPT"),
        ],
    ) else {
        return;
    };
    let (nologin, ok) = (users.get(0), users.get(1));
    let srv = serve(UnixAuthorizer::new());
    let r = login_reply(&srv, &nologin.name, &nologin.pass);
    assert!(r.starts_with("530"), "nologin shell: {r}");
    let r = login_reply(&srv, "root", "whatever");
    assert!(r.starts_with("530"), "root: {r}");
    drop(srv);

    // refused by name, whatever the password: the right one does not help
    let srv = serve(
        UnixAuthorizer::new()
            .rejected_users(["root", ok.name.as_str()])
            .unwrap(),
    );
    let r = login_reply(&srv, &ok.name, &ok.pass);
    assert!(r.starts_with("530"), "rejected user: {r}");
    drop(srv);

    // when a valid shell is not required, the nologin user may log in
    let srv = serve(UnixAuthorizer::new().require_valid_shell(false));
    let r = login_reply(&srv, &nologin.name, &nologin.pass);
    assert!(r.starts_with("230"), "shell not required: {r}");
    let r = login_reply(&srv, &ok.name, &ok.pass);
    assert!(r.starts_with("230"), "{r}");
}

fn files_are_the_users_and_the_kernel_decides() {
    let Some(users) = SysUsers::create(
        "f",
        &[("a", "/bin/sh", "YESCRYPT"), ("b", "/bin/sh", "SHA512")],
    ) else {
        return;
    };
    let (a, b) = (users.get(0), users.get(1));
    // B's things: a 0600 file in B's (traversable) home, a 0700 directory
    let secret = b.home.join("secret");
    std::fs::write(&secret, b"B's secret").unwrap();
    std::os::unix::fs::chown(&secret, Some(b.uid), Some(b.gid)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let private = b.home.join("private");
    std::fs::create_dir(&private).unwrap();
    std::os::unix::fs::chown(&private, Some(b.uid), Some(b.gid)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    // a directory both may write, holding B's 0644 file
    let shared = users._dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let bfile = shared.join("bfile");
    std::fs::write(&bfile, b"B wrote this").unwrap();
    std::os::unix::fs::chown(&bfile, Some(b.uid), Some(b.gid)).unwrap();
    std::fs::set_permissions(&bfile, std::fs::Permissions::from_mode(0o644)).unwrap();

    let srv = serve(UnixAuthorizer::new());
    let mut raw = login_as(&srv, a);

    // an upload is A's, in A's home
    let up = put(&mut raw, "STOR mine.txt", b"A's bytes");
    assert!(up.reply().starts_with("226"), "{up:?}");
    let m = std::fs::metadata(a.home.join("mine.txt")).unwrap();
    assert_eq!((m.uid(), m.gid()), (a.uid, a.gid), "owner of an upload");
    assert!(raw.cmd("MKD made").starts_with("257"));
    let m = std::fs::metadata(a.home.join("made")).unwrap();
    assert_eq!((m.uid(), m.gid()), (a.uid, a.gid), "owner of a directory");

    // what root could do, A cannot
    let r = get(&mut raw, "RETR /etc/shadow");
    assert!(r.reply().starts_with("550"), "/etc/shadow: {r:?}");
    assert!(r.data.is_empty());
    let path = |p: &Path| p.display().to_string();
    let r = get(&mut raw, &format!("RETR {}", path(&secret)));
    assert!(r.reply().starts_with("550"), "B's 0600 file: {r:?}");
    let r = raw.cmd(&format!("DELE {}", path(&secret)));
    assert!(r.starts_with("550"), "delete B's file: {r}");
    assert!(secret.exists());
    let r = put(&mut raw, &format!("STOR {}/x", path(&private)), b"intruder");
    assert!(
        r.reply().starts_with("550"),
        "write into B's 0700 dir: {r:?}"
    );
    assert!(!private.join("x").exists());
    let r = get(&mut raw, &format!("LIST {}", path(&private)));
    assert!(
        r.reply().starts_with("550") || r.data.is_empty(),
        "list B's 0700 dir: {r:?}"
    );
    let r = raw.cmd(&format!("MKD {}/sub", path(&private)));
    assert!(r.starts_with("550"), "{r}");
    // replacing B's 0644 file in a directory A may write is writing it: no
    let r = put(&mut raw, &format!("STOR {}", path(&bfile)), b"overwritten");
    assert!(r.reply().starts_with("550"), "replace B's file: {r:?}");
    assert_eq!(std::fs::read(&bfile).unwrap(), b"B wrote this");
    let r = raw.cmd(&format!("SITE CHMOD 777 {}", path(&bfile)));
    assert!(r.starts_with("550"), "chmod B's file: {r}");
    // A's own file in the shared directory is A's
    let r = put(&mut raw, &format!("STOR {}/afile", path(&shared)), b"A");
    assert!(r.reply().starts_with("226"), "{r:?}");
    assert_eq!(
        std::fs::metadata(shared.join("afile")).unwrap().uid(),
        a.uid
    );

    // B, in another session at the same time, reads its own file
    let mut rb = login_as(&srv, b);
    let r = get(&mut rb, &format!("RETR {}", path(&secret)));
    assert!(r.reply().starts_with("226"), "{r:?}");
    assert_eq!(r.data, b"B's secret");
    // and A still cannot
    let r = get(&mut raw, &format!("RETR {}", path(&secret)));
    assert!(r.reply().starts_with("550"), "{r:?}");

    // a session process that became A has no way back: logging in as B in
    // it is refused (in the other models the session switches per operation)
    let r = raw.cmd("REIN");
    assert!(r.starts_with("220"), "{r}");
    let r = raw.cmd(&format!("USER {}", b.name));
    assert!(r.starts_with("331"), "{r}");
    let r = raw.cmd(&format!("PASS {}", b.pass));
    if common::model() == ftpdlib::ConcurrencyModel::Process {
        assert!(r.starts_with("530"), "the process became A for good: {r}");
    } else {
        assert!(r.starts_with("230"), "{r}");
        let r = get(&mut raw, &format!("RETR {}", path(&secret)));
        assert!(r.reply().starts_with("226"), "B after REIN: {r:?}");
    }
}

fn confined_users_see_only_their_home() {
    let Some(users) = SysUsers::create("c", &[("a", "/bin/sh", "YESCRYPT")]) else {
        return;
    };
    let a = users.get(0);
    std::fs::write(a.home.join("hello.txt"), b"hello").unwrap();
    let srv = serve(UnixAuthorizer::new().confine_to_home(true));
    let mut raw = login_as(&srv, a);
    let pwd = raw.cmd("PWD");
    assert!(pwd.starts_with("257 \"/\""), "{pwd}");
    let r = get(&mut raw, "RETR /etc/passwd");
    assert!(r.reply().starts_with("550"), "{r:?}");
    let r = get(&mut raw, "RETR /hello.txt");
    assert_eq!(r.data, b"hello");
    let up = put(&mut raw, "STOR up.txt", b"up");
    assert!(up.reply().starts_with("226"), "{up:?}");
    assert_eq!(
        std::fs::metadata(a.home.join("up.txt")).unwrap().uid(),
        a.uid
    );
}

/// Accounts without a system identity (the in-memory users of the other
/// tests) still run as the server, next to system users.
fn users_file_style_accounts_without_identity_are_unchanged() {
    let srv = common::start(|_| {});
    let mut raw = confine_util::login(&srv);
    let up = put(&mut raw, "STOR f", b"x");
    assert!(up.reply().starts_with("226"), "{up:?}");
    let m = std::fs::metadata(srv.path("f")).unwrap();
    assert_eq!(m.uid(), nix::unistd::geteuid().as_raw());
}

/// `ftpdlib --unix-users` in the test's model: a system user logs in,
/// uploads a file that is theirs, and cannot read /etc/shadow; options that
/// do not apply are refused.
fn the_command_serves_system_users() {
    let Some(users) = SysUsers::create("d", &[("a", "/bin/sh", "YESCRYPT")]) else {
        return;
    };
    let a = users.get(0);
    let model = common::model().cli_name();
    let d = common::daemon_bare(&["--unix-users", "--concurrency", model]);
    let mut raw = Raw::connect(d.addr);
    raw.login(&a.name, &a.pass);
    assert!(raw.cmd("TYPE I").starts_with("200"));
    let up = put(&mut raw, "STOR from-cli", b"cli");
    assert!(up.reply().starts_with("226"), "{up:?}");
    let m = std::fs::metadata(a.home.join("from-cli")).unwrap();
    assert_eq!((m.uid(), m.gid()), (a.uid, a.gid));
    let r = get(&mut raw, "RETR /etc/shadow");
    assert!(r.reply().starts_with("550"), "{r:?}");
    let mut r2 = Raw::connect(d.addr);
    let r = r2.cmd("USER root");
    assert!(r.starts_with("331"), "{r}");
    assert!(r2.cmd("PASS x").starts_with("530"));

    for bad in [
        &["--unix-users", "-w"][..],
        &["--unix-users", "-u", "x"],
        &["--unix-users", "-d", "/tmp"],
        &["--confine-to-home"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ftpdlib"))
            .args(["-p", "0"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
    }
}

/// Removes a user with `userdel -f` on drop (a uid-0 account: plain
/// `userdel` refuses while root's processes run).
struct ForcedUser(String);

impl Drop for ForcedUser {
    fn drop(&mut self) {
        let _db = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel")
            .args(["-f", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A second name of uid 0 (`useradd -o -u 0`, such as BSD's `toor`) is
/// refused as `root` is, while `root` is a rejected user; with `root`
/// allowed (`rejected_users` without it), it logs in. Before, only the name
/// `root` was refused, and the other name's session ran as root.
fn other_names_of_root_are_refused_as_root() {
    if !is_root() {
        eprintln!("skipped: creating system users needs root");
        return;
    }
    let model = match common::model() {
        ftpdlib::ConcurrencyModel::ThreadPool => "t",
        ftpdlib::ConcurrencyModel::Poll => "p",
        ftpdlib::ConcurrencyModel::Process => "m",
        _ => "f",
    };
    let name = format!("ft{}{model}root", std::process::id());
    let pass = format!("pw-{name}-{}", rand_word());
    let _user = {
        let _db = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel")
            .args(["-f", &name])
            .stderr(Stdio::null())
            .status();
        run(
            Command::new("useradd").args([
                "-o", "-u", "0", "-g", "0", "-M", "-d", "/", "-s", "/bin/sh", &name,
            ]),
            None,
        );
        let user = ForcedUser(name.clone());
        run(
            Command::new("chpasswd").args(["-c", "YESCRYPT"]),
            Some(&format!("{name}:{pass}\n")),
        );
        user
    };
    let srv = serve(UnixAuthorizer::new());
    let r = login_reply(&srv, &name, &pass);
    assert!(r.starts_with("530"), "uid 0 under another name: {r}");
    drop(srv);
    let srv = serve(UnixAuthorizer::new().rejected_users(["nobody"]).unwrap());
    let r = login_reply(&srv, &name, &pass);
    assert!(r.starts_with("230"), "root not rejected: {r}");
    drop(srv);
    // the command's --rejected-users adds to root, never replaces it
    let model = common::model().cli_name();
    let d = common::daemon_bare(&[
        "--unix-users",
        "--rejected-users",
        "nobody",
        "--concurrency",
        model,
    ]);
    let mut raw = Raw::connect(d.addr);
    assert!(raw.cmd(&format!("USER {name}")).starts_with("331"));
    let r = raw.cmd(&format!("PASS {pass}"));
    assert!(r.starts_with("530"), "--rejected-users let uid 0 in: {r}");
}

/// A user whose home is missing, is not a directory, or lies in a
/// directory the user may not search is refused (530), as vsftpd does,
/// with real paths as with `--confine-to-home`. Before, with real paths
/// the login succeeded and the session started in a directory it could
/// not use.
fn a_home_the_user_cannot_enter_refuses_the_login() {
    let Some(users) = SysUsers::create(
        "h",
        &[
            ("m", "/bin/sh", "YESCRYPT"),
            ("f", "/bin/sh", "YESCRYPT"),
            ("c", "/bin/sh", "YESCRYPT"),
            ("k", "/bin/sh", "YESCRYPT"),
        ],
    ) else {
        return;
    };
    let (missing, file, closed, fine) = (users.get(0), users.get(1), users.get(2), users.get(3));
    std::fs::remove_dir(&missing.home).unwrap();
    std::fs::remove_dir(&file.home).unwrap();
    std::fs::write(&file.home, b"not a directory").unwrap();
    // the home itself is the user's, but its parent is root's 0700
    let parent = users._dir.path().join("closed");
    std::fs::create_dir(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).unwrap();
    let inner = parent.join("home");
    std::fs::create_dir(&inner).unwrap();
    std::os::unix::fs::chown(&inner, Some(closed.uid), Some(closed.gid)).unwrap();
    run(
        Command::new("usermod")
            .arg("-d")
            .arg(&inner)
            .arg(&closed.name),
        None,
    );
    for confine in [false, true] {
        let srv = serve(UnixAuthorizer::new().confine_to_home(confine));
        for u in [missing, file, closed] {
            let r = login_reply(&srv, &u.name, &u.pass);
            assert!(
                r.starts_with("530"),
                "{} (confined: {confine}): {r}",
                u.name
            );
        }
        let r = login_reply(&srv, &fine.name, &fine.pass);
        assert!(r.starts_with("230"), "{r}");
    }
}

/// CWD into a directory the user may not search (another user's 0700
/// directory, by its path or through a symlink) is refused as `chdir(2)`
/// refuses it; a directory the user may search but not read (0711) may be
/// entered. Before, CWD only asked for the directory's metadata, which its
/// parent gives, and answered 250.
fn cwd_needs_search_permission_as_chdir_does() {
    let Some(users) = SysUsers::create(
        "w",
        &[("a", "/bin/sh", "YESCRYPT"), ("b", "/bin/sh", "YESCRYPT")],
    ) else {
        return;
    };
    let (a, b) = (users.get(0), users.get(1));
    let mkdir = |name: &str, mode: u32| {
        let d = b.home.join(name);
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(b.uid), Some(b.gid)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        d
    };
    let private = mkdir("private", 0o700);
    let through = mkdir("through", 0o711);
    let link = a.home.join("to-private");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    for confine in [false, true] {
        let srv = serve(UnixAuthorizer::new().confine_to_home(confine));
        let mut raw = login_as(&srv, if confine { b } else { a });
        if confine {
            // B itself, confined, in a 0000 directory of its own home
            let locked = mkdir("locked", 0o000);
            let r = raw.cmd("CWD /locked");
            assert!(r.starts_with("550"), "confined, 0000 dir: {r}");
            let r = raw.cmd("CWD /through");
            assert!(r.starts_with("250"), "{r}");
            std::fs::remove_dir(locked).unwrap();
            continue;
        }
        for dir in [private.display().to_string(), "to-private".into()] {
            let r = raw.cmd(&format!("CWD {dir}"));
            assert!(r.starts_with("550"), "CWD {dir}: {r}");
            let pwd = raw.cmd("PWD");
            assert!(pwd.contains(&a.home.display().to_string()), "{pwd}");
        }
        let r = raw.cmd(&format!("CWD {}", through.display()));
        assert!(r.starts_with("250"), "0711: {r}");
        assert!(raw.cmd("CDUP").starts_with("250"));
    }
}

/// The tasks (threads) of process `pid` and of its children: (pid, tid,
/// thread name, fsuid).
fn tasks_of(pid: u32) -> Vec<(u32, u32, String, u32)> {
    let mut pids = vec![pid];
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        pids.extend(
            children
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    let mut out = Vec::new();
    for p in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
                continue;
            };
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            };
            let fsuid = field("Uid:")
                .split_whitespace()
                .nth(3)
                .and_then(|u| u.parse().ok())
                .unwrap_or(u32::MAX);
            let tid = t.file_name().to_string_lossy().parse().unwrap_or(0);
            out.push((p, tid, field("Name:"), fsuid));
        }
    }
    out
}

/// Once a user's operations are done, every thread of the server is the
/// server again (in multi-proc the session's process became the user for
/// good, and only it). Before, the thread that closes replaced files was
/// started inside a user's replacing upload and acted as that user for
/// the rest of the server's life.
fn no_server_thread_is_left_acting_as_a_user() {
    let Some(users) = SysUsers::create("t", &[("a", "/bin/sh", "YESCRYPT")]) else {
        return;
    };
    let a = users.get(0);
    let model = common::model();
    let d = common::daemon_bare(&["--unix-users", "--concurrency", model.cli_name()]);
    let mut raw = Raw::connect(d.addr);
    raw.login(&a.name, &a.pass);
    assert!(raw.cmd("TYPE I").starts_with("200"));
    for _ in 0..3 {
        // a replacing upload, then a listing and a removal
        let up = put(&mut raw, "STOR again", b"bytes");
        assert!(up.reply().starts_with("226"), "{up:?}");
        assert!(get(&mut raw, "LIST").reply().starts_with("226"));
    }
    assert!(raw.cmd("DELE again").starts_with("250"));
    let server = d.child.id();
    let as_user: Vec<_> = tasks_of(server)
        .into_iter()
        .filter(|&(p, _, _, fsuid)| {
            fsuid != 0 && !(model == ftpdlib::ConcurrencyModel::Process && p != server)
        })
        .collect();
    assert!(as_user.is_empty(), "threads acting as a user: {as_user:?}");
}

/// An account that expired (`chage -E`), a password that must be changed
/// first (`passwd -e`) or that is past its maximum age (`chage -M`) refuse
/// the right password, as the system's own logins (pam_unix) do; a locked
/// account (`passwd -l`) too. Before, only the hash was read.
fn expired_accounts_and_passwords_are_refused() {
    let Some(users) = SysUsers::create(
        "e",
        &[
            ("x", "/bin/sh", "YESCRYPT"),
            ("c", "/bin/sh", "YESCRYPT"),
            ("m", "/bin/sh", "SHA512"),
            ("l", "/bin/sh", "YESCRYPT"),
            ("k", "/bin/sh", "YESCRYPT"),
        ],
    ) else {
        return;
    };
    let (expired, must_change, too_old, locked, fine) = (
        users.get(0),
        users.get(1),
        users.get(2),
        users.get(3),
        users.get(4),
    );
    run(Command::new("chage").args(["-E", "0", &expired.name]), None);
    run(Command::new("passwd").args(["-e", &must_change.name]), None);
    run(
        Command::new("chage").args(["-d", "2000-01-01", "-M", "30", &too_old.name]),
        None,
    );
    run(Command::new("passwd").args(["-l", &locked.name]), None);
    // an expiry date still to come does not refuse
    run(
        Command::new("chage").args(["-E", "2999-01-01", &fine.name]),
        None,
    );
    let srv = serve(UnixAuthorizer::new());
    for u in [expired, must_change, too_old, locked] {
        let r = login_reply(&srv, &u.name, &u.pass);
        assert!(r.starts_with("530"), "{}: {r}", u.name);
    }
    let r = login_reply(&srv, &fine.name, &fine.pass);
    assert!(r.starts_with("230"), "{r}");
}

/// A user's write into a set-user-ID or set-group-ID file clears those bits,
/// as the kernel does for anyone without `CAP_FSETID`: a group-writable
/// set-user-ID root program that the user appends to must not stay
/// set-user-ID (it would run the user's bytes as root). Before, the bytes of
/// an upload were written with the server's capabilities.
fn writes_clear_set_id_bits_as_the_users_would() {
    let Some(users) = SysUsers::create("s", &[("a", "/bin/sh", "YESCRYPT")]) else {
        return;
    };
    let a = users.get(0);
    let path = |p: &Path| p.display().to_string();
    // root's set-user-ID program, writable by A's group; A's own set-id file
    let root_prog = a.home.join("root-prog");
    let own = a.home.join("own-prog");
    let srv = serve(UnixAuthorizer::new());
    let mut raw = login_as(&srv, a);
    for (file, owner, mode) in [
        (&root_prog, 0, 0o4775),
        (&own, a.uid, 0o6755),
        (&root_prog, 0, 0o2775),
    ] {
        for (how, rest) in [("APPE", None), ("STOR", Some(4))] {
            std::fs::write(file, b"#!/bin/sh\n").unwrap();
            std::os::unix::fs::chown(file, Some(owner), Some(a.gid)).unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
            if let Some(n) = rest {
                assert!(raw.cmd(&format!("REST {n}")).starts_with("350"));
            }
            let r = put(&mut raw, &format!("{how} {}", path(file)), b"id\n");
            assert!(r.reply().starts_with("226"), "{how}: {r:?}");
            let m = std::fs::metadata(file).unwrap();
            assert_eq!(
                m.mode() & 0o7777,
                mode & 0o777,
                "{how} {} (owner {owner}, mode {mode:o}): set-id bits kept",
                file.display()
            );
            assert_eq!(m.uid(), owner);
        }
    }
}

/// Unmounts and removes a loop-mounted filesystem on drop.
struct LoopMount {
    dir: tempfile::TempDir,
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(self.dir.path().join("mnt"))
            .status();
    }
}

/// A tiny ext4 filesystem (8 MiB, half its blocks reserved for root),
/// loop-mounted; `None` (with a message) where that cannot be done.
fn small_ext4() -> Option<LoopMount> {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let ok = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "50"])
        .arg(&img))
    {
        eprintln!("skipped: mkfs.ext4 failed");
        return None;
    }
    if !ok(Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt))
    {
        eprintln!("skipped: no loop mount here");
        return None;
    }
    std::fs::set_permissions(&mnt, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(LoopMount { dir })
}

/// A user's upload stops where the user's own writes would: at the blocks
/// ext4 reserves for root. Before, the bytes of an upload were written by
/// a thread acting as the server (fsuid 0, to which ext4 gives the reserve),
/// and a user could fill the disk to the last block.
fn users_cannot_fill_the_blocks_reserved_for_root() {
    let Some(users) = SysUsers::create("q", &[("a", "/bin/sh", "YESCRYPT")]) else {
        return;
    };
    let a = users.get(0);
    let Some(fs) = small_ext4() else {
        return;
    };
    let dir = fs.dir.path().join("mnt").join("a");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(a.uid), Some(a.gid)).unwrap();
    let free_for_users = nix::sys::statvfs::statvfs(&dir).unwrap();
    let free_for_users = free_for_users.blocks_available() * free_for_users.fragment_size();
    let srv = serve(UnixAuthorizer::new());
    let mut raw = login_as(&srv, a);
    let target = dir.join("big");
    let r = put(
        &mut raw,
        &format!("STOR {}", target.display()),
        &vec![7u8; 6 << 20],
    );
    assert!(r.reply().starts_with("452"), "{r:?}");
    let written = std::fs::metadata(&target).map_or(0, |m| m.len());
    assert!(
        written <= free_for_users,
        "{written} bytes written, {free_for_users} free for users"
    );
}

/// `--pam-service`: passwords checked by a PAM stack (pam_unix) instead of
/// reading /etc/shadow directly.
#[cfg(feature = "pam")]
mod pam {
    use super::*;

    /// A throwaway PAM service file, removed on drop.
    struct Service(PathBuf);

    impl Drop for Service {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn pam_checks_passwords_of_system_users() {
        let Some(users) = SysUsers::create("a", &[("a", "/bin/sh", "YESCRYPT")]) else {
            return;
        };
        let a = users.get(0);
        let name = format!("ftpdlib-test-{}", std::process::id());
        let service = Service(Path::new("/etc/pam.d").join(&name));
        std::fs::write(
            &service.0,
            "auth required pam_unix.so nodelay\naccount required pam_unix.so\n",
        )
        .unwrap();
        let srv = serve(UnixAuthorizer::new().pam_service(&name));
        let ok = login_reply(&srv, &a.name, &a.pass);
        assert!(ok.starts_with("230"), "{ok}");
        let bad = login_reply(&srv, &a.name, "not the password");
        assert!(bad.starts_with("530"), "{bad}");
        // PAM does not replace the other checks: root is still refused
        let root = login_reply(&srv, "root", "x");
        assert!(root.starts_with("530"), "{root}");
        // and the files are still the user's
        let mut raw = login_as(&srv, a);
        let up = put(&mut raw, "STOR via-pam", b"p");
        assert!(up.reply().starts_with("226"), "{up:?}");
        assert_eq!(
            std::fs::metadata(a.home.join("via-pam")).unwrap().uid(),
            a.uid
        );
        drop(srv);

        // the PAM stack decides, not /etc/shadow: one that denies everyone
        // refuses the right password
        std::fs::write(
            &service.0,
            "auth required pam_deny.so\naccount required pam_unix.so\n",
        )
        .unwrap();
        let srv = serve(UnixAuthorizer::new().pam_service(&name));
        let denied = login_reply(&srv, &a.name, &a.pass);
        assert!(denied.starts_with("530"), "{denied}");
    }
}
