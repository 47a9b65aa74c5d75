//! Through the real server (FTP commands): no path, `..`, symlink or rename
//! reaches outside the user's home directory, and listings never reveal what
//! an escaping symlink points at.
//!
//! Each test has its own "outside world": a temporary directory next to the
//! home holding a `secret` file (31337 bytes, mtime in 2001), `sub/file` and an
//! empty directory `empty`. Nothing outside that directory is ever written.
mod common;

each_model!(
    dotdot_paths_resolve_inside_the_home,
    absolute_symlink_to_etc_is_refused,
    relative_symlink_climbing_out_is_refused,
    symlink_to_outside_file_is_refused,
    intermediate_symlink_component_is_refused,
    rename_into_escaping_link_is_refused,
    rename_of_escaping_link_moves_the_link_only,
    dele_of_escaping_link_removes_only_the_link,
    chmod_and_mfmt_through_escaping_link_are_refused,
    mkd_and_rmd_through_escaping_dir_link_are_refused,
    listings_show_escaping_links_without_targets,
    symlinks_inside_the_home_work,
    non_utf8_escaping_link_names_are_listed_safely,
);
mod confine_util;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{Raw, TestServer};
use confine_util::{cmd_bytes, contains, get, lines, login, put};

const SECRET_LEN: usize = 31337;
/// 2001-02-03 00:00:00 UTC: the outside secret's mtime.
const SECRET_MTIME: i64 = 981_158_400;

fn secret_bytes() -> Vec<u8> {
    (0..SECRET_LEN).map(|i| b"SECRET!"[i % 7]).collect()
}

