//! Control-connection framing: bytes in, complete lines out.
//!
//! Lines end at LF (a preceding CR is removed). Telnet IAC sequences are
//! stripped (`IAC IAC` is a literal 0xFF). A line longer than the limit is
//! reported once as [`LineEvent::TooLong`] and the rest of it, up to its end
//! of line, is thrown away — never run as a command.

use std::collections::VecDeque;

/// Telnet "interpret as command".
const IAC: u8 = 255;
/// Telnet option negotiation verbs (followed by one option byte).
const WILL: u8 = 251;
const WONT: u8 = 252;
const DO: u8 = 253;
const DONT: u8 = 254;

/// What the framer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// One complete line, without its terminator.
    Line(Vec<u8>),
    /// A line exceeded the limit; its bytes are being discarded up to the next LF.
    TooLong,
}

/// Where the Telnet decoder is inside an IAC sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Ordinary data.
    Data,
    /// Just saw IAC.
    Iac,
    /// Saw IAC WILL/WONT/DO/DONT; the next byte is the option to drop.
    Opt,
}

/// Incremental line framer for the control channel.
///
/// The length limit counts the bytes of the line after Telnet decoding,
/// excluding the CR LF (or LF) terminator. The partial-line buffer never
/// holds more than `max_len + 1` bytes; complete lines wait in a queue
/// until taken with [`LineReader::next_event`].
#[derive(Debug)]
pub struct LineReader {
    max_len: usize,
    buf: Vec<u8>,
    discarding: bool,
    telnet: Telnet,
    events: VecDeque<LineEvent>,
}

impl LineReader {
    /// A framer that refuses lines longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        LineReader {
            max_len,
            buf: Vec::new(),
            discarding: false,
            telnet: Telnet::Data,
            events: VecDeque::new(),
        }
    }

    /// Feed bytes read from the socket.
    pub fn push(&mut self, data: &[u8]) {
        for &b in data {
            match self.telnet {
                Telnet::Data => {
                    if b == IAC {
                        self.telnet = Telnet::Iac;
                    } else {
                        self.data_byte(b);
                    }
                }
                Telnet::Iac => match b {
                    IAC => {
                        self.telnet = Telnet::Data;
                        self.data_byte(IAC);
                    }
                    WILL | WONT | DO | DONT => self.telnet = Telnet::Opt,
                    _ => self.telnet = Telnet::Data,
                },
                Telnet::Opt => self.telnet = Telnet::Data,
            }
        }
    }

    /// Handle one byte of decoded (non-Telnet) data.
    fn data_byte(&mut self, b: u8) {
        if b == b'\n' {
            if self.discarding {
                self.discarding = false;
            } else {
                let mut line = std::mem::take(&mut self.buf);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.events.push_back(LineEvent::Line(line));
            }
            return;
        }
        if self.discarding {
            return;
        }
        self.buf.push(b);
        // One extra byte is allowed while it is a CR that may turn out to
        // be part of the terminator.
        let len = self.buf.len();
        if len > self.max_len && !(len == self.max_len + 1 && b == b'\r') {
            self.buf = Vec::new();
            self.discarding = true;
            self.events.push_back(LineEvent::TooLong);
        }
    }

    /// Take the next event, if a complete one is buffered.
    pub fn next_event(&mut self) -> Option<LineEvent> {
        self.events.pop_front()
    }

    /// Bytes buffered for an incomplete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Number of events waiting to be taken with [`LineReader::next_event`].
    pub fn queued(&self) -> usize {
        self.events.len()
    }

    /// Whether the rest of an over-long line is currently being discarded.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }
}

#[cfg(test)]
mod tests;
