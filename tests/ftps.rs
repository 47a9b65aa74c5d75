//! FTPS end to end (RFC 4217 and implicit TLS): curl, suppaftp with
//! native-tls, Python's `ftplib.FTP_TLS` and lftp move real files over
//! protected channels, and a raw TLS control client drives the refusals and
//! failure paths (garbage and half handshakes, plaintext data connections,
//! REIN back to the clear), in every concurrency model.
//!
//! The certificate is generated at test time (`common::test_cert`); the
//! clients that can verify it (the raw client, suppaftp, Python, lftp) do,
//! against its subjectAltName. A test whose tool is not installed prints
//! `SKIP: ...` and passes.
mod common;
mod tools;

each_model!(
    curl_explicit_list_get_put,
    curl_implicit_list_get_put,
    suppaftp_native_tls_put_get_list,
    python_ftplib_prot_p_resumes_the_control_session,
    lftp_mirror_200_files_both_ways,
    control_required_refuses_user_and_pass_until_auth,
    data_required_refuses_data_commands_until_prot_p,
    auth_pbsz_prot_ccc_replies,
    garbage_after_auth_closes_only_that_connection,
    client_vanishing_mid_handshake_leaves_others_served,
    plaintext_data_connection_gets_522_and_session_goes_on,
    rein_ends_tls_python_unwrap,
    rein_on_implicit_tls_starts_a_new_handshake,
    auth_after_login_requires_a_new_login,
    feat_lists_tls_lines,
    no_tls_configured_answers_502,
    ascii_type_over_prot_p_converts_like_clear,
    implicit_tls_greeting_and_plaintext_refusal,
    data_handshake_completes_before_the_transfer_command,
    commands_pipelined_behind_auth_are_never_run_inside_tls,
    commands_framed_before_auth_are_never_run_inside_tls,
    commands_sent_under_tls_after_rein_are_never_run_in_the_clear,
    a_prot_change_never_lets_a_transfer_run_in_the_clear,
    auth_tls_p_and_ssl_protect_the_data_channel,
    control_handshakes_have_a_deadline,
    data_handshakes_have_a_deadline,
    a_client_hello_behind_a_queued_auth_reaches_the_handshake,
);

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{TestServer, PASS, USER};
use ftpdlib::tls::TlsConfig;
use openssl::ssl::{
    HandshakeError, ShutdownResult, ShutdownState, SslConnector, SslMethod, SslStream,
};
use tools::{assert_same_file, files_under, make_tree, need, random_bytes, run_limited, run_ok};

/// How long any single network read or write of the test clients may block.
const IO_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- servers

/// A server with the test certificate in the current concurrency model,
/// its TLS policy set by `f`.
fn start_tls(f: impl FnOnce(&mut TlsConfig)) -> TestServer {
    let mut tls = common::test_tls_config();
    f(&mut tls);
    common::start(move |c| c.tls = Some(tls))
}

/// A server without TLS in the current concurrency model.
fn start_plain() -> TestServer {
    common::start(|_| {})
}

// ---------------------------------------------------------------- a raw FTPS client

/// The client side of every TLS connection: trusts the test certificate
/// only, and checks the server name against its subjectAltName.
fn connector() -> &'static SslConnector {
    static C: OnceLock<SslConnector> = OnceLock::new();
    C.get_or_init(|| {
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        let cert = openssl::x509::X509::from_pem(&common::test_cert().cert_pem).unwrap();
        b.cert_store_mut().add_cert(cert).unwrap();
        b.build()
    })
}

/// Client handshake on `tcp`, verifying the certificate for 127.0.0.1.
fn tls_connect(tcp: TcpStream) -> SslStream<TcpStream> {
    connector()
        .connect("127.0.0.1", tcp)
        .unwrap_or_else(|e| panic!("TLS handshake with the server failed: {e}"))
}

/// A control connection in the clear or over TLS.
enum Io {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf),
            Io::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.write(buf),
            Io::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.flush(),
            Io::Tls(s) => s.flush(),
        }
    }
}

/// How a data connection is set up.
#[derive(Clone, Copy, Debug)]
enum DataMode {
    Pasv,
    Epsv,
    Port,
    Eprt,
}

const DATA_MODES: [DataMode; 4] = [
    DataMode::Pasv,
    DataMode::Epsv,
    DataMode::Port,
    DataMode::Eprt,
];

/// A control connection that can switch to TLS (`AUTH TLS`), back (REIN)
/// and run transfers in the clear or protected (`PROT P`).
struct Ctl {
    /// The TCP connection (a handle of its own, usable in either mode).
    tcp: TcpStream,
    io: Io,
    /// Bytes read past the last reply line.
    buf: Vec<u8>,
    greeting: String,
    /// Whether data connections are protected (the last PROT was P).
    prot_p: bool,
}

/// The code of a reply.
fn code(reply: &str) -> u16 {
    reply
        .get(..3)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not a reply: {reply:?}"))
}

