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
mod tests;
