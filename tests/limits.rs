//! Every limit and network option, end to end against a real server on loopback.
mod common;

each_model!(
    max_cons_admits_exactly_n_and_frees_a_slot_on_quit,
    every_client_up_to_max_cons_gets_its_banner_at_once,
    max_cons_per_ip_counts_each_client_address,
    idle_control_connection_times_out,
    idle_timeout_does_not_fire_while_a_transfer_runs,
    passive_listener_nobody_connects_to_times_out,
    stalled_data_connection_times_out_and_closes_the_session,
    slow_upload_in_small_pieces_is_not_a_stalled_one,
    idle_uploads_cost_no_wakeups,
    failed_logins_are_delayed_then_disconnected,
    short_banner,
    long_banner_is_multiline,
    passive_ports_stay_inside_the_range,
    passive_ports_all_taken_gives_425,
    masquerade_address_is_announced_in_pasv,
    masquerade_address_map_wins_over_the_default,
    foreign_passive_connection_is_closed_silently,
    foreign_passive_connection_accepted_when_permitted,
    port_and_eprt_to_a_foreign_address_are_refused,
    port_to_a_foreign_address_when_permitted,
    privileged_ports_refused_unless_permitted,
    gmt_times_in_mdtm_and_list,
    local_times_in_mdtm_and_list,
    sendfile_on_and_off_send_identical_bytes,
    write_limit_throttles_retr,
    read_limit_throttles_stor,
    abor_during_retr,
    stat_during_retr_reports_the_open_data_connection,
    quit_during_retr_waits_for_the_transfer,
    bad_input_on_the_control_connection,
    ipv6_login_and_epsv_transfers,
    ipv4_client_of_an_ipv4_server,
);

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::Raw;

const SECOND_LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

// --- helpers

/// A deterministic test pattern of `n` bytes (every byte value, and LF and CR LF pairs).
fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| match i % 97 {
            10 => b'\n',
            40 => b'\r',
            41 => b'\n',
            _ => (i * 31 % 251) as u8,
        })
        .collect()
}

/// TYPE A network form of a file: a LF not preceded by CR becomes CR LF.
fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The preliminary reply of a transfer whose data connection the client
/// opened already: 125, or 150 if the server had not accepted it yet.
fn prelim(r: &str) {
    assert!(
        r == "125 Data connection already open. Transfer starting."
            || r == "150 File status okay. About to open data connection.",
        "{r}"
    );
}

/// Connect a data socket (20 s read timeout).
fn data_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// A logged-in raw session of the full-permission user in binary mode.
fn session(srv: &common::TestServer) -> Raw {
    let mut raw = srv.raw();
    assert!(raw.greeting.starts_with("220"), "{}", raw.greeting);
    raw.login(common::USER, common::PASS);
    assert_eq!(raw.cmd("TYPE I"), "200 Type set to: Binary.");
    raw
}

/// RETR `name` over a passive connection opened first; returns the bytes.
fn retr(raw: &mut Raw, name: &str) -> Vec<u8> {
    let addr = raw.pasv();
    let mut d = data_connect(addr);
    prelim(&raw.cmd(&format!("RETR {name}")));
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    buf
}

/// LIST over a passive connection; returns the listing text.
fn list(raw: &mut Raw, arg: &str) -> String {
    let addr = raw.pasv();
    let mut d = data_connect(addr);
    prelim(&raw.cmd(format!("LIST {arg}").trim_end()));
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    String::from_utf8(buf).unwrap()
}

/// The next reply is the end of the connection.
fn expect_eof(raw: &mut Raw) {
    assert_eq!(
        raw.reply(),
        "",
        "expected the server to close the connection"
    );
}