impl Ctl {
    fn tcp(addr: SocketAddr) -> TcpStream {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(IO_LIMIT)).unwrap();
        tcp.set_write_timeout(Some(IO_LIMIT)).unwrap();
        tcp
    }

    fn with_io(tcp: TcpStream, io: Io) -> Ctl {
        let mut c = Ctl {
            tcp,
            io,
            buf: Vec::new(),
            greeting: String::new(),
            prot_p: false,
        };
        c.greeting = c.reply();
        c
    }

    /// Connect in the clear and read the greeting.
    fn connect(addr: SocketAddr) -> Ctl {
        let tcp = Self::tcp(addr);
        let io = Io::Plain(tcp.try_clone().unwrap());
        Self::with_io(tcp, io)
    }

    /// Connect with TLS from the first byte (implicit FTPS) and read the greeting.
    fn connect_implicit(addr: SocketAddr) -> Ctl {
        let tcp = Self::tcp(addr);
        let io = Io::Tls(Box::new(tls_connect(tcp.try_clone().unwrap())));
        Self::with_io(tcp, io)
    }

    /// Connect, AUTH TLS, log in, PBSZ 0, PROT P.
    fn secure_login(addr: SocketAddr) -> Ctl {
        let mut c = Ctl::connect(addr);
        assert!(c.greeting.starts_with("220 "), "{}", c.greeting);
        c.auth();
        c.login();
        c.protect();
        c
    }

    fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).unwrap();
        self.io.flush().unwrap();
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// One line without its CRLF; `None` at end of stream.
    fn read_line(&mut self) -> Option<String> {
        for _ in 0..10_000 {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line);
                return Some(line.trim_end_matches(['\r', '\n']).to_string());
            }
            let mut chunk = [0u8; 4096];
            match self.io.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "reading a reply: {e} (buffered {:?})",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
        panic!("no end of line in {} bytes", self.buf.len());
    }

    /// One complete reply, its lines joined with `\n`; "" at end of stream.
    fn reply(&mut self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let mut first: Option<String> = None;
        for _ in 0..10_000 {
            let Some(line) = self.read_line() else {
                return lines.join("\n");
            };
            let c = line.get(..3).unwrap_or("").to_string();
            let sep = line.as_bytes().get(3).copied();
            lines.push(line);
            match &first {
                None if sep == Some(b'-') => first = Some(c),
                None => return lines.join("\n"),
                Some(f) if *f == c && sep == Some(b' ') => return lines.join("\n"),
                Some(_) => {}
            }
        }
        panic!("reply without an end: {lines:?}");
    }

    /// The TLS handshake on the control connection (after a 234).
    fn start_tls(&mut self) {
        assert!(
            self.buf.is_empty(),
            "bytes after the 234 reply: {:?}",
            self.buf
        );
        self.io = Io::Tls(Box::new(tls_connect(self.tcp.try_clone().unwrap())));
    }

    /// AUTH TLS and the handshake.
    fn auth(&mut self) {
        assert_eq!(self.cmd("AUTH TLS"), "234 AUTH TLS successful.");
        self.start_tls();
    }

    /// End TLS on the control connection (after REIN): our close_notify,
    /// then the server's; the connection goes on in the clear.
    fn end_tls(&mut self) {
        assert!(self.buf.is_empty(), "bytes after the REIN reply");
        let Io::Tls(s) = &mut self.io else {
            panic!("the control connection is not secured");
        };
        let mut state = s.shutdown().unwrap();
        if state == ShutdownResult::Sent {
            state = s.shutdown().unwrap();
        }
        assert_eq!(
            state,
            ShutdownResult::Received,
            "no close_notify from the server"
        );
        self.io = Io::Plain(self.tcp.try_clone().unwrap());
    }

    /// After QUIT: the server ends TLS with close_notify, then closes.
    fn expect_close_notify(&mut self) {
        assert!(self.buf.is_empty(), "bytes after the last reply");
        let Io::Tls(s) = &mut self.io else {
            panic!("the control connection is not secured");
        };
        let mut rest = Vec::new();
        let r = s.read_to_end(&mut rest);
        assert!(
            r.is_ok() && rest.is_empty() && s.get_shutdown().contains(ShutdownState::RECEIVED),
            "the control connection did not end with close_notify: {r:?}, {rest:?}"
        );
    }

    /// USER, PASS and TYPE I.
    fn login(&mut self) {
        assert_eq!(code(&self.cmd(&format!("USER {USER}"))), 331);
        let r = self.cmd(&format!("PASS {PASS}"));
        assert_eq!(code(&r), 230, "{r}");
        assert_eq!(code(&self.cmd("TYPE I")), 200);
    }

    /// PBSZ 0 and PROT P.
    fn protect(&mut self) {
        assert_eq!(self.cmd("PBSZ 0"), "200 PBSZ=0 successful.");
        self.prot("P");
    }

    /// PROT C or P, remembered for the following transfers.
    fn prot(&mut self, level: &str) {
        let r = self.cmd(&format!("PROT {level}"));
        match level {
            "P" => assert_eq!(r, "200 Protection set to Private"),
            "C" => assert_eq!(r, "200 Protection set to Clear"),
            _ => panic!("PROT {level}"),
        }
        self.prot_p = level == "P";
    }

    /// The address of a PASV reply.
    fn pasv(&mut self) -> SocketAddr {
        common::pasv_addr(&self.cmd("PASV"))
    }

    /// The port of an EPSV reply.
    fn epsv(&mut self) -> u16 {
        let r = self.cmd("EPSV");
        assert_eq!(code(&r), 229, "{r}");
        let inner = &r[r.find("|||").unwrap() + 3..];
        inner[..inner.find('|').unwrap()].parse().unwrap()
    }

    /// Run `cmd` (RETR, STOR, LIST...) over a data connection set up with
    /// `mode`, protected if PROT P is in force: sends `upload` or returns
    /// what the server sent. Checks the 1xx and 226 replies and, on a
    /// protected channel, the close_notify exchange.
    fn transfer(&mut self, mode: DataMode, cmd: &str, upload: Option<&[u8]>) -> Vec<u8> {
        enum Pending {
            Connected(TcpStream),
            Listening(TcpListener),
        }
        let pending = match mode {
            DataMode::Pasv => Pending::Connected(TcpStream::connect(self.pasv()).unwrap()),
            DataMode::Epsv => {
                let port = self.epsv();
                Pending::Connected(TcpStream::connect(("127.0.0.1", port)).unwrap())
            }
            DataMode::Port | DataMode::Eprt => {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let r = self.cmd(&active_arg(mode, l.local_addr().unwrap().port()));
                assert_eq!(code(&r), 200, "{mode:?}: {r}");
                Pending::Listening(l)
            }
        };
        let r = self.cmd(cmd);
        assert!(matches!(code(&r), 125 | 150), "{cmd} ({mode:?}): {r}");
        let tcp = match pending {
            Pending::Connected(s) => s,
            Pending::Listening(l) => accept_within(&l, IO_LIMIT),
        };
        tcp.set_read_timeout(Some(IO_LIMIT)).unwrap();
        tcp.set_write_timeout(Some(IO_LIMIT)).unwrap();
        let mut got = Vec::new();
        if self.prot_p {
            let mut s = tls_connect(tcp);
            if let Some(bytes) = upload {
                s.write_all(bytes).unwrap();
                assert_eq!(s.shutdown().unwrap(), ShutdownResult::Sent);
                let r = self.reply();
                assert_eq!(code(&r), 226, "{cmd} ({mode:?}): {r}");
                // the server answered our close_notify with its own
                assert_eq!(
                    s.shutdown().unwrap(),
                    ShutdownResult::Received,
                    "{cmd} ({mode:?}): no close_notify from the server"
                );
            } else {
                s.read_to_end(&mut got)
                    .unwrap_or_else(|e| panic!("{cmd} ({mode:?}): reading TLS data: {e}"));
                assert!(
                    s.get_shutdown().contains(ShutdownState::RECEIVED),
                    "{cmd} ({mode:?}): the TLS data stream ended without close_notify"
                );
                let r = self.reply();
                assert_eq!(code(&r), 226, "{cmd} ({mode:?}): {r}");
            }
        } else {
            let mut s = tcp;
            if let Some(bytes) = upload {
                s.write_all(bytes).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
            } else {
                s.read_to_end(&mut got).unwrap();
            }
            drop(s);
            let r = self.reply();
            assert_eq!(code(&r), 226, "{cmd} ({mode:?}): {r}");
        }
        got
    }

    fn retr(&mut self, name: &str) -> Vec<u8> {
        self.transfer(DataMode::Pasv, &format!("RETR {name}"), None)
    }

    fn stor(&mut self, name: &str, bytes: &[u8]) {
        self.transfer(DataMode::Pasv, &format!("STOR {name}"), Some(bytes));
    }

    fn nlst(&mut self) -> Vec<String> {
        let raw = self.transfer(DataMode::Pasv, "NLST", None);
        let mut names: Vec<String> = String::from_utf8(raw)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        names.sort();
        names
    }
}

/// The PORT or EPRT command for a listener on 127.0.0.1:`port`.
fn active_arg(mode: DataMode, port: u16) -> String {
    match mode {
        DataMode::Port => format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
        _ => format!("EPRT |1|127.0.0.1|{port}|"),
    }
}

/// Accept the server's active data connection, waiting `limit` at most.
fn accept_within(l: &TcpListener, limit: Duration) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("the server did not connect to {l:?}: {e}"),
        }
    }
}

/// Read until the peer closes (end of stream or reset); returns what came.
/// Fails if the connection is still open after [`IO_LIMIT`].
#[track_caller]
fn expect_closed(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(IO_LIMIT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 1 << 20 {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                return got
            }
            Err(e) => panic!("the server kept the connection open: {e} (got {got:?})"),
        }
    }
    panic!("the server kept sending");
}

/// Wait (bounded) for a captured log line containing both `needle` and `what`.
#[track_caller]
fn wait_for_log(needle: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if common::log_lines(needle).iter().any(|l| l.contains(what)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "no log line with {needle:?} and {what:?}; lines: {:?}",
        common::log_lines(needle)
    );
}

/// The log prefix of a session from `tcp`'s local address.
fn log_prefix(tcp: &TcpStream) -> String {
    format!("127.0.0.1:{}-", tcp.local_addr().unwrap().port())
}

/// The first bytes a TLS client sends: a real ClientHello for 127.0.0.1.
fn client_hello() -> Vec<u8> {
    #[derive(Debug)]
    struct Capture(Vec<u8>);
    impl Read for Capture {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::WouldBlock.into())
        }
    }
    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    match connector().connect("127.0.0.1", Capture(Vec::new())) {
        Err(HandshakeError::WouldBlock(mid)) => mid.get_ref().0.clone(),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a handshake without a server"),
    }
}

