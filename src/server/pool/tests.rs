//! The session pool: growth, shrinking to the floor, no lost job, join, panics.
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

fn pool(floor: usize, cap: usize, idle_timeout: Duration) -> Pool {
    Pool::new(PoolConfig {
        name: "pool-test".into(),
        stack_size: 256 * 1024,
        floor,
        cap,
        idle_timeout,
        spare: 0,
    })
    .unwrap()
}

/// Poll `cond` every 5 ms for up to 10 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn grows_at_once_then_shrinks_to_the_floor() {
    const N: usize = 32;
    let p = pool(3, 64, Duration::from_millis(50));
    assert_eq!(p.alive(), 3);
    // every job waits for all the others: only N threads at once pass
    let all = Arc::new(Barrier::new(N + 1));
    for _ in 0..N {
        let all = Arc::clone(&all);
        p.execute(move || {
            all.wait();
        })
        .unwrap();
    }
    all.wait();
    assert!(p.alive() >= N, "{} threads for {N} jobs", p.alive());
    eventually("the pool to shrink to its floor", || p.alive() == 3);
    p.join();
}

#[test]
fn jobs_submitted_while_threads_time_out_run_promptly() {
    // floor 0 and a 1 ms idle timeout: threads exit all the time, and
    // jobs arrive at every moment of that
    let p = pool(0, 4, Duration::from_millis(1));
    let (tx, rx) = crossbeam_channel::unbounded();
    for i in 0..1500u64 {
        // varied pauses (not synchronisation): submit before, at and
        // after the moment the idle thread gives up
        std::thread::sleep(Duration::from_micros(i * 7 % 1500));
        let tx = tx.clone();
        p.execute(move || {
            let _ = tx.send(i);
        })
        .unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(i),
            "job {i} did not run"
        );
    }
    p.join();
}

#[test]
fn at_the_cap_a_job_waits_for_a_thread_to_finish() {
    let p = pool(1, 2, Duration::from_secs(60));
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    for i in 0..3 {
        let (release_rx, done_tx) = (release_rx.clone(), done_tx.clone());
        p.execute(move || {
            let _ = release_rx.recv_timeout(Duration::from_secs(10));
            let _ = done_tx.send(i);
        })
        .unwrap();
    }
    assert_eq!(p.alive(), 2);
    // the first two hold both threads; each release lets one job end
    for _ in 0..3 {
        release_tx.send(()).unwrap();
        done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
    assert_eq!(p.alive(), 2);
    p.join();
}

#[test]
fn join_runs_every_queued_job_and_waits_for_running_ones() {
    let p = pool(2, 3, Duration::from_millis(1));
    let ended = Arc::new(AtomicUsize::new(0));
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
    // 3 jobs run and wait at the gate, 17 wait in the queue
    for _ in 0..20 {
        let (ended, gate_rx) = (Arc::clone(&ended), gate_rx.clone());
        p.execute(move || {
            let _ = gate_rx.recv_timeout(Duration::from_secs(10));
            ended.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let (joined_tx, joined_rx) = crossbeam_channel::bounded(1);
    let joiner = std::thread::spawn(move || {
        p.join();
        let _ = joined_tx.send(());
    });
    assert!(
        joined_rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "join returned while jobs were still running"
    );
    assert_eq!(ended.load(Ordering::SeqCst), 0);
    drop(gate_tx); // disconnected: every recv_timeout returns at once
    joined_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(ended.load(Ordering::SeqCst), 20);
    joiner.join().unwrap();
}

#[test]
fn a_panicking_job_does_not_take_its_thread_or_join_down() {
    let p = pool(1, 1, Duration::from_secs(60));
    p.execute(|| panic!("job panics on purpose")).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    p.execute(move || {
        let _ = tx.send(());
    })
    .unwrap();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(p.alive(), 1);
    p.join();
}

#[test]
fn spare_threads_wait_ready_behind_the_jobs_within_the_cap() {
    let p = Pool::new(PoolConfig {
        name: "pool-test".into(),
        stack_size: 256 * 1024,
        floor: 0,
        cap: 6,
        idle_timeout: Duration::from_secs(60),
        spare: 2,
    })
    .unwrap();
    assert_eq!(p.alive(), 0);
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    let running = Arc::new(AtomicUsize::new(0));
    let submit = |p: &Pool| {
        let rx = release_rx.clone();
        let running = Arc::clone(&running);
        p.execute(move || {
            running.fetch_add(1, Ordering::SeqCst);
            let _ = rx.recv();
        })
        .unwrap();
    };
    submit(&p);
    // the job's thread, and two idle ones behind it
    eventually("one job and two spares", || {
        running.load(Ordering::SeqCst) == 1 && p.shared.lock().idle == 2
    });
    assert_eq!(p.alive(), 3);
    // the next job takes a spare, and one more is started behind it
    submit(&p);
    eventually("two jobs and two spares", || {
        running.load(Ordering::SeqCst) == 2 && p.shared.lock().idle == 2
    });
    assert_eq!(p.alive(), 4);
    // never beyond the cap
    for _ in 0..6 {
        submit(&p);
    }
    eventually("six jobs running", || running.load(Ordering::SeqCst) == 6);
    assert_eq!(p.alive(), 6);
    for _ in 0..8 {
        release_tx.send(()).unwrap();
    }
    eventually("all jobs done", || running.load(Ordering::SeqCst) == 8);
    p.join();
}

/// A pool whose threads can't be started: a stack no address space holds.
fn unstartable() -> Pool {
    Pool::new(PoolConfig {
        name: "pool-test".into(),
        stack_size: 1 << 60,
        floor: 0,
        cap: 4,
        idle_timeout: Duration::from_secs(1),
        spare: 0,
    })
    .unwrap()
}

#[test]
fn execute_now_gives_the_data_back_when_no_thread_starts() {
    let p = unstartable();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let Err((_e, back)) = p.execute_now(String::from("the session"), move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    }) else {
        panic!("a thread started with a stack of 2^60 bytes");
    };
    assert_eq!(back, "the session");
    assert_eq!(p.alive(), 0);
    p.join();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn execute_now_runs_on_a_thread_of_its_own() {
    let p = pool(0, 4, Duration::from_secs(1));
    let (tx, rx) = std::sync::mpsc::channel();
    p.execute_now(7u32, move |n| tx.send(n * 6).unwrap())
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 42);
    p.join();
}