/// Connect until the server admits the client (a freed slot is released
/// by the session thread just after the client saw its connection close).
fn connect_admitted(addr: SocketAddr) -> Raw {
    for _ in 0..200 {
        let raw = Raw::connect(addr);
        if raw.greeting.starts_with("220") {
            return raw;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never admitted");
}

/// `n` consecutive free ports on 127.0.0.1 below the ephemeral range, held by listeners.
fn free_port_block(n: u16) -> (u16, Vec<TcpListener>) {
    for _ in 0..500 {
        let base = 10_000 + rand::random::<u16>() % 20_000;
        let held: Vec<TcpListener> = (0..n)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return (base, held);
        }
    }
    panic!("no block of {n} free ports found");
}

// --- max_cons and max_cons_per_ip

fn max_cons_admits_exactly_n_and_frees_a_slot_on_quit() {
    let srv = common::start(|c| c.max_cons = 3);
    let mut open: Vec<Raw> = (0..3).map(|_| srv.raw()).collect();
    for r in &open {
        assert!(r.greeting.starts_with("220 "), "{}", r.greeting);
    }
    for _ in 0..2 {
        let mut extra = srv.raw();
        assert_eq!(
            extra.greeting,
            "421 Too many connections. Service temporarily unavailable."
        );
        expect_eof(&mut extra);
    }
    // Refused clients never become sessions.
    assert_eq!(srv.events.list(), ["connect", "connect", "connect"]);
    // The admitted ones still work.
    for r in &mut open {
        assert_eq!(r.cmd("NOOP"), "200 I successfully did nothing.");
    }
    let mut first = open.remove(0);
    assert_eq!(first.cmd("QUIT"), "221 Goodbye.");
    expect_eof(&mut first);
    let mut again = connect_admitted(srv.addr);
    again.login(common::USER, common::PASS);
    // And the limit is back in force: three open again.
    let mut extra = srv.raw();
    assert!(extra.greeting.starts_with("421 Too many connections."));
    expect_eof(&mut extra);
}

fn every_client_up_to_max_cons_gets_its_banner_at_once() {
    const N: usize = 40;
    let srv = common::start(|c| c.max_cons = N);
    let mut open = Vec::new();
    for i in 0..N {
        let t = Instant::now();
        let r = srv.raw();
        let took = t.elapsed();
        assert!(r.greeting.starts_with("220 "), "client {i}: {}", r.greeting);
        assert!(
            took < Duration::from_secs(2),
            "client {i} waited {took:?} for its banner"
        );
        open.push(r);
    }
    let mut extra = srv.raw();
    assert!(extra.greeting.starts_with("421 "), "{}", extra.greeting);
    expect_eof(&mut extra);
    // All sessions are served concurrently.
    for r in open.iter_mut().rev() {
        assert_eq!(r.cmd("NOOP"), "200 I successfully did nothing.");
    }
}

fn max_cons_per_ip_counts_each_client_address() {
    let srv = common::start(|c| c.max_cons_per_ip = 2);
    let a1 = srv.raw();
    let a2 = srv.raw();
    assert!(a1.greeting.starts_with("220") && a2.greeting.starts_with("220"));
    let mut a3 = srv.raw();
    assert_eq!(
        a3.greeting,
        "421 Too many connections from the same IP address."
    );
    expect_eof(&mut a3);
    // Another client address has its own allowance.
    let mut b1 = Raw::connect_from(srv.addr, SECOND_LOOPBACK);
    assert!(b1.greeting.starts_with("220"), "{}", b1.greeting);
    b1.login(common::USER, common::PASS);
    let b2 = Raw::connect_from(srv.addr, SECOND_LOOPBACK);
    assert!(b2.greeting.starts_with("220"), "{}", b2.greeting);
    let mut b3 = Raw::connect_from(srv.addr, SECOND_LOOPBACK);
    assert_eq!(
        b3.greeting,
        "421 Too many connections from the same IP address."
    );
    expect_eof(&mut b3);
    // Closing one of 127.0.0.1's sessions frees a place for 127.0.0.1 only.
    drop(a1);
    let mut a4 = connect_admitted(srv.addr);
    assert_eq!(a4.cmd("NOOP"), "200 I successfully did nothing.");
    drop(a2);
}

// --- timeouts

fn idle_control_connection_times_out() {
    let srv = common::start(|c| c.timeout = Some(Duration::from_secs(1)));
    let mut raw = session(&srv);
    // The clock starts before the command that restarts the server's idle
    // timer, so the lower bound holds however late this process runs.
    let t = Instant::now();
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
    assert_eq!(raw.reply(), "421 Control connection timed out.");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    expect_eof(&mut raw);
    // A timeout is no clean logout.
    let ev = srv
        .events
        .wait_for("disconnect", |e| e.iter().any(|x| x == "disconnect"));
    assert_eq!(ev, ["connect", "login user", "disconnect"]);
}

fn idle_timeout_does_not_fire_while_a_transfer_runs() {
    let srv = common::start(|c| {
        c.timeout = Some(Duration::from_secs(1));
        c.write_limit = 256 * 1024;
    });
    let data = pattern(512 * 1024); // two seconds at the limit
    std::fs::write(srv.path("slow.bin"), &data).unwrap();
    let mut raw = session(&srv);
    let t = Instant::now();
    let got = retr(&mut raw, "slow.bin");
    let took = t.elapsed();
    assert!(took > Duration::from_millis(1500), "{took:?}");
    assert!(got == data, "transferred bytes differ");
    // The idle clock restarts when the transfer ends: had it run during the
    // two-second transfer, the 421 would follow the 226 at once. (The clock
    // here starts after the 226 arrived, a little after the server's.)
    let t = Instant::now();
    assert_eq!(raw.reply(), "421 Control connection timed out.");
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    expect_eof(&mut raw);
}

fn passive_listener_nobody_connects_to_times_out() {
    let srv = common::start(|c| c.data_timeout = Some(Duration::from_secs(1)));
    let mut raw = session(&srv);
    let t = Instant::now(); // before the server's timer starts
    let addr = raw.pasv();
    assert_eq!(raw.reply(), "421 Passive data channel timed out.");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // The listener is gone, the control connection stays.
    assert!(TcpStream::connect(addr).is_err(), "listener still open");
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
    assert_eq!(raw.cmd("RETR nothing"), "550 No such file or directory.");
}

fn stalled_data_connection_times_out_and_closes_the_session() {
    let srv = common::start(|c| c.data_timeout = Some(Duration::from_secs(1)));
    // Much more than the socket buffers can hold (sparse, so cheap).
    let f = std::fs::File::create(srv.path("big.bin")).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    let mut raw = session(&srv);
    let addr = raw.pasv();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let _data: TcpStream = sock.into(); // never read
    let t = Instant::now(); // before the server's timer starts
    prelim(&raw.cmd("RETR big.bin"));
    assert_eq!(raw.reply(), "421 Data connection timed out.");
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
    expect_eof(&mut raw);
    let ev = srv
        .events
        .wait_for("disconnect", |e| e.iter().any(|x| x == "disconnect"));
    assert!(
        ev.iter().any(|e| e.starts_with("incomplete_file_sent ")),
        "{ev:?}"
    );
}

/// An upload's data connection signals readiness only once a batch of bytes
/// is in: a client that sends less than that and then pauses must still
/// have its bytes read and counted as progress, not be timed out as stalled.
fn slow_upload_in_small_pieces_is_not_a_stalled_one() {
    let srv = common::start(|c| c.data_timeout = Some(Duration::from_secs(1)));
    let mut raw = session(&srv);
    let addr = raw.pasv();
    let mut d = data_connect(addr);
    prelim(&raw.cmd("STOR trickle.bin"));
    // 100 bytes every 300 ms for 3 s: three times the data timeout, and far
    // below any low-water mark
    let data = pattern(1000);
    for piece in data.chunks(100) {
        d.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    d.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert!(std::fs::read(srv.path("trickle.bin")).unwrap() == data);
}

/// The model's name on the command line.
fn cli_model() -> &'static str {
    match common::model() {
        ftpdlib::ConcurrencyModel::Poll => "async",
        ftpdlib::ConcurrencyModel::ThreadPool => "multi-thread",
        ftpdlib::ConcurrencyModel::Process => "multi-proc",
        ftpdlib::ConcurrencyModel::Prefork { .. } => "pre-fork",
        other => panic!("no command-line name for {other:?}"),
    }
}

/// Voluntary context switches (each a wake-up) of every thread of `pid` and
/// of its descendants.
fn wakeups_of_tree(pid: u32) -> u64 {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        pids.extend(
            common::procs::children_of(pids[i])
                .into_iter()
                .map(|(p, _)| p),
        );
        i += 1;
    }
    let mut n = 0;
    for p in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            n += status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    n
}

