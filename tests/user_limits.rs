//! An account's own limits (most sessions at once, bandwidth shared by all
//! of its sessions) and anti-flood bans, end to end in every concurrency
//! model: in the multi-proc and pre-fork models the sessions of one user
//! run in different processes, and the counts still hold.
mod common;

each_model!(
    max_sessions_refuses_one_more_login_until_one_quits,
    racing_logins_of_a_user_with_one_session_exactly_one_wins,
    two_sessions_of_a_user_share_its_download_bandwidth,
    two_sessions_of_a_user_share_its_upload_bandwidth,
    failed_logins_ban_the_address_until_the_ban_expires,
    a_command_flood_bans_the_address,
    durations_too_long_for_the_clock_mean_never,
    a_pause_of_the_bandwidth_limit_is_no_stall,
    connections_opened_before_a_ban_guess_no_more_passwords,
);

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{Raw, PASS, USER};
use ftpdlib::auth::AccountLimits;
use ftpdlib::config::BanPolicy;
use ftpdlib::ConcurrencyModel;

/// Bytes per second of the shared-bandwidth tests.
const RATE: u64 = 1 << 20;
/// Bytes each of the two sessions moves (2 MiB together: 2 s at [`RATE`]).
const EACH: usize = 1 << 20;

fn limits(max_sessions: u32, read_limit: u64, write_limit: u64) -> AccountLimits {
    let mut l = AccountLimits::default();
    l.max_sessions = max_sessions;
    l.read_limit = read_limit;
    l.write_limit = write_limit;
    l
}

/// A server whose `user` has these limits (set before start: forked
/// servers see the authorizer as it was then).
fn start_limited(l: AccountLimits) -> common::TestServer {
    common::start_setup(|_| {}, move |auth, _| auth.set_limits(USER, l).unwrap())
}

/// A raw session of `user`, logged in, binary.
fn logged_in(addr: SocketAddr) -> Raw {
    let mut raw = Raw::connect(addr);
    assert!(raw.greeting.starts_with("220"), "{}", raw.greeting);
    raw.login(USER, PASS);
    assert_eq!(raw.cmd("TYPE I"), "200 Type set to: Binary.");
    raw
}

/// Read until the server closes the control connection.
fn expect_eof(raw: &mut Raw) {
    let rest = raw.reply();
    assert_eq!(rest, "", "expected the connection to close");
}

