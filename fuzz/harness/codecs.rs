//! `codecs`: PORT/EPRT parsing, PASV/EPSV texts, MFMT times, REST arguments
//! and virtual path arithmetic.
//!
//! Invariants:
//! - an accepted PORT argument is six decimal fields 0..=255 and re-encoding
//!   the address parses back to it; `pasv_text` parses back to its address;
//! - an accepted EPRT argument has a port 1..=65535 and an address of its
//!   protocol, and re-encoding it parses back to it; `epsv_text` carries the port;
//! - `parse_timeval` accepts only what `format_mdtm` gives back unchanged
//!   (years 0001..=9999, real dates), and every MDTM time of a year after
//!   0000 parses back to the same second;
//! - REST (through a logged-in session, where the parsing lives) answers 350
//!   with the number exactly when the argument is all digits and fits a u64, else 501;
//! - `path::resolve` always gives an absolute, normalised path (no `.`, `..`
//!   or empty component, no trailing slash), is idempotent, ignores the cwd
//!   for absolute arguments; `parent`/`file_name`/`join`/`is_within` agree with it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use ftpdlib::proto::listing;
use ftpdlib::proto::{addr, path};

use super::cursor::Cursor;

/// Whether `p` is an absolute, normalised virtual path.
pub fn is_normalised(p: &[u8]) -> bool {
    if p == b"/" {
        return true;
    }
    let Some(rest) = p.strip_prefix(b"/") else {
        return false;
    };
    rest.split(|&b| b == b'/')
        .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

fn check_port(arg: &[u8]) {
    let Ok(a) = addr::parse_port(arg) else {
        return;
    };
    assert_eq!(arg.iter().filter(|&&b| b == b',').count(), 5, "{arg:?}");
    assert!(
        arg.iter()
            .all(|&b| b.is_ascii_digit() || b == b',' || b.is_ascii_whitespace()),
        "PORT accepted {arg:?}"
    );
    let [h1, h2, h3, h4] = a.ip().octets();
    let [p1, p2] = a.port().to_be_bytes();
    let again = format!("{h1},{h2},{h3},{h4},{p1},{p2}");
    assert_eq!(addr::parse_port(again.as_bytes()), Ok(a));
}

fn check_eprt(arg: &[u8]) {
    let Ok(a) = addr::parse_eprt(arg) else {
        return;
    };
    assert_ne!(a.port(), 0, "EPRT accepted port 0: {arg:?}");
    let proto = if a.is_ipv4() { 1 } else { 2 };
    let again = format!("|{proto}|{}|{}|", a.ip(), a.port());
    assert_eq!(addr::parse_eprt(again.as_bytes()), Ok(a), "{arg:?}");
}

fn check_pasv(ip: Ipv4Addr, port: u16) {
    let t = addr::pasv_text(ip, port);
    let inner = t
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("PASV text without parentheses: {t}"));
    assert_eq!(
        addr::parse_port(inner.as_bytes()),
        Ok(SocketAddrV4::new(ip, port))
    );
    let t = addr::epsv_text(port);
    assert!(t.contains(&format!("(|||{port}|)")), "{t}");
    if port != 0 {
        let eprt = format!("|1|{ip}|{port}|");
        assert_eq!(
            addr::parse_eprt(eprt.as_bytes()),
            Ok(SocketAddr::new(IpAddr::V4(ip), port))
        );
    }
}

fn check_timeval(s: &[u8]) {
    let Ok(s) = std::str::from_utf8(s) else {
        return;
    };
    if let Some(secs) = listing::parse_timeval(s) {
        let t = listing::format_mdtm(secs);
        assert_eq!(Some(t.as_str()), s.get(..14), "MFMT {s:?} is {secs}");
    }
}

fn check_secs(secs: i64) {
    match listing::try_format_mdtm(secs) {
        Some(t) if t.starts_with("0000") => assert_eq!(listing::parse_timeval(&t), None),
        Some(t) => assert_eq!(listing::parse_timeval(&t), Some(secs), "{t}"),
        None => {}
    }
}

fn check_paths(cwd: &[u8], arg: &[u8]) {
    let r = path::resolve(cwd, arg);
    assert!(is_normalised(&r), "resolve({cwd:?}, {arg:?}) = {r:?}");
    assert_eq!(path::resolve(b"/", &r), r, "not idempotent");
    assert_eq!(path::resolve(&r, b""), r);
    assert_eq!(path::resolve(&r, b"."), r);
    if arg.starts_with(b"/") {
        assert_eq!(path::resolve(b"/elsewhere", arg), r);
    }
    assert!(path::is_within(b"/", &r));
    let parent = path::parent(&r);
    assert!(is_normalised(&parent));
    assert!(path::is_within(&parent, &r));
    assert_eq!(path::resolve(&r, b".."), parent);
    if r != b"/" {
        let name = path::file_name(&r);
        assert!(!name.is_empty() && !name.contains(&b'/'));
        assert_eq!(path::join(&parent, name), r);
        assert!(!path::is_within(&r, &parent));
    } else {
        assert!(path::file_name(&r).is_empty());
    }
    let joined = path::join(&r, arg);
    assert!(is_normalised(&joined), "join({r:?}, {arg:?}) = {joined:?}");
    let is_plain = !arg.is_empty() && !arg.contains(&b'/') && arg != b"." && arg != b"..";
    if is_plain {
        assert!(path::is_within(&r, &joined));
        assert_eq!(path::parent(&joined), r);
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let ip = Ipv4Addr::from(c.u32());
    let port = c.u16();
    check_pasv(ip, port);
    let v6 = Ipv6Addr::from(u128::from(c.u64()) << 64 | u128::from(c.u64()));
    if port != 0 {
        let eprt = format!("|2|{v6}|{port}|");
        assert_eq!(
            addr::parse_eprt(eprt.as_bytes()),
            Ok(SocketAddr::new(IpAddr::V6(v6), port))
        );
    }
    check_secs(c.i64());
    let which = c.u8();
    let a = c.bytes(64);
    let b = c.rest();
    match which % 5 {
        0 => check_port(a),
        1 => check_eprt(a),
        2 => check_timeval(a),
        3 => super::session::check_rest(a),
        _ => {}
    }
    check_port(b);
    check_eprt(b);
    check_timeval(b);
    check_paths(a, b);
    check_paths(b, a);
}