/// Uploads whose clients send nothing more (a few bytes, below any receive
/// low-water mark, then silence) must not wake the server: 30 of them for
/// 2 s cost no more than idle control connections do (nothing), not a read
/// every 200 ms each.
fn idle_uploads_cost_no_wakeups() {
    let model = cli_model();
    let d = if model == "pre-fork" {
        common::daemon(&["--concurrency", model, "--workers", "2"])
    } else {
        common::daemon(&["--concurrency", model])
    };
    let mut held = Vec::new();
    for i in 0..30 {
        let mut raw = Raw::connect(d.addr);
        raw.login("user", "12345");
        let mut data = data_connect(raw.pasv());
        prelim(&raw.cmd(&format!("STOR idle{i}")));
        data.write_all(b"0123456789").unwrap();
        held.push((raw, data));
    }
    // every session has read its 10 bytes
    let deadline = Instant::now() + Duration::from_secs(10);
    while (0..30).any(|i| {
        std::fs::metadata(d.dir.path().join(format!("idle{i}"))).map_or(0, |m| m.len()) < 10
    }) {
        assert!(Instant::now() < deadline, "the bytes sent were not written");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = wakeups_of_tree(d.child.id());
    std::thread::sleep(Duration::from_secs(2));
    let woken = wakeups_of_tree(d.child.id()) - before;
    assert!(woken < 30, "{woken} wake-ups in 2 s for 30 idle uploads");
    // and they still complete
    for (i, (mut raw, data)) in held.into_iter().enumerate() {
        drop(data);
        assert_eq!(raw.reply(), "226 Transfer complete.");
        assert_eq!(
            std::fs::read(d.dir.path().join(format!("idle{i}"))).unwrap(),
            b"0123456789"
        );
    }
}

// --- logins

fn failed_logins_are_delayed_then_disconnected() {
    let srv = common::start(|c| {
        c.auth_failed_delay = Duration::from_millis(300);
        c.max_login_attempts = 3;
    });
    let mut raw = srv.raw();
    for i in 1..=3 {
        assert_eq!(raw.cmd("USER user"), "331 Username ok, send password.");
        let t = Instant::now();
        // The NOOP behind the PASS must wait for the delayed 530.
        raw.send(b"PASS wrong\r\nNOOP\r\n");
        let r = raw.reply();
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(300), "attempt {i}: {took:?}");
        assert!(took < Duration::from_secs(3), "attempt {i}: {took:?}");
        if i < 3 {
            assert_eq!(r, "530 Authentication failed.");
            assert_eq!(raw.reply(), "200 I successfully did nothing.");
        } else {
            assert_eq!(r, "530 Authentication failed. Disconnecting.");
            expect_eof(&mut raw);
        }
    }
    let ev = srv
        .events
        .wait_for("disconnect", |e| e.iter().any(|x| x == "disconnect"));
    assert_eq!(
        ev.iter()
            .filter(|e| *e == "login_failed user wrong")
            .count(),
        3,
        "{ev:?}"
    );
    // A good login after failures resets the counter.
    let mut raw = srv.raw();
    for _ in 0..2 {
        raw.cmd("USER user");
        assert_eq!(raw.cmd("PASS bad"), "530 Authentication failed.");
    }
    raw.login(common::USER, common::PASS);
    raw.cmd("REIN");
    for _ in 0..2 {
        raw.cmd("USER user");
        assert_eq!(raw.cmd("PASS bad"), "530 Authentication failed.");
    }
}

