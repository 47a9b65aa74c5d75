//! Who is logged in: USER, PASS and the login check's answer, REIN's and
//! USER's flush of the account, QUIT (RFC 959 §4.1.1).

use super::*;

impl Session {
    // --- login

    pub(super) fn cmd_user(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        // The 331 is logged under the previous name, as pyftpdlib does.
        if self.login.is_some() {
            self.flush_account(out);
            self.reply_info(
                out,
                Reply::new(
                    331,
                    "Previous account information was flushed, send password.",
                ),
            );
        } else {
            self.reply(out, Reply::new(331, "Username ok, send password."));
        }
        self.username = Some(show(arg));
        self.ahead = Ahead::User(show(arg));
        self.update_prefix();
    }

    /// PASS, with the name of the USER command right before it (if it was one).
    pub(super) fn cmd_pass(&mut self, arg: &[u8], user: Option<String>, out: &mut Vec<Action>) {
        if self.login.is_some() {
            self.reply(out, Reply::new(503, "User already authenticated."));
            return;
        }
        let Some(username) = user else {
            self.reply(out, Reply::new(503, "Login with USER first."));
            return;
        };
        // a session opened before its address was banned guesses no more
        // passwords (else a client opens many connections first, then
        // guesses on each of them for as long as they last)
        if self.ctx.config.ban.is_some() {
            let ip = canonical_ip(self.remote.ip());
            if let Some(left) = self.ctx.shared.banned(ip, self.now) {
                self.warn_reply(out, crate::session::replies::banned(left));
                self.close(out);
                return;
            }
        }
        let password = show(arg);
        // The check may block (password hashing, a database): the driver runs
        // it where it likes and answers with Input::LoginDone.
        self.awaiting = Awaiting::Login {
            username: username.clone(),
            password: password.clone(),
        };
        out.push(Action::Login(LoginTask {
            authorizer: Arc::clone(&self.ctx.authorizer),
            fs_factory: Arc::clone(&self.ctx.fs_factory),
            shared: Arc::clone(&self.ctx.shared),
            username,
            password,
            client: self.remote.ip(),
            tls: self.security.control(),
        }));
    }

    /// The answer to [`Action::Login`].
    pub(in crate::session) fn login_done(&mut self, outcome: LoginOutcome, out: &mut Vec<Action>) {
        let (username, password) = match std::mem::replace(&mut self.awaiting, Awaiting::Nothing) {
            Awaiting::Login { username, password } => (username, password),
            other => {
                self.awaiting = other;
                return;
            }
        };
        let LoginOutcome(result, slot) = outcome;
        match result {
            Ok((account, fs)) => {
                self.reply(out, long_reply(230, &account.msg_login));
                log::info!("{} USER '{}' logged in.", self.prefix, username);
                self.cwd = account.start_dir();
                self.attempted_logins = 0;
                self.login = Some(LoggedIn { account, fs, slot });
                out.push(Action::Event(Event::Login(username)));
            }
            Err(LoginError::Refused(refused)) => {
                log::warn!(
                    "{} USER '{}' refused: {}",
                    self.prefix,
                    username,
                    refused.log_text()
                );
                self.offence(Offence::FailedLogin, out);
                self.login_failed(username, password, refused.reply_text(), out);
            }
            Err(why @ (LoginError::TooManySessions { .. } | LoginError::SessionTableFull)) => {
                // the password was right: no failed attempt, no delay; the
                // connection closes, as pyftpdlib's for too many connections
                let text = match why {
                    LoginError::TooManySessions { .. } => "Too many connections for this user.",
                    _ => "Too many connections. Service temporarily unavailable.",
                };
                log::warn!("{} USER '{}' refused: {why}.", self.prefix, username);
                self.reply(out, Reply::new(421, text));
                self.close(out);
            }
            Err(LoginError::Home(home, e)) if super::super::transfer::short_of_resources(&e) => {
                // the server's fault, not the client's: not a failed login
                // (no 530, no delay, nothing counted towards a ban), but a
                // reply the client may try again after (RFC 959, 421)
                log::error!(
                    "{} login of '{}' failed: can't open {}: {e}",
                    self.prefix,
                    username,
                    home.display()
                );
                self.reply(out, crate::session::replies::service_not_available());
                self.close(out);
            }
            Err(why) => {
                let refused = matches!(why, LoginError::Auth(AuthError::Failed));
                if !refused {
                    log::error!("{} login of '{}' failed: {why}", self.prefix, username);
                } else {
                    // the ban policy counts it now, not after the delay
                    self.offence(Offence::FailedLogin, out);
                }
                self.login_failed(username, password, "Authentication failed.", out);
            }
        }
    }

