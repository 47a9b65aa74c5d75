//! `line_command`: control-line framing, command parsing and the command table.
//!
//! Invariants:
//! - the [`LineReader`] agrees with a straightforward reference framer
//!   (Telnet decoding, split at LF, one CR dropped, lines over the limit
//!   reported once as `TooLong`): no line holds a LF or exceeds the limit;
//! - the same bytes pushed in arbitrary chunks, with events taken in
//!   between, give the same events as pushed whole; the partial-line buffer
//!   never holds more than `max_len + 1` bytes;
//! - [`command::parse`] never panics; a request's verb is upper-case
//!   printable ASCII (or empty for a leading space), its argument is the
//!   rest of the line after the first space (never empty), and `SITE x` is
//!   split into `SITE X`; a `BadVerb` rendering is printable (it goes into a reply);
//! - [`command::lookup`] finds exactly the table rows, by exact name;
//! - [`Command::parse`] agrees with them: a verb of the table gives its
//!   [`Verb`] and the same argument; otherwise only ABOR, STAT or QUIT
//!   (after garbage) or a `NotUnderstood` whose rendering is printable.

use ftpdlib::proto::command::{self, Command, ParseError, Verb};
use ftpdlib::proto::line::{LineEvent, LineReader};

use super::cursor::Cursor;

const IAC: u8 = 255;

/// The reference framer: the whole stream at once.
fn reference(bytes: &[u8], max_len: usize) -> Vec<LineEvent> {
    // Telnet decoding first.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != IAC {
            decoded.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(&IAC) => {
                decoded.push(IAC);
                i += 2;
            }
            Some(251..=254) => i += 3,
            Some(_) => i += 2,
            None => i += 1,
        }
    }
    let too_long =
        |seg: &[u8]| seg.len() > max_len + 1 || (seg.len() == max_len + 1 && seg[max_len] != b'\r');
    let mut events = Vec::new();
    let mut segs: Vec<&[u8]> = decoded.split(|&b| b == b'\n').collect();
    // The last piece has no LF yet: it can only have been found too long.
    let partial = segs.pop().unwrap_or(&[]);
    for seg in segs {
        if too_long(seg) {
            events.push(LineEvent::TooLong);
        } else {
            let line = seg.strip_suffix(b"\r").unwrap_or(seg);
            events.push(LineEvent::Line(line.to_vec()));
        }
    }
    if too_long(partial) {
        events.push(LineEvent::TooLong);
    }
    events
}

fn drain(r: &mut LineReader, into: &mut Vec<LineEvent>) {
    while let Some(e) = r.next_event() {
        into.push(e);
    }
}

fn check_request(line: &[u8]) {
    match command::parse(line) {
        Err(ParseError::Empty) => assert!(line.iter().all(|&b| b == b' '), "{line:?}"),
        Err(ParseError::BadVerb(v)) => {
            assert!(
                v.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                "unprintable BadVerb rendering {v:?}"
            );
        }
        Ok(req) => {
            let (word, rest) = match line.iter().position(|&b| b == b' ') {
                Some(i) => (&line[..i], Some(&line[i + 1..])),
                None => (line, None),
            };
            assert!(req.verb.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
            assert!(!req.verb.bytes().any(|b| b.is_ascii_lowercase()), "{req:?}");
            if let Some(a) = &req.arg {
                assert!(!a.is_empty(), "empty argument from {line:?}");
                assert!(line.ends_with(a), "argument is not the line's tail");
            }
            if req.verb.starts_with("SITE ") {
                assert!(word.eq_ignore_ascii_case(b"SITE"));
            } else {
                assert!(req.verb.as_bytes().eq_ignore_ascii_case(word), "{req:?}");
                assert_eq!(req.arg.as_deref(), rest.filter(|r| !r.is_empty()));
            }
            match command::lookup(&req.verb) {
                Some(spec) => assert_eq!(spec.name, req.verb),
                None => assert!(command::table().iter().all(|s| s.name != req.verb)),
            }
        }
    }
}

fn check_command(line: &[u8]) {
    let lexical = command::parse(line).ok();
    let known = lexical
        .as_ref()
        .filter(|req| command::lookup(&req.verb).is_some());
    match Command::parse(line) {
        Ok(cmd) => {
            assert_eq!(cmd.spec().verb, cmd.verb);
            if let Some(a) = &cmd.arg {
                assert!(!a.is_empty(), "empty argument from {line:?}");
                assert!(line.ends_with(a), "argument is not the line's tail");
            }
            match known {
                Some(req) => {
                    assert_eq!(req.verb, cmd.verb.name());
                    assert_eq!(req.arg, cmd.arg);
                }
                None => assert!(
                    matches!(cmd.verb, Verb::Abor | Verb::Stat | Verb::Quit),
                    "{line:?} gave {cmd:?}"
                ),
            }
        }
        Err(e) => {
            assert!(known.is_none(), "{line:?}: a table verb not understood");
            assert!(
                e.verb.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                "unprintable rendering {e:?}"
            );
        }
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let max_len = match c.u8() {
        0 => 8192,
        n => usize::from(n % 64),
    };
    let chunking = c.bytes(32);
    let bytes = c.rest();

    let mut whole = LineReader::new(max_len);
    whole.push(bytes);
    let mut expected = Vec::new();
    drain(&mut whole, &mut expected);
    assert_eq!(
        expected,
        reference(bytes, max_len),
        "framer and reference disagree"
    );

    let mut chunked = LineReader::new(max_len);
    let mut got = Vec::new();
    let mut rest = bytes;
    let mut k = 0;
    while !rest.is_empty() {
        let step = chunking
            .get(k % chunking.len().max(1))
            .copied()
            .unwrap_or(1);
        k += 1;
        let n = (1 + usize::from(step % 16)).min(rest.len());
        chunked.push(&rest[..n]);
        rest = &rest[n..];
        assert!(chunked.pending() <= max_len + 1, "buffer above the limit");
        if step & 0x80 != 0 {
            drain(&mut chunked, &mut got);
        }
    }
    drain(&mut chunked, &mut got);
    assert_eq!(got, expected, "chunking changed the events");

    for e in &expected {
        if let LineEvent::Line(l) = e {
            assert!(!l.contains(&b'\n'), "LF inside a line");
            assert!(l.len() <= max_len, "line of {} bytes > {max_len}", l.len());
            check_request(l);
            check_command(l);
        }
    }
    // Parsing arbitrary bytes directly (a line the framer would never give).
    check_request(bytes);
    check_command(bytes);
}