// ---------------------------------------------------------------- external tools

/// curl through the shared helper, trusting the self-signed certificate.
fn curl() -> Command {
    let mut c = tools::curl();
    c.arg("-k");
    c
}

/// Run a Python script with `args`; it prints `OK` when all its checks passed.
fn run_python(script: &str, args: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.py");
    std::fs::write(&path, script).unwrap();
    let out = run_ok(Command::new("python3").arg(&path).args(args));
    assert_eq!(
        out.stdout_text().trim(),
        "OK",
        "stdout:\n{}\nstderr:\n{}",
        out.stdout_text(),
        out.stderr
    );
}

// ---------------------------------------------------------------- curl

fn curl_explicit_list_get_put() {
    if !need("curl", "curl_explicit_list_get_put") {
        return;
    }
    // both policies on: the transfers only pass if curl protects control and data
    let srv = start_tls(|t| {
        t.control_required = true;
        t.data_required = true;
    });
    let data = random_bytes(3 * 1024 * 1024 + 17, 1);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let local = tempfile::tempdir().unwrap();

    let dst = local.path().join("big.bin");
    let out = run_ok(
        curl()
            .args(["--ssl-reqd", "-v", "-o"])
            .arg(&dst)
            .arg(srv.url("big.bin")),
    );
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "downloaded bytes differ"
    );
    for want in [
        "< 234 AUTH ",
        "< 200 PBSZ=0 successful.",
        "< 200 Protection set to Private",
        "< 226 ",
    ] {
        assert!(out.stderr.contains(want), "no {want:?} in:\n{}", out.stderr);
    }

    let src = local.path().join("up.bin");
    std::fs::write(&src, random_bytes(1_500_000, 2)).unwrap();
    run_ok(
        curl()
            .arg("--ssl-reqd")
            .arg("-T")
            .arg(&src)
            .arg(srv.url("up.bin")),
    );
    assert_same_file(&src, &srv.path("up.bin"));

    let out = run_ok(curl().arg("--ssl-reqd").arg(srv.url("")));
    let listing = out.stdout_text();
    for name in ["big.bin", "up.bin"] {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with('-') && l.ends_with(&format!(" {name}"))),
            "{name} not in LIST:\n{listing}"
        );
    }
    let size = listing
        .lines()
        .find(|l| l.ends_with(" big.bin"))
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap()
        .to_string();
    assert_eq!(size, data.len().to_string(), "{listing}");
}

fn curl_implicit_list_get_put() {
    if !need("curl", "curl_implicit_list_get_put") {
        return;
    }
    let srv = start_tls(|t| {
        t.implicit = true;
        t.data_required = true;
    });
    let url = |p: &str| format!("ftps://{USER}:{PASS}@{}/{p}", srv.host_port());
    let data = random_bytes(1_000_003, 3);
    std::fs::write(srv.path("get.bin"), &data).unwrap();
    let local = tempfile::tempdir().unwrap();

    let dst = local.path().join("get.bin");
    let out = run_ok(curl().arg("-v").arg("-o").arg(&dst).arg(url("get.bin")));
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "downloaded bytes differ"
    );
    assert!(out.stderr.contains("< 220 "), "{}", out.stderr);
    assert!(!out.stderr.contains("> AUTH"), "{}", out.stderr);

    let src = local.path().join("put.bin");
    std::fs::write(&src, random_bytes(700_001, 4)).unwrap();
    run_ok(curl().arg("-T").arg(&src).arg(url("put.bin")));
    assert_same_file(&src, &srv.path("put.bin"));

    let out = run_ok(curl().arg("--list-only").arg(url("")));
    let mut names: Vec<String> = out.stdout_text().lines().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["get.bin", "put.bin"]);
}

// ---------------------------------------------------------------- suppaftp

fn suppaftp_native_tls_put_get_list() {
    use suppaftp::types::FileType;
    use suppaftp::{Mode, NativeTlsConnector, NativeTlsFtpStream};

    let srv = start_tls(|t| {
        t.control_required = true;
        t.data_required = true;
    });
    // trust the test certificate alone; the name is checked against DNS:localhost
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(
            native_tls::Certificate::from_pem(&common::test_cert().cert_pem).unwrap(),
        )
        .disable_built_in_roots(true)
        .build()
        .unwrap();
    let ftp = NativeTlsFtpStream::connect(srv.addr).unwrap();
    assert!(ftp.get_welcome_msg().is_some());
    let mut ftp = ftp
        .into_secure(NativeTlsConnector::from(tls), "localhost")
        .unwrap();
    ftp.login(USER, PASS).unwrap();
    ftp.transfer_type(FileType::Binary).unwrap();

    let data = random_bytes(2_000_003, 5);
    ftp.put_file("s.bin", &mut &data[..]).unwrap();
    assert!(
        std::fs::read(srv.path("s.bin")).unwrap() == data,
        "uploaded bytes differ"
    );
    for (i, mode) in [Mode::Passive, Mode::ExtendedPassive, Mode::Active]
        .into_iter()
        .enumerate()
    {
        ftp.set_mode(mode);
        let got = ftp.retr_as_buffer("s.bin").unwrap().into_inner();
        assert!(got == data, "{mode:?}: downloaded bytes differ");
        let name = format!("m{i}.bin");
        ftp.put_file(&name, &mut &data[..1000 + i]).unwrap();
        assert_eq!(std::fs::read(srv.path(&name)).unwrap(), &data[..1000 + i]);
    }
    ftp.set_mode(Mode::Passive);
    let list = ftp.list(None).unwrap();
    assert!(
        list.iter()
            .any(|l| l.starts_with('-') && l.ends_with(" s.bin")),
        "{list:?}"
    );
    let mut names = ftp.nlst(None).unwrap();
    names.sort();
    assert_eq!(names, ["m0.bin", "m1.bin", "m2.bin", "s.bin"]);
    assert_eq!(ftp.size("s.bin").unwrap(), data.len());
    ftp.quit().unwrap();
}

// ---------------------------------------------------------------- Python ftplib

const FTPLIB_TLS_SCRIPT: &str = r#"
import ftplib, io, os, ssl, sys

host, port, home, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def check(cond, what):
    if not cond:
        print("FAILED:", what, flush=True)
        sys.exit(1)

class Resuming(ftplib.FTP_TLS):
    """Each data connection offers the control connection's TLS session."""
    reused = []

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
            self.reused.append(conn.session_reused)
        return conn, size

# verifies the certificate and 127.0.0.1 against its subjectAltName
ctx = ssl.create_default_context(cafile=cafile)
ftp = Resuming(context=ctx, timeout=20)
ftp.connect(host, port)
check(ftp.getwelcome().startswith("220"), "greeting")
check(ftp.auth().startswith("234"), "AUTH TLS")
check(ftp.sock.version().startswith("TLSv1."), "TLS version %s" % ftp.sock.version())
ftp.login("user", "12345")
check(ftp.prot_p() == "200 Protection set to Private", "PROT P")

