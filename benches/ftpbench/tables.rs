//! The results, their tables and ratios, and the description of the run
//! that heads them.

use std::collections::HashMap;
use std::process::Command;

use crate::clients::FTPBENCH_LINES;
use crate::figures::{median, IdleSessions, TlsRow};
use crate::plan::Plan;
use crate::storage::Storage;

#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

/// One figure: a column of the tables, a line of the ratio table.
struct Metric {
    key: String,
    label: String,
    better: Better,
    decimals: usize,
}

fn metric(key: &str, label: &str, better: Better, decimals: usize) -> Metric {
    Metric {
        key: key.into(),
        label: label.into(),
        better,
        decimals,
    }
}

struct Section {
    title: String,
    /// What the ratio table adds to each of its figures' labels.
    tag: String,
    metrics: Vec<Metric>,
}

#[derive(Clone, Copy)]
struct Cell {
    v: f64,
    /// Clients that failed (shown beside the value when not 0).
    failed: usize,
}

#[derive(Default)]
pub(crate) struct Results {
    cells: HashMap<(String, String), Cell>,
    /// Each round's figure of the values measured in rounds ([`Results::sample`]).
    samples: HashMap<(String, String), Vec<Cell>>,
    /// What went wrong: (what, the first message, how many times).
    notes: Vec<(String, String, usize)>,
}

impl Results {
    pub(crate) fn set(&mut self, server: &str, key: &str, v: f64) {
        self.set_failed(server, key, v, 0);
    }
    pub(crate) fn set_failed(&mut self, server: &str, key: &str, v: f64, failed: usize) {
        self.cells
            .insert((server.into(), key.into()), Cell { v, failed });
    }
    /// One round's figure of a value measured in several rounds: the value
    /// shown is the median of the rounds so far (failed in any round: failed),
    /// with the median of their failed clients.
    pub(crate) fn sample(&mut self, server: &str, key: &str, v: f64, failed: usize) {
        let all = self.samples.entry((server.into(), key.into())).or_default();
        all.push(Cell { v, failed });
        let v = median(all.iter().map(|c| c.v).collect());
        let failed = median(all.iter().map(|c| c.failed as f64).collect());
        self.set_failed(server, key, v, failed as usize);
    }
    fn get(&self, server: &str, key: &str) -> Option<Cell> {
        self.cells.get(&(server.into(), key.into())).copied()
    }
    pub(crate) fn note(&mut self, s: String) {
        self.note_as(s.clone(), s);
    }
    /// A note that is listed once per `what`, with how often it came.
    pub(crate) fn note_as(&mut self, what: String, s: String) {
        eprintln!("{s}");
        match self.notes.iter_mut().find(|n| n.0 == what) {
            Some(n) => n.2 += 1,
            None => self.notes.push((what, s, 1)),
        }
    }
}

fn fmt_cell(c: Option<Cell>, decimals: usize) -> String {
    match c {
        None => "-".into(),
        Some(c) if !c.v.is_finite() => "failed".into(),
        Some(c) if c.failed > 0 => format!("{:.*} ({} failed)", decimals, c.v, c.failed),
        Some(c) => format!("{:.*}", decimals, c.v),
    }
}

fn print_table(sec: &Section, servers: &[ServerInfo], res: &Results) {
    println!("\n{}\n", sec.title);
    print!("| server |");
    for m in &sec.metrics {
        print!(" {} |", m.label);
    }
    println!();
    print!("|---|");
    for _ in &sec.metrics {
        print!("---:|");
    }
    println!();
    for s in servers {
        if sec
            .metrics
            .iter()
            .all(|m| res.get(&s.name, &m.key).is_none())
        {
            continue;
        }
        print!("| {} |", s.name);
        for m in &sec.metrics {
            print!(" {} |", fmt_cell(res.get(&s.name, &m.key), m.decimals));
        }
        println!();
    }
}

