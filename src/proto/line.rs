//! Control-connection framing: bytes in, complete lines out.
//!
//! Lines end at LF (a preceding CR is removed). Telnet IAC sequences are
//! stripped (`IAC IAC` is a literal 0xFF). A line longer than the limit is
//! reported once as [`LineEvent::TooLong`] and the rest of it, up to its end
//! of line, is thrown away — never run as a command.

/// What the framer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// One complete line, without its terminator.
    Line(Vec<u8>),
    /// A line exceeded the limit; its bytes are being discarded up to the next LF.
    TooLong,
}

/// Incremental line framer for the control channel.
#[derive(Debug)]
pub struct LineReader {
    max_len: usize,
    buf: Vec<u8>,
    discarding: bool,
}

impl LineReader {
    /// A framer that refuses lines longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        LineReader {
            max_len,
            buf: Vec::new(),
            discarding: false,
        }
    }

    /// Feed bytes read from the socket.
    pub fn push(&mut self, data: &[u8]) {
        let _ = (data, self.max_len, &self.buf, self.discarding);
        todo!("proto helper")
    }

    /// Take the next event, if a complete one is buffered.
    pub fn next_event(&mut self) -> Option<LineEvent> {
        todo!("proto helper")
    }

    /// Bytes buffered for an incomplete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}
