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
