//! FTP replies and their wire format.

/// One FTP reply: a three-digit code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 100..=599.
    pub code: u16,
    /// The text lines. One line gives `"CODE text\r\n"`; several give the
    /// RFC 959 multi-line form: `"CODE-first\r\n"`, the middle lines as they
    /// are (a middle line that starts with a digit gets a leading space),
    /// and `"CODE last\r\n"`.
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: u16, text: impl Into<Vec<u8>>) -> Self {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply from its first line, its middle lines and its last line.
    pub fn multi(
        code: u16,
        first: impl Into<Vec<u8>>,
        middle: Vec<Vec<u8>>,
        last: impl Into<Vec<u8>>,
    ) -> Self {
        let mut lines = Vec::with_capacity(middle.len() + 2);
        lines.push(first.into());
        lines.extend(middle);
        lines.push(last.into());
        Reply { code, lines }
    }

    /// The bytes sent on the wire. A CR inside a line is sent as CR NUL and a
    /// LF as NUL (RFC 2640 §3.1), so a reply can never be split by a file name.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 8).sum::<usize>() + 8);
        for (prefix, line) in self.wire_lines() {
            out.extend_from_slice(prefix.as_bytes());
            for &b in line {
                match b {
                    b'\r' => out.extend_from_slice(b"\r\0"),
                    b'\n' => out.push(0),
                    _ => out.push(b),
                }
            }
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// A printable one-line rendering for the DEBUG log (`"226 Transfer complete."`,
    /// multi-line replies joined with `\n`), invalid UTF-8 replaced.
    ///
    /// Each part is the line as it goes on the wire (code and separator
    /// included); CR, LF and NUL inside a line are shown as `\r`, `\n`, `\0`.
    pub fn log_text(&self) -> String {
        let mut parts = Vec::with_capacity(self.lines.len().max(1));
        for (prefix, line) in self.wire_lines() {
            let mut s = prefix;
            for chunk in String::from_utf8_lossy(line).split_inclusive(['\r', '\n', '\0']) {
                let (body, esc) = match chunk.chars().last() {
                    Some('\r') => (&chunk[..chunk.len() - 1], "\\r"),
                    Some('\n') => (&chunk[..chunk.len() - 1], "\\n"),
                    Some('\0') => (&chunk[..chunk.len() - 1], "\\0"),
                    _ => (chunk, ""),
                };
                s.push_str(body);
                s.push_str(esc);
            }
            parts.push(s);
        }
        parts.join("\n")
    }

    /// Each wire line as (prefix, text): `"CODE "` / `"CODE-"` / `" "` / `""`.
    fn wire_lines(&self) -> Vec<(String, &[u8])> {
        let code = self.code.min(999);
        let n = self.lines.len();
        if n <= 1 {
            let text = self.lines.first().map_or(&[][..], |l| &l[..]);
            return vec![(format!("{code:03} "), text)];
        }
        self.lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let prefix = if i == 0 {
                    format!("{code:03}-")
                } else if i == n - 1 {
                    format!("{code:03} ")
                } else if line.first().is_some_and(|b| b.is_ascii_digit()) {
                    " ".to_string()
                } else {
                    String::new()
                };
                (prefix, &line[..])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
