//! Each figure: a server's session and memory figures alone, its FTPS
//! figures, and every transfer figure with all servers taking turns.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::clients::{
    blocking, curl, ftpbench_run, logins, logins_in_flight, many_clients, many_idle, parallel,
    remove_prefixed, tls_login, Ctl, FTPBENCH_LINES,
};
use crate::peers::Running;
use crate::plan::{Plan, PASS, USER};
use crate::procs::{cpu_secs, progress, pss_mib, settle_storage, wait_quiet};
use crate::tables::Results;

/// The median; NaN (failed) when there is none or any round failed.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Whether a figure already failed in an earlier round (it is not run
/// again: its result stays "failed", and a failure often costs a timeout).
fn failed_before(v: &[f64]) -> bool {
    v.iter().any(|x| x.is_nan())
}

/// The poll model's many idle sessions: how many it held, its PSS (MiB)
/// with them, the milliseconds a new client then took to log in, and
/// whether it did.
pub(crate) type IdleSessions = (usize, f64, f64, bool);

/// A server's session and memory figures, measured while it runs alone
/// (PSS counts shared pages in part, so another instance of the same binary
/// would make it look smaller): one round's, each a sample of the figure's
/// median ([`Results::sample`]). The poll model's many idle sessions only
/// when `first` (the first round).
pub(crate) fn measure_alone(
    run: &Running,
    p: &Plan,
    first: bool,
    res: &mut Results,
) -> Option<IdleSessions> {
    let pid = run.pid();
    let name = run.name().to_string();
    let addr = run.addr();
    let url = format!("ftp://{USER}:{PASS}@{addr}/big.bin");
    res.sample(&name, "pss_start", pss_mib(pid), 0);

    let (t, f, idle) = logins(addr, p.logins_small);
    res.sample(&name, "login_small", t, f);
    res.sample(&name, "pss_small", pss_mib(pid), 0);
    // the median of several downloads: one download's rate moves with
    // where the server and curl happen to run (2058 and 2952 MiB/s for the
    // same peer in two runs)
    let rates = (0..p.curl_runs)
        .map(|_| {
            curl(&["-o", "/dev/null", &url]).map_or(f64::NAN, |d| p.mb as f64 / d.as_secs_f64())
        })
        .collect();
    res.sample(&name, "retr_idle", median(rates), 0);
    drop(idle);
    wait_quiet(addr);

    let (t, f, idle) = logins(addr, p.logins_big);
    res.sample(&name, "login_big", t, f);
    res.sample(&name, "pss_big", pss_mib(pid), 0);
    drop(idle);
    wait_quiet(addr);

    let (t, f) = logins_in_flight(addr, p.inflight_total, 32);
    res.sample(&name, "login_32", t, f);
    wait_quiet(addr);

    if first && (name == "ftpdlib async" || name == "baseline async") {
        let idle = many_idle(addr, p.idle_huge);
        let pss = pss_mib(pid);
        let t = Instant::now();
        let ok = Ctl::login(addr).is_some();
        let held = idle.len();
        drop(idle);
        wait_quiet(addr);
        return Some((held, pss, t.elapsed().as_secs_f64() * 1000.0, ok));
    }
    None
}

/// FTPS figures of one server.
pub(crate) struct TlsRow {
    pub(crate) name: String,
    /// CPU seconds over the idle window: 100 idle TLS sessions, then after 100 abrupt disconnects.
    pub(crate) idle_cpu: Option<(f64, f64)>,
}