data = os.urandom(2000000)
check(ftp.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226"), "storbinary")
check(open(os.path.join(home, "up.bin"), "rb").read() == data, "stored bytes")
buf = io.BytesIO()
check(ftp.retrbinary("RETR up.bin", buf.write).startswith("226"), "retrbinary")
check(buf.getvalue() == data, "retrbinary bytes")
lines = []
ftp.retrlines("LIST", lines.append)
check(any(l.startswith("-") and l.endswith(" up.bin") for l in lines), "LIST: %r" % lines)

# active mode: the server connects, the client still does the TLS client side
ftp.set_pasv(False)
buf = io.BytesIO()
check(ftp.retrbinary("RETR up.bin", buf.write, rest=1000).startswith("226"), "active retr")
check(buf.getvalue() == data[1000:], "active retr bytes")
check(ftp.storbinary("STOR up2.bin", io.BytesIO(data[:12345])).startswith("226"), "active stor")
check(open(os.path.join(home, "up2.bin"), "rb").read() == data[:12345], "active stored bytes")

check(len(Resuming.reused) == 5, "data connections: %r" % Resuming.reused)
check(all(Resuming.reused), "TLS session not resumed on the data connections: %r" % Resuming.reused)
ftp.quit()
print("OK", flush=True)
"#;

fn python_ftplib_prot_p_resumes_the_control_session() {
    if !need(
        "python3",
        "python_ftplib_prot_p_resumes_the_control_session",
    ) {
        return;
    }
    let srv = start_tls(|t| t.data_required = true);
    run_python(
        FTPLIB_TLS_SCRIPT,
        &[
            "127.0.0.1",
            &srv.addr.port().to_string(),
            srv.dir.path().to_str().unwrap(),
            common::test_cert().cert_path.to_str().unwrap(),
        ],
    );
}

const REIN_SCRIPT: &str = r#"
import ftplib, io, os, socket, ssl, sys

host, port, home, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def check(cond, what):
    if not cond:
        print("FAILED:", what, flush=True)
        sys.exit(1)

def refused(cmd, want):
    try:
        r = ftp.sendcmd(cmd)
    except ftplib.error_perm as e:
        r = str(e)
    check(r == want, "%s: %r, expected %r" % (cmd, r, want))

data = open(os.path.join(home, "f.bin"), "rb").read()
ctx = ssl.create_default_context(cafile=cafile)
ftp = ftplib.FTP_TLS(context=ctx, timeout=20)
ftp.connect(host, port)
ftp.auth()
ftp.login("user", "12345")
ftp.prot_p()
buf = io.BytesIO()
ftp.retrbinary("RETR f.bin", buf.write)
check(buf.getvalue() == data, "retrbinary before REIN")

check(ftp.sendcmd("REIN") == "220 Ready for new user.", "REIN")
# close_notify both ways; the control connection goes on in the clear
unwrapped = ftp.sock.unwrap()
plain = socket.socket(unwrapped.family, unwrapped.type, unwrapped.proto, fileno=unwrapped.detach())
plain.settimeout(20)
ftp.sock = plain
ftp.file = plain.makefile("r", encoding=ftp.encoding)
ftp._prot_p = False
check(ftp.sendcmd("NOOP").startswith("200"), "NOOP in the clear")
refused("PBSZ 0", "503 PBSZ not allowed on insecure control connection.")
refused("PWD", "530 Log in with USER and PASS first.")

# and TLS again on the same connection
check(ftp.auth().startswith("234"), "AUTH TLS after REIN")
ftp.login("user", "12345")
ftp.prot_p()
buf = io.BytesIO()
ftp.retrbinary("RETR f.bin", buf.write)
check(buf.getvalue() == data, "retrbinary after REIN and AUTH")
ftp.quit()
print("OK", flush=True)
"#;

fn rein_ends_tls_python_unwrap() {
    if !need("python3", "rein_ends_tls_python_unwrap") {
        return;
    }
    let srv = start_tls(|_| {});
    std::fs::write(srv.path("f.bin"), random_bytes(300_000, 6)).unwrap();
    run_python(
        REIN_SCRIPT,
        &[
            "127.0.0.1",
            &srv.addr.port().to_string(),
            srv.dir.path().to_str().unwrap(),
            common::test_cert().cert_path.to_str().unwrap(),
        ],
    );
}

// ---------------------------------------------------------------- lftp

fn lftp_mirror_200_files_both_ways() {
    if !need("lftp", "lftp_mirror_200_files_both_ways") {
        return;
    }
    // both policies on: lftp must protect the control and every data connection;
    // it verifies the certificate (GnuTLS) against 127.0.0.1
    let srv = start_tls(|t| {
        t.control_required = true;
        t.data_required = true;
    });
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up");
    let back = local.path().join("back");
    let paths = make_tree(&up, 200, 7, 8192);
    assert_eq!(paths.len(), 200);
    let script = format!(
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ftp:ssl-protect-list true; \
         set ssl:ca-file {}; set ssl:check-hostname yes; \
         set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set cmd:fail-exit yes; set xfer:clobber on; \
         open -u {USER},{PASS} -p {} 127.0.0.1; \
         mirror -R {} /tree; set ftp:passive-mode off; mirror /tree {}",
        common::test_cert().cert_path.display(),
        srv.addr.port(),
        up.display(),
        back.display()
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
    let remote = srv.path("tree");
    assert_eq!(files_under(&remote), paths, "server side tree");
    assert_eq!(files_under(&back), paths, "mirrored-back tree");
    for p in &paths {
        assert_same_file(&up.join(p), &remote.join(p));
        assert_same_file(&up.join(p), &back.join(p));
    }
}

// ---------------------------------------------------------------- policies and replies

fn control_required_refuses_user_and_pass_until_auth() {
    let srv = start_tls(|t| t.control_required = true);
    std::fs::write(srv.path("f.txt"), b"hello").unwrap();
    let mut c = Ctl::connect(srv.addr);
    assert!(c.greeting.starts_with("220 "), "{}", c.greeting);
    let refused = "550 SSL/TLS required on the control channel.";
    assert_eq!(c.cmd(&format!("USER {USER}")), refused);
    assert_eq!(c.cmd(&format!("PASS {PASS}")), refused);
    assert_eq!(c.cmd("USER anonymous"), refused);
    assert_eq!(code(&c.cmd("PWD")), 530);
    assert_eq!(code(&c.cmd("NOOP")), 200);

    c.auth();
    c.login();
    assert_eq!(c.cmd("PWD"), "257 \"/\" is the current directory.");
    // data protection is not required by this policy: PROT C transfers work
    assert_eq!(c.nlst(), ["f.txt"]);
    c.protect();
    assert_eq!(c.retr("f.txt"), b"hello");
    let events = srv.events.list();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("login ")).count(),
        1,
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.starts_with("login_failed")),
        "{events:?}"
    );
}

fn data_required_refuses_data_commands_until_prot_p() {
    let srv = start_tls(|t| t.data_required = true);
    let data = random_bytes(200_000, 8);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut c = Ctl::connect(srv.addr);
    c.auth();
    c.login();
    let spare = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = spare.local_addr().unwrap().port();
    let refused = "550 SSL/TLS required on the data channel.";
    let refusals = |c: &mut Ctl, when: &str| {
        for cmd in [
            "PASV".to_string(),
            "EPSV".to_string(),
            active_arg(DataMode::Port, port),
            active_arg(DataMode::Eprt, port),
        ] {
            assert_eq!(c.cmd(&cmd), refused, "{cmd} {when}");
        }
        // and no transfer runs at this protection level (RFC 4217 §9)
        let r = c.cmd("RETR f.bin");
        assert_eq!(
            r, "521 Data connection cannot be opened with this PROT setting.",
            "RETR {when}"
        );
    };
    refusals(&mut c, "before PBSZ/PROT");
    assert_eq!(c.cmd("PBSZ 0"), "200 PBSZ=0 successful.");
    c.prot("C");
    refusals(&mut c, "under PROT C");

    c.prot("P");
    for mode in DATA_MODES {
        let got = c.transfer(mode, "RETR f.bin", None);
        assert!(got == data, "{mode:?}: downloaded bytes differ");
        c.transfer(mode, "STOR back.bin", Some(&data[..5000]));
        assert_eq!(std::fs::read(srv.path("back.bin")).unwrap(), &data[..5000]);
    }

    c.prot("C");
    refusals(&mut c, "after going back to PROT C");
    assert_eq!(code(&c.cmd("NOOP")), 200);
}

