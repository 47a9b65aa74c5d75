use super::*;

#[test]
fn unlimited_never_waits() {
    let mut t = Throttle::new(0);
    let now = Instant::now();
    t.record(1 << 30, now);
    assert!(t.resume_at(now).is_none());
    assert_eq!(t.chunk(65536), 65536);
}

#[test]
fn waits_in_proportion_to_bytes() {
    let mut t = Throttle::new(1000);
    let now = Instant::now();
    t.record(500, now);
    let due = t.resume_at(now).expect("must wait");
    let wait = due - now;
    assert!(
        wait >= Duration::from_millis(499) && wait <= Duration::from_millis(501),
        "{wait:?}"
    );
    assert!(t.resume_at(now + Duration::from_secs(1)).is_none());
    assert_eq!(t.chunk(65536), 1024);
    assert_eq!(Throttle::new(10 << 20).chunk(65536), 65536);
}