pub(crate) fn measure_tls(run: &Running, p: &Plan, idle: bool, res: &mut Results) -> TlsRow {
    let name = run.name().to_string();
    let url = format!("ftp://{USER}:{PASS}@{}/", run.addr());
    let rate = |d: Option<Duration>| d.map_or(f64::NAN, |d| p.mb as f64 / d.as_secs_f64());
    let get = format!("{url}big.bin");
    let put = format!("{url}tlsup.bin");
    let src = run.dir.join("big.bin").to_string_lossy().into_owned();
    let retr = median(
        (0..p.tls_runs)
            .map(|_| rate(curl(&["--ssl-reqd", "-k", "-o", "/dev/null", &get])))
            .collect(),
    );
    let stor = median(
        (0..p.tls_runs)
            .map(|_| {
                let _ = std::fs::remove_file(run.dir.join("tlsup.bin"));
                rate(curl(&["--ssl-reqd", "-k", "-T", &src, &put]))
            })
            .collect(),
    );
    let _ = std::fs::remove_file(run.dir.join("tlsup.bin"));
    res.set(&name, "tls_retr", retr);
    res.set(&name, "tls_stor", stor);
    let mut idle_cpu = None;
    if idle {
        let connector = native_tls::TlsConnector::builder()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true)
            .build();
        if let Ok(connector) = connector {
            let pid = run.pid();
            let sessions: Vec<_> = (0..100)
                .filter_map(|_| tls_login(run.addr(), &connector))
                .collect();
            if sessions.len() == 100 {
                let secs = Duration::from_secs(p.tls_idle_secs);
                let c0 = cpu_secs(pid);
                std::thread::sleep(secs);
                let held = cpu_secs(pid) - c0;
                // vanish: no close_notify, no QUIT
                for t in &sessions {
                    let _ = t.get_ref().shutdown(std::net::Shutdown::Both);
                }
                drop(sessions);
                let c1 = cpu_secs(pid);
                std::thread::sleep(secs);
                idle_cpu = Some((held, cpu_secs(pid) - c1));
            } else {
                res.note(format!(
                    "{name}: only {} TLS sessions logged in",
                    sessions.len()
                ));
            }
        }
    }
    TlsRow { name, idle_cpu }
}

