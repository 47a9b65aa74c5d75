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
            username,
            password,
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
        match outcome.0 {
            Ok((account, fs)) => match self.refusal(&account) {
                None => {
                    self.reply(out, long_reply(230, &account.msg_login));
                    log::info!("{} USER '{}' logged in.", self.prefix, username);
                    self.cwd = account.start_dir();
                    self.attempted_logins = 0;
                    self.login = Some(LoggedIn { account, fs });
                    out.push(Action::Event(Event::Login(username)));
                }
                Some(refused) => {
                    log::warn!(
                        "{} USER '{}' refused: {}",
                        self.prefix,
                        username,
                        refused.log_text()
                    );
                    self.login_failed(username, password, refused.reply_text(), out);
                }
            },
            Err(why) => {
                if !matches!(why, LoginError::Auth(AuthError::Failed)) {
                    log::error!("{} login of '{}' failed: {why}", self.prefix, username);
                }
                self.login_failed(username, password, "Authentication failed.", out);
            }
        }
    }

    /// Why the account's own limits refuse this session, if they do: the
    /// client's address is outside `allow_from`, or the account requires
    /// TLS and the control connection is clear. Checked once the password
    /// was right, so the reply tells nothing to who does not know it.
    fn refusal(&self, account: &crate::auth::Account) -> Option<Refusal> {
        let limits = &account.limits;
        let ip = canonical_ip(self.remote.ip());
        if !limits.allow_from.is_empty() && !limits.allow_from.iter().any(|n| n.contains(&ip)) {
            return Some(Refusal::Address(ip));
        }
        if limits.tls_required && !self.security.control() {
            return Some(Refusal::TlsRequired);
        }
        None
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
            self.timers.hold = Some((self.now + delay, held));
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
enum Refusal {
    /// The client's address is outside the account's `allow_from`.
    Address(std::net::IpAddr),
    /// The account requires TLS and the control connection is clear.
    TlsRequired,
}

impl Refusal {
    fn reply_text(self) -> &'static str {
        match self {
            Refusal::Address(_) => "Login not allowed from this address.",
            Refusal::TlsRequired => "SSL/TLS required on the control channel for this user.",
        }
    }

    fn log_text(self) -> String {
        match self {
            Refusal::Address(ip) => format!("client address {ip} is not in its allow_from"),
            Refusal::TlsRequired => "TLS is required and the control connection is clear".into(),
        }
    }
}
