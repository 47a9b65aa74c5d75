//! Real external clients against the server: curl, Python's ftplib, lftp,
//! wget, ncftp, and the `ftpdlib` binary started the way a new user would.
//!
//! A test whose tool is not installed prints `SKIP: ...` and passes.
mod common;
mod tools;

each_model!(
    curl_put_get_list_and_quote,
    curl_resume_download_and_upload,
    curl_active_and_passive_variants,
    curl_create_dirs_and_ascii,
    curl_cwd_methods_and_utf8_names,
    curl_over_ipv6,
    python_ftplib_passive,
    python_ftplib_active,
    python_ftplib_ipv6,
    python_ftplib_nlst_patterns,
    ncftpget_wildcards,
    lftp_mirror_a_tree_both_ways,
    lftp_get_and_put_resume,
    wget_file_and_recursive_tree,
    the_binary_listens_on_all_interfaces_by_default,
    the_binary_serves_a_directory,
);

use std::fs::File;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, PASS, USER};
use tools::{
    assert_same_file, curl, files_under, make_tree, need, random_bytes, run_limited, run_ok, Out,
};

// ---------------------------------------------------------------- helpers

fn v6_available() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

// ---------------------------------------------------------------- curl

fn curl_put_get_list_and_quote() {
    if !need("curl", "curl_put_get_list_and_quote") {
        return;
    }
    let srv = common::start(|_| {});
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    std::fs::write(&src, random_bytes(300_000, 1)).unwrap();

    // upload (EPSV, curl's default)
    let out = run_ok(curl().arg("-v").arg("-T").arg(&src).arg(srv.url("up.bin")));
    assert!(out.stderr.contains("> EPSV"), "{}", out.stderr);
    assert!(out.stderr.contains("> STOR up.bin"), "{}", out.stderr);
    assert_same_file(&src, &srv.path("up.bin"));

    // download
    let dst = local.path().join("down.bin");
    run_ok(curl().arg("-o").arg(&dst).arg(srv.url("up.bin")));
    assert_same_file(&src, &dst);

    // LIST and NLST
    std::fs::create_dir(srv.path("dir")).unwrap();
    let out = run_ok(curl().arg(srv.url("")));
    let text = out.stdout_text();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with('-') && l.ends_with(" up.bin")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" dir")),
        "{text}"
    );
    let out = run_ok(curl().arg("--list-only").arg(srv.url("")));
    let mut names: Vec<String> = out.stdout_text().lines().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["dir", "up.bin"]);

    // quote commands: DELE before the transfer, RNFR/RNTO after it
    std::fs::write(srv.path("gone"), b"x").unwrap();
    run_ok(
        curl()
            .args([
                "-Q",
                "DELE gone",
                "-Q",
                "-RNFR up.bin",
                "-Q",
                "-RNTO moved.bin",
            ])
            .arg("--list-only")
            .arg(srv.url("")),
    );
    assert!(!srv.path("gone").exists());
    assert!(!srv.path("up.bin").exists());
    assert_same_file(&src, &srv.path("moved.bin"));
    // a refused quote command fails curl
    let out = run_limited(
        curl().args(["-Q", "DELE nothere"]).arg(srv.url("")),
        Duration::from_secs(60),
    );
    assert!(!out.status.success(), "DELE of a missing file must fail");
    assert!(out.stderr.contains("550"), "{}", out.stderr);

    // a missing file
    let out = run_limited(
        curl()
            .arg("-o")
            .arg(local.path().join("x"))
            .arg(srv.url("missing")),
        Duration::from_secs(60),
    );
    // 78: remote file not found (19 in older curl: RETR failed)
    assert!(
        matches!(out.status.code(), Some(78) | Some(19)),
        "{:?} {}",
        out.status,
        out.stderr
    );
}

