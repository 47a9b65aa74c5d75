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

#[test]
fn an_offset_that_changes_within_a_minute_is_not_shared_past_the_change() {
    // a zone (a TZ rule such as AAA0BBB,J334/18:38:30,J365/24) whose offset
    // goes from +00:00 to +01:00 at 18:38:30 UTC
    let change = chrono::DateTime::from_timestamp(1_795_977_510, 0).unwrap();
    assert_eq!(change.format("%H:%M:%S").to_string(), "18:38:30");
    let offset_at = |t: chrono::DateTime<chrono::Utc>| {
        chrono::FixedOffset::east_opt(if t < change { 0 } else { 3600 }).unwrap()
    };
    let at = |s: i64| change + chrono::Duration::seconds(s);
    let offsets = MinuteOffsets::new();
    let show = |s| {
        offsets
            .local(at(s), offset_at)
            .format("%H:%M:%S")
            .to_string()
    };
    // the minute before the change, then the minute of the change on both
    // sides of it, then the minute after
    assert_eq!(show(-40), "18:37:50");
    assert_eq!(show(-20), "18:38:10");
    assert_eq!(show(10), "19:38:40");
    assert_eq!(show(-1), "18:38:29");
    assert_eq!(show(29), "19:38:59");
    assert_eq!(show(30), "19:39:00");
    assert_eq!(show(80), "19:39:50");
}
