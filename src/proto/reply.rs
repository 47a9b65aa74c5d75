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
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        let r = Reply::new(226, "Transfer complete.");
        assert_eq!(r.to_bytes(), b"226 Transfer complete.\r\n".to_vec());
        assert_eq!(r.log_text(), "226 Transfer complete.");
    }

    #[test]
    fn single_line_empty_text() {
        let r = Reply::new(200, "");
        assert_eq!(r.to_bytes(), b"200 \r\n".to_vec());
        let r = Reply {
            code: 200,
            lines: vec![],
        };
        assert_eq!(r.to_bytes(), b"200 \r\n".to_vec());
        assert_eq!(r.log_text(), "200 ");
    }

    #[test]
    fn multi_line() {
        let r = Reply::multi(
            211,
            "Features supported:",
            vec![b" EPRT".to_vec(), b" UTF8".to_vec()],
            "End FEAT.",
        );
        assert_eq!(
            r.to_bytes(),
            b"211-Features supported:\r\n EPRT\r\n UTF8\r\n211 End FEAT.\r\n".to_vec()
        );
        assert_eq!(
            r.log_text(),
            "211-Features supported:\n EPRT\n UTF8\n211 End FEAT."
        );
    }

    #[test]
    fn multi_line_two_lines_no_middle() {
        let r = Reply::multi(250, "first", vec![], "last");
        assert_eq!(r.to_bytes(), b"250-first\r\n250 last\r\n".to_vec());
    }

    #[test]
    fn middle_line_starting_with_digit_is_indented() {
        let r = Reply::multi(
            214,
            "a",
            vec![b"214 fake end".to_vec(), b"x".to_vec(), b"".to_vec()],
            "b",
        );
        assert_eq!(
            r.to_bytes(),
            b"214-a\r\n 214 fake end\r\nx\r\n\r\n214 b\r\n".to_vec()
        );
    }

    #[test]
    fn first_and_last_lines_with_digits_are_not_indented() {
        let r = Reply::multi(213, "1 first", vec![], "2 last");
        assert_eq!(r.to_bytes(), b"213-1 first\r\n213 2 last\r\n".to_vec());
    }

    #[test]
    fn cr_lf_inside_lines_are_escaped() {
        let r = Reply::new(257, b"\"/a\r\nb\rc\nd\" created.".to_vec());
        assert_eq!(
            r.to_bytes(),
            b"257 \"/a\r\0\0b\r\0c\0d\" created.\r\n".to_vec()
        );
        // The only CR LF pair is the terminator.
        let bytes = r.to_bytes();
        assert_eq!(bytes.windows(2).filter(|w| w == b"\r\n").count(), 1);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(r.log_text(), "257 \"/a\\r\\nb\\rc\\nd\" created.");
    }

    #[test]
    fn escaping_in_multi_line() {
        let r = Reply::multi(
            250,
            b"a\nb".to_vec(),
            vec![b"\r\n5".to_vec()],
            b"c\r".to_vec(),
        );
        assert_eq!(
            r.to_bytes(),
            b"250-a\0b\r\n\r\0\x005\r\n250 c\r\0\r\n".to_vec()
        );
    }

    #[test]
    fn log_text_replaces_invalid_utf8_and_keeps_nul_rendering() {
        let r = Reply::new(550, b"bad \xff name".to_vec());
        assert_eq!(r.log_text(), "550 bad \u{fffd} name");
        let r = Reply::new(550, "caf\u{e9}");
        assert_eq!(r.log_text(), "550 caf\u{e9}");
        let r = Reply::new(550, b"nul\0byte".to_vec());
        assert_eq!(r.to_bytes(), b"550 nul\0byte\r\n".to_vec());
        assert_eq!(r.log_text(), "550 nul\\0byte");
    }

    #[test]
    fn code_formatting() {
        assert_eq!(Reply::new(5, "x").to_bytes(), b"005 x\r\n".to_vec());
        assert_eq!(Reply::new(1234, "x").to_bytes(), b"999 x\r\n".to_vec());
    }
}
