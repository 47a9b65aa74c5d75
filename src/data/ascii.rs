//! TYPE A line-ending conversion. Files are stored with LF line endings
//! (Unix); the network form is CRLF.

/// Converts file bytes to network form: a bare LF becomes CRLF, an existing
/// CRLF is kept as it is. Carries state across chunk boundaries.
#[derive(Debug, Default, Clone)]
pub struct ToNetwork {
    last_was_cr: bool,
}

impl ToNetwork {
    /// Append the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 16);
        for &b in input {
            if b == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_was_cr = b == b'\r';
        }
    }
}

/// Converts network bytes to file form: CRLF becomes LF; a CR not followed
/// by LF is kept. Carries a pending CR across chunk boundaries.
#[derive(Debug, Default, Clone)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    /// Append the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// The end of the stream: emit a CR still held back.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
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
            let back =
                from_net_chunks(&[&net[..split.min(net.len())], &net[split.min(net.len())..]]);
            assert_eq!(back, b"line one\nline two\n\nlast\rx\n", "split at {split}");
        }
    }
}