/// How many times better `ours` is than `theirs` (higher is better).
fn ratio(better: Better, ours: f64, theirs: f64) -> Option<f64> {
    let r = match better {
        Better::Higher => ours / theirs,
        Better::Lower => theirs / ours,
    };
    (r.is_finite() && r > 0.0).then_some(r)
}

fn usable(c: Option<Cell>) -> Option<f64> {
    c.filter(|c| c.v.is_finite() && c.v > 0.0 && c.failed == 0)
        .map(|c| c.v)
}

/// One line per figure: pyftpdlib's value, the best peer's, and each of our
/// servers as `×pyftpdlib / ×best peer`.
fn print_ratios(sections: &[Section], servers: &[ServerInfo], res: &Results) {
    let ours: Vec<&ServerInfo> = servers.iter().filter(|s| s.ours).collect();
    let peers: Vec<&ServerInfo> = servers.iter().filter(|s| !s.ours).collect();
    let py = peers.iter().find(|s| s.name == "pyftpdlib async");
    // pyftpdlib's server of the same model as ours, where it has one
    let like = |ours: &str| {
        let model = ours.strip_prefix("ftpdlib ")?;
        let name = format!("pyftpdlib {model}");
        peers.iter().find(|p| p.name == name)
    };
    let any_like = ours.iter().any(|s| like(&s.name).is_some());
    println!(
        "\nRatios: each ftpdlib server against pyftpdlib async / against the best peer \
         measured ({}). Higher is better: MiB/s ours÷theirs; seconds, ms, CPU and MiB \
         of memory theirs÷ours. A peer with failed clients is not counted as best.{}\n",
        peers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if any_like {
            " A third ratio, where pyftpdlib has a server of the same model (threads, \
             a process per connection), is against that one."
        } else {
            ""
        }
    );
    print!("| figure | pyftpdlib | best peer |");
    for s in &ours {
        print!(" {} |", s.name);
    }
    println!();
    print!("|---|---:|---:|");
    for _ in &ours {
        print!("---:|");
    }
    println!();
    for sec in sections {
        for m in &sec.metrics {
            let has_ours = ours.iter().any(|s| res.get(&s.name, &m.key).is_some());
            if !has_ours {
                continue;
            }
            let py_v = py.and_then(|p| res.get(&p.name, &m.key));
            let best = peers
                .iter()
                .filter_map(|p| usable(res.get(&p.name, &m.key)).map(|v| (p, v)))
                .reduce(|a, b| {
                    let b_better = match m.better {
                        Better::Higher => b.1 > a.1,
                        Better::Lower => b.1 < a.1,
                    };
                    if b_better {
                        b
                    } else {
                        a
                    }
                });
            // (pyftpdlib's servers keep their model: it has three)
            let short = |n: &str| match n.strip_prefix("pyftpdlib ") {
                Some("async") => "pyftpdlib".to_string(),
                Some(_) => n.to_string(),
                None => n.split(' ').next().unwrap_or(n).to_string(),
            };
            print!(
                "| {} ({}) | {} | {} |",
                m.label,
                sec.tag,
                fmt_cell(py_v, m.decimals),
                best.map_or("-".into(), |(p, v)| format!(
                    "{:.*} {}",
                    m.decimals,
                    v,
                    short(&p.name)
                ))
            );
            for s in &ours {
                let v = usable(res.get(&s.name, &m.key).map(|c| Cell { failed: 0, ..c }));
                let vs_py = v
                    .zip(py_v.map(|c| c.v))
                    .and_then(|(o, t)| ratio(m.better, o, t));
                let vs_best = v
                    .zip(best.map(|b| b.1))
                    .and_then(|(o, t)| ratio(m.better, o, t));
                let f = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}×"));
                match like(&s.name) {
                    Some(l) => {
                        let vs_like = v
                            .zip(usable(res.get(&l.name, &m.key)))
                            .and_then(|(o, t)| ratio(m.better, o, t));
                        print!(" {} / {} / {} |", f(vs_py), f(vs_best), f(vs_like));
                    }
                    None => print!(" {} / {} |", f(vs_py), f(vs_best)),
                }
            }
            println!();
        }
    }
}