fn auth_pbsz_prot_ccc_replies() {
    let srv = start_tls(|_| {});
    std::fs::write(srv.path("f.txt"), b"some text").unwrap();
    let mut c = Ctl::connect(srv.addr);
    assert_eq!(
        c.cmd("PBSZ 0"),
        "503 PBSZ not allowed on insecure control connection."
    );
    assert_eq!(code(&c.cmd("PROT P")), 503);
    assert_eq!(
        c.cmd("AUTH KERBEROS_V4"),
        "502 Unrecognized encryption type (use TLS or SSL)."
    );
    c.auth();
    assert_eq!(c.cmd("AUTH TLS"), "503 Already using TLS.");
    assert_eq!(c.cmd("AUTH SSL"), "503 Already using TLS.");
    c.login();
    assert_eq!(
        c.cmd("PROT P"),
        "503 You must issue the PBSZ command prior to PROT."
    );
    assert_eq!(c.cmd("PBSZ 0"), "200 PBSZ=0 successful.");
    assert_eq!(code(&c.cmd("PROT S")), 521);
    assert_eq!(code(&c.cmd("PROT E")), 521);
    c.prot("C");
    assert_eq!(c.retr("f.txt"), b"some text");
    c.prot("P");
    assert_eq!(c.retr("f.txt"), b"some text");
    assert_eq!(code(&c.cmd("CCC")), 534);
    // still protected and working after the refusals
    assert_eq!(c.retr("f.txt"), b"some text");
    assert_eq!(code(&c.cmd("QUIT")), 221);
    c.expect_close_notify();

    // every accepted AUTH argument, in any case
    for kind in ["SSL", "TLS-C", "TLS-P", "tls"] {
        let mut c = Ctl::connect(srv.addr);
        assert_eq!(
            c.cmd(&format!("AUTH {kind}")),
            format!("234 AUTH {} successful.", kind.to_uppercase())
        );
        c.start_tls();
        c.login();
        assert_eq!(code(&c.cmd("NOOP")), 200, "after AUTH {kind}");
    }
}

fn auth_after_login_requires_a_new_login() {
    let srv = start_tls(|_| {});
    std::fs::write(srv.path("f.txt"), b"x").unwrap();
    let mut c = Ctl::connect(srv.addr);
    c.login();
    assert_eq!(code(&c.cmd("PWD")), 257);
    assert_eq!(code(&c.cmd("CWD /")), 250);
    c.auth();
    assert_eq!(c.cmd("PWD"), "530 Log in with USER and PASS first.");
    srv.events
        .wait_for("logout user", |e| e.iter().any(|l| l == "logout user"));
    c.login();
    assert_eq!(code(&c.cmd("PWD")), 257);
    c.protect();
    assert_eq!(c.nlst(), ["f.txt"]);
}

fn feat_lists_tls_lines() {
    let tls_lines = [" AUTH TLS", " AUTH SSL", " PBSZ", " PROT"];
    let srv = start_tls(|_| {});
    let mut c = Ctl::connect(srv.addr);
    for round in ["in the clear", "over TLS"] {
        let r = c.cmd("FEAT");
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.first(), Some(&"211-Features supported:"), "{r}");
        assert_eq!(lines.last(), Some(&"211 End FEAT."), "{r}");
        for want in tls_lines {
            assert!(lines.contains(&want), "{want:?} missing {round}:\n{r}");
        }
        assert!(lines.contains(&" EPSV"), "{r}");
        if round == "in the clear" {
            c.auth();
        }
    }

    let plain = start_plain();
    let mut c = Ctl::connect(plain.addr);
    let r = c.cmd("FEAT");
    assert_eq!(code(&r), 211);
    for line in r.lines() {
        assert!(
            !tls_lines.contains(&line),
            "{line:?} on a server without TLS:\n{r}"
        );
    }
}

fn no_tls_configured_answers_502() {
    let srv = start_plain();
    let mut c = Ctl::connect(srv.addr);
    for cmd in ["AUTH TLS", "AUTH SSL", "PBSZ 0", "PROT P"] {
        assert_eq!(code(&c.cmd(cmd)), 502, "{cmd} before login");
    }
    c.login();
    for cmd in ["AUTH TLS", "PBSZ 0", "PROT P", "PROT C", "CCC"] {
        assert_eq!(code(&c.cmd(cmd)), 502, "{cmd} after login");
    }
    // the connection is still in the clear and working
    std::fs::write(srv.path("f.txt"), b"plain").unwrap();
    assert_eq!(c.retr("f.txt"), b"plain");
}

fn ascii_type_over_prot_p_converts_like_clear() {
    let srv = start_tls(|_| {});
    // a text long enough to span many TLS records and transfer chunks
    let mut text = Vec::new();
    let mut i = 0u32;
    while text.len() < 400_000 {
        let len = (i * 7919) % 131;
        text.resize(text.len() + len as usize, b'a' + (i % 26) as u8);
        text.push(b'\n');
        i += 1;
    }
    let wire: Vec<u8> = text
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    std::fs::write(srv.path("t.txt"), &text).unwrap();
    let mut c = Ctl::secure_login(srv.addr);
    assert_eq!(code(&c.cmd("TYPE A")), 200);
    for prot in ["P", "C"] {
        c.prot(prot);
        let got = c.retr("t.txt");
        assert!(
            got == wire,
            "PROT {prot}: ASCII RETR sent {} bytes, expected {} with CRLF line ends",
            got.len(),
            wire.len()
        );
        let name = format!("up-{prot}.txt");
        c.stor(&name, &wire);
        assert!(
            std::fs::read(srv.path(&name)).unwrap() == text,
            "PROT {prot}: ASCII STOR did not store LF line ends"
        );
    }
    // and binary leaves the bytes alone, protected
    assert_eq!(code(&c.cmd("TYPE I")), 200);
    c.prot("P");
    assert!(c.retr("t.txt") == text, "binary RETR changed the bytes");
}

// ---------------------------------------------------------------- failures and robustness

fn garbage_after_auth_closes_only_that_connection() {
    let srv = start_tls(|_| {});
    std::fs::write(srv.path("f.txt"), b"still here").unwrap();
    // a session that is already up must not notice
    let mut other = Ctl::secure_login(srv.addr);

    let mut bad = Ctl::connect(srv.addr);
    assert_eq!(bad.cmd("AUTH TLS"), "234 AUTH TLS successful.");
    let prefix = log_prefix(&bad.tcp);
    // plaintext commands where the ClientHello should be
    bad.send(b"USER user\r\nPASS 12345\r\nthis is not a ClientHello\r\n");
    let got = expect_closed(&mut bad.tcp);
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("331") && !text.contains("230"),
        "the server answered plaintext commands after AUTH TLS: {text:?}"
    );
    wait_for_log(&prefix, "SSL handshake failed");

    assert_eq!(code(&other.cmd("NOOP")), 200);
    assert_eq!(other.retr("f.txt"), b"still here");
    let mut fresh = Ctl::secure_login(srv.addr);
    assert_eq!(fresh.nlst(), ["f.txt"]);
    let listing = String::from_utf8(fresh.transfer(DataMode::Epsv, "LIST", None)).unwrap();
    assert!(listing.lines().any(|l| l.ends_with(" f.txt")), "{listing}");
}

