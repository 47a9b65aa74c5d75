use super::*;

fn to_net_chunks(chunks: &[&[u8]]) -> Vec<u8> {
    let mut c = ToNetwork::default();
    let mut out = Vec::new();
    for ch in chunks {
        c.convert(ch, &mut out);
    }
    out
}

fn from_net_chunks(chunks: &[&[u8]]) -> Vec<u8> {
    let mut c = FromNetwork::default();
    let mut out = Vec::new();
    for ch in chunks {
        c.convert(ch, &mut out);
    }
    c.finish(&mut out);
    out
}

#[test]
fn lf_becomes_crlf() {
    assert_eq!(to_net_chunks(&[b"a\nb\n"]), b"a\r\nb\r\n");
    assert_eq!(to_net_chunks(&[b"a\r\nb"]), b"a\r\nb");
    assert_eq!(to_net_chunks(&[b"a\r", b"\nb\n"]), b"a\r\nb\r\n");
    assert_eq!(to_net_chunks(&[b"\n\n"]), b"\r\n\r\n");
}

#[test]
fn crlf_becomes_lf() {
    assert_eq!(from_net_chunks(&[b"a\r\nb\r\n"]), b"a\nb\n");
    assert_eq!(from_net_chunks(&[b"a\r", b"\nb"]), b"a\nb");
    assert_eq!(from_net_chunks(&[b"a\rb"]), b"a\rb");
    assert_eq!(from_net_chunks(&[b"a\r"]), b"a\r");
    assert_eq!(from_net_chunks(&[b"a\r", b"\r\n"]), b"a\r\n");
}

#[test]
fn round_trip_every_split() {
    let text = b"line one\nline two\r\n\nlast\rx\n";
    for split in 0..text.len() {
        let net = to_net_chunks(&[&text[..split], &text[split..]]);
        let back = from_net_chunks(&[&net[..split.min(net.len())], &net[split.min(net.len())..]]);
        assert_eq!(back, b"line one\nline two\n\nlast\rx\n", "split at {split}");
    }
}
