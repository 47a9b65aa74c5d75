//! PORT / PASV / EPRT / EPSV encoding and decoding, and masquerade lookup.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// Why a PORT/EPRT argument was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrError {
    /// Not of the form the command requires (reply 501).
    Syntax,
    /// EPRT with a network protocol other than 1 or 2 (reply 522).
    UnknownProtocol,
}

/// Parse a PORT argument `h1,h2,h3,h4,p1,p2` (spaces around numbers tolerated).
pub fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, AddrError> {
    let _ = arg;
    todo!("proto helper")
}

/// Parse an EPRT argument `<d><proto><d><addr><d><port><d>` (RFC 2428), e.g. `|1|127.0.0.1|5282|`
/// or `|2|::1|5282|`; any printable delimiter other than digits is accepted.
pub fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, AddrError> {
    let _ = arg;
    todo!("proto helper")
}

/// Text of the 227 reply: `Entering passive mode (h1,h2,h3,h4,p1,p2).`
pub fn pasv_text(ip: Ipv4Addr, port: u16) -> String {
    let _ = (ip, port);
    todo!("proto helper")
}

/// Text of the 229 reply: `Entering extended passive mode (|||port|).`
pub fn epsv_text(port: u16) -> String {
    let _ = port;
    todo!("proto helper")
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
    let _ = (default, map, local, remote);
    todo!("proto helper")
}