fn curl_resume_download_and_upload() {
    if !need("curl", "curl_resume_download_and_upload") {
        return;
    }
    let srv = common::start(|_| {});
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(1_000_003, 2);
    std::fs::write(srv.path("big.bin"), &data).unwrap();

    // download: a truncated local copy is completed with REST
    let dst = local.path().join("big.bin");
    std::fs::write(&dst, &data[..333_333]).unwrap();
    let out = run_ok(
        curl()
            .arg("-v")
            .args(["-C", "-", "-o"])
            .arg(&dst)
            .arg(srv.url("big.bin")),
    );
    assert!(out.stderr.contains("> REST 333333"), "{}", out.stderr);
    assert_same_file(&srv.path("big.bin"), &dst);

    // upload: a truncated remote copy is completed (SIZE, then APPE)
    let src = local.path().join("up.bin");
    std::fs::write(&src, &data).unwrap();
    std::fs::write(srv.path("up.bin"), &data[..500_000]).unwrap();
    let out = run_ok(
        curl()
            .arg("-v")
            .args(["-C", "-", "-T"])
            .arg(&src)
            .arg(srv.url("up.bin")),
    );
    assert!(out.stderr.contains("> SIZE up.bin"), "{}", out.stderr);
    assert!(out.stderr.contains("> APPE up.bin"), "{}", out.stderr);
    assert_same_file(&src, &srv.path("up.bin"));

    // an explicit offset
    let part = local.path().join("part.bin");
    run_ok(
        curl()
            .args(["-C", "999000", "-o"])
            .arg(&part)
            .arg(srv.url("big.bin")),
    );
    assert!(std::fs::read(&part).unwrap() == data[999_000..]);
}

fn curl_active_and_passive_variants() {
    if !need("curl", "curl_active_and_passive_variants") {
        return;
    }
    let srv = common::start(|_| {});
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(200_000, 3);
    let src = local.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    // (extra options, command that must appear in the -v output)
    let variants: [(&[&str], &str); 4] = [
        (&[], "> EPSV"),
        (&["--disable-epsv"], "> PASV"),
        (&["--ftp-port", "127.0.0.1"], "> EPRT |1|127.0.0.1|"),
        (
            &["--ftp-port", "127.0.0.1", "--disable-eprt"],
            "> PORT 127,0,0,1,",
        ),
    ];
    for (i, (opts, seen)) in variants.into_iter().enumerate() {
        let name = format!("v{i}.bin");
        let out = run_ok(
            curl()
                .arg("-v")
                .args(opts)
                .arg("-T")
                .arg(&src)
                .arg(srv.url(&name)),
        );
        assert!(out.stderr.contains(seen), "{opts:?}: {}", out.stderr);
        assert_same_file(&src, &srv.path(&name));
        let dst = local.path().join(&name);
        let out = run_ok(
            curl()
                .arg("-v")
                .args(opts)
                .arg("-o")
                .arg(&dst)
                .arg(srv.url(&name)),
        );
        assert!(out.stderr.contains(seen), "{opts:?}: {}", out.stderr);
        assert_same_file(&src, &dst);
        let out = run_ok(curl().args(opts).arg(srv.url("")));
        let listing = out.stdout_text();
        assert!(
            listing.lines().any(|l| l.ends_with(&format!(" {name}"))),
            "{listing}"
        );
    }
}

fn curl_create_dirs_and_ascii() {
    if !need("curl", "curl_create_dirs_and_ascii") {
        return;
    }
    let srv = common::start(|_| {});
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("f.txt");
    std::fs::write(&src, b"line 1\nline 2\n").unwrap();
    let out = run_ok(
        curl()
            .arg("-v")
            .arg("--ftp-create-dirs")
            .arg("-T")
            .arg(&src)
            .arg(srv.url("a/b/c/f.txt")),
    );
    assert!(out.stderr.contains("> MKD a"), "{}", out.stderr);
    assert!(srv.path("a/b/c").is_dir());
    assert_same_file(&src, &srv.path("a/b/c/f.txt"));
    // without the option the missing directory is an error
    let out = run_limited(
        curl().arg("-T").arg(&src).arg(srv.url("x/y/f.txt")),
        Duration::from_secs(60),
    );
    assert!(!out.status.success());
    assert!(!srv.path("x").exists());
    // ASCII mode (;type=a and --use-ascii): LF on disk, CRLF on the wire (see
    // tests/protocol.rs), curl turns it back into LF
    for (opt, url) in [
        (None, srv.url("a/b/c/f.txt;type=a")),
        (Some("--use-ascii"), srv.url("a/b/c/f.txt")),
    ] {
        let out = run_ok(curl().arg("-v").args(opt).arg(url));
        assert!(out.stderr.contains("> TYPE A"), "{}", out.stderr);
        assert_eq!(out.stdout, b"line 1\nline 2\n");
    }
    // an ASCII upload: curl sends CRLF, the server stores LF
    let crlf = local.path().join("lf.txt");
    std::fs::write(&crlf, b"x\ny\n").unwrap();
    let out = run_ok(
        curl()
            .arg("-v")
            .arg("-T")
            .arg(&crlf)
            .arg(srv.url("up.txt;type=a")),
    );
    assert!(out.stderr.contains("> TYPE A"), "{}", out.stderr);
    assert_eq!(std::fs::read(srv.path("up.txt")).unwrap(), b"x\ny\n");
}

