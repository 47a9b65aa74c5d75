//! End-to-end benchmark: the `ftpdlib` binary in each concurrency model
//! against pyftpdlib (its async server, and its threaded and forking ones
//! beside our models of the same kind), pure-ftpd, vsftpd and proftpd, measured in the same
//! run on the same machine with clients we did not write: curl (C) for the
//! big file, Python's asyncio and blocking sockets for many and single
//! transfers, and pyftpdlib's own benchmark script; lean Rust clients for
//! the login, many-client and memory figures.
//!
//! `cargo bench --bench ftpbench`; the peers are installed (as root) by
//! `sh benches/peers.sh`. A peer that is missing or does not start is
//! reported and left out.
//!
//! Knobs (environment):
//! - `FTPBENCH_MB`: size of the big file in MiB (default 512).
//! - `FTPBENCH_MODELS`: ftpdlib models (default
//!   `multi-thread,async,multi-proc,pre-fork`).
//! - `FTPBENCH_PEERS`: default
//!   `pyftpdlib,pyftpdlib-multi-thread,pyftpdlib-multi-proc,pure-ftpd,vsftpd,proftpd`
//!   (`pyftpdlib` is its async server, the one every ratio is taken against;
//!   the other two are its `ThreadedFTPServer` and `MultiprocessFTPServer`,
//!   for each model's ratio against its like); empty for none.
//! - `FTPBENCH_PEERS_DIR`: where `benches/peers.sh` unpacked pure-ftpd,
//!   vsftpd and proftpd (default `target/peers`; a pure-ftpd on `PATH` is
//!   used when none is unpacked).
//! - `FTPBENCH_BASELINE`: path of another `ftpdlib` build, measured in the
//!   same models as "baseline <model>", to compare two commits in one run.
//! - `FTPBENCH_STORAGE`: `disk,shm` (default both): the transfer figures are
//!   taken with the served files on disk (a temporary directory under
//!   `FTPBENCH_DISK_DIR`, default `/var/tmp`) and in `/dev/shm`.
//! - `FTPBENCH_ALONE_ROUNDS`: rounds of the figures taken with each server
//!   alone (default 3).
//! - `FTPBENCH_ROUNDS`: rounds of every transfer figure (default 5 for the
//!   big file, 3 for the many-client and Python figures).
//! - `FTPBENCH_SCRIPT`: path of pyftpdlib's `scripts/ftpbench` (default:
//!   fetched with `pip download` from pyftpdlib's source distribution of the
//!   installed version and cached under `target/ftpbench-src`);
//!   `FTPBENCH_SCRIPT_RUNS` (default 5) its runs per server and storage.
//! - `FTPBENCH_TLS_IDLE_SECS` (default 15): the idle-TLS CPU window.
//! - `FTPBENCH_QUICK=1`: one round of everything with small sizes, a smoke
//!   check of the whole bench in a few minutes.
//!
//! Each server alone (files in /dev/shm when it is measured), in
//! `FTPBENCH_ALONE_ROUNDS` rounds (default 3; the order of the servers
//! rotating by one each round; medians): 300 and 1000
//! clients connecting and logging in at once (wall time, failures: a client
//! without its 230 within 10 s failed), 1000 logins with 32 in flight, RETR
//! MiB/s of the big file with 300 idle clients (curl, the median of as many
//! downloads as the curl figures' rounds), memory (PSS summed over the process tree) at
//! start and with 300 and 1000 idle clients, and for the poll model 10,000
//! idle sessions.
//!
//! All servers at once, taking turns (every server is started first, then
//! one round each in turn, so that a slow spell of the machine is shared
//! rather than landing on one), per storage; medians over the rounds (a
//! figure that fails in one round, a client failing or the server not
//! answering, is reported as failed, with the reason under "notes", and is
//! not run again):
//! - curl: RETR and STOR MiB/s of the big file; server CPU seconds per GiB
//!   for each direction (every process and thread of the server, exited
//!   ones included: from a cgroup of its own, in nanoseconds, where the
//!   bench may make one, else from `/proc` in 10 ms ticks), the median of
//!   the rounds like every other figure (the turns rotate by one server
//!   each round);
//! - Rust threads: 100 clients each RETR / STOR 10 MiB at once;
//! - Python asyncio (`benches/support/many_clients.py`): 100 clients logged
//!   in first, then all at once RETR 10 MiB each, STOR 10 MiB each to its
//!   own name, and 200 clients STOR 10 MiB to one name: wall seconds from
//!   the start signal to the last 226;
//! - Python blocking (`benches/support/blocking_client.py`): one 10 MiB RETR
//!   read with `recv(65536)` and `recv(262144)`, median ms from PASV to the
//!   226; STOR of 8 KiB `send()`s for 1 s to a new name and over an
//!   existing one, MiB/s;
//! - pyftpdlib's `ftpbench -b all -n 200 -s 10M`, each of its lines.
//!
//! FTPS (explicit, `PROT P`, curl `--ssl-reqd`): RETR and STOR MiB/s of the
//! big file (median of 3) for every ftpdlib model and for pyftpdlib's
//! TLS_FTPHandler; for the async servers also the server's CPU seconds over
//! `FTPBENCH_TLS_IDLE_SECS` with 100 idle TLS sessions, and again after
//! those 100 clients vanished without closing TLS.
//!
//! The output ends with the tables and, per figure, each ftpdlib model's
//! ratio against pyftpdlib and against the best peer measured.
//!
//! Peers: pyftpdlib as `python3 -m pyftpdlib`; pure-ftpd with a virtual
//! user (puredb); vsftpd standalone for the local user `ftpbench`, with
//! `lock_upload_files=NO` (with its default lock, ftpbench's concurrent STOR
//! to one name never ends); proftpd standalone (`-n`) with a virtual user
//! from an `AuthUserFile`, chrooted to its directory. Their other settings
//! are the defaults (vsftpd's listen backlog of 32 and network namespace per
//! session, proftpd's backlog of 128), so their login figures are those of a
//! stock install. pure-ftpd answers a RETR that the client aborts with a
//! `150` line, which ftplib rejects: ftpbench stops after its first figure
//! there.
//!
//! The default run takes about 40 minutes on the 2-core development machine
//! with every peer (the big file is 512 MiB for that; it was 1 GiB), the
//! quick one under 3.
//!
//! This file is the driver (what is measured, in which order); the rest is
//! in `benches/ftpbench/`: `plan.rs` (the knobs' sizes, the account),
//! `procs.rs` (stopping on a signal, `/proc` readings, bounded commands),
//! `peers.rs` (each server: installed where, configured how, launched and
//! stopped), `clients.rs` (the Rust, curl and Python clients, pyftpdlib's
//! script), `figures.rs` (each figure, alone or taking turns), `storage.rs`
//! (disk and shm) and `tables.rs` (results, tables, ratios, the report).

