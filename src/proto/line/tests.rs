use super::*;

fn all(r: &mut LineReader) -> Vec<LineEvent> {
    std::iter::from_fn(|| r.next_event()).collect()
}

fn feed(max: usize, chunks: &[&[u8]]) -> Vec<LineEvent> {
    let mut r = LineReader::new(max);
    for c in chunks {
        r.push(c);
    }
    all(&mut r)
}

fn line(b: &[u8]) -> LineEvent {
    LineEvent::Line(b.to_vec())
}

#[test]
fn crlf_and_lf() {
    assert_eq!(
        feed(100, &[b"USER a\r\nPASS b\nNOOP\r\n"]),
        vec![line(b"USER a"), line(b"PASS b"), line(b"NOOP")]
    );
}

#[test]
fn incomplete_line_is_held() {
    let mut r = LineReader::new(100);
    r.push(b"NOO");
    assert_eq!(r.next_event(), None);
    assert_eq!(r.pending(), 3);
    r.push(b"P\r");
    assert_eq!(r.next_event(), None);
    assert_eq!(r.pending(), 5);
    r.push(b"\n");
    assert_eq!(r.next_event(), Some(line(b"NOOP")));
    assert_eq!(r.pending(), 0);
    assert_eq!(r.next_event(), None);
}

#[test]
fn empty_lines() {
    assert_eq!(
        feed(10, &[b"\r\n\n\r\r\n"]),
        vec![line(b""), line(b""), line(b"\r")]
    );
}

#[test]
fn lone_cr_stays() {
    assert_eq!(feed(100, &[b"a\rb\r\n"]), vec![line(b"a\rb")]);
    assert_eq!(feed(100, &[b"\ra\n"]), vec![line(b"\ra")]);
    assert_eq!(feed(100, &[b"a\r\r\n"]), vec![line(b"a\r")]);
    // A CR without any LF never completes a line.
    assert_eq!(feed(100, &[b"a\rb\r"]), vec![]);
}

#[test]
fn nul_and_invalid_utf8_pass_through() {
    assert_eq!(
        feed(100, &[b"RETR a\0b\xc3\x28\xfe\r\n"]),
        vec![line(b"RETR a\0b\xc3\x28\xfe")]
    );
}

#[test]
fn telnet_iac_iac_is_literal_ff() {
    assert_eq!(feed(100, &[b"a\xff\xffb\r\n"]), vec![line(b"a\xffb")]);
    assert_eq!(feed(100, &[b"\xff\xff\xff\xff\n"]), vec![line(b"\xff\xff")]);
}

#[test]
fn telnet_negotiation_dropped() {
    for verb in [WILL, WONT, DO, DONT] {
        let data = [b'a', IAC, verb, 1, b'b', b'\n'];
        assert_eq!(feed(100, &[&data]), vec![line(b"ab")]);
        // The option byte is dropped even if it is LF or IAC.
        let data = [b'a', IAC, verb, b'\n', b'b', b'\n'];
        assert_eq!(feed(100, &[&data]), vec![line(b"ab")]);
        let data = [b'a', IAC, verb, IAC, b'b', b'\n'];
        assert_eq!(feed(100, &[&data]), vec![line(b"ab")]);
    }
}

#[test]
fn telnet_other_commands_dropped() {
    // IAC IP IAC DM ABOR (the Telnet Synch a client sends before ABOR).
    assert_eq!(
        feed(100, &[b"\xff\xf4\xff\xf2ABOR\r\n"]),
        vec![line(b"ABOR")]
    );
    // IAC followed by an ordinary byte drops both bytes.
    assert_eq!(feed(100, &[b"a\xffxb\n"]), vec![line(b"ab")]);
    // IAC LF drops the LF too (it is the command byte).
    assert_eq!(feed(100, &[b"a\xff\nb\n"]), vec![line(b"ab")]);
}

#[test]
fn telnet_split_across_pushes() {
    assert_eq!(feed(100, &[b"a\xff", b"\xffb\n"]), vec![line(b"a\xffb")]);
    assert_eq!(
        feed(100, &[b"a\xff", b"\xfb", b"\x01", b"b\n"]),
        vec![line(b"ab")]
    );
    assert_eq!(feed(100, &[b"a\xff", b"\xf4b\n"]), vec![line(b"ab")]);
}

