//! What the ban policy counts against a client's address
//! ([`crate::config::BanPolicy`]): failed logins, and command floods. The
//! session decides that something is an offence; the driver records it in
//! the server's shared ban table ([`Action::Offence`]), and the acceptor
//! refuses banned addresses.

use super::*;

/// Something a client did that [`crate::config::BanPolicy`] counts against
/// its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Offence {
    /// A login refused for a wrong user name or password.
    FailedLogin,
    /// More command lines than `max_commands` within `commands_window`.
    CommandFlood,
}

/// An offence for the driver to record ([`Action::Offence`]): call
/// [`OffenceReport::record`], on any thread (it takes microseconds).
pub struct OffenceReport {
    shared: Arc<SharedState>,
    policy: BanPolicy,
    ip: IpAddr,
    offence: Offence,
    at: Instant,
    prefix: String,
}

impl std::fmt::Debug for OffenceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffenceReport")
            .field("ip", &self.ip)
            .field("offence", &self.offence)
            .finish_non_exhaustive()
    }
}

impl OffenceReport {
    /// What the client did.
    pub fn offence(&self) -> Offence {
        self.offence
    }

    /// Record it in the server's ban table (shared by all its processes);
    /// true when the client's address is banned from now on (logged at
    /// WARNING level).
    pub fn record(self) -> bool {
        let p = &self.policy;
        let secs = p.ban_time.as_secs();
        match self.offence {
            Offence::FailedLogin => {
                let banned = self.shared.failed_login(
                    self.ip,
                    p.max_failed_logins,
                    p.failed_logins_window,
                    p.ban_time,
                    self.at,
                );
                if banned {
                    log::warn!(
                        "{} banned {} for {secs} s: {} failed logins within {} s",
                        self.prefix,
                        self.ip,
                        p.max_failed_logins,
                        p.failed_logins_window.as_secs()
                    );
                }
                banned
            }
            Offence::CommandFlood => {
                self.shared.ban_ip(self.ip, p.ban_time, self.at);
                log::warn!(
                    "{} banned {} for {secs} s: more than {} commands within {:.3} s",
                    self.prefix,
                    self.ip,
                    p.max_commands,
                    p.commands_window.as_secs_f64()
                );
                true
            }
        }
    }
}

impl Session {
    /// Report `offence` to the driver if the ban policy counts it.
    pub(super) fn offence(&mut self, offence: Offence, out: &mut Vec<Action>) {
        let Some(policy) = self.ctx.config.ban.as_ref() else {
            return;
        };
        let counted = match offence {
            Offence::FailedLogin => policy.max_failed_logins > 0,
            Offence::CommandFlood => policy.max_commands > 0,
        };
        if counted {
            out.push(Action::Offence(OffenceReport {
                shared: Arc::clone(&self.ctx.shared),
                policy: policy.clone(),
                ip: canonical_ip(self.remote.ip()),
                offence,
                at: self.now,
                prefix: self.prefix.clone(),
            }));
        }
    }

    /// Count a command line received at `now` against the policy's command
    /// rate (a GCRA: bursts of up to `max_commands`, then that many per
    /// `commands_window`). On a flood the address is reported, the client
    /// told `421` and the session closed; returns true (the line is not run).
    pub(super) fn flood(&mut self, now: Instant, out: &mut Vec<Action>) -> bool {
        let Some(policy) = self.ctx.config.ban.as_ref().filter(|p| p.max_commands > 0) else {
            return false;
        };
        let window = policy.commands_window;
        let step = window / policy.max_commands;
        let tat = later(self.commands_tat.map_or(now, |t| t.max(now)), step);
        self.commands_tat = Some(tat);
        if tat.saturating_duration_since(now) <= window {
            return false;
        }
        let secs = policy.ban_time.as_secs();
        self.offence(Offence::CommandFlood, out);
        self.clear_queue();
        self.fail_pending(out);
        self.warn_reply(
            out,
            Reply::new(
                421,
                format!("Too many commands: you are banned for {secs} seconds."),
            ),
        );
        self.close(out);
        true
    }
}
