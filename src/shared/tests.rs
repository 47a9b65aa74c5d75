use super::*;

use std::sync::Barrier;

use crate::sys::{self, Forked};

fn state(cap: usize) -> Arc<SharedState> {
    Arc::new(SharedState::new(cap).unwrap())
}

/// Run `f` in a forked child and return its exit status (0: `f` returned
/// true). The child ends with `_exit`, running no destructor of the parent's.
fn in_child(f: impl FnOnce() -> bool) -> i32 {
    match sys::fork().unwrap() {
        Forked::Child => {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false);
            sys::exit_immediately(if ok { 0 } else { 1 })
        }
        Forked::Parent(pid) => match nix::sys::wait::waitpid(pid, None).unwrap() {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("child: {other:?}"),
        },
    }
}

#[test]
fn max_sessions_admits_exactly_n_and_frees_on_drop() {
    let s = state(8);
    let a = s.claim("alice", 2).unwrap();
    let b = s.claim("alice", 2).unwrap();
    assert_eq!(
        s.claim("alice", 2).unwrap_err(),
        Refusal::TooMany { max: 2 }
    );
    // other users and unlimited claims are not counted against alice
    let c = s.claim("bob", 1).unwrap();
    assert_eq!(s.claim("bob", 1).unwrap_err(), Refusal::TooMany { max: 1 });
    assert_eq!(s.sessions("alice"), 2);
    drop(a);
    assert_eq!(s.sessions("alice"), 1);
    let d = s.claim("alice", 2).unwrap();
    drop((b, c, d));
    assert_eq!(s.sessions("alice"), 0);
    assert_eq!(s.sessions("bob"), 0);
    // every user entry is free again
    assert!((0..s.capacity).all(|i| s.user(i)[0].load(Ordering::Relaxed) == 0));
}

#[test]
fn a_full_table_refuses_and_recovers() {
    let s = state(3);
    let held: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|u| s.claim(u, 0).unwrap())
        .collect();
    assert_eq!(s.claim("d", 0).unwrap_err(), Refusal::Full);
    assert_eq!(s.claim("a", 5).unwrap_err(), Refusal::Full);
    drop(held);
    assert!(s.claim("d", 0).is_ok());
}