#[test]
fn every_split_position_gives_same_result() {
    let input: &[u8] =
        b"USER x\r\n\xff\xfb\x01PA\xff\xffSS y\r\nA\rB\n\xff\xf4\xff\xf2ABOR\r\n0123456789ABCDEF\r\nok\n\0\xfe\r\n";
    let expected = feed(10, &[input]);
    assert_eq!(
        expected,
        vec![
            line(b"USER x"),
            line(b"PA\xffSS y"),
            line(b"A\rB"),
            line(b"ABOR"),
            LineEvent::TooLong,
            line(b"ok"),
            line(b"\0\xfe"),
        ]
    );
    for i in 0..=input.len() {
        for j in i..=input.len() {
            let got = feed(10, &[&input[..i], &input[i..j], &input[j..]]);
            assert_eq!(got, expected, "split at {i},{j}");
        }
    }
    // Byte by byte.
    let mut r = LineReader::new(10);
    for b in input {
        r.push(std::slice::from_ref(b));
    }
    assert_eq!(all(&mut r), expected);
}

#[test]
fn limit_is_inclusive_and_excludes_terminator() {
    assert_eq!(feed(4, &[b"abcd\r\n"]), vec![line(b"abcd")]);
    assert_eq!(feed(4, &[b"abcd\n"]), vec![line(b"abcd")]);
    assert_eq!(feed(4, &[b"abcde\n"]), vec![LineEvent::TooLong]);
    assert_eq!(feed(4, &[b"abcde\r\n"]), vec![LineEvent::TooLong]);
    // A CR that is not part of the terminator counts.
    assert_eq!(feed(4, &[b"abcd\rx\n"]), vec![LineEvent::TooLong]);
    assert_eq!(feed(4, &[b"abc\r\r\n"]), vec![line(b"abc\r")]);
    assert_eq!(feed(4, &[b"abcd\r\r\n"]), vec![LineEvent::TooLong]);
    // IAC IAC counts as one byte.
    assert_eq!(feed(4, &[b"ab\xff\xffc\n"]), vec![line(b"ab\xffc")]);
}

#[test]
fn too_long_reported_once_and_discarded_until_lf() {
    let mut r = LineReader::new(8);
    r.push(b"STOR aaaaaaaaaaaa");
    assert_eq!(r.next_event(), Some(LineEvent::TooLong));
    assert_eq!(r.next_event(), None);
    assert!(r.is_discarding());
    for _ in 0..1000 {
        r.push(b"DELE x\rmore garbage without newline ");
        assert!(r.pending() <= 9);
        assert_eq!(r.next_event(), None);
    }
    r.push(b"tail\r\nNOOP\r\n");
    assert_eq!(r.next_event(), Some(line(b"NOOP")));
    assert_eq!(r.next_event(), None);
    assert!(!r.is_discarding());
}

#[test]
fn consecutive_too_long_lines() {
    assert_eq!(
        feed(3, &[b"aaaa\nbbbbbbb\nccc\n"]),
        vec![LineEvent::TooLong, LineEvent::TooLong, line(b"ccc")]
    );
}

#[test]
fn buffer_stays_bounded() {
    let mut r = LineReader::new(16);
    let chunk = vec![b'x'; 4096];
    for _ in 0..100 {
        r.push(&chunk);
        assert!(r.pending() <= 17);
    }
    assert_eq!(r.queued(), 1);
    let mut r = LineReader::new(16);
    for _ in 0..1000 {
        r.push(b"\r\r\r\r\r\r\r\r\r\r");
        assert!(r.pending() <= 17);
    }
    // IAC IAC pairs decode to 0xFF data bytes and are limited too.
    let mut r = LineReader::new(16);
    r.push(&[b'\xff'; 4096]);
    assert_eq!(r.pending(), 0);
    r.push(&[b'\xff', b'\xff'].repeat(100));
    assert!(r.pending() <= 17);
}

#[test]
fn zero_limit() {
    assert_eq!(
        feed(0, &[b"\r\n\nx\n\r\n"]),
        vec![line(b""), line(b""), LineEvent::TooLong, line(b"")]
    );
}

#[test]
fn lf_inside_iac_sequence_does_not_end_line_and_discard_resumes_properly() {
    // While discarding, Telnet decoding still applies: an IAC DO LF
    // does not end the over-long line.
    assert_eq!(
        feed(2, &[b"abcd\xff\xfd\nzz\nok\n"]),
        vec![LineEvent::TooLong, line(b"ok")]
    );
}
