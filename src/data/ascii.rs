//! TYPE A line-ending conversion. Files are stored with LF line endings
//! (Unix); the network form is CRLF.

/// Converts file bytes to network form: a bare LF becomes CRLF, an existing
/// CRLF is kept as it is. Carries state across chunk boundaries.
#[derive(Debug, Default, Clone)]
pub(crate) struct ToNetwork {
    last_was_cr: bool,
}

impl ToNetwork {
    /// Append the converted form of `input` to `out`.
    pub(crate) fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
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
pub(crate) struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    /// Append the converted form of `input` to `out`.
    pub(crate) fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
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
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests;
