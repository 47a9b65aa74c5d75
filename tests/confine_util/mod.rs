//! Helpers shared by `confinement.rs` and `files.rs`: data transfers over a
//! raw control connection (so that non-UTF-8 names can be sent as bytes).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::Raw;

/// The outcome of a command that may use the data connection.
#[derive(Debug)]
pub struct Xfer {
    /// The first reply (`150 ...` when a transfer started, else the error).
    pub first: String,
    /// Bytes read from the data connection.
    pub data: Vec<u8>,
    /// The final reply (empty when no transfer started).
    pub last: String,
}

impl Xfer {
    /// The final reply if a transfer ran, else the first one.
    pub fn reply(&self) -> &str {
        if self.last.is_empty() {
            &self.first
        } else {
            &self.last
        }
    }
    /// The reply code of [`Xfer::reply`].
    pub fn code(&self) -> &str {
        self.reply().get(..3).unwrap_or("")
    }
    /// The data as lossy text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Open a passive data connection.
pub fn data_conn(raw: &mut Raw) -> TcpStream {
    let addr = raw.pasv();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Run `line` (raw bytes, no CRLF) with a passive data connection; upload `upload`
/// if given, else read the data connection to its end.
pub fn xfer(raw: &mut Raw, line: &[u8], upload: Option<&[u8]>) -> Xfer {
    let mut data = data_conn(raw);
    raw.send(&[line, b"\r\n"].concat());
    let first = raw.reply();
    if !first.starts_with('1') {
        return Xfer {
            first,
            data: Vec::new(),
            last: String::new(),
        };
    }
    let mut got = Vec::new();
    match upload {
        Some(bytes) => {
            // The server may close the data connection early (disk full): the
            // final reply tells what happened.
            let _ = data.write_all(bytes);
            drop(data);
        }
        None => {
            data.read_to_end(&mut got).unwrap();
        }
    }
    let last = raw.reply();
    Xfer {
        first,
        data: got,
        last,
    }
}

/// A listing or download command (`LIST x`, `RETR y`).
pub fn get(raw: &mut Raw, line: &str) -> Xfer {
    xfer(raw, line.as_bytes(), None)
}

/// An upload command (`STOR x`) sending `bytes`.
pub fn put(raw: &mut Raw, line: &str, bytes: &[u8]) -> Xfer {
    xfer(raw, line.as_bytes(), Some(bytes))
}

/// A raw control connection logged in as the full-permission user, binary mode.
pub fn login(srv: &crate::common::TestServer) -> Raw {
    let mut raw = srv.raw();
    raw.login(crate::common::USER, crate::common::PASS);
    assert!(raw.cmd("TYPE I").starts_with("200"));
    raw
}

/// Send raw bytes as one command line and read the reply.
pub fn cmd_bytes(raw: &mut Raw, line: &[u8]) -> String {
    raw.send(&[line, b"\r\n"].concat());
    raw.reply()
}

/// Poll `cond` every 5 ms for at most `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out waiting for {what}");
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The lines of a listing, CRLF removed.
pub fn lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Close `s` with a TCP reset (SO_LINGER 0): the peer sees an error, not an end of file.
pub fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// Names in `dir` that look like ftpdlib's temporary upload files.
pub fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".ftpdlib-"))
        .collect()
}

/// Close the control connection `raw` and wait (bounded) until the server has
/// ended that session (its "FTP session closed" log line).
pub fn close_and_wait(raw: Raw) {
    let port = raw.stream.local_addr().unwrap().port();
    let needle = format!("127.0.0.1:{port}-");
    let closed = || {
        crate::common::log_lines(&needle)
            .iter()
            .filter(|l| l.contains("FTP session closed"))
            .count()
    };
    let before = closed();
    drop(raw);
    wait_until("the session to end", 20, || closed() > before);
}