fn curl_cwd_methods_and_utf8_names() {
    if !need("curl", "curl_cwd_methods_and_utf8_names") {
        return;
    }
    let srv = common::start(|_| {});
    std::fs::create_dir_all(srv.path("x/y")).unwrap();
    std::fs::write(srv.path("x/y/n.txt"), b"nested").unwrap();
    for (method, seen) in [
        ("multicwd", "> CWD y"),
        ("singlecwd", "> CWD x/y"),
        ("nocwd", "> RETR x/y/n.txt"),
    ] {
        let out = run_ok(
            curl()
                .args(["-v", "--ftp-method", method])
                .arg(srv.url("x/y/n.txt")),
        );
        assert_eq!(out.stdout, b"nested", "{method}");
        assert!(out.stderr.contains(seen), "{method}: {}", out.stderr);
        let out = run_ok(
            curl()
                .args(["--ftp-method", method, "--list-only"])
                .arg(srv.url("x/y/")),
        );
        assert_eq!(out.stdout_text().trim_end(), "n.txt", "{method}");
    }
    // a UTF-8 name with a space, percent-encoded in the URL
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.txt");
    std::fs::write(&src, "caf\u{e9}\n").unwrap();
    let url = srv.url("x/caf%C3%A9%20%C3%BC.txt");
    run_ok(curl().arg("-T").arg(&src).arg(&url));
    assert_same_file(&src, &srv.path("x/caf\u{e9} \u{fc}.txt"));
    let out = run_ok(curl().arg(&url));
    assert_eq!(out.stdout, "caf\u{e9}\n".as_bytes());
    let out = run_ok(curl().arg("--list-only").arg(srv.url("x/")));
    let mut names: Vec<&str> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).unwrap().trim_end())
        .collect();
    names.sort();
    assert_eq!(names, ["caf\u{e9} \u{fc}.txt", "y"]);
}

fn curl_over_ipv6() {
    if !need("curl", "curl_over_ipv6") {
        return;
    }
    if !v6_available() {
        eprintln!("SKIP: curl_over_ipv6: no IPv6 loopback");
        return;
    }
    let srv = common::start_on(Ipv6Addr::LOCALHOST.into(), |_| {});
    let url = |p: &str| format!("ftp://{USER}:{PASS}@[::1]:{}/{p}", srv.addr.port());
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    std::fs::write(&src, random_bytes(250_000, 4)).unwrap();
    let variants: [(&[&str], &str); 2] =
        [(&[], "> EPSV"), (&["--ftp-port", "-"], "> EPRT |2|::1|")];
    for (i, (opts, seen)) in variants.into_iter().enumerate() {
        let name = format!("v6-{i}.bin");
        let out = run_ok(
            curl()
                .args(["-g", "-v"])
                .args(opts)
                .arg("-T")
                .arg(&src)
                .arg(url(&name)),
        );
        assert!(out.stderr.contains(seen), "{}", out.stderr);
        assert_same_file(&src, &srv.path(&name));
        let dst = local.path().join(&name);
        run_ok(
            curl()
                .arg("-g")
                .args(opts)
                .arg("-o")
                .arg(&dst)
                .arg(url(&name)),
        );
        assert_same_file(&src, &dst);
        let out = run_ok(curl().arg("-g").args(opts).arg("--list-only").arg(url("")));
        assert!(
            out.stdout_text().lines().any(|l| l == name),
            "{}",
            out.stdout_text()
        );
    }
}

// ---------------------------------------------------------------- Python ftplib

const FTPLIB_SCRIPT: &str = r#"
import ftplib, io, os, posixpath, sys

host, port, home = sys.argv[1], int(sys.argv[2]), sys.argv[3]
active = sys.argv[4] == "active"

def check(cond, what):
    if not cond:
        print("FAILED:", what, flush=True)
        sys.exit(1)

ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
check(ftp.getwelcome().startswith("220"), "greeting")
try:
    ftp.login("user", "wrong")
    check(False, "bad password accepted")
