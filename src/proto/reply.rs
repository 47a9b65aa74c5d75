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
        todo!("proto helper")
    }

    /// A printable one-line rendering for the DEBUG log (`"226 Transfer complete."`,
    /// multi-line replies joined with `\n`), invalid UTF-8 replaced.
    pub fn log_text(&self) -> String {
        todo!("proto helper")
    }
}