    /// A refused login: `530 <text>` after the failed-login delay, or
    /// `530 <text> Disconnecting.` and the end of the session after
    /// `max_login_attempts`.
    fn login_failed(
        &mut self,
        username: String,
        password: String,
        text: &str,
        out: &mut Vec<Action>,
    ) {
        self.attempted_logins += 1;
        // pyftpdlib's auth_failed_timeout: the 530 (and what comes
        // after it) goes out after the delay, and no command runs
        // meanwhile (see `timers`)
        let mut held = Vec::new();
        if self.attempted_logins >= self.ctx.config.max_login_attempts.max(1) {
            self.reply(&mut held, Reply::new(530, format!("{text} Disconnecting.")));
            self.close(&mut held);
        } else {
            self.reply(&mut held, Reply::new(530, text));
        }
        log::info!("{} USER '{}' failed login.", self.prefix, username);
        held.push(Action::Event(Event::LoginFailed(username, password)));
        self.username = None;
        self.update_prefix();
        let delay = self.ctx.config.auth_failed_delay;
        if delay.is_zero() {
            out.extend(held);
        } else {
            self.timers.hold = Some((crate::session::later(self.now, delay), held));
        }
    }

    /// Forget the logged-in user (REIN, or USER while logged in).
    pub(super) fn flush_account(&mut self, out: &mut Vec<Action>) {
        if !self.transfer.is_running() {
            self.fail_pending(out);
            if self.data != DataState::None {
                out.push(Action::CloseData);
            }
            self.data = DataState::None;
        }
        if let Some(a) = self.login.take().map(|l| l.account) {
            out.push(Action::Event(Event::Logout(a.username)));
        }
        self.username = None;
        self.update_prefix();
        self.cwd = b"/".to_vec();
        self.attempted_logins = 0;
        self.ascii = true;
        self.ahead = Ahead::Nothing;
        self.epsv_all = false;
    }

    pub(super) fn cmd_quit(&mut self, out: &mut Vec<Action>) {
        if self.transfer.is_active() {
            // RFC 959: the connection stays open for the transfer's result,
            // then closes; a transfer still waiting for its data connection
            // gets it (or its deadline) first, so that it has a final reply
            // and an upload the client already sent is kept.
            self.quit_pending = true;
            return;
        }
        self.send_goodbye(out);
    }
}

/// Why an account's own limits ([`crate::auth::AccountLimits`]) refuse a
/// login whose password was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountRefusal {
    /// The client's address is outside the account's `allow_from`.
    Address(std::net::IpAddr),
    /// The account requires TLS and the control connection is clear.
    TlsRequired,
}

impl AccountRefusal {
    /// Why the account's own limits refuse a session from `client` over a
    /// control connection that is (`tls`) or is not protected, if they do:
    /// the address is outside `allow_from`, or the account requires TLS
    /// and the connection is clear. Checked once the password was right
    /// (so the reply tells nothing to who does not know it), before the
    /// session takes a place among the user's sessions or acts as the
    /// user.
    pub(in crate::session) fn of(
        account: &crate::auth::Account,
        client: std::net::IpAddr,
        tls: bool,
    ) -> Option<AccountRefusal> {
        let limits = &account.limits;
        let ip = canonical_ip(client);
        // an IPv4 client is also its IPv4-mapped IPv6 address: a network
        // written in that form (`::ffff:10.0.0.0/104`, what a dual-stack
        // listener's log shows) admits it too
        let mapped = match ip {
            std::net::IpAddr::V4(v4) => std::net::IpAddr::V6(v4.to_ipv6_mapped()),
            v6 => v6,
        };
        if !limits.allow_from.is_empty()
            && !limits
                .allow_from
                .iter()
                .any(|n| n.contains(&ip) || (mapped_net(n) && n.contains(&mapped)))
        {
            return Some(AccountRefusal::Address(ip));
        }
        if limits.tls_required && !tls {
            return Some(AccountRefusal::TlsRequired);
        }
        None
    }

    pub(in crate::session) fn reply_text(self) -> &'static str {
        match self {
            AccountRefusal::Address(_) => "Login not allowed from this address.",
            AccountRefusal::TlsRequired => "SSL/TLS required on the control channel for this user.",
        }
    }

    pub(in crate::session) fn log_text(self) -> String {
        match self {
            AccountRefusal::Address(ip) => format!("client address {ip} is not in its allow_from"),
            AccountRefusal::TlsRequired => {
                "TLS is required and the control connection is clear".into()
            }
        }
    }
}

/// Whether `net` lies within the IPv4-mapped range `::ffff:0:0/96` (so
/// that `::/0`, "every IPv6 client", does not admit IPv4 ones).
fn mapped_net(net: &ipnet::IpNet) -> bool {
    match net {
        ipnet::IpNet::V6(n) => n.prefix_len() >= 96 && n.network().to_ipv4_mapped().is_some(),
        ipnet::IpNet::V4(_) => false,
    }
}
