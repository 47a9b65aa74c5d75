//! How much of everything the bench measures (`Plan`, from the
//! environment) and the account every server is given.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The account every server is given (vsftpd needs it as a local user:
/// `benches/peers.sh` creates it).
pub(crate) const USER: &str = "ftpbench";

pub(crate) const PASS: &str = "12345";

/// How long a client waits for each reply of its login before it counts as
/// failed (a connection the server's backlog dropped would wait for minutes):
/// `Plan::login_wait`.
static LOGIN_WAIT_SECS: AtomicU64 = AtomicU64::new(10);

pub(crate) fn login_wait() -> Duration {
    Duration::from_secs(LOGIN_WAIT_SECS.load(Ordering::Relaxed))
}

pub(crate) const TEN_MIB: usize = 10 << 20;

/// How much of everything: the defaults, or `FTPBENCH_QUICK`'s small sizes.
pub(crate) struct Plan {
    pub(crate) quick: bool,
    pub(crate) mb: u64,
    pub(crate) curl_runs: usize,
    pub(crate) runs: usize,
    pub(crate) script_runs: usize,
    /// Rounds of the figures taken with each server alone (logins, memory,
    /// RETR with idle clients), the servers' order rotating: taken once,
    /// a slow minute of the machine fell on one server.
    pub(crate) alone_rounds: usize,
    pub(crate) tls_runs: usize,
    pub(crate) tls_idle_secs: u64,
    /// Clients of the "N × 10 MiB at once" figures.
    pub(crate) par_clients: usize,
    /// Clients storing to one name.
    pub(crate) one_name_clients: usize,
    pub(crate) logins_small: usize,
    pub(crate) logins_big: usize,
    /// Logins of the 32-in-flight figure.
    pub(crate) inflight_total: usize,
    pub(crate) idle_huge: usize,
    /// RETRs per read size of the blocking client, in each run (the run's
    /// figure is their median). A 10 MiB download takes 2-6 ms here: one
    /// server's medians of 30 downloads were 2.5, 5.0 and 3.0 ms in three
    /// runs a few seconds apart, its medians of 200 were 2.9 and 3.3 ms.
    pub(crate) blocking_count: usize,
    /// Sessions the blocking client's RETRs are spread over (each logged in
    /// anew): one session's 200 downloads still gave 3.6 ms in one run and
    /// 6.0 in the next, with the same server (where its thread runs moves
    /// them all).
    pub(crate) blocking_sessions: usize,
    pub(crate) script_clients: usize,
    pub(crate) script_size: &'static str,
    /// Seconds of each STOR of the blocking client.
    pub(crate) stor_secs: f64,
    /// Seconds a login may wait for each reply before it counts as failed.
    pub(crate) login_wait: u64,
    /// Bound of one ftpbench run, seconds.
    pub(crate) script_limit: u64,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Plan {
    pub(crate) fn from_env() -> Plan {
        let quick = std::env::var("FTPBENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let rounds: Option<usize> = env_num("FTPBENCH_ROUNDS");
        let mut p = if quick {
            Plan {
                quick,
                mb: 32,
                curl_runs: 1,
                runs: 1,
                script_runs: 1,
                alone_rounds: 1,
                tls_runs: 1,
                tls_idle_secs: 1,
                par_clients: 10,
                one_name_clients: 20,
                logins_small: 50,
                logins_big: 100,
                inflight_total: 100,
                idle_huge: 1000,
                blocking_count: 2,
                blocking_sessions: 2,
                script_clients: 20,
                script_size: "1M",
                stor_secs: 0.2,
                login_wait: 5,
                script_limit: 60,
            }
        } else {
            Plan {
                quick,
                mb: 512,
                curl_runs: 5,
                runs: 3,
                script_runs: 5,
                alone_rounds: 3,
                tls_runs: 3,
                tls_idle_secs: 15,
                par_clients: 100,
                one_name_clients: 200,
                logins_small: 300,
                logins_big: 1000,
                inflight_total: 1000,
                idle_huge: 10_000,
                blocking_count: 200,
                blocking_sessions: 20,
                script_clients: 200,
                script_size: "10M",
                stor_secs: 1.0,
                login_wait: 10,
                script_limit: 300,
            }
        };
        if let Some(mb) = env_num("FTPBENCH_MB") {
            p.mb = mb;
        }
        if let Some(r) = rounds {
            p.curl_runs = r;
            p.runs = r;
        }
        if let Some(r) = env_num("FTPBENCH_SCRIPT_RUNS") {
            p.script_runs = r;
        }
        if let Some(r) = env_num::<usize>("FTPBENCH_ALONE_ROUNDS") {
            p.alone_rounds = r.max(1);
        }
        if let Some(s) = env_num("FTPBENCH_TLS_IDLE_SECS") {
            p.tls_idle_secs = s;
        }
        LOGIN_WAIT_SECS.store(p.login_wait, Ordering::Relaxed);
        p
    }
}
