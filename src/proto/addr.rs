//! PORT / PASV / EPRT / EPSV encoding and decoding, and masquerade lookup.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Why a PORT/EPRT argument was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrError {
    /// Not of the form the command requires (reply 501).
    Syntax,
    /// EPRT with a network protocol other than 1 or 2 (reply 522).
    UnknownProtocol,
}

/// Parse a run of ASCII digits (no sign, no spaces) into a number no larger than `max`.
fn parse_num(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        // More than 10 digits cannot be a valid value here, even with
        // leading zeros we refuse such silliness.
        return None;
    }
    let mut n: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    (n <= max).then_some(n)
}

/// Parse a PORT argument `h1,h2,h3,h4,p1,p2` (spaces around numbers tolerated).
///
/// Every field must be a decimal number 0..=255. Port 0 is accepted here
/// (the session refuses privileged ports anyway).
pub fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, AddrError> {
    let mut fields = [0u8; 6];
    let mut count = 0;
    for field in arg.split(|&b| b == b',') {
        if count == fields.len() {
            return Err(AddrError::Syntax);
        }
        let n = parse_num(field.trim_ascii(), 255).ok_or(AddrError::Syntax)?;
        fields[count] = u8::try_from(n).map_err(|_| AddrError::Syntax)?;
        count += 1;
    }
    if count != fields.len() {
        return Err(AddrError::Syntax);
    }
    let [a, b, c, d, p1, p2] = fields;
    let port = u16::from_be_bytes([p1, p2]);
    Ok(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}

/// Parse an EPRT argument `<d><proto><d><addr><d><port><d>` (RFC 2428), e.g. `|1|127.0.0.1|5282|`
/// or `|2|::1|5282|`; any printable delimiter other than digits is accepted.
///
/// Trailing spaces after the last delimiter are tolerated. The structure and
/// the port (1..=65535) are checked first ([`AddrError::Syntax`]), then the
/// protocol ([`AddrError::UnknownProtocol`] unless `1` or `2`), then the
/// address, which must match the protocol ([`AddrError::Syntax`]).
pub fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, AddrError> {
    let arg = arg.trim_ascii_end();
    let (&delim, rest) = arg.split_first().ok_or(AddrError::Syntax)?;
    if !(0x21..=0x7e).contains(&delim) || delim.is_ascii_digit() {
        return Err(AddrError::Syntax);
    }
    let mut parts = rest.split(|&b| b == delim);
    let (Some(proto), Some(addr), Some(port), Some(b""), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AddrError::Syntax);
    };
    let port = parse_num(port, 65535)
        .filter(|&p| p != 0)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or(AddrError::Syntax)?;
    let ip: IpAddr = match proto {
        b"1" => std::str::from_utf8(addr)
            .ok()
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
            .ok_or(AddrError::Syntax)?
            .into(),
        b"2" => std::str::from_utf8(addr)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .ok_or(AddrError::Syntax)?
            .into(),
        _ => return Err(AddrError::UnknownProtocol),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Text of the 227 reply: `Entering passive mode (h1,h2,h3,h4,p1,p2).`
pub fn pasv_text(ip: Ipv4Addr, port: u16) -> String {
    let [a, b, c, d] = ip.octets();
    let [p1, p2] = port.to_be_bytes();
    format!("Entering passive mode ({a},{b},{c},{d},{p1},{p2}).")
}

/// Text of the 229 reply: `Entering extended passive mode (|||port|).`
pub fn epsv_text(port: u16) -> String {
    format!("Entering extended passive mode (|||{port}|).")
}

/// The address to announce in PASV replies: the map entry for the server's
/// local address the client reached, else the map entry for the client's
/// address, else the default masquerade address, else `None` (use the
/// local address).
pub fn masquerade(
    default: Option<IpAddr>,
    map: &HashMap<IpAddr, IpAddr>,
    local: IpAddr,
    remote: IpAddr,
) -> Option<IpAddr> {
    map.get(&local)
        .or_else(|| map.get(&remote))
        .copied()
        .or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV6;

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)
    }

    #[test]
    fn port_ok() {
        assert_eq!(parse_port(b"127,0,0,1,20,158"), Ok(v4(127, 0, 0, 1, 5278)));
        assert_eq!(parse_port(b"0,0,0,0,0,0"), Ok(v4(0, 0, 0, 0, 0)));
        assert_eq!(
            parse_port(b"255,255,255,255,255,255"),
            Ok(v4(255, 255, 255, 255, 65535))
        );
        assert_eq!(parse_port(b" 10, 0 ,0,1 ,4, 1 "), Ok(v4(10, 0, 0, 1, 1025)));
        assert_eq!(parse_port(b"010,000,0,1,0,21"), Ok(v4(10, 0, 0, 1, 21)));
        assert_eq!(parse_port(b"1,2,3,4,5,6\t"), Ok(v4(1, 2, 3, 4, 1286)));
    }

    #[test]
    fn port_bad() {
        let bad: &[&[u8]] = &[
            b"",
            b" ",
            b"1,2,3,4,5",
            b"1,2,3,4,5,6,7",
            b"1,2,3,4,5,6,",
            b",1,2,3,4,5",
            b"1,2,,4,5,6",
            b"1,2,3,4,5, ",
            b"256,0,0,1,1,1",
            b"1,0,0,1,256,0",
            b"1,0,0,1,0,256",
            b"1,0,0,1,0,99999999999999999999",
            b"-1,0,0,1,0,1",
            b"+1,0,0,1,0,1",
            b"1,0,0,1,0,0x1",
            b"a,b,c,d,e,f",
            b"1 2,0,0,1,0,1",
            b"1.2.3.4,5,6",
            b"1,2,3,4,5,6\xff",
            b"\xff\xfe",
            b"1;2;3;4;5;6",
            b"127,0,0,1,20,158|",
        ];
        for arg in bad {
            assert_eq!(parse_port(arg), Err(AddrError::Syntax), "{:?}", arg);
        }
    }

    #[test]
    fn eprt_ipv4() {
        assert_eq!(
            parse_eprt(b"|1|127.0.0.1|5282|"),
            Ok(SocketAddr::V4(v4(127, 0, 0, 1, 5282)))
        );
        assert_eq!(
            parse_eprt(b"!1!10.0.0.2!65535!"),
            Ok(SocketAddr::V4(v4(10, 0, 0, 2, 65535)))
        );
        assert_eq!(
            parse_eprt(b"|1|127.0.0.1|5282|  "),
            Ok(SocketAddr::V4(v4(127, 0, 0, 1, 5282)))
        );
    }

    #[test]
    fn eprt_ipv6() {
        assert_eq!(
            parse_eprt(b"|2|::1|5282|"),
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::LOCALHOST,
                5282,
                0,
                0
            )))
        );
        let got = parse_eprt(b"|2|fe80::1:2:3|21000|").unwrap();
        assert_eq!(got.ip(), "fe80::1:2:3".parse::<IpAddr>().unwrap());
        assert_eq!(got.port(), 21000);
        let got = parse_eprt(b"|2|::ffff:1.2.3.4|1025|").unwrap();
        assert!(got.is_ipv6());
    }

    #[test]
    fn eprt_unknown_protocol() {
        assert_eq!(
            parse_eprt(b"|3|127.0.0.1|5282|"),
            Err(AddrError::UnknownProtocol)
        );
        assert_eq!(parse_eprt(b"|0|::1|5282|"), Err(AddrError::UnknownProtocol));
        assert_eq!(parse_eprt(b"||::1|5282|"), Err(AddrError::UnknownProtocol));
        assert_eq!(
            parse_eprt(b"|11|1.2.3.4|5282|"),
            Err(AddrError::UnknownProtocol)
        );
    }

    #[test]
    fn eprt_syntax_errors() {
        let bad: &[&[u8]] = &[
            b"",
            b"|",
            b"||||",
            b"|1|127.0.0.1|5282",
            b"|1|127.0.0.1|5282|x",
            b"|1|127.0.0.1|5282||",
            b"1|127.0.0.1|5282|",
            b"|1|127.0.0.1|0|",
            b"|1|127.0.0.1|65536|",
            b"|1|127.0.0.1|-1|",
            b"|1|127.0.0.1||",
            b"|1|127.0.0.1|52 82|",
            b"|1|127.0.0.1|99999999999999999999999|",
            b"|1|::1|5282|",
            b"|2|127.0.0.1|5282|",
            b"|1|256.0.0.1|5282|",
            b"|1|1.2.3|5282|",
            b"|1||5282|",
            b"|2||5282|",
            b"|2|fe80::1%eth0|5282|",
            b"|1|1.2.3.\xff|5282|",
            b"1127.0.0.1152821",
            b" 1 127.0.0.1 5282 ",
            b"\xff1\xff127.0.0.1\xff5282\xff",
            b"\x011\x01127.0.0.1\x015282\x01",
            b"|1|127.0.0.1|5282|5|",
        ];
        for arg in bad {
            assert_eq!(
                parse_eprt(arg),
                Err(AddrError::Syntax),
                "{:?}",
                String::from_utf8_lossy(arg)
            );
        }
    }

    #[test]
    fn pasv_and_epsv_texts() {
        assert_eq!(
            pasv_text(Ipv4Addr::new(127, 0, 0, 1), 5278),
            "Entering passive mode (127,0,0,1,20,158)."
        );
        assert_eq!(
            pasv_text(Ipv4Addr::new(0, 0, 0, 0), 0),
            "Entering passive mode (0,0,0,0,0,0)."
        );
        assert_eq!(
            pasv_text(Ipv4Addr::new(255, 1, 2, 3), 65535),
            "Entering passive mode (255,1,2,3,255,255)."
        );
        assert_eq!(
            epsv_text(5282),
            "Entering extended passive mode (|||5282|)."
        );
        assert_eq!(epsv_text(1), "Entering extended passive mode (|||1|).");
    }

    #[test]
    fn pasv_round_trips_through_port() {
        for port in [0u16, 1, 255, 256, 1023, 5278, 65535] {
            let text = pasv_text(Ipv4Addr::new(192, 168, 1, 7), port);
            let inner = &text[text.find('(').unwrap() + 1..text.find(')').unwrap()];
            assert_eq!(parse_port(inner.as_bytes()), Ok(v4(192, 168, 1, 7, port)));
        }
    }

    #[test]
    fn masquerade_lookup() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut map = HashMap::new();
        map.insert(ip("10.0.0.1"), ip("1.1.1.1"));
        map.insert(ip("192.168.0.5"), ip("2.2.2.2"));
        let def = Some(ip("3.3.3.3"));
        // Local address entry wins over everything.
        assert_eq!(
            masquerade(def, &map, ip("10.0.0.1"), ip("192.168.0.5")),
            Some(ip("1.1.1.1"))
        );
        // Then the client's address entry.
        assert_eq!(
            masquerade(def, &map, ip("10.0.0.9"), ip("192.168.0.5")),
            Some(ip("2.2.2.2"))
        );
        // Then the default.
        assert_eq!(
            masquerade(def, &map, ip("10.0.0.9"), ip("8.8.8.8")),
            Some(ip("3.3.3.3"))
        );
        // Then nothing.
        assert_eq!(masquerade(None, &map, ip("10.0.0.9"), ip("8.8.8.8")), None);
        assert_eq!(
            masquerade(None, &HashMap::new(), ip("::1"), ip("::1")),
            None
        );
    }
}
