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

#[test]
fn log_times_are_local_times_from_any_thread() {
    // the shared offset is the one chrono's own local clock gives, on the
    // thread that looked it up and on the others
    let check = || {
        let before = chrono::Local::now();
        let ours = local_now();
        let after = chrono::Local::now();
        assert!(
            ours.offset() == before.offset() || ours.offset() == after.offset(),
            "{ours} against {before}..{after}"
        );
        assert!(before.timestamp() <= ours.timestamp() && ours.timestamp() <= after.timestamp());
    };
    check();
    let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(check)).collect();
    for t in threads {
        t.join().expect("a thread's check failed");
    }
    check();
}
