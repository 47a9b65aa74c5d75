use super::*;

#[test]
fn line_format_matches_pyftpdlib() {
    let line = FtpLogger::format_line(Level::Info, &format_args!("hello"));
    // "[I 13-02-01 19:04:56] hello\n"
    assert!(line.starts_with("[I "), "{line}");
    assert_eq!(line.len(), "[I 13-02-01 19:04:56] hello\n".len(), "{line}");
    assert!(line.ends_with("] hello\n"));
    let d = FtpLogger::format_line(Level::Debug, &format_args!("x"));
    assert!(d.starts_with("[D "));
}