/// Log in, retrying (bounded) while the server still answers 421: for
/// state that another process updates a moment after the client's cue.
fn login_within(addr: SocketAddr, what: &str, limit: Duration) -> Raw {
    let deadline = Instant::now() + limit;
    loop {
        let mut raw = Raw::connect(addr);
        assert!(raw.greeting.starts_with("220"), "{}", raw.greeting);
        assert!(raw.cmd(&format!("USER {USER}")).starts_with("331"));
        let r = raw.cmd(&format!("PASS {PASS}"));
        if r.starts_with("230") {
            return raw;
        }
        assert!(r.starts_with("421"), "{r}");
        assert!(Instant::now() < deadline, "{what}: still refused");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn max_sessions_refuses_one_more_login_until_one_quits() {
    let srv = start_limited(limits(2, 0, 0));
    let mut a = logged_in(srv.addr);
    let b = logged_in(srv.addr);
    let mut c = srv.raw();
    assert!(c.cmd(&format!("USER {USER}")).starts_with("331"));
    assert_eq!(
        c.cmd(&format!("PASS {PASS}")),
        "421 Too many connections for this user."
    );
    expect_eof(&mut c);
    // other users are not counted against this one, and it is logged
    let mut r = srv.raw();
    r.login(common::RO_USER, common::RO_PASS);
    assert!(
        common::log_lines("refused: too many sessions of this user (at most 2)")
            .iter()
            .any(|l| l.contains(&format!("USER '{USER}'")))
    );
    // QUIT gives the place back before its 221
    assert!(a.cmd("QUIT").starts_with("221"));
    let mut d = logged_in(srv.addr);
    // so do REIN and a lost connection
    assert!(d.cmd("REIN").starts_with("220"));
    let _e = logged_in(srv.addr);
    drop(b);
    let _f = login_within(srv.addr, "after a lost connection", Duration::from_secs(10));
    assert!(r.cmd("QUIT").starts_with("221"));
}

fn racing_logins_of_a_user_with_one_session_exactly_one_wins() {
    let srv = start_limited(limits(1, 0, 0));
    for _ in 0..3 {
        let mut raws: Vec<Raw> = (0..4).map(|_| srv.raw()).collect();
        for r in &mut raws {
            assert!(r.cmd(&format!("USER {USER}")).starts_with("331"));
        }
        // every PASS leaves before any reply is read
        for r in &mut raws {
            r.send(format!("PASS {PASS}\r\n").as_bytes());
        }
        let replies: Vec<String> = raws.iter_mut().map(|r| r.reply()).collect();
        let won = replies.iter().filter(|r| r.starts_with("230")).count();
        let refused = replies
            .iter()
            .filter(|r| *r == "421 Too many connections for this user.")
            .count();
        assert_eq!((won, refused), (1, 3), "{replies:?}");
        for (r, reply) in raws.iter_mut().zip(&replies) {
            if reply.starts_with("230") {
                assert!(r.cmd("QUIT").starts_with("221"));
            }
        }
    }
}

/// What one of two simultaneous transfers saw.
struct Timed {
    start: Instant,
    end: Instant,
}

/// Run `transfer` on two logged-in sessions at once (started together
/// once both data connections are open); returns their timings.
fn two_at_once(
    srv: &common::TestServer,
    transfer: impl Fn(&mut Raw, TcpStream, &Barrier) -> Timed + Send + Sync + 'static,
) -> Vec<Timed> {
    let transfer = Arc::new(transfer);
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let addr = srv.addr;
            let barrier = Arc::clone(&barrier);
            let transfer = Arc::clone(&transfer);
            std::thread::spawn(move || {
                let mut raw = logged_in(addr);
                let d = TcpStream::connect(raw.pasv()).unwrap();
                d.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let t = transfer(&mut raw, d, &barrier);
                assert!(raw.cmd("QUIT").starts_with("221"), "session {i}");
                t
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Both transfers together moved 2 × [`EACH`] bytes within 10 % of
/// [`RATE`], and neither finished in the time it would take alone (each
/// got about half).
fn assert_shared(timings: &[Timed], what: &str) {
    let start = timings.iter().map(|t| t.start).min().unwrap();
    let end = timings.iter().map(|t| t.end).max().unwrap();
    let took = end - start;
    let rate = (2 * EACH) as f64 / took.as_secs_f64();
    let limit = RATE as f64;
    assert!(
        rate <= limit * 1.1 && rate >= limit * 0.9,
        "{what}: 2 MiB in {took:?}: {:.0} bytes/s for a limit of {limit}",
        rate
    );
    let expected = (2 * EACH) as f64 / limit;
    for t in timings {
        let alone = (t.end - t.start).as_secs_f64();
        assert!(
            alone >= expected * 0.75,
            "{what}: one session took {alone:.2} s of {expected:.2} s: it did not share"
        );
    }
}

fn two_sessions_of_a_user_share_its_download_bandwidth() {
    let srv = start_limited(limits(0, 0, RATE));
    let data: Vec<u8> = (0..EACH).map(|i| (i % 251) as u8).collect();
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let timings = two_at_once(&srv, move |raw, mut d, barrier| {
        barrier.wait();
        let start = Instant::now();
        let r = raw.cmd("RETR f.bin");
        assert!(r.starts_with("125") || r.starts_with("150"), "{r}");
        let mut got = Vec::with_capacity(EACH);
        d.read_to_end(&mut got).unwrap();
        assert_eq!(raw.reply(), "226 Transfer complete.");
        let end = Instant::now();
        assert!(got == data, "the bytes arrived intact");
        Timed { start, end }
    });
    assert_shared(&timings, "RETR");
}

fn two_sessions_of_a_user_share_its_upload_bandwidth() {
    let srv = start_limited(limits(0, RATE, 0));
    let data: Arc<Vec<u8>> = Arc::new((0..EACH).map(|i| (i % 253) as u8).collect());
    let payload = Arc::clone(&data);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let timings = two_at_once(&srv, move |raw, d, barrier| {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        barrier.wait();
        let start = Instant::now();
        let r = raw.cmd(&format!("STOR up{n}.bin"));
        assert!(r.starts_with("125") || r.starts_with("150"), "{r}");
        let bytes = Arc::clone(&payload);
        let writer = std::thread::spawn(move || {
            let mut d = d;
            d.write_all(&bytes).unwrap();
            d.shutdown(std::net::Shutdown::Write).unwrap();
            d
        });
        assert_eq!(raw.reply(), "226 Transfer complete.");
        let end = Instant::now();
        drop(writer.join().unwrap());
        Timed { start, end }
    });
    assert_shared(&timings, "STOR");
    for n in 0..2 {
        assert!(std::fs::read(srv.path(&format!("up{n}.bin"))).unwrap() == *data);
    }
}

/// The greeting of a new connection (a 421 refusal is one too).
fn greeting(addr: SocketAddr) -> String {
    Raw::connect(addr).greeting
}

/// Wait (bounded) until a new connection is greeted with 220 again.
fn wait_until_admitted(addr: SocketAddr, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let g = greeting(addr);
        if g.starts_with("220") {
            return Instant::now();
        }
        assert!(g.starts_with("421 Your address is banned."), "{g}");
        assert!(Instant::now() < deadline, "the ban did not expire");
        std::thread::sleep(Duration::from_millis(25));
    }
}

const BAN_TIME: Duration = Duration::from_secs(2);

fn failed_logins_ban_the_address_until_the_ban_expires() {
    let srv = common::start(|c| {
        c.ban = Some(BanPolicy {
            max_failed_logins: 3,
            failed_logins_window: Duration::from_secs(60),
            max_commands: 0,
            ban_time: BAN_TIME,
            ..BanPolicy::default()
        })
    });
    // two failures on one connection, the third on another
    let mut a = srv.raw();
    for _ in 0..2 {
        assert!(a.cmd(&format!("USER {USER}")).starts_with("331"));
        assert_eq!(a.cmd("PASS wrong"), "530 Authentication failed.");
    }
    // a good login neither bans nor resets the count
    let mut ok = logged_in(srv.addr);
    let mut b = srv.raw();
    assert!(b.cmd(&format!("USER {USER}")).starts_with("331"));
    assert_eq!(b.cmd("PASS wrong"), "530 Authentication failed.");
    let banned_at = Instant::now();
    let g = greeting(srv.addr);
    assert!(
        g.starts_with("421 Your address is banned. Try again in "),
        "{g}"
    );
    assert!(!common::log_lines("failed logins within 60 s").is_empty());
    assert!(!common::log_lines("refused: 421 Your address is banned.").is_empty());
    // sessions already open go on
    assert!(ok.cmd("NOOP").starts_with("200"));
    let admitted = wait_until_admitted(srv.addr, Duration::from_secs(15));
    let waited = admitted - banned_at;
    assert!(
        waited >= BAN_TIME - Duration::from_millis(100),
        "admitted again after {waited:?}"
    );
    // and the count started again: one more failure does not ban
    let mut c = srv.raw();
    assert!(c.cmd(&format!("USER {USER}")).starts_with("331"));
    assert_eq!(c.cmd("PASS wrong"), "530 Authentication failed.");
    assert!(greeting(srv.addr).starts_with("220"));
}

fn a_command_flood_bans_the_address() {
    let srv = common::start(|c| {
        c.ban = Some(BanPolicy {
            max_failed_logins: 0,
            max_commands: 20,
            commands_window: Duration::from_secs(10),
            ban_time: BAN_TIME,
            ..BanPolicy::default()
        })
    });
    let mut raw = logged_in(srv.addr);
    let mut answered = 0;
    let last = loop {
        let r = raw.cmd("NOOP");
        if !r.starts_with("200") {
            break r;
        }
        answered += 1;
        assert!(answered < 40, "never flagged as a flood");
    };
    assert_eq!(last, "421 Too many commands: you are banned for 2 seconds.");
    // USER, PASS and TYPE counted too
    assert_eq!(answered, 17);
    expect_eof(&mut raw);
    let banned_at = Instant::now();
    assert!(greeting(srv.addr).starts_with("421 Your address is banned."));
    let admitted = wait_until_admitted(srv.addr, Duration::from_secs(15));
    assert!(admitted - banned_at >= BAN_TIME - Duration::from_millis(100));
    // the other models' ban table is the same: a new session works normally
    let mut again = logged_in(srv.addr);
    assert!(again.cmd("QUIT").starts_with("221"));
}

/// A ban time, timeout or grace of `Duration::MAX` (what `--ban-time
/// 18446744073709551615` or `--timeout` of that many seconds gives) is
/// "never": adding it to the clock must not panic the session or the
/// poll loop (the poll loop died on the first failed login).
fn durations_too_long_for_the_clock_mean_never() {
    let srv = common::start(|c| {
        c.timeout = Some(Duration::MAX);
        c.data_timeout = Some(Duration::MAX);
        c.shutdown_grace = Duration::MAX;
        c.ban = Some(BanPolicy {
            max_failed_logins: 1,
            failed_logins_window: Duration::MAX,
            max_commands: 1000,
            commands_window: Duration::MAX,
            ban_time: Duration::MAX,
        })
    });
    let mut ok = logged_in(srv.addr);
    let data = ok.pasv();
    let _conn = TcpStream::connect(data).unwrap();
    assert!(ok.cmd("NOOP").starts_with("200"));
    let mut bad = srv.raw();
    assert!(bad.cmd(&format!("USER {USER}")).starts_with("331"));
    assert_eq!(bad.cmd("PASS wrong"), "530 Authentication failed.");
    let g = greeting(srv.addr);
    assert!(g.starts_with("421 Your address is banned."), "{g}");
    // the server and the sessions already open go on
    assert!(ok.cmd("NOOP").starts_with("200"));
    assert!(bad.cmd("NOOP").starts_with("200"));
    assert!(ok.cmd("QUIT").starts_with("221"));
}

/// A transfer held back by its bandwidth limit longer than the data
/// timeout is not stalled: at a user's 300 bytes/s each 1 KiB step waits
/// 3.4 s (and longer when the user's other sessions share it), which the
/// stall timer took for a client that stopped: `421 Data connection timed
/// out.` after the first KiB. (Uploads pause through the same limiter.)
fn a_pause_of_the_bandwidth_limit_is_no_stall() {
    let srv = common::start_setup(
        |c| c.data_timeout = Some(Duration::from_secs(1)),
        |auth, _| auth.set_limits(USER, limits(0, 0, 300)).unwrap(),
    );
    let data: Vec<u8> = (0..1500).map(|i| (i % 251) as u8).collect();
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut raw = logged_in(srv.addr);
    let mut d = TcpStream::connect(raw.pasv()).unwrap();
    d.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let r = raw.cmd("RETR f.bin");
    assert!(r.starts_with("125") || r.starts_with("150"), "{r}");
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
    assert!(raw.cmd("QUIT").starts_with("221"));
}

/// A ban stops the password guessing of its address's sessions that
/// were open before it (they went on guessing, 3 tries each before
/// `max_login_attempts` closed them: a client that opened many connections
/// first guessed on all of them); a session logged in before goes on.
fn connections_opened_before_a_ban_guess_no_more_passwords() {
    let srv = common::start(|c| {
        c.ban = Some(BanPolicy {
            max_failed_logins: 2,
            failed_logins_window: Duration::from_secs(60),
            max_commands: 0,
            ban_time: Duration::from_secs(60),
            ..BanPolicy::default()
        })
    });
    let mut ok = logged_in(srv.addr);
    let mut early = srv.raw();
    let mut a = srv.raw();
    for _ in 0..2 {
        assert!(a.cmd(&format!("USER {USER}")).starts_with("331"));
        assert_eq!(a.cmd("PASS wrong"), "530 Authentication failed.");
    }
    assert!(greeting(srv.addr).starts_with("421 Your address is banned."));
    // not even the right password is tried
    assert!(early.cmd(&format!("USER {USER}")).starts_with("331"));
    let r = early.cmd(&format!("PASS {PASS}"));
    assert!(
        r.starts_with("421 Your address is banned. Try again in "),
        "{r}"
    );
    expect_eof(&mut early);
    assert!(ok.cmd("NOOP").starts_with("200"));
    assert!(ok.cmd("QUIT").starts_with("221"));
}

/// A session process killed outright (SIGKILL) gives its user's place
/// back: the parent that reaps it frees the slot.
#[test]
fn killed_session_process_frees_its_slot() {
    for model in [
        ConcurrencyModel::Process,
        ConcurrencyModel::Prefork { workers: 2 },
    ] {
        common::with_model(model, killed_session_process_frees_its_slot_in);
    }
}

fn killed_session_process_frees_its_slot_in() {
    let srv = start_limited(limits(1, 0, 0));
    let held = logged_in(srv.addr);
    let mut refused = srv.raw();
    assert!(refused.cmd(&format!("USER {USER}")).starts_with("331"));
    assert!(refused.cmd(&format!("PASS {PASS}")).starts_with("421"));
    // the process that serves `held` (a session child, or a pre-fork worker)
    let origins = srv.events.origins();
    let pid = origins[0].0;
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    // gone once its parent reaped it (a pre-fork worker dying while a
    // connection is handed to it takes that connection along)
    let deadline = Instant::now() + Duration::from_secs(10);
    while nix::sys::signal::kill(pid, None).is_ok() {
        assert!(Instant::now() < deadline, "process {pid} was not reaped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut again = login_within(srv.addr, "after SIGKILL", Duration::from_secs(10));
    assert!(again.cmd("QUIT").starts_with("221"));
    drop(held);
}

/// `ftpdlib --ban-after-failed-logins N --ban-time S`: the daemon bans.
#[test]
fn cli_ban_options() {
    let d = common::daemon(&[
        "--ban-after-failed-logins",
        "2",
        "--ban-after-commands",
        "1000/1",
        "--ban-time",
        "60",
    ]);
    let mut raw = Raw::connect(d.addr);
    for _ in 0..2 {
        assert!(raw.cmd("USER user").starts_with("331"));
        assert!(raw.cmd("PASS wrong").starts_with("530"));
    }
    // (recorded at the failure, before the 530 that waits 3 s)
    let g = greeting(d.addr);
    let secs: u64 = g
        .strip_prefix("421 Your address is banned. Try again in ")
        .and_then(|r| r.strip_suffix(" seconds."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{g}"));
    assert!((50..=60).contains(&secs), "{g}");
}

/// Bad `--ban-*` values: one error line, exit code 2.
#[test]
fn cli_bad_ban_options_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--ban-time", "60"], "--ban-time"),
        (&["--ban-after-failed-logins", "x"], "x"),
        (&["--ban-after-commands", "300"], "300"),
        (&["--ban-after-commands", "0/1"], "0/1"),
        (&["--ban-after-commands", "5/-1"], "5/-1"),
        (
            &["--ban-after-failed-logins", "3", "--ban-time", "0"],
            "--ban-time",
        ),
    ];
    for (args, mention) in cases {
        let (code, err) = common::exit_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_ftpdlib"))
                .args(["-i", "127.0.0.1", "-p", "0", "-d"])
                .arg(dir.path())
                .args(args.iter()),
            Duration::from_secs(20),
        );
        assert_eq!(code, Some(2), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].contains(mention), "{args:?}: {err}");
    }
}