fn client_vanishing_mid_handshake_leaves_others_served() {
    let srv = start_tls(|_| {});
    let data = random_bytes(500_000, 9);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let hello = client_hello();
    assert!(
        hello.len() > 100 && hello[0] == 0x16,
        "not a TLS handshake record: {hello:?}"
    );

    // A stops in the middle of its ClientHello...
    let mut a = Ctl::connect(srv.addr);
    assert_eq!(a.cmd("AUTH TLS"), "234 AUTH TLS successful.");
    let prefix = log_prefix(&a.tcp);
    a.send(&hello[..hello.len() / 2]);
    // ...and while it hangs there, B gets full service (one poll loop serves both)
    let mut b = Ctl::secure_login(srv.addr);
    assert!(b.retr("f.bin") == data, "B: downloaded bytes differ");
    b.stor("b.bin", &data[..1234]);
    assert_eq!(std::fs::read(srv.path("b.bin")).unwrap(), &data[..1234]);

    // A vanishes: the server ends that session
    a.tcp.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut a.tcp);
    wait_for_log(&prefix, "SSL handshake failed");
    drop(a);

    assert_eq!(code(&b.cmd("NOOP")), 200);
    let mut c = Ctl::secure_login(srv.addr);
    assert!(c.retr("f.bin") == data, "C: downloaded bytes differ");
    assert_eq!(c.nlst(), ["b.bin", "f.bin"]);

    // the same on a data connection: B's RETR stalls in the middle of its
    // handshake; C is served meanwhile, and B's ABOR is answered
    let mut d = TcpStream::connect(b.pasv()).unwrap();
    let r = b.cmd("RETR f.bin");
    assert!(matches!(code(&r), 125 | 150), "{r}");
    d.write_all(&hello[..hello.len() / 2]).unwrap();
    assert!(c.retr("f.bin") == data, "C: downloaded bytes differ");
    c.stor("c.bin", &data[..999]);
    assert_eq!(std::fs::read(srv.path("c.bin")).unwrap(), &data[..999]);
    assert_eq!(b.cmd("ABOR"), "426 Transfer aborted via ABOR.");
    assert_eq!(b.reply(), "226 ABOR command successful.");
    drop(d);
    assert!(
        b.retr("f.bin") == data,
        "B after ABOR: downloaded bytes differ"
    );
}

fn plaintext_data_connection_gets_522_and_session_goes_on() {
    let srv = start_tls(|_| {});
    let data = random_bytes(300_000, 10);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut c = Ctl::secure_login(srv.addr);

    // 1. plaintext where the data channel's ClientHello should be
    let mut d = TcpStream::connect(c.pasv()).unwrap();
    let r = c.cmd("RETR f.bin");
    assert!(matches!(code(&r), 125 | 150), "{r}");
    let _ = d.write_all(b"this is not a TLS ClientHello\r\n\r\n");
    assert_eq!(c.reply(), "522 SSL handshake failed.");
    drop(d);
    assert_eq!(code(&c.cmd("NOOP")), 200);

    // 2. a client that connects and closes without a handshake
    let d = TcpStream::connect(c.pasv()).unwrap();
    let r = c.cmd("RETR f.bin");
    assert!(matches!(code(&r), 125 | 150), "{r}");
    d.shutdown(Shutdown::Both).unwrap();
    drop(d);
    assert_eq!(c.reply(), "522 SSL handshake failed.");

    // 3. the same on an upload, in active mode
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    assert_eq!(code(&c.cmd(&active_arg(DataMode::Port, port))), 200);
    let r = c.cmd("STOR up.bin");
    assert!(matches!(code(&r), 125 | 150), "{r}");
    let mut d = accept_within(&l, IO_LIMIT);
    let _ = d.write_all(b"plain upload bytes\r\n");
    assert_eq!(c.reply(), "522 SSL handshake failed.");
    drop(d);

    // reported as incomplete transfers
    let sent = format!("incomplete_file_sent {}", srv.path("f.bin").display());
    let received = format!("incomplete_file_received {}", srv.path("up.bin").display());
    srv.events.wait_for("incomplete transfers", |e| {
        e.iter().filter(|l| **l == sent).count() == 2 && e.contains(&received)
    });

    // the same control session then transfers normally, protected
    assert!(c.retr("f.bin") == data, "downloaded bytes differ");
    c.stor("up.bin", &data[..4321]);
    assert_eq!(std::fs::read(srv.path("up.bin")).unwrap(), &data[..4321]);
    assert_eq!(code(&c.cmd("QUIT")), 221);
}

fn rein_on_implicit_tls_starts_a_new_handshake() {
    // the configuration from PEM text in memory this time
    let cert = common::test_cert();
    let mut tls = TlsConfig::from_pem(&cert.cert_pem, &cert.key_pem).unwrap();
    tls.implicit = true;
    let srv = common::start(move |c| c.tls = Some(tls));
    std::fs::write(srv.path("f.txt"), b"implicit").unwrap();
    let mut c = Ctl::connect_implicit(srv.addr);
    assert!(c.greeting.starts_with("220 "), "{}", c.greeting);
    c.login();
    c.protect();
    assert_eq!(c.retr("f.txt"), b"implicit");
    assert_eq!(c.cmd("REIN"), "220 Ready for new user.");
    c.end_tls();
    // implicit FTPS goes back to where it started: a new handshake, no greeting
    c.start_tls();
    assert_eq!(code(&c.cmd("NOOP")), 200);
    assert_eq!(c.cmd("PWD"), "530 Log in with USER and PASS first.");
    c.login();
    // REIN forgot PBSZ and PROT
    assert_eq!(
        c.cmd("PROT P"),
        "503 You must issue the PBSZ command prior to PROT."
    );
    c.protect();
    assert_eq!(c.retr("f.txt"), b"implicit");
}

fn implicit_tls_greeting_and_plaintext_refusal() {
    let srv = start_tls(|t| t.implicit = true);
    std::fs::write(srv.path("f.txt"), b"implicit").unwrap();
    // a client that connects and never starts its handshake holds up no one
    let silent = Ctl::tcp(srv.addr);
    let mut c = Ctl::connect_implicit(srv.addr);
    assert!(c.greeting.starts_with("220 "), "{}", c.greeting);
    assert_eq!(c.cmd("AUTH TLS"), "503 Already using TLS.");
    c.login();
    assert_eq!(c.cmd("PBSZ 0"), "200 PBSZ=0 successful.");
    // data in the clear is allowed (no data_required)...
    assert_eq!(c.retr("f.txt"), b"implicit");
    // ...and protected
    c.prot("P");
    assert_eq!(c.retr("f.txt"), b"implicit");

    // a plaintext client gets no greeting, and plaintext commands close the connection
    let mut t = Ctl::tcp(srv.addr);
    t.write_all(b"USER user\r\n").unwrap();
    let got = expect_closed(&mut t);
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("220") && !text.contains("331"),
        "plaintext replies on an implicit FTPS port: {text:?}"
    );
    wait_for_log(&log_prefix(&t), "SSL handshake failed");

    // the first session goes on
    assert_eq!(c.retr("f.txt"), b"implicit");
    assert_eq!(code(&c.cmd("QUIT")), 221);
    c.expect_close_notify();
    drop(silent);
}

/// AUTH TLS and the ClientHello in one write (the client does not wait for
/// the 234): the server keeps the bytes it read past the AUTH line for the
/// handshake (see [`PipelinedAuth`]).
#[test]
fn auth_tls_with_the_client_hello_pipelined() {
    for model in [
        ftpdlib::ConcurrencyModel::ThreadPool,
        ftpdlib::ConcurrencyModel::Poll,
        ftpdlib::ConcurrencyModel::Process,
        ftpdlib::ConcurrencyModel::Prefork { workers: 2 },
    ] {
        common::with_model(model, || {
            let srv = start_tls(|_| {});
            let tcp = Ctl::tcp(srv.addr);
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut greeting = Vec::new();
            let mut b = [0u8; 1];
            while !greeting.ends_with(b"\n") && greeting.len() < 200 {
                (&tcp).read_exact(&mut b).unwrap();
                greeting.push(b[0]);
            }
            assert!(greeting.starts_with(b"220 "), "{greeting:?}");
            let io = PipelinedAuth {
                tcp,
                prefix: Some(b"AUTH TLS\r\n".to_vec()),
                replies: Vec::new(),
            };
            let mut s = connector().connect("127.0.0.1", io).unwrap_or_else(|e| {
                panic!(
                    "{:?}: handshake after a pipelined AUTH TLS: {e}",
                    common::model()
                )
            });
            assert_eq!(s.get_ref().replies, ["234 AUTH TLS successful."]);
            s.write_all(format!("USER {USER}\r\n").as_bytes()).unwrap();
            let mut buf = [0u8; 200];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"331 "), "{:?}", &buf[..n]);
        });
    }
}