except ftplib.error_perm as e:
    check(str(e).startswith("530"), "bad login reply: %s" % e)
ftp.login("user", "12345")
ftp.set_pasv(not active)

data = os.urandom(300000)
check(ftp.storbinary("STOR data.bin", io.BytesIO(data)).startswith("226"), "storbinary")
check(open(os.path.join(home, "data.bin"), "rb").read() == data, "stored bytes")
buf = io.BytesIO()
ftp.retrbinary("RETR data.bin", buf.write)
check(buf.getvalue() == data, "retrbinary bytes")

# resume a download with REST
buf = io.BytesIO()
ftp.retrbinary("RETR data.bin", buf.write, rest=123456)
check(buf.getvalue() == data[123456:], "retrbinary with rest")
# resume an upload with REST
with open(os.path.join(home, "half.bin"), "wb") as f:
    f.write(data[:1000])
ftp.storbinary("STOR half.bin", io.BytesIO(data[1000:]), rest=1000)
check(open(os.path.join(home, "half.bin"), "rb").read() == data, "storbinary with rest")

check(ftp.size("data.bin") == len(data), "SIZE")
check(ftp.sendcmd("MDTM data.bin").startswith("213 "), "MDTM")

lines = []
ftp.retrlines("LIST", lines.append)
check(any(l.startswith("-") and l.endswith(" data.bin") for l in lines), "LIST: %r" % lines)
check(sorted(ftp.nlst()) == ["data.bin", "half.bin"], "NLST: %r" % ftp.nlst())
facts = dict(ftp.mlsd(facts=["type", "size"]))
check(facts["data.bin"]["type"] == "file", "MLSD type: %r" % facts)
check(facts["data.bin"]["size"] == str(len(data)), "MLSD size: %r" % facts)

# directories
check(ftp.mkd("sub") == "/sub", "MKD")
ftp.cwd("sub")
check(ftp.pwd() == "/sub", "PWD")
ftp.cwd("..")
check(ftp.rmd("sub").startswith("250"), "RMD")
check(not os.path.exists(os.path.join(home, "sub")), "RMD on disk")

# a UTF-8 name
name = "caf\u00e9 \u00fc.txt"
ftp.storbinary("STOR " + name, io.BytesIO(b"utf8"))
check(open(os.path.join(home, name), "rb").read() == b"utf8", "UTF-8 name on disk")
check(name in ftp.nlst(), "UTF-8 name in NLST: %r" % ftp.nlst())
buf = io.BytesIO()
ftp.retrbinary("RETR " + name, buf.write)
check(buf.getvalue() == b"utf8", "RETR of a UTF-8 name")
ftp.delete(name)

# rename and delete
check(ftp.rename("half.bin", "renamed.bin").startswith("250"), "rename")
check(os.path.exists(os.path.join(home, "renamed.bin")), "renamed on disk")
check(ftp.delete("renamed.bin").startswith("250"), "delete")
check(not os.path.exists(os.path.join(home, "renamed.bin")), "deleted on disk")
try:
    ftp.delete("renamed.bin")
    check(False, "delete of a missing file")
except ftplib.error_perm as e:
    check(str(e).startswith("550"), "delete reply: %s" % e)

# ASCII mode: CRLF on the wire, LF on disk
text = b"alpha\nbeta\n\ngamma\n"
ftp.storlines("STOR text.txt", io.BytesIO(text))
check(open(os.path.join(home, "text.txt"), "rb").read() == text, "storlines bytes on disk")
raw = []
ftp.retrbinary("RETR text.txt", raw.append)
check(b"".join(raw) == text, "binary RETR of the text file")
lines = []
ftp.retrlines("RETR text.txt", lines.append)
check(lines == ["alpha", "beta", "", "gamma"], "retrlines: %r" % lines)
ftp.voidcmd("TYPE A")
conn = ftp.transfercmd("RETR text.txt")
wire = b""
while True:
    chunk = conn.recv(65536)
    if not chunk:
        break
    wire += chunk
conn.close()
check(ftp.voidresp().startswith("226"), "end of ASCII RETR")
check(wire == b"alpha\r\nbeta\r\n\r\ngamma\r\n", "ASCII bytes on the wire: %r" % wire)

# abort a running download (ftplib sends ABOR as urgent data)
with open(os.path.join(home, "big.bin"), "wb") as f:
    f.write(os.urandom(20 * 1024 * 1024))