// --- banner

fn short_banner() {
    let srv = common::start(|c| c.banner = "Welcome to the test server.".into());
    let raw = srv.raw();
    assert_eq!(raw.greeting, "220 Welcome to the test server.");
}

fn long_banner_is_multiline() {
    let banner = format!(
        "This banner is longer than seventy-five characters: {}",
        "x".repeat(40)
    );
    assert!(banner.len() > 75);
    let b2 = banner.clone();
    let srv = common::start(move |c| c.banner = b2);
    let mut raw = srv.raw();
    assert_eq!(raw.greeting, format!("220-{banner}\r\n220"));
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
}

// --- passive ports and addresses

fn passive_ports_stay_inside_the_range() {
    let (base, held) = free_port_block(4);
    drop(held);
    let range = base..=base + 3;
    let r2 = range.clone();
    let srv = common::start(move |c| c.passive_ports = Some(r2));
    // Four sessions each hold a listener: four distinct ports of the range.
    let mut sessions: Vec<Raw> = (0..4).map(|_| session(&srv)).collect();
    let mut ports: Vec<u16> = sessions.iter_mut().map(|r| r.pasv().port()).collect();
    for p in &ports {
        assert!(range.contains(p), "{p} outside {range:?}");
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    // The range is used up: a fifth session gets 425, never another port.
    let mut fifth = session(&srv);
    assert_eq!(
        fifth.cmd("PASV"),
        "425 Can't open passive connection: no free port in the passive port range."
    );
    // A session's later PASVs reuse the range too.
    for _ in 0..5 {
        let p = sessions[0].pasv().port();
        assert!(range.contains(&p), "{p}");
    }
    // Finishing a transfer frees a port for the fifth session.
    let listing = list(&mut sessions[0], "");
    assert_eq!(listing, "");
    let p = fifth.pasv().port();
    assert!(range.contains(&p), "{p}");
    let listing = list(&mut fifth, "");
    assert_eq!(listing, "");
}

/// A server whose passive port range is `n` ports that this test then holds
/// itself. The ports are taken after the start: a server in a process of its
/// own (the forking models) would otherwise inherit the test's listeners and
/// keep them open after the test drops them.
fn start_with_passive_ports_taken(n: u16) -> (common::TestServer, u16, Vec<TcpListener>) {
    for _ in 0..50 {
        let (base, held) = free_port_block(n);
        drop(held);
        let srv = common::start(move |c| c.passive_ports = Some(base..=base + n - 1));
        let retaken: Result<Vec<TcpListener>, _> = (0..n)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if let Ok(held) = retaken {
            return (srv, base, held);
        }
    }
    panic!("no block of {n} free ports stayed free");
}

fn passive_ports_all_taken_gives_425() {
    let (srv, base, mut held) = start_with_passive_ports_taken(2);
    let mut raw = session(&srv);
    for _ in 0..5 {
        assert_eq!(
            raw.cmd("PASV"),
            "425 Can't open passive connection: no free port in the passive port range."
        );
        assert!(raw.cmd("EPSV").starts_with("425 "));
    }
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
    // Free the second port: every PASV now gets exactly that one.
    drop(held.pop());
    for _ in 0..3 {
        assert_eq!(raw.pasv().port(), base + 1);
    }
    assert_eq!(raw.epsv(), base + 1);
    assert_eq!(list(&mut raw, ""), "");
}

fn masquerade_address_is_announced_in_pasv() {
    let srv = common::start(|c| c.masquerade_address = Some("203.0.113.7".parse().unwrap()));
    let mut raw = session(&srv);
    let r = raw.cmd("PASV");
    assert!(
        r.starts_with("227 Entering passive mode (203,0,113,7,"),
        "{r}"
    );
    // EPSV carries no address; the data connection goes to the real one.
    let port = raw.epsv();
    let mut d = data_connect(SocketAddr::new(srv.addr.ip(), port));
    prelim(&raw.cmd("LIST"));
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
}

fn masquerade_address_map_wins_over_the_default() {
    let srv = common::start(|c| {
        c.masquerade_address = Some("203.0.113.7".parse().unwrap());
        c.masquerade_address_map.insert(
            "127.0.0.1".parse().unwrap(),
            "198.51.100.9".parse().unwrap(),
        );
    });
    let mut raw = session(&srv);
    let r = raw.cmd("PASV");
    assert!(
        r.starts_with("227 Entering passive mode (198,51,100,9,"),
        "{r}"
    );
    // A map without an entry for the server address: the default applies.
    let srv = common::start(|c| {
        c.masquerade_address = Some("203.0.113.7".parse().unwrap());
        c.masquerade_address_map.insert(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.9".parse().unwrap(),
        );
    });
    let mut raw = session(&srv);
    let r = raw.cmd("PASV");
    assert!(
        r.starts_with("227 Entering passive mode (203,0,113,7,"),
        "{r}"
    );
    // Without any masquerading the real address is announced.
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    let r = raw.cmd("PASV");
    assert!(
        r.starts_with("227 Entering passive mode (127,0,0,1,"),
        "{r}"
    );
}

fn foreign_passive_connection_is_closed_silently() {
    let srv = common::start(|c| c.permit_foreign_addresses = false);
    let data = pattern(100_000);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut raw = session(&srv);
    let addr = raw.pasv();
    let mut foreign = common::connect_from(addr, SECOND_LOOPBACK);
    let mut buf = Vec::new();
    match foreign.read_to_end(&mut buf) {
        Ok(_) => assert!(buf.is_empty()),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
    // Not a word on the control channel: the next reply is the NOOP's.
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
    // The real client still gets its data connection.
    let mut d = data_connect(addr);
    prelim(&raw.cmd("RETR f.bin"));
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert!(got == data);
}

fn foreign_passive_connection_accepted_when_permitted() {
    let srv = common::start(|c| c.permit_foreign_addresses = true);
    let data = pattern(100_000);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut raw = session(&srv);
    let addr = raw.pasv();
    let mut foreign = common::connect_from(addr, SECOND_LOOPBACK);
    prelim(&raw.cmd("RETR f.bin"));
    let mut got = Vec::new();
    foreign.read_to_end(&mut got).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert!(got == data);
}

fn port_arg(a: SocketAddr) -> String {
    let SocketAddr::V4(v4) = a else {
        panic!("not IPv4")
    };
    let o = v4.ip().octets();
    format!(
        "{},{},{},{},{},{}",
        o[0],
        o[1],
        o[2],
        o[3],
        v4.port() >> 8,
        v4.port() & 0xff
    )
}

fn port_and_eprt_to_a_foreign_address_are_refused() {
    let srv = common::start(|c| c.permit_foreign_addresses = false);
    let mut raw = session(&srv);
    let l = TcpListener::bind((SECOND_LOOPBACK, 0)).unwrap();
    let a = l.local_addr().unwrap();
    assert_eq!(
        raw.cmd(&format!("PORT {}", port_arg(a))),
        format!("501 Rejected data connection to foreign address {a}.")
    );
    assert_eq!(
        raw.cmd(&format!("EPRT |1|127.0.0.2|{}|", a.port())),
        format!("501 Rejected data connection to foreign address {a}.")
    );
    // Nothing was set up.
    assert_eq!(raw.cmd("LIST"), "425 Use PORT or PASV first.");
    // The client's own address is fine.
    let own = TcpListener::bind("127.0.0.1:0").unwrap();
    let oa = own.local_addr().unwrap();
    assert_eq!(
        raw.cmd(&format!("PORT {}", port_arg(oa))),
        "200 Active data connection established."
    );
}

fn port_to_a_foreign_address_when_permitted() {
    let srv = common::start(|c| c.permit_foreign_addresses = true);
    std::fs::write(srv.path("f.txt"), b"hello foreign\n").unwrap();
    let mut raw = session(&srv);
    let l = TcpListener::bind((SECOND_LOOPBACK, 0)).unwrap();
    let a = l.local_addr().unwrap();
    assert_eq!(
        raw.cmd(&format!("PORT {}", port_arg(a))),
        "200 Active data connection established."
    );
    prelim(&raw.cmd("RETR f.txt"));
    let (mut d, peer) = l.accept().unwrap();
    assert_eq!(peer.ip(), srv.addr.ip());
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert_eq!(got, b"hello foreign\n");
    // EPRT too.
    let l = TcpListener::bind((SECOND_LOOPBACK, 0)).unwrap();
    let a = l.local_addr().unwrap();
    assert_eq!(
        raw.cmd(&format!("EPRT |1|127.0.0.2|{}|", a.port())),
        "200 Active data connection established."
    );
}

fn privileged_ports_refused_unless_permitted() {
    let srv = common::start(|c| c.permit_privileged_ports = false);
    let mut raw = session(&srv);
    assert_eq!(
        raw.cmd("PORT 127,0,0,1,0,21"),
        "501 PORT against the privileged port \"21\" refused."
    );
    assert_eq!(
        raw.cmd("EPRT |1|127.0.0.1|1023|"),
        "501 PORT against the privileged port \"1023\" refused."
    );
    assert_eq!(raw.cmd("LIST"), "425 Use PORT or PASV first.");
    // 1024 is not privileged.
    let r = raw.cmd("PORT 127,0,0,1,4,0");
    assert!(r.starts_with("200 ") || r.starts_with("425 "), "{r}");

    let srv = common::start(|c| c.permit_privileged_ports = true);
    let mut raw = session(&srv);
    // Whether something listens on port 1 or not, the PORT is not refused.
    let r = raw.cmd("PORT 127,0,0,1,0,1");
    assert!(
        r == "200 Active data connection established."
            || r == "425 Can't connect to specified address.",
        "{r}"
    );
}

// --- times

fn set_mtime(p: &std::path::Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// 2020-09-13 12:26:40 UTC: more than six months ago, so LIST shows the year.
const OLD: i64 = 1_600_000_000;

fn gmt_times_in_mdtm_and_list() {
    let srv = common::start(|c| c.use_gmt_times = true);
    std::fs::write(srv.path("t.txt"), b"x").unwrap();
    set_mtime(&srv.path("t.txt"), OLD as u64);
    let mut raw = session(&srv);
    assert_eq!(raw.cmd("MDTM t.txt"), "213 20200913122640");
    let l = list(&mut raw, "t.txt");
    assert!(l.contains(" Sep 13  2020 t.txt\r\n"), "{l}");
    let m = raw.cmd("MLST t.txt");
    assert!(m.contains("modify=20200913122640;"), "{m}");
    // A recent file shows HH:MM.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let recent = now - 3 * 86_400;
    set_mtime(&srv.path("t.txt"), recent);
    let want = chrono::DateTime::from_timestamp(recent as i64, 0)
        .unwrap()
        .format("%b %d %H:%M t.txt")
        .to_string();
    let l = list(&mut raw, "t.txt");
    assert!(l.contains(&want), "{l} / {want}");
    let want = chrono::DateTime::from_timestamp(recent as i64, 0)
        .unwrap()
        .format("213 %Y%m%d%H%M%S")
        .to_string();
    assert_eq!(raw.cmd("MDTM t.txt"), want);
}

fn local_times_in_mdtm_and_list() {
    let srv = common::start(|c| c.use_gmt_times = false);
    std::fs::write(srv.path("t.txt"), b"x").unwrap();
    set_mtime(&srv.path("t.txt"), OLD as u64);
    let local = chrono::DateTime::from_timestamp(OLD, 0)
        .unwrap()
        .with_timezone(&chrono::Local);
    let mut raw = session(&srv);
    assert_eq!(
        raw.cmd("MDTM t.txt"),
        local.format("213 %Y%m%d%H%M%S").to_string()
    );
    let l = list(&mut raw, "t.txt");
    let want = local.format(" %b %d  %Y t.txt\r\n").to_string();
    assert!(l.contains(&want), "{l} / {want}");
}

// --- socket options

fn sendfile_on_and_off_send_identical_bytes() {
    let data = pattern(3 * 256 * 1024 + 12_345);
    let mut results = Vec::new();
    for on in [true, false] {
        let srv = common::start(move |c| c.use_sendfile = on);
        std::fs::write(srv.path("f.bin"), &data).unwrap();
        let mut raw = session(&srv);
        let bin = retr(&mut raw, "f.bin");
        assert!(bin == data, "binary RETR differs (sendfile {on})");
        assert_eq!(raw.cmd("TYPE A"), "200 Type set to: ASCII.");
        let ascii = retr(&mut raw, "f.bin");
        assert!(
            ascii == to_crlf(&data),
            "ASCII RETR differs (sendfile {on})"
        );
        // From an offset too.
        raw.cmd("TYPE I");
        assert_eq!(raw.cmd("REST 1000"), "350 Restarting at position 1000.");
        let tail = retr(&mut raw, "f.bin");
        assert!(
            tail[..] == data[1000..],
            "REST RETR differs (sendfile {on})"
        );
        results.push((bin, ascii));
    }
    assert!(results[0] == results[1]);
}

// --- throttling

/// 2 MiB at 1 MiB/s must take 2 s: never less than 1.8 s (the limit
/// holds), and well under the 4 s of half the rate (the limit is not
/// applied twice); the upper bound leaves room for a busy machine.
fn assert_two_seconds(took: Duration) {
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(3),
        "2 MiB at 1 MiB/s took {took:?}"
    );
}

fn write_limit_throttles_retr() {
    let srv = common::start(|c| c.write_limit = 1 << 20);
    let data = pattern(2 << 20);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut raw = session(&srv);
    let addr = raw.pasv();
    let mut d = data_connect(addr);
    let t = Instant::now();
    prelim(&raw.cmd("RETR f.bin"));
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert_two_seconds(t.elapsed());
    assert!(got == data);
}

fn read_limit_throttles_stor() {
    let srv = common::start(|c| c.read_limit = 1 << 20);
    let data = pattern(2 << 20);
    let mut raw = session(&srv);
    let addr = raw.pasv();
    let d = data_connect(addr);
    let t = Instant::now();
    prelim(&raw.cmd("STOR up.bin"));
    let payload = data.clone();
    let writer = std::thread::spawn(move || {
        let mut d = d;
        d.write_all(&payload).unwrap();
        d.shutdown(std::net::Shutdown::Write).unwrap();
        d
    });
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert_two_seconds(t.elapsed());
    drop(writer.join().unwrap());
    assert!(std::fs::read(srv.path("up.bin")).unwrap() == data);
}

// --- commands during a transfer

/// Start a throttled RETR of a 4 MiB file and read its first bytes.
fn start_slow_retr(srv: &common::TestServer, raw: &mut Raw) -> TcpStream {
    std::fs::write(srv.path("slow.bin"), pattern(4 << 20)).unwrap();
    let addr = raw.pasv();
    let mut d = data_connect(addr);
    prelim(&raw.cmd("RETR slow.bin"));
    let mut first = vec![0u8; 10_000];
    d.read_exact(&mut first).unwrap();
    d
}

fn abor_during_retr() {
    let srv = common::start(|c| c.write_limit = 256 * 1024);
    let mut raw = session(&srv);
    let t = Instant::now();
    let mut d = start_slow_retr(&srv, &mut raw);
    // With the Telnet IP and Synch a real client sends first.
    raw.send(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(raw.reply(), "426 Transfer aborted via ABOR.");
    assert_eq!(raw.reply(), "226 ABOR command successful.");
    // The data connection is closed by the server.
    let mut rest = Vec::new();
    let _ = d.read_to_end(&mut rest);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
    assert_eq!(raw.cmd("ABOR"), "225 No transfer to abort.");
    let ev = srv.events.wait_for("incomplete", |e| {
        e.iter().any(|x| x.starts_with("incomplete_file_sent "))
    });
    assert!(!ev.iter().any(|x| x.starts_with("file_sent ")), "{ev:?}");
}

fn stat_during_retr_reports_the_open_data_connection() {
    let srv = common::start(|c| c.write_limit = 256 * 1024);
    let mut raw = session(&srv);
    let _d = start_slow_retr(&srv, &mut raw);
    let r = raw.cmd("STAT");
    assert!(r.starts_with("211-FTP server status:\r\n"), "{r}");
    assert!(r.contains("\r\n Data connection open:\r\n"), "{r}");
    assert!(r.contains(" Logged in as: user\r\n"), "{r}");
    let sent: u64 = r
        .lines()
        .find_map(|l| l.trim().strip_prefix("Total bytes sent: "))
        .expect("bytes sent line")
        .parse()
        .unwrap();
    assert!(sent >= 10_000, "{r}");
    assert!(r.ends_with("\r\n211 End of status."), "{r}");
    raw.send(b"ABOR\r\n");
    assert_eq!(raw.reply(), "426 Transfer aborted via ABOR.");
    assert_eq!(raw.reply(), "226 ABOR command successful.");
    let r = raw.cmd("STAT");
    assert!(r.contains(" Data connection closed.\r\n"), "{r}");
}

fn quit_during_retr_waits_for_the_transfer() {
    let srv = common::start(|c| c.write_limit = 1 << 20);
    let data = pattern(512 * 1024);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut raw = session(&srv);
    let addr = raw.pasv();
    let mut d = data_connect(addr);
    prelim(&raw.cmd("RETR f.bin"));
    let mut got = vec![0u8; 10_000];
    d.read_exact(&mut got).unwrap();
    // Nothing after QUIT is answered any more.
    raw.send(b"QUIT\r\nNOOP\r\nPWD\r\n");
    d.read_to_end(&mut got).unwrap();
    assert!(got == data, "the transfer must complete");
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert_eq!(raw.reply(), "221 Goodbye.");
    expect_eof(&mut raw);
    let ev = srv
        .events
        .wait_for("disconnect", |e| e.iter().any(|x| x == "disconnect"));
    assert!(ev.iter().any(|x| x.starts_with("file_sent ")), "{ev:?}");
}

// --- bad input

fn bad_input_on_the_control_connection() {
    let srv = common::start(|_| {});
    std::fs::write(srv.path("victim"), b"keep me").unwrap();
    std::fs::write(srv.path("victim2"), b"delete me").unwrap();
    let mut raw = session(&srv);

    raw.send(b"NO\0OP\r\n");
    assert_eq!(raw.reply(), "500 Command \"NO\\x00OP\" not understood.");
    raw.send(b"\xc3\x28\xfe\r\n");
    assert!(raw.reply().starts_with("500 Command \""));
    raw.send(b"RETR a\0b\r\n");
    assert!(raw.reply().starts_with("550 "));
    raw.send(b"CWD \xc3\x28\r\n");
    assert!(raw.reply().starts_with("550 "));
    // Telnet: IAC IP IAC DM before ABOR, option negotiation before NOOP.
    raw.send(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(raw.reply(), "225 No transfer to abort.");
    raw.send(b"\xff\xfb\x01NOOP\r\n");
    assert_eq!(raw.reply(), "200 I successfully did nothing.");
    // A bare CR inside a line does not end it.
    raw.send(b"NO\rOP\r\n");
    assert_eq!(raw.reply(), "500 Command \"NO\\x0dOP\" not understood.");
    raw.send(b"DELE victim\rNOOP\r\n");
    assert!(raw.reply().starts_with("550 "));
    // An empty line.
    raw.send(b"\r\n");
    assert_eq!(raw.reply(), "500 Command \"\" not understood.");

    // A 100 KiB line: one 500, and none of its bytes ever run as a command.
    let long = b"DELE victim\r".repeat(100 * 1024 / 12);
    assert!(long.len() > 100_000);
    raw.send(&long);
    raw.send(b"\r\nNOOP\r\n");
    assert_eq!(raw.reply(), "500 Command too long.");
    assert_eq!(raw.reply(), "200 I successfully did nothing.");
    assert_eq!(std::fs::read(srv.path("victim")).unwrap(), b"keep me");

    // Malformed arguments.
    for c in [
        "PORT 1,2,3",
        "PORT a,b,c,d,e,f",
        "PORT 127,0,0,1,300,1",
        "PORT 127,0,0,1,4,0,9",
        "EPRT |1|127.0.0.1|",
        "EPRT garbage",
        "EPRT |1|999.0.0.1|2000|",
        "EPRT |1|127.0.0.1|99999|",
        "REST abc",
        "REST -5",
        "REST 99999999999999999999999",
        "MFMT 2021 victim",
        "MFMT 20211301000000 victim",
        "MFMT nospace",
    ] {
        let r = raw.cmd(c);
        assert!(r.starts_with("501 "), "{c}: {r}");
    }
    assert_eq!(std::fs::read(srv.path("victim")).unwrap(), b"keep me");

    // The session still works and DELE really deletes.
    assert_eq!(raw.cmd("NOOP"), "200 I successfully did nothing.");
    assert_eq!(raw.cmd("DELE victim2"), "250 File removed.");
    assert!(!srv.path("victim2").exists());
    // And the server serves a new client.
    let mut other = session(&srv);
    assert_eq!(other.cmd("PWD"), "257 \"/\" is the current directory.");
}

// --- IPv6

fn ipv6_login_and_epsv_transfers() {
    let srv = common::start_on("::1".parse().unwrap(), |_| {});
    assert!(srv.addr.is_ipv6());
    let data = pattern(300_000);
    let mut raw = session(&srv);
    assert_eq!(
        raw.cmd("PASV"),
        "425 Can't use PASV on an IPv6 connection; use EPSV."
    );
    assert_eq!(
        raw.cmd("EPSV 1"),
        "522 Network protocol not supported (use 2)."
    );
    // Upload.
    let port = raw.epsv();
    let mut d = data_connect(SocketAddr::new(srv.addr.ip(), port));
    prelim(&raw.cmd("STOR six.bin"));
    d.write_all(&data).unwrap();
    drop(d);
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert!(std::fs::read(srv.path("six.bin")).unwrap() == data);
    // Download.
    let port = raw.epsv();
    let mut d = data_connect(SocketAddr::new(srv.addr.ip(), port));
    prelim(&raw.cmd("RETR six.bin"));
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert!(got == data);
    // Active mode over IPv6.
    let l = TcpListener::bind("[::1]:0").unwrap();
    let port = l.local_addr().unwrap().port();
    assert_eq!(
        raw.cmd(&format!("EPRT |2|::1|{port}|")),
        "200 Active data connection established."
    );
    prelim(&raw.cmd("NLST"));
    let (mut d, _) = l.accept().unwrap();
    let mut names = String::new();
    d.read_to_string(&mut names).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
    assert_eq!(names, "six.bin\r\n");
    let st = raw.cmd("STAT");
    assert!(st.contains(&format!("Connected to: {}", srv.addr)), "{st}");
}

fn ipv4_client_of_an_ipv4_server() {
    let srv = common::start(|_| {});
    let mut raw = session(&srv);
    assert_eq!(
        raw.cmd("EPSV 2"),
        "522 Network protocol not supported (use 1)."
    );
    assert!(raw.cmd("EPRT |2|::1|5000|").starts_with("522 "));
    let port = raw.epsv();
    let mut d = data_connect(SocketAddr::new(srv.addr.ip(), port));
    prelim(&raw.cmd("LIST"));
    let mut s = String::new();
    d.read_to_string(&mut s).unwrap();
    assert_eq!(raw.reply(), "226 Transfer complete.");
}