#[derive(Clone)]
pub(crate) struct ServerInfo {
    pub(crate) name: String,
    pub(crate) ours: bool,
}

fn session_section(p: &Plan, storage: &str) -> Section {
    use Better::*;
    Section {
        title: format!(
            "Sessions and memory, each server alone, files in {storage}, median of {} rounds (failed: clients without a 230 within {} s, the median over the rounds)",
            p.alone_rounds, p.login_wait
        ),
        tag: "alone".into(),
        metrics: vec![
            metric("login_small", &format!("{} logins at once s", p.logins_small), Lower, 3),
            metric("login_big", &format!("{} logins at once s", p.logins_big), Lower, 3),
            metric("login_32", &format!("{} logins, 32 in flight s", p.inflight_total), Lower, 3),
            metric("retr_idle", &format!("RETR MiB/s, {} idle", p.logins_small), Higher, 0),
            metric("pss_start", "PSS MiB start", Lower, 1),
            metric("pss_small", &format!("PSS MiB {} idle", p.logins_small), Lower, 1),
            metric("pss_big", &format!("PSS MiB {} idle", p.logins_big), Lower, 1),
        ],
    }
}

fn transfer_sections(p: &Plan, st: &str) -> [Section; 3] {
    use Better::*;
    let k = |s: &str| format!("{s}@{st}");
    let n = p.par_clients;
    [
        Section {
            title: format!(
                "Transfers, files in {st}: curl, {} MiB file (median of {}, curl's time from its data connection to the end); server CPU per GiB (median of the same rounds); Rust clients, {n} × 10 MiB at once (median of {})",
                p.mb, p.curl_runs, p.runs
            ),
            tag: st.into(),
            metrics: vec![
                metric(&k("retr"), "RETR MiB/s", Higher, 0),
                metric(&k("stor"), "STOR MiB/s", Higher, 0),
                metric(&k("cpu_retr"), "CPU s/GiB RETR", Lower, 2),
                metric(&k("cpu_stor"), "CPU s/GiB STOR", Lower, 2),
                metric(&k("par_retr"), &format!("{n}×10 MiB RETR s"), Lower, 2),
                metric(&k("par_stor"), &format!("{n}×10 MiB STOR s"), Lower, 2),
            ],
        },
        Section {
            title: format!(
                "Python clients, files in {st}: asyncio, all logged in first, then all at once (s to the last 226); blocking (RETR: the median of {} downloads over {} sessions in each run); median of {} runs",
                p.blocking_count, p.blocking_sessions, p.runs
            ),
            tag: format!("Python, {st}"),
            metrics: vec![
                metric(&k("aio_retr"), &format!("asyncio {n}×10 MiB RETR s"), Lower, 2),
                metric(&k("aio_stor"), &format!("asyncio {n}×10 MiB STOR s"), Lower, 2),
                metric(
                    &k("aio_one"),
                    &format!("asyncio {}×10 MiB STOR one name s", p.one_name_clients),
                    Lower,
                    2,
                ),
                metric(&k("blk_r64"), "RETR 10 MiB recv(64K) ms", Lower, 1),
                metric(&k("blk_r256"), "RETR 10 MiB recv(256K) ms", Lower, 1),
                metric(&k("blk_new"), "STOR 8K send() new MiB/s", Higher, 0),
                metric(&k("blk_old"), "STOR 8K send() existing MiB/s", Higher, 0),
            ],
        },
        Section {
            title: format!(
                "pyftpdlib's ftpbench -b all -n {} -s {}, files in {st} (median of {}; its MB = MiB)",
                p.script_clients, p.script_size, p.script_runs
            ),
            tag: format!("ftpbench, {st}"),
            metrics: FTPBENCH_LINES
                .iter()
                .map(|&(key, _, label, higher)| {
                    let label = label
                        .replace("{n}", &p.script_clients.to_string())
                        .replace("{s}", p.script_size);
                    let (b, d) = if higher { (Higher, 0) } else { (Lower, 2) };
                    metric(&k(key), &label, b, d)
                })
                .collect(),
        },
    ]
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?", |(_, m)| m.trim())
        .to_string();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} CPUs ({model}), {mem_gib:.1} GiB RAM, Linux {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel.trim()
    )
}