ftp.voidcmd("TYPE I")
conn = ftp.transfercmd("RETR big.bin")
got = conn.recv(65536)
check(len(got) > 0, "first bytes of big.bin")
resp = ftp.abort()
check(resp.startswith("426"), "ABOR: %s" % resp)
check(ftp.getresp().startswith("226"), "226 after 426")
conn.close()
check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after ABOR")

ftp.quit()
print("OK", flush=True)
"#;

fn run_ftplib(srv: &TestServer, host: &str, mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("t.py");
    std::fs::write(&script, FTPLIB_SCRIPT).unwrap();
    let out = run_ok(
        Command::new("python3")
            .arg(&script)
            .arg(host)
            .arg(srv.addr.port().to_string())
            .arg(srv.dir.path())
            .arg(mode),
    );
    assert_eq!(out.stdout_text().trim(), "OK", "{}", out.stderr);
}

fn python_ftplib_passive() {
    if !need("python3", "python_ftplib_passive") {
        return;
    }
    let srv = common::start(|_| {});
    run_ftplib(&srv, "127.0.0.1", "passive");
}

fn python_ftplib_active() {
    if !need("python3", "python_ftplib_active") {
        return;
    }
    let srv = common::start(|_| {});
    run_ftplib(&srv, "127.0.0.1", "active");
}

fn python_ftplib_ipv6() {
    if !need("python3", "python_ftplib_ipv6") {
        return;
    }
    if !v6_available() {
        eprintln!("SKIP: python_ftplib_ipv6: no IPv6 loopback");
        return;
    }
    let srv = common::start_on(Ipv6Addr::LOCALHOST.into(), |_| {});
    run_ftplib(&srv, "::1", "passive");
    let srv = common::start_on(Ipv6Addr::LOCALHOST.into(), |_| {});
    run_ftplib(&srv, "::1", "active");
}

// ---------------------------------------------------------------- wildcards (mget)

/// Files for the wildcard tests, random contents: `a.txt`, `b.txt`, `c.bin`,
/// `.hidden.txt`, and `sub/` with `x.txt`, `y.txt`, `z.dat`.
fn wildcard_tree(srv: &TestServer) {
    std::fs::create_dir(srv.path("sub")).unwrap();
    let files = [
        ("a.txt", 150_000),
        ("b.txt", 3),
        ("c.bin", 1000),
        (".hidden.txt", 10),
        ("sub/x.txt", 70_001),
        ("sub/y.txt", 0),
        ("sub/z.dat", 500),
    ];
    for (i, (name, size)) in files.into_iter().enumerate() {
        std::fs::write(srv.path(name), random_bytes(size, 40 + i as u64)).unwrap();
    }
}

const FTPLIB_NLST_SCRIPT: &str = r#"
import ftplib, io, os, posixpath, sys

host, port, home = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def check(cond, what):
    if not cond:
        print("FAILED:", what, flush=True)
        sys.exit(1)

ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login("user", "12345")

def fetch_all(names, cwd):
    # RETR of every name NLST gave, compared with the file on disk
    for name in names:
        buf = io.BytesIO()
        ftp.retrbinary("RETR " + name, buf.write)
        on_disk = os.path.join(home, posixpath.normpath(posixpath.join(cwd, name)).lstrip("/"))
        check(buf.getvalue() == open(on_disk, "rb").read(), "RETR %s in %s" % (name, cwd))

names = ftp.nlst("*.txt")
check(names == ["a.txt", "b.txt"], "nlst('*.txt'): %r" % names)
fetch_all(names, "/")
names = ftp.nlst("sub/*.txt")
check(names == ["sub/x.txt", "sub/y.txt"], "nlst('sub/*.txt'): %r" % names)
fetch_all(names, "/")
names = ftp.nlst("/sub/[x-z].*")
check(names == ["/sub/x.txt", "/sub/y.txt", "/sub/z.dat"], "nlst('/sub/[x-z].*'): %r" % names)
fetch_all(names, "/")
ftp.cwd("sub")
names = ftp.nlst("../?.*")
check(names == ["../a.txt", "../b.txt", "../c.bin"], "nlst('../?.*'): %r" % names)
fetch_all(names, "/sub")
ftp.cwd("/")

lines = []
ftp.retrlines("LIST sub/*.txt", lines.append)
check(len(lines) == 2 and lines[0].startswith("-") and lines[0].endswith(" sub/x.txt")
      and lines[1].endswith(" sub/y.txt"), "LIST sub/*.txt: %r" % lines)