/// curl opens the data connection and runs its TLS handshake before it sends
/// RETR/STOR: under PROT P the server must answer that handshake at once
/// (it used to wait for the transfer command, so curl stalled in retries).
fn data_handshake_completes_before_the_transfer_command() {
    let srv = start_tls(|_| {});
    std::fs::write(srv.path("f.bin"), b"early handshake").unwrap();
    let mut c = Ctl::secure_login(srv.addr);
    assert_eq!(code(&c.cmd("TYPE I")), 200);
    let data = Ctl::tcp(c.pasv());
    // the handshake alone, no command sent yet: bounded by IO_LIMIT
    let mut tls = tls_connect(data);
    assert_eq!(code(&c.cmd("RETR f.bin")), 125);
    let mut got = Vec::new();
    tls.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"early handshake");
    assert_eq!(code(&c.reply()), 226);
}

// ---------------------------------------------------------------- hardening

/// What the client gets from a handshake on a control connection where the
/// server may refuse it: the TLS stream, or `None` when the handshake failed
/// (the server closed the connection).
fn try_tls(tcp: &TcpStream) -> Option<SslStream<TcpStream>> {
    connector()
        .connect("127.0.0.1", tcp.try_clone().unwrap())
        .ok()
}

/// One reply read from a TLS stream (a line is enough for these tests).
fn tls_reply(s: &mut impl Read) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\n") && got.len() < 1000 {
        match s.read(&mut b) {
            Ok(1) => got.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).trim_end().to_string()
}

/// `AUTH TLS` and `USER` in one segment (the STARTTLS injection of
/// CVE-2011-0411): the USER must never be run inside the secured session.
/// What follows AUTH is handshake input, so the handshake fails.
fn commands_pipelined_behind_auth_are_never_run_inside_tls() {
    let srv = start_tls(|_| {});
    let mut c = Ctl::connect(srv.addr);
    c.send(format!("AUTH TLS\r\nUSER {USER}\r\n").as_bytes());
    assert_eq!(c.reply(), "234 AUTH TLS successful.");
    if let Some(mut s) = try_tls(&c.tcp) {
        s.write_all(format!("PASS {PASS}\r\n").as_bytes()).unwrap();
        let r = tls_reply(&mut s);
        assert_eq!(r, "503 Login with USER first.", "the pipelined USER ran");
    } else {
        let rest = expect_closed(&mut c.tcp);
        assert!(!String::from_utf8_lossy(&rest).contains("331"), "{rest:?}");
    }
}

/// Lines that reached the server before AUTH TLS was run (here held up by
/// the failed-login delay) are dropped at the change, never run inside TLS.
fn commands_framed_before_auth_are_never_run_inside_tls() {
    let mut tls = common::test_tls_config();
    tls.handshake_timeout = Duration::from_secs(5);
    let srv = common::start(move |c| {
        c.tls = Some(tls);
        c.auth_failed_delay = Duration::from_millis(300);
    });
    let mut c = Ctl::connect(srv.addr);
    c.send(
        format!("USER {USER}\r\nPASS wrong\r\nAUTH TLS\r\nUSER {USER}\r\nPASS {PASS}\r\n")
            .as_bytes(),
    );
    assert_eq!(code(&c.reply()), 331);
    assert_eq!(c.reply(), "530 Authentication failed.");
    assert_eq!(c.reply(), "234 AUTH TLS successful.");
    if let Some(mut s) = try_tls(&c.tcp) {
        s.write_all(b"PWD\r\n").unwrap();
        assert_eq!(
            tls_reply(&mut s),
            "530 Log in with USER and PASS first.",
            "lines sent before AUTH ran inside TLS"
        );
    } else {
        let rest = expect_closed(&mut c.tcp);
        let text = String::from_utf8_lossy(&rest);
        assert!(!text.contains("331") && !text.contains("230"), "{text:?}");
    }
}

/// REIN ends TLS: what the client pipelined behind it under TLS is dropped,
/// never run once the connection is in the clear.
fn commands_sent_under_tls_after_rein_are_never_run_in_the_clear() {
    let srv = start_tls(|_| {});
    let mut c = Ctl::secure_login(srv.addr);
    c.send(format!("REIN\r\nUSER {USER}\r\n").as_bytes());
    assert_eq!(c.reply(), "220 Ready for new user.");
    c.end_tls();
    assert_eq!(
        c.cmd(&format!("PASS {PASS}")),
        "503 Login with USER first.",
        "a USER sent under TLS ran in the clear"
    );
    c.login();
}

/// `--tls-data-required`: a data channel set up under PROT P, then PROT C,
/// then a transfer command: nothing is sent or received in the clear, on
/// any path to a transfer. Without the requirement, the PROT change closes
/// the channel (425).
fn a_prot_change_never_lets_a_transfer_run_in_the_clear() {
    let srv = start_tls(|t| t.data_required = true);
    let secret = random_bytes(100_000, 12);
    std::fs::write(srv.path("f.bin"), &secret).unwrap();
    let mut c = Ctl::secure_login(srv.addr);
    let cmds = [
        "RETR f.bin",
        "LIST",
        "NLST",
        "MLSD",
        "STOR up",
        "APPE up",
        "STOU",
    ];
    for mode in DATA_MODES {
        for cmd in cmds {
            c.prot("P");
            enum Chan {
                Connected(TcpStream),
                Listening(TcpListener),
            }
            let chan = match mode {
                DataMode::Pasv => Chan::Connected(Ctl::tcp(c.pasv())),
                DataMode::Epsv => {
                    let port = c.epsv();
                    Chan::Connected(Ctl::tcp(SocketAddr::from(([127, 0, 0, 1], port))))
                }
                DataMode::Port | DataMode::Eprt => {
                    let l = TcpListener::bind("127.0.0.1:0").unwrap();
                    let r = c.cmd(&active_arg(mode, l.local_addr().unwrap().port()));
                    assert_eq!(code(&r), 200, "{r}");
                    Chan::Listening(l)
                }
            };
            c.prot("C");
            let r = c.cmd(cmd);
            assert_eq!(
                r, "521 Data connection cannot be opened with this PROT setting.",
                "{cmd} over {mode:?}"
            );
            match chan {
                Chan::Connected(mut d) => {
                    let got = expect_closed(&mut d);
                    assert!(got.is_empty(), "{cmd} over {mode:?}: {} bytes", got.len());
                }
                Chan::Listening(l) => {
                    l.set_nonblocking(true).unwrap();
                    if let Ok((mut d, _)) = l.accept() {
                        let got = expect_closed(&mut d);
                        assert!(got.is_empty(), "{cmd} over {mode:?}: {} bytes", got.len());
                    }
                }
            }
        }
    }
    assert!(!srv.path("up").exists(), "a refused upload created a file");
    let names = std::fs::read_dir(srv.dir.path()).unwrap().count();
    assert_eq!(names, 1, "a refused STOU created a file");
    // the session goes on, protected
    c.prot("P");
    assert!(c.retr("f.bin") == secret);

    // without the requirement a PROT change closes the channel set up before it
    let srv = start_tls(|_| {});
    std::fs::write(srv.path("f.bin"), &secret).unwrap();
    let mut c = Ctl::secure_login(srv.addr);
    let mut d = Ctl::tcp(c.pasv());
    c.prot("C");
    assert_eq!(c.cmd("RETR f.bin"), "425 Use PORT or PASV first.");
    assert!(expect_closed(&mut d).is_empty());
    assert!(c.retr("f.bin") == secret, "in the clear, on a new channel");
}

