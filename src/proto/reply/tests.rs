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