fn version_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let s = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

/// The description of the run that heads the tables: the command, date,
/// machine, clients and peers, and where the files were.
pub(crate) fn print_header(p: &Plan, elapsed: u64, versions: &[String], storages: &[Storage]) {
    let cmdline = {
        let mut vars: Vec<String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("FTPBENCH_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vars.sort();
        vars.push("cargo bench --bench ftpbench".into());
        vars.join(" ")
    };
    println!(
        "\nftpbench{}: `{cmdline}`",
        if p.quick { " (QUICK)" } else { "" }
    );
    println!(
        "{}, {}; took {} min {} s",
        chrono::Utc::now().format("%Y-%m-%d"),
        machine(),
        elapsed / 60,
        elapsed % 60
    );
    println!(
        "clients: {}, {}; peers: {}",
        version_line("curl", &["--version"]),
        version_line("python3", &["--version"]),
        if versions.is_empty() {
            "none".into()
        } else {
            versions.join(", ")
        }
    );
    for st in storages {
        println!("storage {}: {}", st.tag, st.fs);
    }
    println!(
        "big file {} MiB; loopback; every server serves a directory of its own",
        p.mb
    );
    println!("server CPU: {}", crate::procs::cpu_source());
}

/// Every table, the ratios, and the notes on what went wrong.
pub(crate) fn print_tables(
    p: &Plan,
    storages: &[Storage],
    alone_at: usize,
    servers: &[ServerInfo],
    idle_huge: &[(String, IdleSessions)],
    tls_rows: &[TlsRow],
    res: &Results,
) {
    let mut sections = vec![session_section(p, &storages[alone_at].tag)];
    for st in storages {
        sections.extend(transfer_sections(p, &st.tag));
    }
    sections.push(Section {
        title: format!(
            "FTPS (AUTH TLS, PROT P, curl --ssl-reqd), {} MiB file, median of {} (curl's time from its data connection to the end)",
            p.mb, p.tls_runs
        ),
        tag: "FTPS".into(),
        metrics: vec![
            metric("tls_retr", "PROT P RETR MiB/s", Better::Higher, 0),
            metric("tls_stor", "PROT P STOR MiB/s", Better::Higher, 0),
        ],
    });
    for sec in &sections[..sections.len() - 1] {
        print_table(sec, servers, res);
    }
    for (name, (n, pss, ms, ok)) in idle_huge {
        println!(
            "\n{name}: {n} idle logged-in sessions held with PSS {pss:.1} MiB; a new client then logged in in {ms:.1} ms{}",
            if *ok { "" } else { " (FAILED)" }
        );
    }
    let tls = &sections[sections.len() - 1];
    println!("\n{}\n", tls.title);
    println!(
        "| server | PROT P RETR MiB/s | PROT P STOR MiB/s | CPU s, 100 idle TLS sessions ({0} s) | CPU s after 100 abrupt TLS disconnects ({0} s) |",
        p.tls_idle_secs
    );
    println!("|---|---:|---:|---:|---:|");
    for r in tls_rows {
        let (held, after) = match r.idle_cpu {
            Some((h, a)) => (format!("{h:.2}"), format!("{a:.2}")),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {held} | {after} |",
            r.name,
            fmt_cell(res.get(&r.name, "tls_retr"), 0),
            fmt_cell(res.get(&r.name, "tls_stor"), 0)
        );
    }
    print_ratios(&sections, servers, res);
    if !res.notes.is_empty() {
        println!("\nnotes:");
        for (_, msg, times) in &res.notes {
            if *times > 1 {
                println!("- {msg} ({times} times)");
            } else {
                println!("- {msg}");
            }
        }
    }
}
