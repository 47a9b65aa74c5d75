//! The exit notices of the fork-per-connection parent.

use super::*;

#[test]
fn exit_notices_skip_what_is_not_a_record() {
    let mut n = ExitNotices::new().unwrap();
    assert!(n.take().is_empty(), "nothing announced yet");
    let write_end = n.write.try_clone().unwrap();
    let w = |b: &[u8]| {
        nix::unistd::write(&write_end, b).unwrap();
    };
    w(&ExitNotices::record(1234));
    // a stray byte, a long run of garbage, pid 0 and a value no pid
    // can have, each followed by a record that must still be read
    w(&[1]);
    w(&ExitNotices::record(11));
    w(&[7u8; 100]);
    w(&ExitNotices::record(12));
    w(&ExitNotices::record(0));
    w(&ExitNotices::record(u32::MAX));
    // half a record now, the rest later
    let r = ExitNotices::record(5678);
    w(&r[..3]);
    assert_eq!(
        n.take(),
        vec![Pid::from_raw(1234), Pid::from_raw(11), Pid::from_raw(12)]
    );
    w(&r[3..]);
    assert_eq!(n.take(), vec![Pid::from_raw(5678)]);
    // (announce writes this process's own pid)
    n.announce();
    assert_eq!(n.take(), vec![Pid::from_raw(std::process::id() as i32)]);
}

#[test]
fn a_flood_of_exit_notices_is_read_in_bounded_rounds() {
    let mut n = ExitNotices::new().unwrap();
    let mut written = 0;
    while nix::unistd::write(&n.write, &ExitNotices::record(42)).is_ok() {
        written += 1;
    }
    assert!(written > NOTICES_PER_WAKE, "{written} records fit the pipe");
    let mut read = 0;
    loop {
        let got = n.take().len();
        assert!(got <= NOTICES_PER_WAKE);
        if got == 0 {
            break;
        }
        read += got;
    }
    assert_eq!(read, written);
}