struct World {
    srv: TestServer,
    out: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let srv = common::start(|_| {});
        let out = tempfile::tempdir().unwrap();
        let secret = out.path().join("secret");
        std::fs::write(&secret, secret_bytes()).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
        set_mtime(&secret, SECRET_MTIME);
        std::fs::create_dir(out.path().join("sub")).unwrap();
        std::fs::write(out.path().join("sub/file"), b"outside sub file").unwrap();
        std::fs::create_dir(out.path().join("empty")).unwrap();
        World { srv, out }
    }

    fn home(&self) -> &Path {
        self.srv.dir.path()
    }

    fn outp(&self, rel: &str) -> PathBuf {
        self.out.path().join(rel)
    }

    /// The outside directory relative to the home (`../.tmpXXXX`).
    fn out_rel(&self) -> PathBuf {
        Path::new("..").join(self.out.path().file_name().unwrap())
    }

    /// Create symlink `name` (in the home) pointing to `target`.
    fn link(&self, target: impl AsRef<Path>, name: &str) {
        symlink(target, self.home().join(name)).unwrap();
    }

    fn raw(&self) -> Raw {
        login(&self.srv)
    }

    /// The outside world is exactly as created.
    fn outside_intact(&self) {
        let secret = self.outp("secret");
        assert_eq!(std::fs::read(&secret).unwrap(), secret_bytes());
        let m = std::fs::metadata(&secret).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640, "outside file mode changed");
        assert_eq!(m.mtime(), SECRET_MTIME, "outside file mtime changed");
        assert_eq!(
            std::fs::read(self.outp("sub/file")).unwrap(),
            b"outside sub file"
        );
        let mut names: Vec<String> = std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["empty", "secret", "sub"], "outside dir changed");
        let sub: Vec<_> = std::fs::read_dir(self.outp("sub")).unwrap().collect();
        assert_eq!(sub.len(), 1, "outside sub dir changed");
        assert_eq!(std::fs::read_dir(self.outp("empty")).unwrap().count(), 0);
    }

    /// `text` (a reply or listing) reveals nothing of the outside world or /etc.
    fn no_leak(&self, text: &[u8]) {
        let shown = String::from_utf8_lossy(text);
        let out = self.out.path().as_os_str().as_bytes();
        let canon = std::fs::canonicalize(self.out.path()).unwrap();
        for needle in [
            out,
            canon.as_os_str().as_bytes(),
            b"SECRET!",
            b" 31337 ",
            b"size=31337",
            b" 2001 ",
            b"modify=2001",
            b"root:",
            b"-> /",
            b"-> ..",
            b"/etc/",
        ] {
            assert!(
                !contains(text, needle),
                "{:?} leaked in {shown:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

fn set_mtime(p: &Path, secs: i64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[track_caller]
fn code(r: &str, want: &str) {
    assert!(r.starts_with(want), "expected {want}, got {r:?}");
}

fn dotdot_paths_resolve_inside_the_home() {
    let w = World::new();
    std::fs::create_dir(w.home().join("etc")).unwrap();
    std::fs::write(w.home().join("etc/passwd"), b"in-root fake passwd").unwrap();
    let mut r = w.raw();

    // `..` above the root stays at the root.
    code(&r.cmd("CWD ../.."), "250");
    code(&r.cmd("PWD"), "257 \"/\"");
    code(&r.cmd("CDUP"), "250");
    code(&r.cmd("PWD"), "257 \"/\"");
    code(&r.cmd("CWD ../../../etc"), "250");
    code(&r.cmd("PWD"), "257 \"/etc\"");
    code(&r.cmd("CWD ../../.."), "250");
    code(&r.cmd("PWD"), "257 \"/\"");

    // RETR ../../etc/passwd is the home's etc/passwd, never the real one.
    for p in [
        "../../etc/passwd",
        "/../../../etc/passwd",
        "etc/../../etc/passwd",
        "./../etc/./passwd",
    ] {
        let x = get(&mut r, &format!("RETR {p}"));
        code(&x.last, "226");
        assert_eq!(x.data, b"in-root fake passwd", "RETR {p}");
    }
    code(&r.cmd("CWD etc"), "250");
    let x = get(&mut r, "RETR ../../../../etc/passwd");
    assert_eq!(x.data, b"in-root fake passwd");
    code(&r.cmd("CWD /"), "250");

    // A path naming the outside directory by `..` is just a missing in-root path.
    let out = w.out_rel();
    let out = out.to_str().unwrap();
    for line in [
        format!("RETR {out}/secret"),
        format!("RETR ../{out}/secret"),
        format!("LIST {out}"),
        format!("NLST ../{out}/sub"),
    ] {
        let x = get(&mut r, &line);
        code(x.reply(), "550");
        assert!(x.data.is_empty());
        w.no_leak(x.reply().as_bytes());
    }
    for line in [
        format!("SIZE {out}/secret"),
        format!("MDTM {out}/secret"),
        format!("CWD {out}"),
        format!("DELE {out}/secret"),
        format!("RMD {out}/empty"),
        format!("MLST {out}/secret"),
        format!("SITE CHMOD 777 {out}/secret"),
        format!("MFMT 20200101000000 {out}/secret"),
        format!("RNFR {out}/secret"),
    ] {
        let rep = r.cmd(&line);
        code(&rep, "550");
        w.no_leak(rep.as_bytes());
    }

    // Uploads and MKD with `..` land inside the home.
    let unique = format!("ftpdlib-confine-{}", std::process::id());
    let x = put(&mut r, &format!("STOR ../../{unique}.txt"), b"up");
    code(&x.last, "226");
    assert_eq!(
        std::fs::read(w.home().join(format!("{unique}.txt"))).unwrap(),
        b"up"
    );
    code(&r.cmd(&format!("MKD ../../{unique}.d")), "257 \"/");
    assert!(w.home().join(format!("{unique}.d")).is_dir());
    let x = put(&mut r, &format!("STOR {out}/new"), b"x");
    code(x.reply(), "550");
    let parent = w.home().parent().unwrap();
    assert!(!parent.join(format!("{unique}.txt")).exists());
    assert!(!parent.join(format!("{unique}.d")).exists());

    // LIST ../.. is the home.
    let x = get(&mut r, "NLST ../..");
    code(&x.last, "226");
    let mut names = lines(&x.data);
    names.sort();
    assert_eq!(
        names,
        vec![
            b"etc".to_vec(),
            format!("{unique}.d").into_bytes(),
            format!("{unique}.txt").into_bytes()
        ]
    );
    code(&r.cmd("NOOP"), "200");
    w.outside_intact();
}

fn absolute_symlink_to_etc_is_refused() {
    let w = World::new();
    w.link("/etc", "etc_link");
    let mut r = w.raw();

    for line in [
        "CWD etc_link",
        "CWD etc_link/",
        "CWD /etc_link/.",
        "XCWD etc_link",
    ] {
        let rep = r.cmd(line);
        code(&rep, "550");
        w.no_leak(rep.as_bytes());
    }
    code(&r.cmd("PWD"), "257 \"/\"");
    for line in [
        "LIST etc_link",
        "LIST -la etc_link",
        "LIST etc_link/",
        "NLST etc_link",
        "MLSD etc_link",
        "LIST etc_link/passwd",
        "NLST etc_link/passwd",
        "RETR etc_link/passwd",
        "RETR etc_link/hostname",
        "RETR etc_link",
    ] {
        let x = get(&mut r, line);
        code(x.reply(), "550");
        assert!(x.data.is_empty(), "{line}: {:?}", x.text());
        w.no_leak(x.reply().as_bytes());
    }
    for line in [
        "STAT etc_link",
        "STAT etc_link/passwd",
        "MLST etc_link",
        "MLST etc_link/passwd",
        "SIZE etc_link/passwd",
        "MDTM etc_link/passwd",
        "DELE etc_link/passwd",
        "RNFR etc_link/passwd",
        "MKD etc_link/ftpdlib-must-not-exist",
        "RMD etc_link/ftpdlib-must-not-exist",
        "SITE CHMOD 777 etc_link/passwd",
        "MFMT 20200101000000 etc_link/passwd",
    ] {
        let rep = r.cmd(line);
        code(&rep, "550");
        w.no_leak(rep.as_bytes());
    }
    let x = put(&mut r, "STOR etc_link/ftpdlib-must-not-exist", b"x");
    code(x.reply(), "550");
    let x = put(&mut r, "APPE etc_link/ftpdlib-must-not-exist", b"x");
    code(x.reply(), "550");
    assert!(!Path::new("/etc/ftpdlib-must-not-exist").exists());

    // The link is listed as a link, without its target.
    let x = get(&mut r, "LIST");
    code(&x.last, "226");
    let l = lines(&x.data);
    assert_eq!(l.len(), 1, "{:?}", x.text());
    assert!(l[0].starts_with(b"l"), "{:?}", x.text());
    assert!(l[0].ends_with(b" etc_link"), "{:?}", x.text());
    w.no_leak(&x.data);
    code(&r.cmd("NOOP"), "200");
}

fn relative_symlink_climbing_out_is_refused() {
    let w = World::new();
    w.link(w.out_rel(), "up");
    std::fs::create_dir(w.home().join("d")).unwrap();
    w.link(Path::new("..").join(w.out_rel()).join("secret"), "d/deep");
    let mut r = w.raw();
    for line in [
        "CWD up",
        "CWD up/sub",
        "CWD d/deep",
        "SIZE d/deep",
        "MDTM up/secret",
    ] {
        let rep = r.cmd(line);
        code(&rep, "550");
        w.no_leak(rep.as_bytes());
    }
    for line in [
        "LIST up",
        "NLST up",
        "MLSD up",
        "LIST up/sub",
        "RETR up/secret",
        "RETR up/sub/file",
        "RETR d/deep",
    ] {
        let x = get(&mut r, line);
        code(x.reply(), "550");
        assert!(x.data.is_empty(), "{line}");
        w.no_leak(x.reply().as_bytes());
    }
    for line in [
        "STOR up/new",
        "STOR up/secret",
        "APPE d/deep",
        "STOR d/deep",
    ] {
        let x = put(&mut r, line, b"overwritten!");
        code(x.reply(), "550");
    }
    code(&r.cmd("MKD up/newdir"), "550");
    code(&r.cmd("RMD up/empty"), "550");
    w.outside_intact();
}

fn symlink_to_outside_file_is_refused() {
    let w = World::new();
    w.link(w.outp("secret"), "abs");
    w.link(w.out_rel().join("secret"), "rel");
    let mut r = w.raw();
    for name in ["abs", "rel"] {
        let x = get(&mut r, &format!("RETR {name}"));
        code(x.reply(), "550");
        assert!(x.data.is_empty());
        w.no_leak(x.reply().as_bytes());
        // Resumed download too.
        code(&r.cmd("REST 10"), "350");
        let x = get(&mut r, &format!("RETR {name}"));
        code(x.reply(), "550");
        assert!(x.data.is_empty());
        for line in [
            format!("SIZE {name}"),
            format!("MDTM {name}"),
            format!("MLST {name}"),
            format!("STAT {name}"),
            format!("CWD {name}"),
        ] {
            let rep = r.cmd(&line);
            code(&rep, "550");
            w.no_leak(rep.as_bytes());
        }
        for line in [format!("STOR {name}"), format!("APPE {name}")] {
            let x = put(&mut r, &line, b"written through the link!");
            code(x.reply(), "550");
        }
        // STOR after REST: refused before any data connection is used.
        code(&r.cmd("REST 5"), "350");
        let x = put(&mut r, &format!("STOR {name}"), b"written!");
        assert!(x.reply().starts_with('5'), "{x:?}");
        // STOU creates a new in-root file named after the link; it never follows it.
        let x = put(&mut r, &format!("STOU {name}"), b"unique");
        code(&x.last, "226");
        let f = x.first.split("FILE: ").nth(1).unwrap().trim().to_string();
        assert!(f.starts_with(&format!("{name}.")), "{x:?}");
        assert_eq!(std::fs::read(w.home().join(&f)).unwrap(), b"unique");
        w.outside_intact();
        // The links themselves are untouched.
        assert!(std::fs::symlink_metadata(w.home().join(name))
            .unwrap()
            .file_type()
            .is_symlink());
    }
    code(&r.cmd("NOOP"), "200");
}

fn intermediate_symlink_component_is_refused() {
    let w = World::new();
    w.link(w.out.path(), "dabs");
    w.link(w.out_rel(), "drel");
    std::fs::write(w.home().join("mine"), b"mine").unwrap();
    let mut r = w.raw();
    for d in ["dabs", "drel"] {
        for line in [
            format!("RETR {d}/sub/file"),
            format!("LIST {d}/sub"),
            format!("NLST {d}/sub"),
            format!("MLSD {d}/sub"),
            format!("LIST {d}/sub/file"),
        ] {
            let x = get(&mut r, &line);
            code(x.reply(), "550");
            assert!(x.data.is_empty(), "{line}");
            w.no_leak(x.reply().as_bytes());
        }
        for line in [
            format!("CWD {d}/sub"),
            format!("SIZE {d}/sub/file"),
            format!("MDTM {d}/sub/file"),
            format!("MLST {d}/sub/file"),
            format!("STAT {d}/sub"),
            format!("DELE {d}/sub/file"),
            format!("RNFR {d}/sub/file"),
            format!("MKD {d}/sub/newdir"),
            format!("RMD {d}/empty"),
            format!("SITE CHMOD 777 {d}/sub/file"),
            format!("MFMT 20200101000000 {d}/sub/file"),
        ] {
            let rep = r.cmd(&line);
            code(&rep, "550");
            w.no_leak(rep.as_bytes());
        }
        for line in [
            format!("STOR {d}/sub/file"),
            format!("STOR {d}/sub/new"),
            format!("APPE {d}/sub/file"),
        ] {
            let x = put(&mut r, &line, b"written through the link!");
            code(x.reply(), "550");
        }
        let x = put(&mut r, &format!("STOU {d}/sub/x"), b"unique");
        assert!(
            x.reply().starts_with('4') || x.reply().starts_with('5'),
            "{x:?}"
        );
        w.outside_intact();
    }
    code(&r.cmd("NOOP"), "200");
}

fn rename_into_escaping_link_is_refused() {
    let w = World::new();
    w.link(w.out.path(), "dabs");
    w.link(w.out_rel(), "drel");
    std::fs::write(w.home().join("mine"), b"mine").unwrap();
    std::fs::create_dir(w.home().join("mydir")).unwrap();
    let mut r = w.raw();
    for target in [
        "dabs/x",
        "drel/x",
        "dabs/sub/x",
        "drel/secret",
        "dabs/empty/x",
    ] {
        for src in ["mine", "mydir"] {
            code(&r.cmd(&format!("RNFR {src}")), "350");
            let rep = r.cmd(&format!("RNTO {target}"));
            code(&rep, "550");
            w.no_leak(rep.as_bytes());
        }
    }
    // Renaming a file out of an escaping directory is refused at RNFR.
    for src in ["dabs/secret", "drel/sub/file", "drel/sub", "dabs/empty"] {
        code(&r.cmd(&format!("RNFR {src}")), "550");
        code(&r.cmd("RNTO stolen"), "503");
    }
    assert_eq!(std::fs::read(w.home().join("mine")).unwrap(), b"mine");
    assert!(w.home().join("mydir").is_dir());
    assert!(!w.home().join("stolen").exists());
    w.outside_intact();
}

fn rename_of_escaping_link_moves_the_link_only() {
    let w = World::new();
    w.link(w.outp("secret"), "flink");
    w.link(w.out_rel(), "dlink");
    std::fs::create_dir(w.home().join("d")).unwrap();
    std::fs::write(w.home().join("mine"), b"mine").unwrap();
    let mut r = w.raw();
    code(&r.cmd("RNFR flink"), "350");
    code(&r.cmd("RNTO d/renamed"), "250");
    code(&r.cmd("RNFR dlink"), "350");
    code(&r.cmd("RNTO d/dlink2"), "250");
    let m = std::fs::symlink_metadata(w.home().join("d/renamed")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(w.home().join("d/renamed")).unwrap(),
        w.outp("secret")
    );
    assert!(std::fs::symlink_metadata(w.home().join("d/dlink2"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!w.home().join("flink").exists());
    // Still an absolute link to the outside file: still refused.
    let x = get(&mut r, "RETR d/renamed");
    code(x.reply(), "550");
    // RNTO onto an escaping link replaces the link, not its target.
    code(&r.cmd("RNFR mine"), "350");
    code(&r.cmd("RNTO d/renamed"), "250");
    assert_eq!(std::fs::read(w.home().join("d/renamed")).unwrap(), b"mine");
    assert!(std::fs::symlink_metadata(w.home().join("d/renamed"))
        .unwrap()
        .is_file());
    w.outside_intact();
}

fn dele_of_escaping_link_removes_only_the_link() {
    let w = World::new();
    w.link(w.outp("secret"), "flink");
    w.link(w.out_rel().join("secret"), "rlink");
    w.link(w.out.path(), "dlink");
    let mut r = w.raw();
    code(&r.cmd("DELE flink"), "250");
    code(&r.cmd("DELE rlink"), "250");
    // RMD of a link to a directory is not a directory removal.
    code(&r.cmd("RMD dlink"), "550");
    assert!(std::fs::symlink_metadata(w.home().join("dlink")).is_ok());
    code(&r.cmd("DELE dlink"), "250");
    for n in ["flink", "rlink", "dlink"] {
        assert!(std::fs::symlink_metadata(w.home().join(n)).is_err(), "{n}");
    }
    assert_eq!(std::fs::read_dir(w.home()).unwrap().count(), 0);
    w.outside_intact();
}

fn chmod_and_mfmt_through_escaping_link_are_refused() {
    let w = World::new();
    w.link(w.outp("secret"), "abs");
    w.link(w.out_rel().join("secret"), "rel");
    w.link(w.out.path(), "dlink");
    let mut r = w.raw();
    for p in ["abs", "rel", "dlink/secret", "dlink/sub", "dlink"] {
        for line in [
            format!("SITE CHMOD 777 {p}"),
            format!("SITE CHMOD 0600 {p}"),
            format!("MFMT 20200101000000 {p}"),
        ] {
            let rep = r.cmd(&line);
            code(&rep, "550");
            w.no_leak(rep.as_bytes());
        }
    }
    w.outside_intact();
    let m = std::fs::metadata(w.out.path()).unwrap();
    assert_ne!(m.mode() & 0o777, 0o777);
    let m = std::fs::metadata(w.outp("sub")).unwrap();
    assert_ne!(m.mode() & 0o777, 0o777);
}

fn mkd_and_rmd_through_escaping_dir_link_are_refused() {
    let w = World::new();
    w.link(w.out.path(), "dabs");
    w.link(w.out_rel(), "drel");
    let mut r = w.raw();
    for d in ["dabs", "drel"] {
        for line in [
            format!("MKD {d}/newdir"),
            format!("XMKD {d}/sub/newdir"),
            format!("MKD {d}/empty"),
            format!("RMD {d}/empty"),
            format!("XRMD {d}/sub"),
            format!("RMD {d}/empty/"),
        ] {
            let rep = r.cmd(&line);
            code(&rep, "550");
            w.no_leak(rep.as_bytes());
        }
    }
    w.outside_intact();
    assert!(w.outp("empty").is_dir());
}

fn listings_show_escaping_links_without_targets() {
    let w = World::new();
    std::fs::create_dir(w.home().join("d")).unwrap();
    std::fs::write(w.home().join("d/regular"), b"12345").unwrap();
    symlink(w.outp("secret"), w.home().join("d/abs_file")).unwrap();
    symlink(
        Path::new("..").join(w.out_rel()).join("secret"),
        w.home().join("d/rel_file"),
    )
    .unwrap();
    symlink(w.out.path(), w.home().join("d/abs_dir")).unwrap();
    symlink(
        Path::new("..").join(w.out_rel()),
        w.home().join("d/rel_dir"),
    )
    .unwrap();
    symlink("/etc", w.home().join("d/etc_link")).unwrap();
    symlink("/etc/passwd", w.home().join("d/passwd_link")).unwrap();
    symlink("regular", w.home().join("d/good")).unwrap();
    let names = [
        "abs_dir",
        "abs_file",
        "etc_link",
        "good",
        "passwd_link",
        "regular",
        "rel_dir",
        "rel_file",
    ];
    let escaping = [
        "abs_dir",
        "abs_file",
        "etc_link",
        "passwd_link",
        "rel_dir",
        "rel_file",
    ];
    let mut r = w.raw();

    let check_list = |data: &[u8]| {
        w.no_leak(data);
        let l = lines(data);
        assert_eq!(l.len(), names.len(), "{}", String::from_utf8_lossy(data));
        for n in escaping {
            let line = l
                .iter()
                .find(|x| x.ends_with(format!(" {n}").as_bytes()))
                .unwrap_or_else(|| panic!("{n} missing: {}", String::from_utf8_lossy(data)));
            assert!(line.starts_with(b"l"), "{}", String::from_utf8_lossy(line));
            // The size shown is the link's own (its target text's length).
            let own = std::fs::symlink_metadata(w.home().join("d").join(n))
                .unwrap()
                .len();
            let size: u64 = String::from_utf8_lossy(line)
                .split_whitespace()
                .nth(4)
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(size, own, "{}", String::from_utf8_lossy(line));
        }
        // A link inside the root shows its target.
        assert!(l.iter().any(|x| x.ends_with(b" good -> regular")));
    };

    for line in ["LIST d", "LIST -la d", "LIST /d/"] {
        let x = get(&mut r, line);
        code(&x.last, "226");
        check_list(&x.data);
    }
    code(&r.cmd("CWD d"), "250");
    let x = get(&mut r, "LIST");
    check_list(&x.data);
    code(&r.cmd("CWD /"), "250");

    // STAT over the control connection: the same lines.
    let st = r.cmd("STAT d");
    code(&st, "213");
    let body: Vec<u8> = st
        .lines()
        .filter(|l| l.starts_with(' '))
        .flat_map(|l| format!("{}\r\n", &l[1..]).into_bytes())
        .collect();
    check_list(&body);
    w.no_leak(st.as_bytes());

    let x = get(&mut r, "NLST d");
    code(&x.last, "226");
    let mut got: Vec<String> = lines(&x.data)
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    got.sort();
    assert_eq!(got, names);

    let x = get(&mut r, "MLSD d");
    code(&x.last, "226");
    w.no_leak(&x.data);
    let l = lines(&x.data);
    assert_eq!(l.len(), names.len(), "{}", x.text());
    for n in escaping {
        let line = l
            .iter()
            .map(|x| String::from_utf8_lossy(x).into_owned())
            .find(|x| x.ends_with(&format!("; {n}")))
            .unwrap_or_else(|| panic!("{n} missing: {}", x.text()));
        let lower = line.to_ascii_lowercase();
        // Not presented as the target's kind.
        assert!(!lower.contains("type=dir;"), "{line}");
        assert!(!lower.contains("type=file;"), "{line}");
        let own = std::fs::symlink_metadata(w.home().join("d").join(n))
            .unwrap()
            .len();
        if let Some(s) = lower.split("size=").nth(1) {
            let s: u64 = s.split(';').next().unwrap().parse().unwrap();
            assert_eq!(s, own, "{line}");
        }
    }
    // MLST of an escaping link refuses; of the good link shows the target's facts.
    code(&r.cmd("MLST d/abs_file"), "550");
    let m = r.cmd("MLST d/good");
    code(&m, "250");
    assert!(m.to_ascii_lowercase().contains("size=5;"), "{m}");
    code(&r.cmd("NOOP"), "200");
    w.outside_intact();
}

fn symlinks_inside_the_home_work() {
    let w = World::new();
    std::fs::create_dir_all(w.home().join("real/deeper")).unwrap();
    std::fs::write(w.home().join("real/file.txt"), b"real content").unwrap();
    w.link("real/file.txt", "flink");
    w.link("real", "dlink");
    w.link("../file.txt", "real/deeper/up");
    let canon = std::fs::canonicalize(w.home()).unwrap();
    w.link(canon.join("real"), "abs_dlink");
    w.link(canon.join("real/file.txt"), "abs_flink");
    let mut r = w.raw();

    for p in [
        "flink",
        "dlink/file.txt",
        "abs_flink",
        "abs_dlink/file.txt",
        "real/deeper/up",
        "dlink/deeper/up",
    ] {
        let x = get(&mut r, &format!("RETR {p}"));
        code(&x.last, "226");
        assert_eq!(x.data, b"real content", "RETR {p}");
        assert_eq!(r.cmd(&format!("SIZE {p}")), "213 12");
    }
    code(&r.cmd("CWD dlink"), "250");
    code(&r.cmd("PWD"), "257 \"/dlink\"");
    let x = get(&mut r, "NLST");
    let mut n = lines(&x.data);
    n.sort();
    assert_eq!(n, vec![b"deeper".to_vec(), b"file.txt".to_vec()]);
    let x = get(&mut r, "RETR file.txt");
    assert_eq!(x.data, b"real content");
    code(&r.cmd("CWD /abs_dlink/deeper"), "250");
    let x = get(&mut r, "RETR up");
    assert_eq!(x.data, b"real content");
    code(&r.cmd("CWD /"), "250");

    // Writes through in-root links land in the target directory.
    let x = put(&mut r, "STOR dlink/new.txt", b"via link");
    code(&x.last, "226");
    assert_eq!(
        std::fs::read(w.home().join("real/new.txt")).unwrap(),
        b"via link"
    );
    let x = put(&mut r, "STOR abs_dlink/new2.txt", b"via abs link");
    code(&x.last, "226");
    assert_eq!(
        std::fs::read(w.home().join("real/new2.txt")).unwrap(),
        b"via abs link"
    );
    code(&r.cmd("MKD dlink/made"), "257");
    assert!(w.home().join("real/made").is_dir());
    code(&r.cmd("RMD abs_dlink/made"), "250");
    assert!(!w.home().join("real/made").exists());

    // LIST shows in-root targets.
    let x = get(&mut r, "LIST");
    let text = x.text();
    assert!(text.contains("flink -> real/file.txt"), "{text}");
    assert!(text.contains("dlink -> real"), "{text}");
    w.outside_intact();
}

fn non_utf8_escaping_link_names_are_listed_safely() {
    // A link whose own name is not UTF-8, pointing outside: listed, not followed.
    let w = World::new();
    let name = std::ffi::OsStr::from_bytes(b"l\xff\xfe");
    symlink(w.outp("secret"), w.home().join(name)).unwrap();
    let mut r = w.raw();
    let x = get(&mut r, "LIST");
    code(&x.last, "226");
    assert!(contains(&x.data, b" l\xff\xfe\r\n"), "{:?}", x.text());
    w.no_leak(&x.data);
    let rep = cmd_bytes(&mut r, b"SIZE l\xff\xff\xfe");
    code(&rep, "550");
    let x = confine_util::xfer(&mut r, b"RETR l\xff\xff\xfe", None);
    code(x.reply(), "550");
    assert!(x.data.is_empty());
    w.outside_intact();
}