/// Every transfer figure of every server on one storage. The servers run at
/// once and take turns, one transfer (or one round) each, so that a slow
/// spell of the machine (run-to-run noise here is about ±30 %) falls on all
/// of them rather than on whichever was being measured.
pub(crate) fn transfers(
    runs: &[Running],
    st: &str,
    p: &Plan,
    script: Option<&Path>,
    res: &mut Results,
) {
    let k = |s: &str| format!("{s}@{st}");
    let n = runs.len();
    let rate = |d: Option<Duration>| d.map_or(f64::NAN, |d| p.mb as f64 / d.as_secs_f64());

    // curl, the big file; CPU from just before a server's transfer to just
    // before its next one (it is idle meanwhile), so a forking server's
    // session that ends after curl did is still counted. The order of the
    // turns moves by one server each round: whichever transfer meets the
    // machine in a costly state (the first upload after gigabytes of page
    // cache were written costs up to 4x the CPU of the next ones) is not
    // always the same server's, and the medians leave such a round out.
    progress(&format!("[{st}] curl, {} MiB file", p.mb));
    let mut retr = vec![Vec::new(); n];
    let mut stor = vec![Vec::new(); n];
    // per server and direction (0 RETR, 1 STOR): CPU seconds of each turn
    let mut cpu = vec![[Vec::new(), Vec::new()]; n];
    let mut last: Vec<Option<(usize, f64)>> = vec![None; n];
    // direction 0 RETR, 1 STOR, None: stop counting
    let mark = |i: usize,
                dir: Option<usize>,
                last: &mut [Option<(usize, f64)>],
                cpu: &mut [[Vec<f64>; 2]]| {
        let now = cpu_secs(runs[i].pid());
        if let Some((d, c)) = last[i] {
            cpu[i][d].push(now - c);
        }
        last[i] = dir.map(|d| (d, now));
    };
    for round in 0..p.curl_runs {
        let turns: Vec<usize> = (0..n).map(|t| (t + round) % n).collect();
        for &i in &turns {
            let r = &runs[i];
            settle_storage();
            mark(i, Some(0), &mut last, &mut cpu);
            let url = format!("ftp://{USER}:{PASS}@{}/big.bin", r.addr());
            retr[i].push(rate(curl(&["-o", "/dev/null", &url])));
        }
        for &i in &turns {
            let r = &runs[i];
            let _ = std::fs::remove_file(r.dir.join("up.bin"));
            settle_storage();
            mark(i, Some(1), &mut last, &mut cpu);
            let url = format!("ftp://{USER}:{PASS}@{}/up.bin", r.addr());
            let src = r.dir.join("big.bin").to_string_lossy().into_owned();
            stor[i].push(rate(curl(&["-T", &src, &url])));
        }
    }
    let gib = p.mb as f64 / 1024.0;
    for (i, r) in runs.iter().enumerate() {
        wait_quiet(r.addr());
        mark(i, None, &mut last, &mut cpu);
        let _ = std::fs::remove_file(r.dir.join("up.bin"));
        res.set(r.name(), &k("retr"), median(std::mem::take(&mut retr[i])));
        res.set(r.name(), &k("stor"), median(std::mem::take(&mut stor[i])));
        let [c_retr, c_stor] = std::mem::take(&mut cpu[i]);
        let per_gib = |v: Vec<f64>| median(v.into_iter().map(|c| c / gib).collect());
        res.set(r.name(), &k("cpu_retr"), per_gib(c_retr));
        res.set(r.name(), &k("cpu_stor"), per_gib(c_stor));
    }

    progress(&format!("[{st}] Rust clients, {} × 10 MiB", p.par_clients));
    let n_par = p.par_clients;
    let mut pr = vec![Vec::new(); n];
    let mut ps = vec![Vec::new(); n];
    for _ in 0..p.runs {
        for (i, r) in runs.iter().enumerate() {
            if failed_before(&pr[i]) {
                continue;
            }
            let (t, err) = parallel(r.addr(), "RETR", p.par_clients);
            if let Some(e) = err {
                res.note_as(
                    format!("{} {st} rust retr", r.name()),
                    format!("{} [{st}]: Rust {n_par}×10 MiB RETR: {e}", r.name()),
                );
            }
            pr[i].push(t);
            wait_quiet(r.addr());
        }
        for (i, r) in runs.iter().enumerate() {
            if failed_before(&ps[i]) {
                continue;
            }
            let (t, err) = parallel(r.addr(), "STOR", p.par_clients);
            if let Some(e) = err {
                res.note_as(
                    format!("{} {st} rust stor", r.name()),
                    format!("{} [{st}]: Rust {n_par}×10 MiB STOR: {e}", r.name()),
                );
            }
            ps[i].push(t);
            wait_quiet(r.addr());
            remove_prefixed(&r.dir, "par");
        }
    }
    for (i, r) in runs.iter().enumerate() {
        res.set(r.name(), &k("par_retr"), median(std::mem::take(&mut pr[i])));
        res.set(r.name(), &k("par_stor"), median(std::mem::take(&mut ps[i])));
    }

    progress(&format!("[{st}] Python clients"));
    let ops = [
        ("aio_retr", "retr", p.par_clients, "ten.bin"),
        ("aio_stor", "stor", p.par_clients, "aio"),
        ("aio_one", "stor-one", p.one_name_clients, "aio-one.bin"),
    ];
    let mut aio = vec![vec![Vec::new(); ops.len()]; n];
    let mut blk = vec![Vec::new(); n];
    for _ in 0..p.runs {
        for (j, &(_, op, clients, name)) in ops.iter().enumerate() {
            for (i, r) in runs.iter().enumerate() {
                if failed_before(&aio[i][j]) {
                    continue;
                }
                aio[i][j].push(many_clients(r, st, (op, clients, name), res));
                remove_prefixed(&r.dir, "aio");
                wait_quiet(r.addr());
            }
        }
        for (i, r) in runs.iter().enumerate() {
            if blk[i].iter().any(|b: &[f64; 4]| failed_before(b)) {
                continue;
            }
            blk[i].push(blocking(r, st, p, res).unwrap_or([f64::NAN; 4]));
            wait_quiet(r.addr());
        }
    }
    for (i, r) in runs.iter().enumerate() {
        for (j, &(key, ..)) in ops.iter().enumerate() {
            res.set(r.name(), &k(key), median(std::mem::take(&mut aio[i][j])));
        }
        for (c, key) in ["blk_r64", "blk_r256", "blk_new", "blk_old"]
            .iter()
            .enumerate()
        {
            let v = blk[i].iter().map(|b| b[c]).collect();
            res.set(r.name(), &k(key), median(v));
        }
    }

    let Some(script) = script else {
        return;
    };
    progress(&format!("[{st}] pyftpdlib's ftpbench"));
    let mut fb: Vec<HashMap<&str, Vec<f64>>> = vec![HashMap::new(); n];
    let mut hangs = vec![false; n];
    // the turns rotate by one server each run, as the curl rounds do
    for round in 0..p.script_runs {
        for j in 0..n {
            let i = (j + round) % n;
            let r = &runs[i];
            if hangs[i] {
                continue;
            }
            let (got, ended) = ftpbench_run(r, st, script, p, res);
            hangs[i] = !ended;
            for (key, v) in got {
                fb[i].entry(key).or_default().push(v);
            }
            wait_quiet(r.addr());
        }
    }
    for (i, r) in runs.iter().enumerate() {
        for &(key, ..) in &FTPBENCH_LINES {
            let v = fb[i].remove(key).unwrap_or_default();
            res.set(r.name(), &k(key), median(v));
        }
    }
}