#[test]
fn racing_logins_of_a_user_with_one_session_exactly_one_wins() {
    for _ in 0..50 {
        let s = state(64);
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let won: Vec<_> = (0..n)
            .map(|_| {
                let s = Arc::clone(&s);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    s.claim("alice", 1).ok()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(won.iter().filter(|w| w.is_some()).count(), 1);
    }
}

#[test]
fn a_slot_taken_in_a_forked_process_counts_here_and_is_freed_there() {
    let s = state(8);
    // the child holds alice's only session until told to let go
    let (go_read, go_write) = nix::unistd::pipe().unwrap();
    let (held_read, held_write) = nix::unistd::pipe().unwrap();
    let child = match sys::fork().unwrap() {
        Forked::Child => {
            let slot = s.claim("alice", 1);
            let _ = nix::unistd::write(&held_write, &[u8::from(slot.is_ok())]);
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(&go_read, &mut b);
            drop(slot);
            sys::exit_immediately(0)
        }
        Forked::Parent(pid) => pid,
    };
    let mut b = [0u8; 1];
    nix::unistd::read(&held_read, &mut b).unwrap();
    assert_eq!(b[0], 1, "the child got its slot");
    assert_eq!(
        s.claim("alice", 1).unwrap_err(),
        Refusal::TooMany { max: 1 }
    );
    nix::unistd::write(&go_write, b"x").unwrap();
    nix::sys::wait::waitpid(child, None).unwrap();
    assert_eq!(s.sessions("alice"), 0);
    assert!(s.claim("alice", 1).is_ok());
}

#[test]
fn the_slot_of_a_process_that_died_without_freeing_it_is_reclaimed() {
    let s = state(8);
    // the child takes the slot and exits without giving it back (as SIGKILL would)
    let code = in_child(|| match s.claim("alice", 1) {
        Ok(slot) => {
            std::mem::forget(slot);
            true
        }
        Err(_) => false,
    });
    assert_eq!(code, 0);
    assert_eq!(
        s.sessions("alice"),
        1,
        "the dead child's slot is still taken"
    );
    // the next login finds alice at her limit, sees the holder is gone
    let slot = s.claim("alice", 1).unwrap();
    assert_eq!(s.sessions("alice"), 1);
    drop(slot);
    // and a reaping parent frees them by pid
    let mut pid = 0;
    let code = in_child(|| {
        std::mem::forget(s.claim("bob", 0));
        true
    });
    assert_eq!(code, 0);
    for w in s.slots() {
        let v = w.load(Ordering::Relaxed);
        if v != 0 {
            pid = (v >> 32) as u32;
        }
    }
    assert_ne!(pid, 0);
    assert_eq!(s.sessions("bob"), 1);
    s.release_pid(pid);
    assert_eq!(s.sessions("bob"), 0);
    assert!((0..s.capacity).all(|i| s.user(i)[0].load(Ordering::Relaxed) == 0));
}

#[test]
fn a_lock_held_by_a_dead_process_is_taken_over() {
    let s = state(4);
    let code = in_child(|| {
        std::mem::forget(s.lock());
        true
    });
    assert_eq!(code, 0);
    assert_ne!(s.mem.words()[0].load(Ordering::Relaxed), 0, "left locked");
    // does not hang
    assert!(s.claim("alice", 1).is_ok());
}

#[test]
fn a_slot_copy_inherited_by_a_forked_process_is_not_freed_there() {
    let s = state(4);
    let slot = s.claim("alice", 1).unwrap();
    let code = in_child(|| {
        drop(unsafe_free_copy(&slot));
        true
    });
    assert_eq!(code, 0);
    assert_eq!(s.sessions("alice"), 1);
    drop(slot);
    assert_eq!(s.sessions("alice"), 0);
}

/// What a forked child holds of its parent's guard: the same fields.
fn unsafe_free_copy(slot: &UserSlot) -> UserSlot {
    UserSlot {
        state: Arc::clone(&slot.state),
        slot: slot.slot,
        user: slot.user,
        word: slot.word,
        pid: slot.pid,
    }
}

#[test]
fn two_transfers_of_one_user_share_its_rate() {
    let s = state(4);
    let rate = 1_000_000u64; // bytes per second
    let a = Arc::new(s.claim("alice", 0).unwrap());
    let b = Arc::new(s.claim("alice", 0).unwrap());
    let mut ra = SharedRate::new(a, rate, false).unwrap();
    let mut rb = SharedRate::new(b, rate, false).unwrap();
    assert_eq!(ra.chunk(256 * 1024), 20_000);
    // simulate two transfers on a virtual clock: each moves one step when
    // the cell lets it, for two seconds
    let t0 = Instant::now();
    let mut now = t0;
    let mut moved = [0u64; 2];
    let end = t0 + Duration::from_secs(2);
    while now < end {
        for (i, r) in [&mut ra, &mut rb].into_iter().enumerate() {
            if r.resume_at(now).is_none() {
                let n = r.chunk(256 * 1024) as u64;
                r.charge(n, now);
                moved[i] += n;
            }
        }
        now += Duration::from_millis(1);
    }
    let total = moved[0] + moved[1];
    // 2 s at 1 MB/s, plus at most the tolerance and a step each
    assert!(
        (2_000_000..=2_000_000 + 40_000 + 2 * 20_000).contains(&total),
        "{moved:?}"
    );
    // about half each
    for m in moved {
        assert!((900_000..=1_100_000).contains(&m), "{moved:?}");
    }
    // a download's cell is not the upload's
    let up = SharedRate::new(Arc::clone(&ra.slot), rate, true).unwrap();
    assert!(up.resume_at(now).is_none());
}

#[test]
fn another_users_rate_is_not_shared() {
    let s = state(4);
    let mut a = SharedRate::new(Arc::new(s.claim("alice", 0).unwrap()), 1000, false).unwrap();
    let mut b = SharedRate::new(Arc::new(s.claim("bob", 0).unwrap()), 1000, false).unwrap();
    let now = Instant::now();
    a.charge(10_000, now);
    assert!(a.resume_at(now).is_some());
    // bob's step waits for his own 10 ms, not behind alice's 10 s
    b.charge(10, now);
    let later = now + Duration::from_millis(20);
    assert!(b.resume_at(later).is_none());
    assert!(a.resume_at(later).is_some());
}

#[test]
fn a_rate_charged_in_a_forked_process_holds_back_this_one() {
    let s = state(4);
    let slot = Arc::new(s.claim("alice", 0).unwrap());
    let mut r = SharedRate::new(Arc::clone(&slot), 1000, true).unwrap();
    let now = Instant::now();
    // the child reserves 5 s worth on its own handle to the same cell
    let code = in_child(|| {
        let theirs = s.claim("alice", 0).unwrap();
        let mut r = SharedRate::new(Arc::new(theirs), 1000, true).unwrap();
        r.charge(5000, Instant::now());
        // its slot is not freed on _exit: only the cell matters here
        true
    });
    assert_eq!(code, 0);
    // our next step waits behind the child's reservation
    r.charge(1, now);
    let at = r.resume_at(now).expect("held back");
    assert!(at >= now + Duration::from_secs(4), "{:?}", at - now);
}

#[test]
fn failed_logins_ban_an_address_for_a_while() {
    let s = state(4);
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    let other: IpAddr = "192.0.2.8".parse().unwrap();
    let t = Instant::now();
    let win = Duration::from_secs(60);
    let ban = Duration::from_secs(30);
    assert!(!s.failed_login(ip, 3, win, ban, t));
    assert!(!s.failed_login(mapped, 3, win, ban, t + Duration::from_secs(1)));
    assert_eq!(s.banned(ip, t), None);
    assert!(s.failed_login(ip, 3, win, ban, t + Duration::from_secs(2)));
    let left = s.banned(ip, t + Duration::from_secs(2)).unwrap();
    assert_eq!(left, ban);
    assert!(s.banned(mapped, t + Duration::from_secs(31)).is_some());
    assert_eq!(s.banned(ip, t + Duration::from_secs(32)), None);
    assert_eq!(s.banned(other, t + Duration::from_secs(2)), None);
    // failures further apart than the window never add up
    let u = t + Duration::from_secs(100);
    assert!(!s.failed_login(other, 2, win, ban, u));
    assert!(!s.failed_login(other, 2, win, ban, u + Duration::from_secs(61)));
    assert!(s.failed_login(other, 2, win, ban, u + Duration::from_secs(62)));
}

#[test]
fn a_ban_made_in_a_forked_process_holds_here() {
    let s = state(4);
    let ip: IpAddr = "2001:db8::1".parse().unwrap();
    let code = in_child(|| {
        s.ban_ip(ip, Duration::from_secs(60), Instant::now());
        true
    });
    assert_eq!(code, 0);
    assert!(s.banned(ip, Instant::now()).is_some());
}

#[test]
fn the_ban_table_evicts_the_oldest_entry_when_full() {
    let s = state(4);
    let t = Instant::now();
    for i in 0..BANS as u32 + 1 {
        let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        s.ban_ip(ip, Duration::from_secs(10 + u64::from(i)), t);
    }
    // the first (shortest) ban made room for the last
    assert_eq!(s.banned("10.0.0.0".parse().unwrap(), t), None);
    assert!(s.banned("10.0.0.1".parse().unwrap(), t).is_some());
    let last = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + BANS as u32));
    assert!(s.banned(last, t).is_some());
}