#[path = "ftpbench/clients.rs"]
mod clients;
#[path = "ftpbench/figures.rs"]
mod figures;
#[path = "ftpbench/peers.rs"]
mod peers;
#[path = "ftpbench/plan.rs"]
mod plan;
#[path = "ftpbench/procs.rs"]
mod procs;
#[path = "support/server.rs"]
mod server;
#[path = "ftpbench/storage.rs"]
mod storage;
#[path = "ftpbench/tables.rs"]
mod tables;

use std::time::Instant;

use clients::pyftpdlib_script;
use figures::{measure_alone, measure_tls, transfers};
use peers::{launch, launch_pyftpdlib_tls, pyftpdlib_version, server_dir, Ctx, Peers, Running};
use plan::Plan;
use procs::{progress, stop_on_signal, track_dir, BEGAN};
use storage::{make_storage, Storage};
use tables::{print_header, print_tables, Results, ServerInfo};

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes
    }
    let began = *BEGAN.get_or_init(Instant::now);
    stop_on_signal();
    let p = Plan::from_env();
    let models = std::env::var("FTPBENCH_MODELS")
        .unwrap_or_else(|_| "multi-thread,async,multi-proc,pre-fork".into());
    let peers_env = std::env::var("FTPBENCH_PEERS").unwrap_or_else(|_| {
        "pyftpdlib,pyftpdlib-multi-thread,pyftpdlib-multi-proc,pure-ftpd,vsftpd,proftpd".into()
    });
    let peer_list: Vec<&str> = peers_env.split(',').map(str::trim).collect();
    let storages_env = std::env::var("FTPBENCH_STORAGE").unwrap_or_else(|_| "disk,shm".into());
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let mut res = Results::default();

    // a throwaway certificate, outside the served directories
    let certs = tempfile::tempdir().expect("temp dir");
    track_dir(certs.path());
    let (cert, key) =
        ftpdlib::tls::self_signed(&["localhost", "127.0.0.1"], 2).expect("certificate");
    let ctx = Ctx {
        certfile: certs.path().join("cert.pem"),
        keyfile: certs.path().join("key.pem"),
        peers: Peers::find(),
    };
    std::fs::write(&ctx.certfile, &cert).expect("write");
    std::fs::write(&ctx.keyfile, &key).expect("write");

    let py_ver = pyftpdlib_version();
    let want = |p: &str| peer_list.contains(&p);
    let kinds = peers::kinds(&models, &peer_list, py_ver.as_deref(), &mut res);
    let versions = peers::versions(&ctx.peers, py_ver.as_deref());
    let script = if py_ver.is_some() {
        pyftpdlib_script(&mut res)
    } else {
        None
    };

    let mut storages: Vec<Storage> = storages_env
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| make_storage(s, p.mb))
        .collect();
    if storages.is_empty() {
        eprintln!("no storage to measure on");
        return;
    }
    // the session figures once, in /dev/shm when it is measured
    let alone_at = storages.iter().position(|s| s.tag == "shm").unwrap_or(0);

    let mut servers: Vec<ServerInfo> = Vec::new();
    let mut tls_rows = Vec::new();
    let mut idle_huge = Vec::new();
    {
        let st = &storages[alone_at];
        // in rounds, the order rotating by one server each round, so that a
        // slow minute of the machine does not decide one server's figures;
        // FTPS and the many idle sessions in the first round only
        let turns = (0..p.alone_rounds).flat_map(|round| {
            let k = round % kinds.len().max(1);
            (k..kinds.len()).chain(0..k).map(move |i| (round, i))
        });
        for (round, i) in turns {
            let kind = &kinds[i];
            let dir = server_dir(st.dir.path(), &format!("alone{i}"));
            let Some(run) = launch(kind, &ctx, &dir, &mut res) else {
                continue;
            };
            progress(&format!(
                "measuring {} alone (round {} of {})",
                run.name(),
                round + 1,
                p.alone_rounds
            ));
            if !servers.iter().any(|s| s.name == run.name()) {
                servers.push(ServerInfo {
                    name: run.name().to_string(),
                    ours: kind.ours(),
                });
            }
            if let Some(x) = measure_alone(&run, &p, round == 0, &mut res) {
                idle_huge.push((run.name().to_string(), x));
            }
            if round == 0 && kind.ours() {
                progress(&format!("measuring {} FTPS", run.name()));
                tls_rows.push(measure_tls(
                    &run,
                    &p,
                    run.name().ends_with("async"),
                    &mut res,
                ));
            }
            drop(run);
            let _ = std::fs::remove_dir_all(&dir);
        }
        if py_ver.is_some() && want("pyftpdlib") {
            // FTPS: a second instance with TLS_FTPHandler (needs pyopenssl)
            let dir = server_dir(st.dir.path(), "tls-py");
            if let Some(run) = launch_pyftpdlib_tls(&ctx, &dir, &mut res) {
                progress(&format!("measuring {} FTPS", run.name()));
                tls_rows.push(measure_tls(&run, &p, true, &mut res));
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    for st in &storages {
        let runs: Vec<Running> = kinds
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                let dir = server_dir(st.dir.path(), &format!("s{i}"));
                launch(k, &ctx, &dir, &mut res)
            })
            .collect();
        for r in &runs {
            if !servers.iter().any(|s| s.name == r.name()) {
                servers.push(ServerInfo {
                    name: r.name().to_string(),
                    ours: kinds.iter().any(|k| k.ours() && k.name() == r.name()),
                });
            }
        }
        progress(&format!(
            "[{}] transfers, servers taking turns: {}",
            st.tag,
            runs.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
        ));
        transfers(&runs, &st.tag, &p, script.as_deref(), &mut res);
    }
    // keep the table order the order of `kinds`
    servers.sort_by_key(|s| kinds.iter().position(|k| k.name() == s.name));

    let elapsed = began.elapsed().as_secs();
    print_header(&p, elapsed, &versions, &storages);
    print_tables(
        &p, &storages, alone_at, &servers, &idle_huge, &tls_rows, &res,
    );
    storages.clear();
}