try:
    ftp.nlst("*.none")
    check(False, "nlst of a pattern without a match")
except ftplib.error_perm as e:
    check(str(e) == "550 No such file or directory.", "no match: %s" % e)
check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after the 550")

ftp.quit()
print("OK", flush=True)
"#;

fn python_ftplib_nlst_patterns() {
    if !need("python3", "python_ftplib_nlst_patterns") {
        return;
    }
    let srv = common::start(|_| {});
    wildcard_tree(&srv);
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("t.py");
    std::fs::write(&script, FTPLIB_NLST_SCRIPT).unwrap();
    let out = run_ok(
        Command::new("python3")
            .arg(&script)
            .arg("127.0.0.1")
            .arg(srv.addr.port().to_string())
            .arg(srv.dir.path()),
    );
    assert_eq!(out.stdout_text().trim(), "OK", "{}", out.stderr);
}

/// ncftpget with its preferences in a home of its own, no progress meter,
/// a debug trace of the control connection in `trace`.
fn ncftpget(srv: &TestServer, home: &std::path::Path, trace: &std::path::Path) -> Command {
    let mut c = Command::new("ncftpget");
    c.env("HOME", home)
        .args(["-V", "-t", "20", "-r", "0", "-u", USER, "-p", PASS, "-P"])
        .arg(srv.addr.port().to_string())
        .arg("-d")
        .arg(trace)
        .arg(srv.addr.ip().to_string());
    c
}