/// `AUTH TLS-P` and `AUTH SSL` (the drafts before RFC 4217) protect the data
/// channel without PBSZ/PROT; `AUTH TLS` does not.
fn auth_tls_p_and_ssl_protect_the_data_channel() {
    let srv = start_tls(|_| {});
    std::fs::write(srv.path("f.txt"), b"protected?").unwrap();
    for (kind, protected) in [("TLS-P", true), ("SSL", true), ("TLS", false)] {
        let mut c = Ctl::connect(srv.addr);
        assert_eq!(
            c.cmd(&format!("AUTH {kind}")),
            format!("234 AUTH {kind} successful.")
        );
        c.start_tls();
        c.login();
        c.prot_p = protected;
        // `transfer` runs TLS on the data connection iff prot_p
        assert_eq!(c.retr("f.txt"), b"protected?", "AUTH {kind}");
        let listing = String::from_utf8(c.transfer(DataMode::Epsv, "LIST", None)).unwrap();
        assert!(listing.contains("f.txt"), "AUTH {kind}: {listing}");
    }
}

/// A handshake that never finishes closes the control connection and frees
/// its slot (a thread or a process in those models) after
/// `handshake_timeout`, even with no idle timeout; implicit mode too.
fn control_handshakes_have_a_deadline() {
    let hello = client_hello();
    for implicit in [false, true] {
        let mut tls = common::test_tls_config();
        tls.handshake_timeout = Duration::from_secs(1);
        tls.implicit = implicit;
        let srv = common::start(move |c| {
            c.tls = Some(tls);
            c.timeout = None;
            c.max_cons = 1;
        });
        let started = Instant::now();
        let mut stalled = Ctl::tcp(srv.addr);
        if !implicit {
            let mut line = String::new();
            let mut r = std::io::BufReader::new(stalled.try_clone().unwrap());
            std::io::BufRead::read_line(&mut r, &mut line).unwrap();
            assert!(line.starts_with("220"), "{line}");
            stalled.write_all(b"AUTH TLS\r\n").unwrap();
            line.clear();
            std::io::BufRead::read_line(&mut r, &mut line).unwrap();
            assert!(line.starts_with("234"), "{line}");
        }
        stalled.write_all(&hello[..hello.len() / 2]).unwrap();
        let got = expect_closed(&mut stalled);
        assert!(
            got.is_empty() || got[0] == 0x15,
            "implicit={implicit}: {got:?}"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(10),
            "implicit={implicit}: closed after {took:?}"
        );
        // the only slot is free again (in the forking models once the
        // parent has reaped the session's process: bounded retries)
        let mut c = None;
        for _ in 0..100 {
            let t = Ctl::tcp(srv.addr);
            // a refused client gets a plaintext 421, which fails a TLS handshake
            let cand = if implicit {
                try_tls(&t).map(|s| Ctl::with_io(t, Io::Tls(Box::new(s))))
            } else {
                Some(Ctl::with_io(t.try_clone().unwrap(), Io::Plain(t)))
            };
            match cand {
                Some(cand) if cand.greeting.starts_with("220 ") => {
                    c = Some(cand);
                    break;
                }
                Some(cand) => assert!(cand.greeting.starts_with("421 "), "{}", cand.greeting),
                None => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut c = c.expect("the slot of the stalled handshake was never freed");
        assert_eq!(code(&c.cmd("NOOP")), 200);
    }
}

/// A data connection whose TLS handshake never finishes (no transfer
/// command yet, and during one) is closed after `handshake_timeout`.
fn data_handshakes_have_a_deadline() {
    let hello = client_hello();
    let mut tls = common::test_tls_config();
    tls.handshake_timeout = Duration::from_secs(1);
    let srv = common::start(move |c| {
        c.tls = Some(tls);
        c.timeout = None;
        c.data_timeout = None;
    });
    std::fs::write(srv.path("f.bin"), b"data").unwrap();
    // before any transfer command: 421 and the session ends (pyftpdlib's
    // data channel timeout)
    let mut c = Ctl::secure_login(srv.addr);
    let mut d = Ctl::tcp(c.pasv());
    d.write_all(&hello[..hello.len() / 2]).unwrap();
    let started = Instant::now();
    assert_eq!(c.reply(), "421 Data connection timed out.");
    assert!(started.elapsed() < Duration::from_secs(10));
    expect_closed(&mut d);
    // during a transfer: 522, and the session goes on
    let mut c = Ctl::secure_login(srv.addr);
    let mut d = Ctl::tcp(c.pasv());
    d.write_all(&hello[..hello.len() / 2]).unwrap();
    assert!(matches!(code(&c.cmd("RETR f.bin")), 125 | 150));
    assert_eq!(c.reply(), "522 SSL handshake failed.");
    expect_closed(&mut d);
    assert_eq!(c.retr("f.bin"), b"data");
}

/// The control stream as a TLS client sees it when it pipelines: its first
/// write goes out behind `prefix` (plaintext commands ending with AUTH TLS),
/// and the plaintext replies up to the 234 are read off before the server's
/// first TLS record.
#[derive(Debug)]
struct PipelinedAuth {
    tcp: TcpStream,
    prefix: Option<Vec<u8>>,
    /// The plaintext replies read before TLS.
    replies: Vec<String>,
}

impl Read for PipelinedAuth {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while !self.replies.last().is_some_and(|r| r.starts_with("234")) {
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while !line.ends_with(b"\n") && line.len() < 200 {
                self.tcp.read_exact(&mut b)?;
                line.push(b[0]);
            }
            self.replies
                .push(String::from_utf8_lossy(&line).trim_end().to_string());
            assert!(self.replies.len() < 10, "{:?}", self.replies);
        }
        self.tcp.read(buf)
    }
}

impl Write for PipelinedAuth {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Some(mut v) = self.prefix.take() {
            v.extend_from_slice(b);
            self.tcp.write_all(&v)?;
            return Ok(b.len());
        }
        self.tcp.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `USER`, `PASS`, `AUTH TLS` and the ClientHello in one write: AUTH waits
/// behind the login check (run on another thread in the poll models), and
/// the ClientHello behind it must stay unframed until AUTH runs, then feed
/// the handshake (it used to be cut into "lines" and dropped with them).
fn a_client_hello_behind_a_queued_auth_reaches_the_handshake() {
    let srv = start_tls(|_| {});
    let tcp = Ctl::tcp(srv.addr);
    let mut greeting = Vec::new();
    let mut b = [0u8; 1];
    while !greeting.ends_with(b"\n") && greeting.len() < 200 {
        (&tcp).read_exact(&mut b).unwrap();
        greeting.push(b[0]);
    }
    let io = PipelinedAuth {
        tcp,
        prefix: Some(format!("USER {USER}\r\nPASS {PASS}\r\nAUTH TLS\r\n").into_bytes()),
        replies: Vec::new(),
    };
    let mut s = connector()
        .connect("127.0.0.1", io)
        .unwrap_or_else(|e| panic!("handshake after a queued AUTH: {e}"));
    let codes: Vec<&str> = s.get_ref().replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(codes, ["331", "230", "234"]);
    // AUTH logged the user out (RFC 2228): log in again, protected
    s.write_all(format!("USER {USER}\r\n").as_bytes()).unwrap();
    assert!(tls_reply(&mut s).starts_with("331"));
    s.write_all(format!("PASS {PASS}\r\n").as_bytes()).unwrap();
    assert!(tls_reply(&mut s).starts_with("230"));
}