fn ncftpget_wildcards() {
    if !common::have("ncftpget") {
        eprintln!("SKIP: ncftpget_wildcards: `ncftpget` is not installed (apt-get install ncftp)");
        return;
    }
    let srv = common::start(|_| {});
    wildcard_tree(&srv);
    let local = tempfile::tempdir().unwrap();
    let home = local.path().join("home");
    let trace = local.path().join("trace");
    std::fs::create_dir(&home).unwrap();
    for (into, pattern, want) in [
        ("top", "*.txt", &["a.txt", "b.txt"][..]),
        ("sub", "sub/*.txt", &["x.txt", "y.txt"][..]),
        ("abs", "/sub/*.dat", &["z.dat"][..]),
    ] {
        let dir = local.path().join(into);
        std::fs::create_dir(&dir).unwrap();
        run_ok(ncftpget(&srv, &home, &trace).arg(&dir).arg(pattern));
        // the server expanded the pattern: ncftp sent it as it is
        let log = std::fs::read_to_string(&trace).unwrap_or_default();
        assert!(log.contains(&format!("NLST {pattern}")), "{log}");
        let got: Vec<String> = files_under(&dir)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(got, want, "{pattern}");
        let remote_dir = pattern
            .trim_start_matches('/')
            .rsplit_once('/')
            .map_or("", |d| d.0);
        for name in want {
            assert_same_file(&srv.path(remote_dir).join(name), &dir.join(name));
        }
    }
    // no match: ncftpget fails with the server's text
    let out = run_limited(
        ncftpget(&srv, &home, &trace)
            .arg(local.path())
            .arg("*.none"),
        Duration::from_secs(60),
    );
    assert!(!out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("No such file or directory"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------- lftp

/// lftp with its default settings (it tries AUTH TLS first, which the server
/// refuses with 502), bounded retries and timeouts.
fn lftp(srv: &TestServer, commands: &str) -> Out {
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set cmd:fail-exit yes; set xfer:clobber on; \
         open -u {USER},{PASS} -p {} {}; {commands}",
        srv.addr.port(),
        srv.addr.ip()
    );
    let out = run_limited(
        Command::new("lftp").arg("-c").arg(&script),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "lftp failed ({}):\n{script}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout_text(),
        out.stderr
    );
    out
}

fn lftp_mirror_a_tree_both_ways() {
    if !need("lftp", "lftp_mirror_a_tree_both_ways") {
        return;
    }
    let srv = common::start(|_| {});
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up");
    let back = local.path().join("back");
    let paths = make_tree(&up, 200, 5, 65536);
    assert_eq!(paths.len(), 200);
    // up in passive mode, back in active mode
    lftp(
        &srv,
        &format!(
            "mirror -R {} /tree; set ftp:passive-mode off; mirror /tree {}",
            up.display(),
            back.display()
        ),
    );
    let remote = srv.path("tree");
    assert_eq!(files_under(&remote), paths, "server side tree");
    assert_eq!(files_under(&back), paths, "mirrored-back tree");
    for p in &paths {
        assert_same_file(&up.join(p), &remote.join(p));
        assert_same_file(&up.join(p), &back.join(p));
    }
}

fn lftp_get_and_put_resume() {
    if !need("lftp", "lftp_get_and_put_resume") {
        return;
    }
    let srv = common::start(|_| {});
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(3_000_000, 6);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let dst = local.path().join("big.bin");
    std::fs::write(&dst, &data[..1_234_567]).unwrap();
    lftp(&srv, &format!("get -c big.bin -o {}", dst.display()));
    assert!(
        !common::log_lines("<- REST 1234567").is_empty(),
        "lftp did not resume the download with REST"
    );
    assert_same_file(&srv.path("big.bin"), &dst);

    // put -c: a truncated remote copy is completed
    let src = local.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    std::fs::write(srv.path("up.bin"), &data[..777_777]).unwrap();
    lftp(&srv, &format!("put -c {} -o up.bin", src.display()));
    assert!(
        !common::log_lines("<- REST 777777").is_empty()
            || !common::log_lines("<- APPE up.bin").is_empty(),
        "lftp did not resume the upload"
    );
    assert_same_file(&src, &srv.path("up.bin"));
    // plain get/put and a few file commands
    lftp(
        &srv,
        &format!(
            "mkdir d; cd d; put {} -o x.bin; mv x.bin y.bin; cd ..; get d/y.bin -o {}; rm d/y.bin; rmdir d",
            src.display(),
            local.path().join("y.bin").display()
        ),
    );
    assert_same_file(&src, &local.path().join("y.bin"));
    assert!(!srv.path("d").exists());
}

// ---------------------------------------------------------------- wget

fn wget_file_and_recursive_tree() {
    if !need("wget", "wget_file_and_recursive_tree") {
        return;
    }
    let srv = common::start(|_| {});
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(400_000, 7);
    std::fs::write(srv.path("one.bin"), &data).unwrap();
    let dst = local.path().join("one.bin");
    run_ok(
        Command::new("wget")
            .args(["-q", "-t", "1", "-T", "20", "-O"])
            .arg(&dst)
            .arg(srv.url("one.bin")),
    );
    assert_same_file(&srv.path("one.bin"), &dst);
    // active mode
    let dst2 = local.path().join("two.bin");
    run_ok(
        Command::new("wget")
            .args(["-q", "-t", "1", "-T", "20", "--no-passive-ftp", "-O"])
            .arg(&dst2)
            .arg(srv.url("one.bin")),
    );
    assert_same_file(&srv.path("one.bin"), &dst2);
    // a small tree, recursively
    let paths = make_tree(&srv.path("tree"), 20, 8, 65536);
    let into = local.path().join("r");
    run_ok(
        Command::new("wget")
            .args(["-q", "-t", "1", "-T", "20", "-r", "-nH", "-l", "10", "-P"])
            .arg(&into)
            .arg(srv.url("tree/")),
    );
    assert_eq!(files_under(&into.join("tree")), paths);
    for p in &paths {
        assert_same_file(&srv.path("tree").join(p), &into.join("tree").join(p));
    }
    // wget resumes with -c
    let part = local.path().join("three.bin");
    std::fs::write(&part, &data[..100_000]).unwrap();
    run_ok(
        Command::new("wget")
            .args(["-q", "-t", "1", "-T", "20", "-c", "-O"])
            .arg(&part)
            .arg(srv.url("one.bin")),
    );
    assert_same_file(&srv.path("one.bin"), &part);
}

// ---------------------------------------------------------------- the binary

/// The daemon child; killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    _log_dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `ftpdlib <args> -p PORT [-i interface]` on a free port and wait
/// (10 s at most) until it greets on 127.0.0.1; a few retries if the port
/// was taken meanwhile.
fn start_daemon(args: &[&str], interface: Option<&str>) -> Daemon {
    for attempt in 0..5 {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("stderr");
        // a banner of our own, so that a greeting from another test's server
        // on the same port (a race on free ports) is never taken for ours
        let token = format!("ftpdlib-test-{}-{port}-{attempt}", std::process::id());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpdlib"));
        cmd.args(args)
            .args(["-p", &port.to_string()])
            .args(["--banner", &token]);
        if let Some(i) = interface {
            cmd.args(["-i", i]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut d = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(st) = d.child.try_wait().unwrap() {
                eprintln!(
                    "ftpdlib exited ({st}) on attempt {attempt}, port {port}; retrying; its stderr:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                break;
            }
            if let Ok(s) = TcpStream::connect_timeout(&d.addr, Duration::from_millis(200)) {
                use std::io::BufRead;
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut greeting = String::new();
                if std::io::BufReader::new(s).read_line(&mut greeting).is_ok()
                    && greeting.starts_with("220")
                    && greeting.contains(&token)
                {
                    return d;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if d.child.try_wait().unwrap().is_none() {
            panic!(
                "ftpdlib on port {port} did not greet within 10 s; its stderr:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }
    panic!("could not start ftpdlib on a free port");
}

fn the_binary_listens_on_all_interfaces_by_default() {
    if !need("curl", "the_binary_listens_on_all_interfaces_by_default") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(100_000, 10);
    std::fs::write(dir.path().join("f.bin"), &data).unwrap();
    let d = start_daemon(&["-d", dir.path().to_str().unwrap()], None);
    let port = d.addr.port();
    let local = tempfile::tempdir().unwrap();
    let mut hosts = vec!["127.0.0.1".to_string()];
    if v6_available() {
        hosts.push("[::1]".to_string());
    }
    for (i, host) in hosts.iter().enumerate() {
        for (j, opts) in [&[][..], &["--ftp-port", "-"][..]].into_iter().enumerate() {
            let dst = local.path().join(format!("f{i}{j}.bin"));
            run_ok(
                curl()
                    .arg("-g")
                    .args(opts)
                    .arg("-o")
                    .arg(&dst)
                    .arg(format!("ftp://{host}:{port}/f.bin")),
            );
            assert!(std::fs::read(&dst).unwrap() == data, "{host} {opts:?}");
        }
    }
}

fn the_binary_serves_a_directory() {
    if !need("curl", "the_binary_serves_a_directory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(500_000, 9);
    std::fs::write(dir.path().join("shared.bin"), &data).unwrap();
    let d = start_daemon(
        &["-w", "-d", dir.path().to_str().unwrap()],
        Some("127.0.0.1"),
    );
    let base = format!("ftp://127.0.0.1:{}", d.addr.port());
    let local = tempfile::tempdir().unwrap();
    // anonymous download, listing, upload (-w), delete
    let dst = local.path().join("shared.bin");
    run_ok(curl().arg("-o").arg(&dst).arg(format!("{base}/shared.bin")));
    assert!(std::fs::read(&dst).unwrap() == data);
    let out = run_ok(curl().arg("--list-only").arg(format!("{base}/")));
    assert_eq!(out.stdout_text().trim(), "shared.bin");
    run_ok(curl().arg("-T").arg(&dst).arg(format!("{base}/copy.bin")));
    assert_same_file(&dst, &dir.path().join("copy.bin"));
    run_ok(
        curl()
            .args(["-Q", "DELE copy.bin"])
            .arg("--list-only")
            .arg(format!("{base}/")),
    );
    assert!(!dir.path().join("copy.bin").exists());
    drop(d);

    // read-only by default
    let d = start_daemon(&["-d", dir.path().to_str().unwrap()], Some("127.0.0.1"));
    let base = format!("ftp://127.0.0.1:{}", d.addr.port());
    let out = run_limited(
        curl().arg("-T").arg(&dst).arg(format!("{base}/copy.bin")),
        Duration::from_secs(60),
    );
    assert!(
        !out.status.success(),
        "upload to a read-only server succeeded"
    );
    assert!(!dir.path().join("copy.bin").exists());
    drop(d);

    // -u/-P: that user only, anonymous refused
    let d = start_daemon(
        &[
            "-w",
            "-u",
            "joe",
            "-P",
            "secret",
            "-d",
            dir.path().to_str().unwrap(),
        ],
        Some("127.0.0.1"),
    );
    let port = d.addr.port();
    let out = run_limited(
        curl().arg(format!("ftp://127.0.0.1:{port}/shared.bin")),
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(67),
        "anonymous login must be refused: {}",
        out.stderr
    );
    run_ok(
        curl()
            .arg("-T")
            .arg(&dst)
            .arg(format!("ftp://joe:secret@127.0.0.1:{port}/joe.bin")),
    );
    assert_same_file(&dst, &dir.path().join("joe.bin"));
}
