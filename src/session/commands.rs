//! Command dispatch and the handler of every command.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use super::fs_work::{FsOp, FsResult, KindCheck, ListError, ListSpec, OpenError};
use super::{
    canonical_ip, long_reply, strerror, AbortReason, Action, Ahead, Awaiting, DataState, FsTask,
    LoggedIn, LoginError, LoginOutcome, LoginTask, Security, Session, MAX_GLOB_MATCHES,
};
use crate::auth::AuthError;
use crate::data::{Source, Transfer, TransferCmd, TransferError};
use crate::events::Event;
use crate::fs::WriteMode;
use crate::proto::command::{self, Command, NotUnderstood, Verb};
use crate::proto::listing::{self, FileKind, MlsxRole};
use crate::proto::perm::PermsAt;
use crate::proto::reply::Reply;
use crate::proto::{addr, glob, path};

/// Commands whose outcome is logged at INFO level (pyftpdlib's `log_cmds_list`).
const LOGGED_CMDS: &[Verb] = &[
    Verb::Dele,
    Verb::Rnfr,
    Verb::Rnto,
    Verb::Mkd,
    Verb::Rmd,
    Verb::Cwd,
    Verb::Xmkd,
    Verb::Xrmd,
    Verb::Xcwd,
    Verb::Rein,
    Verb::SiteChmod,
    Verb::Mfmt,
];

/// Unix time of a `SystemTime`.
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Lossy printable form of client bytes for replies and logs.
fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Session {
    /// Run one control line, parsed when it was received.
    ///
    /// What the previous command left for this one ([`Ahead`]) is handed to
    /// it and dropped unless it consumes it, whatever the line is (even one
    /// that is refused or not understood).
    pub(super) fn dispatch(
        &mut self,
        line: &[u8],
        parsed: Result<Command, NotUnderstood>,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        let mut ahead = Some(std::mem::take(&mut self.ahead));
        self.dispatch_line(line, parsed, &mut ahead, now, out);
        if let Some(left) = ahead {
            self.forget_ahead(left);
        }
    }

    /// Drop what the previous command left, for a line that is no command
    /// (too long): it ends that state like any other line.
    pub(super) fn drop_ahead(&mut self) {
        let left = std::mem::take(&mut self.ahead);
        self.forget_ahead(left);
    }

    /// State the command after it did not consume: a USER's name is
    /// forgotten with it (the log prefix too).
    fn forget_ahead(&mut self, left: Ahead) {
        if let Ahead::User(name) = left {
            if self.login.is_none() && !matches!(self.ahead, Ahead::User(_)) {
                log::debug!(
                    "{} USER '{name}' forgotten: PASS did not follow",
                    self.prefix
                );
                self.username = None;
                self.update_prefix();
            }
        }
    }

    fn dispatch_line(
        &mut self,
        line: &[u8],
        parsed: Result<Command, NotUnderstood>,
        ahead: &mut Option<Ahead>,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        let cmd = match parsed {
            Ok(c) => c,
            Err(e) => {
                log::debug!("{} <- {}", self.prefix, show(line));
                self.reply(out, Reply::new(500, e.reply_text()));
                return;
            }
        };
        if cmd.verb == Verb::Pass {
            log::debug!("{} <- PASS ******", self.prefix);
        } else {
            log::debug!("{} <- {}", self.prefix, show(line));
        }
        if let Some(refusal) = cmd.arg_refusal() {
            self.reply(out, Reply::new(501, refusal));
            return;
        }
        if self.login.is_none() && cmd.needs_login() {
            self.reply(out, Reply::new(530, "Log in with USER and PASS first."));
            return;
        }
        let Command { verb, arg } = cmd;
        if let Some(refusal) = self.tls_refusal(verb) {
            self.reply(out, Reply::new(550, refusal));
            if !log::log_enabled!(log::Level::Debug) {
                let shown = if verb == Verb::Pass {
                    b"******".as_slice()
                } else {
                    arg.as_deref().unwrap_or(b"")
                };
                self.log_cmd(verb.name(), shown, out);
            }
            return;
        }
        let before = out.len();
        self.run(
            verb,
            arg.as_deref().unwrap_or(b""),
            verb.spec().perm,
            ahead,
            now,
            out,
        );
        if LOGGED_CMDS.contains(&verb) && !log::log_enabled!(log::Level::Debug) {
            let arg = arg.unwrap_or_default();
            match &mut self.awaiting {
                // logged with the reply, when the filesystem answered
                Awaiting::Fs { log } => *log = Some((verb.name().to_string(), arg)),
                _ => self.log_cmd(verb.name(), &arg, &out[before..]),
            }
        }
    }

    /// pyftpdlib's INFO line for file-changing commands: `CMD arg code ['text']`.
    fn log_cmd(&self, verb: &str, arg: &[u8], actions: &[Action]) {
        let Some(reply) = actions.iter().rev().find_map(|a| match a {
            Action::Reply(r) => Some(r),
            _ => None,
        }) else {
            return;
        };
        let code = reply.code;
        if (400..600).contains(&code) {
            let text = reply
                .lines
                .iter()
                .map(|l| String::from_utf8_lossy(l))
                .collect::<Vec<_>>()
                .join("\r\n");
            log::info!(
                "{} {verb} {} {code} {:?}",
                self.prefix,
                show(arg),
                text.trim_end()
            );
        } else {
            log::info!("{} {verb} {} {code}", self.prefix, show(arg));
        }
    }

    /// Resolve `arg` against the cwd and check permission `letter` there:
    /// the path, and the check the filesystem task makes first when the
    /// answer depends on whether the path is a directory. `None` when
    /// refused (`550` sent).
    fn checked_path(
        &mut self,
        arg: &[u8],
        perm: Option<char>,
        out: &mut Vec<Action>,
    ) -> Option<(Vec<u8>, Option<KindCheck>)> {
        let p = path::resolve(&self.cwd, arg);
        let Some(letter) = perm else {
            return Some((p, None));
        };
        match self.login.as_ref().map(|l| l.account.perms.at(&p)) {
            Some(PermsAt::Known(perms)) if perms.contains(letter) => Some((p, None)),
            Some(at @ PermsAt::DependsOnKind { .. }) => Some((
                p.clone(),
                Some(KindCheck {
                    path: p,
                    letter,
                    at,
                }),
            )),
            _ => {
                self.reply(out, Reply::new(550, "Not enough privileges."));
                None
            }
        }
    }

    /// Hand the command's filesystem work to the driver; the command goes
    /// on in [`Session::fs_done`] when the result comes back, and the
    /// lines received meanwhile wait their turn.
    fn fs_task(&mut self, check: Option<KindCheck>, op: FsOp, out: &mut Vec<Action>) {
        let Some(fs) = self.login.as_ref().map(|l| Arc::clone(&l.fs)) else {
            // commands that name a file need a login (the command table)
            return;
        };
        self.awaiting = Awaiting::Fs { log: None };
        out.push(Action::Fs(FsTask::new(fs, check, op)));
    }

    fn fs_error(&mut self, out: &mut Vec<Action>, e: &io::Error) {
        self.reply(
            out,
            Reply::new(550, format!("{}.", strerror(e).trim_end_matches('.'))),
        );
    }

    /// A data-channel set-up command (PORT, EPRT, PASV, EPSV) passes a REST
    /// offset on to the command after it (see [`Ahead`]).
    fn keep_restart(&mut self, ahead: &mut Option<Ahead>) {
        if let Some(Ahead::Restart(n)) = ahead.take() {
            self.ahead = Ahead::Restart(n);
        }
    }

    fn run(
        &mut self,
        verb: Verb,
        arg: &[u8],
        perm: Option<char>,
        ahead: &mut Option<Ahead>,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        // The REST offset for a transfer command; the data-channel set-up
        // commands pass it on (see `Ahead`).
        let mut restart = || match ahead.take() {
            Some(Ahead::Restart(n)) => n,
            other => {
                *ahead = other;
                0
            }
        };
        match verb {
            Verb::User => self.cmd_user(arg, out),
            Verb::Pass => {
                let name = match ahead.take() {
                    Some(Ahead::User(name)) => Some(name),
                    other => {
                        *ahead = other;
                        None
                    }
                };
                self.cmd_pass(arg, name, out)
            }
            Verb::Quit => self.cmd_quit(out),
            Verb::Rein => {
                self.flush_account(out);
                // RFC 959 §5.4: REIN answers 120 or 220 ("Service ready for
                // new user"), never 230 as pyftpdlib does; valid before login.
                self.reply(out, Reply::new(220, "Ready for new user."));
                self.rein_tls(out);
            }
            Verb::Noop => self.reply(out, Reply::new(200, "I successfully did nothing.")),
            Verb::Syst => self.reply(out, Reply::new(215, "UNIX Type: L8")),
            Verb::Allo => self.reply(out, Reply::new(202, "No storage allocation necessary.")),
            Verb::Feat => {
                let extra: &[&str] = if self.ctx.config.tls.is_some() {
                    &command::TLS_FEAT_LINES
                } else {
                    &[]
                };
                let lines = command::feat_lines_with(&self.facts.feat_line(), extra)
                    .into_iter()
                    .map(String::into_bytes)
                    .collect();
                self.reply(
                    out,
                    Reply::multi(211, "Features supported:", lines, "End FEAT."),
                );
            }
            Verb::Opts => self.cmd_opts(arg, out),
            Verb::Help => self.cmd_help(arg, false, out),
            Verb::Site => self.reply(
                out,
                Reply::new(501, "Syntax error: unknown SITE command; see SITE HELP."),
            ),
            Verb::SiteHelp => self.cmd_help(arg, true, out),
            Verb::Stat => self.cmd_stat(arg, perm, now, out),
            Verb::Abor => self.cmd_abor(out),
            Verb::Auth | Verb::Pbsz | Verb::Prot | Verb::Ccc if self.ctx.config.tls.is_none() => {
                self.reply(
                    out,
                    Reply::new(
                        502,
                        "Command not implemented: this server has no TLS configured.",
                    ),
                )
            }
            Verb::Auth => self.cmd_auth(arg, out),
            Verb::Pbsz => self.cmd_pbsz(out),
            Verb::Prot => self.cmd_prot(arg, out),
            Verb::Ccc => self.reply(
                out,
                Reply::new(534, "CCC refused: the control channel stays protected."),
            ),
            Verb::Type => self.cmd_type(arg, out),
            Verb::Stru => match show(arg).to_ascii_uppercase().as_str() {
                "F" => self.reply(out, Reply::new(200, "File transfer structure set to: F.")),
                "P" | "R" => self.reply(out, Reply::new(504, "Unimplemented STRU type.")),
                _ => self.reply(out, Reply::new(501, "Unrecognized STRU type.")),
            },
            Verb::Mode => match show(arg).to_ascii_uppercase().as_str() {
                "S" => self.reply(out, Reply::new(200, "Transfer mode set to: S")),
                "B" | "C" => self.reply(out, Reply::new(504, "Unimplemented MODE type.")),
                _ => self.reply(out, Reply::new(501, "Unrecognized MODE type.")),
            },
            Verb::Pwd | Verb::Xpwd => {
                let cwd = show(&self.cwd).replace('"', "\"\"");
                self.reply(
                    out,
                    Reply::new(257, format!("\"{cwd}\" is the current directory.")),
                );
            }
            Verb::Cwd | Verb::Xcwd => {
                let target = if arg.is_empty() { b"/".as_slice() } else { arg };
                self.cmd_cwd(target, perm, out);
            }
            Verb::Cdup | Verb::Xcup => self.cmd_cwd(b"..", perm, out),
            Verb::Port => {
                self.keep_restart(ahead);
                self.cmd_port(arg, false, out);
            }
            Verb::Eprt => {
                self.keep_restart(ahead);
                self.cmd_port(arg, true, out);
            }
            Verb::Pasv => {
                self.keep_restart(ahead);
                self.cmd_pasv(out);
            }
            Verb::Epsv => {
                self.keep_restart(ahead);
                self.cmd_epsv(arg, out);
            }
            Verb::Rest => self.cmd_rest(arg, out),
            Verb::Retr => self.cmd_retr(arg, perm, restart(), out),
            Verb::Stor => self.cmd_stor(arg, perm, TransferCmd::Stor, restart(), out),
            Verb::Appe => self.cmd_stor(arg, perm, TransferCmd::Appe, restart(), out),
            Verb::Stou => self.cmd_stou(arg, restart(), out),
            Verb::List => self.cmd_list(arg, perm, TransferCmd::List, now, out),
            Verb::Nlst => self.cmd_list(arg, perm, TransferCmd::Nlst, now, out),
            Verb::Mlsd => self.cmd_list(arg, perm, TransferCmd::Mlsd, now, out),
            Verb::Mlst => self.cmd_mlst(arg, perm, out),
            Verb::Size => self.cmd_size(arg, perm, out),
            Verb::Mdtm => self.cmd_mdtm(arg, perm, out),
            Verb::Mfmt => self.cmd_mfmt(arg, perm, out),
            Verb::Mkd | Verb::Xmkd => self.cmd_mkd(arg, perm, out),
            Verb::Rmd | Verb::Xrmd => self.cmd_rmd(arg, perm, out),
            Verb::Dele => self.cmd_dele(arg, perm, out),
            Verb::Rnfr => self.cmd_rnfr(arg, perm, out),
            Verb::Rnto => {
                let from = match ahead.take() {
                    Some(Ahead::Rename(from)) => Some(from),
                    other => {
                        *ahead = other;
                        None
                    }
                };
                self.cmd_rnto(arg, perm, from, out)
            }
            Verb::SiteChmod => self.cmd_chmod(arg, perm, out),
        }
    }

    // --- TLS (RFC 4217)

    /// Under `tls_data_required`, the refusal of a transfer on a data
    /// channel that is not protected (RFC 4217 §9: 521). Checked when each
    /// transfer starts, whatever set the channel up.
    pub(super) fn data_protection_refusal(&self) -> Option<&'static str> {
        let tls = self.ctx.config.tls.as_ref()?;
        (tls.data_required && !self.security.data())
            .then_some("Data connection cannot be opened with this PROT setting.")
    }

    /// pyftpdlib's refusals under `tls_control_required` / `tls_data_required`.
    fn tls_refusal(&self, verb: Verb) -> Option<&'static str> {
        let tls = self.ctx.config.tls.as_ref()?;
        match verb {
            Verb::User | Verb::Pass if tls.control_required && !self.security.control() => {
                Some("SSL/TLS required on the control channel.")
            }
            Verb::Pasv | Verb::Epsv | Verb::Port | Verb::Eprt
                if tls.data_required && !self.security.data() =>
            {
                Some("SSL/TLS required on the data channel.")
            }
            _ => None,
        }
    }

    fn cmd_auth(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        let kind = show(arg).to_ascii_uppercase();
        if self.security.control() {
            self.reply(out, Reply::new(503, "Already using TLS."));
        } else if ["TLS", "TLS-C", "SSL", "TLS-P"].contains(&kind.as_str()) {
            // RFC 2228: an accepted AUTH clears the security state and a
            // logged-in user has to log in again, now protected.
            if self.login.is_some() || self.username.is_some() {
                self.flush_account(out);
            }
            self.close_data_channel(out);
            // `TLS-P` and `SSL` come from the drafts before RFC 4217, where
            // they meant "protect the data connections too"
            // (draft-murray-auth-ftp-ssl): they imply `PBSZ 0` + `PROT P`, as
            // in proftpd and FileZilla Server. `TLS` and `TLS-C` protect the
            // control connection only until PROT P (RFC 4217 §9). A client
            // may still send PROT C explicitly.
            self.security = if matches!(kind.as_str(), "SSL" | "TLS-P") {
                Security::Data
            } else {
                Security::Control { pbsz: false }
            };
            self.reply(out, Reply::new(234, format!("AUTH {kind} successful.")));
            self.drop_queued_at_security_change();
            out.push(Action::StartTls);
        } else {
            self.reply(
                out,
                Reply::new(502, "Unrecognized encryption type (use TLS or SSL)."),
            );
        }
    }

    fn cmd_pbsz(&mut self, out: &mut Vec<Action>) {
        match self.security {
            Security::Clear => self.reply(
                out,
                Reply::new(503, "PBSZ not allowed on insecure control connection."),
            ),
            Security::Control { .. } | Security::Data => {
                if self.security != Security::Data {
                    self.security = Security::Control { pbsz: true };
                }
                self.reply(out, Reply::new(200, "PBSZ=0 successful."));
            }
        }
    }

    fn cmd_prot(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        let level = show(arg).to_ascii_uppercase();
        if self.security == Security::Clear {
            self.reply(
                out,
                Reply::new(503, "PROT not allowed on insecure control connection."),
            );
        } else if self.security == (Security::Control { pbsz: false }) {
            self.reply(
                out,
                Reply::new(503, "You must issue the PBSZ command prior to PROT."),
            );
        } else {
            // A data channel set up under the old level is closed: a
            // transfer never runs at another level than the one in force.
            match level.as_str() {
                "C" => {
                    self.security = Security::Control { pbsz: true };
                    self.close_data_channel(out);
                    self.reply(out, Reply::new(200, "Protection set to Clear"));
                }
                "P" => {
                    self.security = Security::Data;
                    self.close_data_channel(out);
                    self.reply(out, Reply::new(200, "Protection set to Private"));
                }
                "S" | "E" => self.reply(
                    out,
                    Reply::new(521, format!("PROT {level} unsupported (use C or P).")),
                ),
                _ => self.reply(out, Reply::new(502, "Unrecognized PROT type (use C or P).")),
            }
        }
    }

    /// Close a prepared data channel (passive listener or data connection)
    /// when no transfer uses it.
    fn close_data_channel(&mut self, out: &mut Vec<Action>) {
        if self.running.is_none() && self.pending.is_none() && self.data != DataState::None {
            out.push(Action::CloseData);
            self.data = DataState::None;
        }
    }

    /// REIN resets the security state too: the data channel protection is
    /// forgotten and the control connection returns to where it was when the
    /// client connected (clear for explicit FTPS, a fresh handshake for implicit).
    fn rein_tls(&mut self, out: &mut Vec<Action>) {
        let Some(implicit) = self.ctx.config.tls.as_ref().map(|t| t.implicit) else {
            return;
        };
        if self.security.control() {
            self.drop_queued_at_security_change();
            out.push(Action::StopTls);
            if implicit {
                out.push(Action::StartTls);
                self.security = Security::Control { pbsz: false };
            } else {
                self.security = Security::Clear;
            }
        }
    }

    // --- login

    fn cmd_user(&mut self, arg: &[u8], out: &mut Vec<Action>) {
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
    fn cmd_pass(&mut self, arg: &[u8], user: Option<String>, out: &mut Vec<Action>) {
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
    pub(super) fn login_done(&mut self, outcome: LoginOutcome, out: &mut Vec<Action>) {
        let (username, password) = match std::mem::replace(&mut self.awaiting, Awaiting::Nothing) {
            Awaiting::Login { username, password } => (username, password),
            other => {
                self.awaiting = other;
                return;
            }
        };
        match outcome.0 {
            Ok((account, fs)) => {
                self.reply(out, long_reply(230, &account.msg_login));
                log::info!("{} USER '{}' logged in.", self.prefix, username);
                self.cwd = b"/".to_vec();
                self.attempted_logins = 0;
                self.login = Some(LoggedIn { account, fs });
                out.push(Action::Event(Event::Login(username)));
            }
            Err(why) => {
                if !matches!(why, LoginError::Auth(AuthError::Failed)) {
                    log::error!("{} login of '{}' failed: {why}", self.prefix, username);
                }
                self.attempted_logins += 1;
                // pyftpdlib's auth_failed_timeout: the 530 (and what comes
                // after it) goes out after the delay, and no command runs
                // meanwhile (see `timers`)
                let mut held = Vec::new();
                if self.attempted_logins >= self.ctx.config.max_login_attempts.max(1) {
                    self.reply(
                        &mut held,
                        Reply::new(530, "Authentication failed. Disconnecting."),
                    );
                    self.close(&mut held);
                } else {
                    self.reply(&mut held, Reply::new(530, "Authentication failed."));
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
        }
    }

    /// Forget the logged-in user (REIN, or USER while logged in).
    fn flush_account(&mut self, out: &mut Vec<Action>) {
        if self.running.is_none() {
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

    fn cmd_quit(&mut self, out: &mut Vec<Action>) {
        if self.running.is_some() {
            // RFC 959: the connection stays open for the transfer's result, then closes.
            self.quit_pending = true;
            return;
        }
        self.fail_pending(out);
        self.send_goodbye(out);
    }

    // --- informational

    fn cmd_opts(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        let line = show(arg);
        let parts: Vec<&str> = line.split(' ').collect();
        if parts.len() > 2 {
            self.reply(out, Reply::new(501, "Invalid number of arguments."));
            return;
        }
        let cmd = parts[0].to_ascii_uppercase();
        let opt = parts.get(1).copied().unwrap_or("");
        match cmd.as_str() {
            "UTF8" | "UTF-8" => self.reply(out, Reply::new(200, "Always in UTF8 mode.")),
            "MLST" => match self.facts.try_set_from_opts(opt) {
                Ok(f) => self.reply(out, Reply::new(200, format!("MLST OPTS {f}"))),
                Err(why) => self.reply(
                    out,
                    Reply::new(501, format!("{}.", why.trim_end_matches('.'))),
                ),
            },
            _ => self.reply(
                out,
                Reply::new(501, format!("Unsupported command \"{}\".", parts[0])),
            ),
        }
    }

    /// HELP and SITE HELP: the command list, or one command's syntax.
    fn cmd_help(&mut self, arg: &[u8], site: bool, out: &mut Vec<Action>) {
        let (what, prefix) = if site {
            ("SITE command", "SITE ")
        } else {
            ("command", "")
        };
        if arg.is_empty() {
            let lines = if site {
                command::site_help_lines()
            } else {
                command::help_lines()
            };
            let first = format!("The following {what}s are recognized:");
            let last = format!(
                "Help {}command successful.",
                if site { "SITE " } else { "" }
            );
            let lines = lines.into_iter().map(String::into_bytes).collect();
            self.reply(out, Reply::multi(214, first, lines, last));
        } else {
            match command::lookup(&format!("{prefix}{}", show(arg).to_ascii_uppercase())) {
                Some(s) => self.reply(out, Reply::new(214, s.help)),
                None => self.reply(out, Reply::new(501, format!("Unrecognized {what}."))),
            }
        }
    }

    fn cmd_stat(&mut self, arg: &[u8], perm: Option<char>, now: SystemTime, out: &mut Vec<Action>) {
        if arg.is_empty() {
            let lines = self.stat_lines(now);
            self.reply(
                out,
                Reply::multi(211, "FTP server status:", lines, "End of status."),
            );
            return;
        }
        if arg.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            self.reply(out, Reply::new(550, "Globbing not supported."));
            return;
        }
        let Some((path, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        let (now, tm) = (unix_secs(now), self.time_mode());
        self.fs_task(check, FsOp::Stat { path, now, tm }, out);
    }

    fn cmd_type(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        let t: String = show(arg)
            .to_ascii_uppercase()
            .chars()
            .filter(|c| *c != ' ')
            .collect();
        match t.as_str() {
            "A" | "AN" | "L7" => {
                self.ascii = true;
                self.reply(out, Reply::new(200, "Type set to: ASCII."));
            }
            "I" | "L8" => {
                self.ascii = false;
                self.reply(out, Reply::new(200, "Type set to: Binary."));
            }
            _ => self.reply(
                out,
                Reply::new(504, format!("Unsupported type \"{}\".", show(arg))),
            ),
        }
    }

    fn cmd_abor(&mut self, out: &mut Vec<Action>) {
        if self.running.is_some() {
            // answered when the transfer's end comes back (426, 226)
            if self.abort.replace(AbortReason::Client).is_none() {
                out.push(Action::AbortTransfer);
            }
            return;
        }
        if self.pending.is_some() {
            self.fail_pending(out);
            out.push(Action::CloseData);
            self.data = DataState::None;
            self.reply_info(out, Reply::new(426, "Transfer aborted via ABOR."));
            self.reply(out, Reply::new(226, "ABOR command successful."));
            return;
        }
        if self.data == DataState::None {
            self.reply(out, Reply::new(225, "No transfer to abort."));
        } else {
            out.push(Action::CloseData);
            self.data = DataState::None;
            self.reply(
                out,
                Reply::new(225, "ABOR command successful; data channel closed."),
            );
        }
    }

    // --- directories

    fn cmd_cwd(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((p, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Cwd(p), out);
        }
    }

    fn cmd_mkd(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((p, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Mkd(p), out);
        }
    }

    fn cmd_rmd(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let Some((p, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        if p == b"/" {
            self.reply(out, Reply::new(550, "Can't remove root directory."));
            return;
        }
        self.fs_task(check, FsOp::Rmd(p), out);
    }

    fn cmd_dele(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((p, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Dele(p), out);
        }
    }

    fn cmd_rnfr(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let Some((p, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        if p == b"/" {
            self.reply(out, Reply::new(550, "Can't rename home directory."));
            return;
        }
        self.fs_task(check, FsOp::Rnfr(p), out);
    }

    /// RNTO, with the source of the RNFR right before it (if it was one).
    fn cmd_rnto(
        &mut self,
        arg: &[u8],
        perm: Option<char>,
        from: Option<Vec<u8>>,
        out: &mut Vec<Action>,
    ) {
        let Some(from) = from else {
            self.reply(
                out,
                Reply::new(503, "Bad sequence of commands: use RNFR first."),
            );
            return;
        };
        let Some((to, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        if to == b"/" {
            self.reply(out, Reply::new(550, "Can't overwrite the home directory."));
            return;
        }
        self.fs_task(check, FsOp::Rnto { from, to }, out);
    }

    /// Split `first rest` (SITE CHMOD, MFMT); 501 when there is no second argument.
    fn two_args<'a>(
        &mut self,
        arg: &'a [u8],
        out: &mut Vec<Action>,
    ) -> Option<(&'a [u8], &'a [u8])> {
        match arg.iter().position(|&b| b == b' ') {
            Some(sp) => Some((&arg[..sp], &arg[sp + 1..])),
            None => {
                self.reply(
                    out,
                    Reply::new(501, "Syntax error: command needs two arguments."),
                );
                None
            }
        }
    }

    fn cmd_chmod(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let Some((mode, target)) = self.two_args(arg, out) else {
            return;
        };
        let valid = matches!(mode.len(), 3 | 4) && mode.iter().all(|b| (b'0'..=b'7').contains(b));
        let Some(mode) = std::str::from_utf8(mode)
            .ok()
            .filter(|_| valid)
            .and_then(|m| u32::from_str_radix(m, 8).ok())
        else {
            self.reply(out, Reply::new(501, "Invalid SITE CHMOD format."));
            return;
        };
        if let Some((path, check)) = self.checked_path(target, perm, out) {
            self.fs_task(check, FsOp::Chmod { path, mode }, out);
        }
    }

    // --- file information

    fn cmd_size(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let Some((path, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        if self.ascii {
            self.reply(out, Reply::new(550, "SIZE not allowed in ASCII mode."));
            return;
        }
        self.fs_task(check, FsOp::FileInfo { path, size: true }, out);
    }

    fn cmd_mdtm(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((path, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::FileInfo { path, size: false }, out);
        }
    }

    fn cmd_mfmt(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let Some((timeval, target)) = self.two_args(arg, out) else {
            return;
        };
        let Some(secs) = std::str::from_utf8(timeval)
            .ok()
            .and_then(listing::parse_timeval)
        else {
            self.reply(
                out,
                Reply::new(501, "Invalid time format; expected: YYYYMMDDHHMMSS."),
            );
            return;
        };
        if let Some((path, check)) = self.checked_path(target, perm, out) {
            self.fs_task(check, FsOp::Mfmt { path, secs }, out);
        }
    }

    fn cmd_mlst(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let target = if arg.is_empty() {
            self.cwd.clone()
        } else {
            arg.to_vec()
        };
        if let Some((p, check)) = self.checked_path(&target, perm, out) {
            self.fs_task(check, FsOp::Mlst(p), out);
        }
    }

    // --- data connection set-up

    fn cmd_port(&mut self, arg: &[u8], extended: bool, out: &mut Vec<Action>) {
        let name = if extended { "EPRT" } else { "PORT" };
        if self.epsv_all {
            self.reply(
                out,
                Reply::new(501, format!("{name} not allowed after EPSV ALL.")),
            );
            return;
        }
        let control_v4 = canonical_ip(self.remote.ip()).is_ipv4();
        let parsed: Result<SocketAddr, addr::AddrError> = if extended {
            addr::parse_eprt(arg)
        } else {
            addr::parse_port(arg).map(SocketAddr::V4)
        };
        let target = match parsed {
            Ok(a) => a,
            Err(addr::AddrError::UnknownProtocol) => {
                let use_ = if control_v4 { 1 } else { 2 };
                self.reply(
                    out,
                    Reply::new(522, format!("Network protocol not supported (use {use_}).")),
                );
                return;
            }
            Err(addr::AddrError::Syntax) => {
                self.reply(out, Reply::new(501, format!("Invalid {name} format.")));
                return;
            }
        };
        if extended && target.is_ipv4() != control_v4 {
            let use_ = if control_v4 { 1 } else { 2 };
            self.reply(
                out,
                Reply::new(522, format!("Network protocol not supported (use {use_}).")),
            );
            return;
        }
        let ip = canonical_ip(target.ip());
        if !self.ctx.config.permit_foreign_addresses && ip != canonical_ip(self.remote.ip()) {
            self.warn_reply(
                out,
                Reply::new(
                    501,
                    format!(
                        "Rejected data connection to foreign address {}:{}.",
                        ip,
                        target.port()
                    ),
                ),
            );
            return;
        }
        if !self.ctx.config.permit_privileged_ports && target.port() < 1024 {
            self.warn_reply(
                out,
                Reply::new(
                    501,
                    format!(
                        "PORT against the privileged port \"{}\" refused.",
                        target.port()
                    ),
                ),
            );
            return;
        }
        if self.data != DataState::None {
            out.push(Action::CloseData);
        }
        self.data = DataState::ActiveConnecting;
        // Connect from the address family of the target.
        let local = match (self.local.ip(), target) {
            (IpAddr::V6(v6), SocketAddr::V4(_)) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            (l, _) => l,
        };
        let remote = SocketAddr::new(ip, target.port());
        out.push(Action::ConnectActive { remote, local });
    }

    fn open_passive(&mut self, extended: bool, out: &mut Vec<Action>) {
        if self.data != DataState::None {
            out.push(Action::CloseData);
        }
        self.data = DataState::PassiveOpening { extended };
        out.push(Action::ListenPassive(self.local.ip()));
    }

    fn cmd_pasv(&mut self, out: &mut Vec<Action>) {
        if self.epsv_all {
            self.reply(out, Reply::new(501, "PASV not allowed after EPSV ALL."));
            return;
        }
        let masq_v4 = self
            .ctx
            .config
            .masquerade_address
            .map(|a| canonical_ip(a).is_ipv4())
            .unwrap_or(false);
        if !canonical_ip(self.local.ip()).is_ipv4() && !masq_v4 {
            self.reply(
                out,
                Reply::new(425, "Can't use PASV on an IPv6 connection; use EPSV."),
            );
            return;
        }
        self.open_passive(false, out);
    }

    fn cmd_epsv(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        let v4 = canonical_ip(self.local.ip()).is_ipv4();
        let a = show(arg).to_ascii_uppercase();
        match a.as_str() {
            "" => self.open_passive(true, out),
            "1" if v4 => self.open_passive(true, out),
            "2" if !v4 => self.open_passive(true, out),
            "1" => self.reply(
                out,
                Reply::new(522, "Network protocol not supported (use 2)."),
            ),
            "2" => self.reply(
                out,
                Reply::new(522, "Network protocol not supported (use 1)."),
            ),
            "ALL" => {
                self.epsv_all = true;
                self.reply(
                    out,
                    Reply::new(200, "Other commands other than EPSV are now disabled."),
                );
            }
            _ => {
                let use_ = if v4 { 1 } else { 2 };
                self.reply(
                    out,
                    Reply::new(501, format!("Unknown network protocol (use {use_}).")),
                );
            }
        }
    }

    fn cmd_rest(&mut self, arg: &[u8], out: &mut Vec<Action>) {
        let ok = !arg.is_empty() && arg.iter().all(u8::is_ascii_digit);
        match std::str::from_utf8(arg)
            .ok()
            .filter(|_| ok)
            .and_then(|s| s.parse::<u64>().ok())
        {
            // An offset in TYPE A would count converted bytes (pyftpdlib
            // refuses it too); REST 0 is exact in any type.
            Some(n) if n > 0 && self.ascii => self.reply(
                out,
                Reply::new(501, "Resuming transfers not allowed in ASCII mode."),
            ),
            Some(n) => {
                self.ahead = Ahead::Restart(n);
                self.reply(out, Reply::new(350, format!("Restarting at position {n}.")));
            }
            None => self.reply(out, Reply::new(501, "Invalid parameter.")),
        }
    }

    // --- transfers

    /// Refuse an upload before it touches a file: no data channel set up
    /// (425), or one that `tls_data_required` forbids (521). Downloads and
    /// listings are refused the same way when they start (`push_transfer`),
    /// after their path checks, as pyftpdlib orders the replies.
    fn refuse_transfer(&mut self, out: &mut Vec<Action>) -> bool {
        if let Some(refusal) = self.data_protection_refusal() {
            self.reply(out, Reply::new(521, refusal));
            true
        } else if self.data == DataState::None {
            self.reply(out, Reply::new(425, "Use PORT or PASV first."));
            true
        } else {
            false
        }
    }

    fn cmd_retr(&mut self, arg: &[u8], perm: Option<char>, rest: u64, out: &mut Vec<Action>) {
        if let Some((path, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Retr { path, rest }, out);
        }
    }

    fn cmd_stor(
        &mut self,
        arg: &[u8],
        perm: Option<char>,
        cmd: TransferCmd,
        rest: u64,
        out: &mut Vec<Action>,
    ) {
        if cmd == TransferCmd::Appe && rest > 0 {
            self.reply(
                out,
                Reply::new(450, "Can't APPE while REST request is pending."),
            );
            return;
        }
        let Some((path, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        let mode = match (cmd, rest) {
            (TransferCmd::Appe, _) => WriteMode::Append,
            (_, 0) => WriteMode::Replace,
            (_, n) => WriteMode::Resume(n),
        };
        // refused before the file is touched (a new file would be left empty)
        if self.refuse_transfer(out) {
            return;
        }
        self.fs_task(check, FsOp::Stor { path, cmd, mode }, out);
    }

    fn cmd_stou(&mut self, arg: &[u8], rest: u64, out: &mut Vec<Action>) {
        if rest > 0 {
            self.reply(
                out,
                Reply::new(450, "Can't STOU while REST request is pending."),
            );
            return;
        }
        let (dir, prefix) = if arg.is_empty() {
            (self.cwd.clone(), "ftpd.".to_string())
        } else {
            let p = path::resolve(&self.cwd, arg);
            (path::parent(&p), format!("{}.", show(path::file_name(&p))))
        };
        // the permission is the directory's (`w`)
        let dir_arg = dir.clone();
        let Some((dir, check)) = self.checked_path(&dir_arg, Some('w'), out) else {
            return;
        };
        if self.refuse_transfer(out) {
            return;
        }
        self.fs_task(check, FsOp::Stou { dir, prefix }, out);
    }

    fn cmd_list(
        &mut self,
        arg: &[u8],
        perm: Option<char>,
        cmd: TransferCmd,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        // `ls`-style options (LIST -la, NLST -a dir) are accepted and ignored.
        let mut arg = arg;
        if cmd != TransferCmd::Mlsd {
            while arg.first() == Some(&b'-') {
                let end = arg.iter().position(|&b| b == b' ').unwrap_or(arg.len());
                arg = arg.get(end + 1..).unwrap_or(b"");
            }
        }
        let Some(account) = self.login.as_ref().map(|l| &l.account) else {
            return;
        };
        let perms = Arc::new(account.perms.clone());
        let (secs, tm, facts) = (unix_secs(now), self.time_mode(), self.facts);
        let spec = |path: Vec<u8>| ListSpec {
            cmd,
            path,
            now: secs,
            tm,
            facts,
            perms: Arc::clone(&perms),
        };
        if cmd != TransferCmd::Mlsd {
            if let Some((dir, pattern)) = glob::split_pattern(arg) {
                // NLST or LIST of a pattern (`*.txt`, `sub/*.txt`,
                // `/pub/file[0-9]`): the entries of `dir` (resolved like any
                // path, so never above the root) whose names match, or a
                // file literally named like the pattern if there is one.
                // Needs `l` on `dir`.
                let literal = path::resolve(&self.cwd, arg);
                let literal_perms = perms.at(&literal);
                let Some((dir_path, check)) = self.checked_path(dir, perm, out) else {
                    return;
                };
                let op = FsOp::Glob {
                    cmd,
                    shown_dir: dir.to_vec(),
                    dir: dir_path,
                    pattern: pattern.to_vec(),
                    now: secs,
                    tm,
                    literal_spec: spec(literal.clone()),
                    literal,
                    literal_perms,
                };
                self.fs_task(check, op, out);
                return;
            }
        }
        let target = if arg.is_empty() {
            self.cwd.clone()
        } else {
            arg.to_vec()
        };
        if let Some((p, check)) = self.checked_path(&target, perm, out) {
            self.fs_task(check, FsOp::List(spec(p)), out);
        }
    }

    // --- results of filesystem work

    /// The result of the command's [`Action::Fs`] task: the rest of the
    /// command, then its log line (for [`LOGGED_CMDS`]).
    pub(super) fn fs_done(&mut self, r: FsResult, now: SystemTime, out: &mut Vec<Action>) {
        let awaited = !matches!(r, FsResult::Finished { ended: None, .. });
        let log = if awaited {
            match std::mem::replace(&mut self.awaiting, Awaiting::Nothing) {
                Awaiting::Fs { log } => log,
                other => {
                    // not what the session waits for: keep waiting
                    self.awaiting = other;
                    None
                }
            }
        } else {
            None
        };
        let before = out.len();
        self.fs_result(r, now, out);
        if let Some((verb, arg)) = log {
            self.log_cmd(&verb, &arg, &out[before..]);
        }
    }

    fn fs_result(&mut self, r: FsResult, now: SystemTime, out: &mut Vec<Action>) {
        if self.closing {
            // The session ended while the task ran: nothing more is said,
            // but an upload opened for it is aborted, and a transfer's end
            // is still logged and reported to the callbacks.
            match r {
                FsResult::Stor {
                    result: Ok((sink, _)),
                    ..
                }
                | FsResult::Stou(Ok((_, sink, _))) => {
                    out.push(Action::Fs(FsTask::finish(sink, false, None)));
                }
                FsResult::Finished {
                    ended: Some(ended), ..
                } => self.transfer_ended(*ended, out),
                _ => {}
            }
            return;
        }
        match r {
            FsResult::Denied => self.reply(out, Reply::new(550, "Not enough privileges.")),
            FsResult::Cwd(p, Ok(m)) if m.kind == FileKind::Dir => {
                self.cwd = p;
                let cwd = show(&self.cwd);
                self.reply(
                    out,
                    Reply::new(250, format!("\"{cwd}\" is the current directory.")),
                );
            }
            FsResult::Cwd(_, Ok(_)) => self.reply(out, Reply::new(550, "Not a directory.")),
            FsResult::Mkd(p, Ok(())) => {
                let shown = show(&p).replace('"', "\"\"");
                self.reply(
                    out,
                    Reply::new(257, format!("\"{shown}\" directory created.")),
                );
            }
            FsResult::Rmd(p, Ok(())) => {
                if path::is_within(&p, &self.cwd) {
                    self.cwd = path::parent(&p);
                }
                self.reply(out, Reply::new(250, "Directory removed."));
            }
            FsResult::Dele(Ok(())) => self.reply(out, Reply::new(250, "File removed.")),
            FsResult::Rnfr(p, Ok(_)) => {
                self.ahead = Ahead::Rename(p);
                self.reply(out, Reply::new(350, "Ready for destination name."));
            }
            FsResult::Rnfr(_, Err(_)) => {
                self.reply(out, Reply::new(550, "No such file or directory."))
            }
            FsResult::Rnto(Ok(())) => self.reply(out, Reply::new(250, "Renaming ok.")),
            FsResult::Chmod(Ok(())) => self.reply(out, Reply::new(200, "SITE CHMOD successful.")),
            FsResult::Cwd(_, Err(e))
            | FsResult::Mkd(_, Err(e))
            | FsResult::Rmd(_, Err(e))
            | FsResult::Dele(Err(e))
            | FsResult::Rnto(Err(e))
            | FsResult::Chmod(Err(e))
            | FsResult::Mlst(_, Err(e))
            | FsResult::Stat(_, Err(e))
            | FsResult::Mfmt(_, Some(Err(e))) => self.fs_error(out, &e),
            FsResult::FileInfo { path, size, result } => match result {
                Ok(m) if m.kind == FileKind::File && size => {
                    self.reply(out, Reply::new(213, m.size.to_string()))
                }
                Ok(m) if m.kind == FileKind::File => match listing::try_format_mdtm(m.mtime) {
                    Some(t) => self.reply(out, Reply::new(213, t)),
                    None => self.reply(
                        out,
                        Reply::new(550, "Can't determine file's last modification time."),
                    ),
                },
                _ => self.not_retrievable(&path, size, out),
            },
            FsResult::Mfmt(p, None) => self.not_retrievable(&p, false, out),
            FsResult::Mfmt(p, Some(Ok(m))) => {
                let t = listing::format_mdtm(m.mtime);
                self.reply(out, Reply::new(213, format!("Modify={t}; {}.", show(&p))));
            }
            FsResult::Mlst(p, Ok(e)) => {
                let perms = match self.login.as_ref().map(|l| &l.account) {
                    Some(a) => a.perms.at(&p).resolve(|| e.kind == FileKind::Dir).letters(),
                    None => String::new(),
                };
                let line = listing::mlsx_line(&e, &self.facts, &perms, MlsxRole::Entry);
                let facts = line.split(|&b| b == b' ').next().unwrap_or(b"").to_vec();
                let mid = [b" ".as_slice(), &facts, b" ", &p].concat();
                self.reply(
                    out,
                    Reply::multi(
                        250,
                        format!("Listing \"{}\":", show(&p)),
                        vec![mid],
                        "End MLST.",
                    ),
                );
            }
            FsResult::Stat(p, Ok(lines)) => {
                let lines = lines
                    .into_iter()
                    .map(|l| [b" ".as_slice(), &strip_crlf(l)].concat())
                    .collect();
                self.reply(
                    out,
                    Reply::multi(
                        213,
                        format!("Status of \"{}\":", show(&p)),
                        lines,
                        "End of status.",
                    ),
                );
            }
            FsResult::Retr(Ok((file, shown))) => {
                let cfg = &self.ctx.config;
                let t = Transfer::send(
                    TransferCmd::Retr,
                    Source::File(file),
                    self.ascii,
                    cfg.use_sendfile,
                    cfg.write_limit,
                )
                .with_path(shown)
                .with_fast_storage(self.fast_storage());
                self.push_transfer(t, None, now, out);
            }
            FsResult::Retr(Err(e)) | FsResult::Stor { result: Err(e), .. } => match e {
                OpenError::Io(e) => self.fs_error(out, &e),
                OpenError::Restart(why) => self.reply(out, Reply::new(554, why)),
            },
            FsResult::Stor {
                cmd,
                result: Ok((sink, shown)),
            } => {
                let cfg = &self.ctx.config;
                let t = Transfer::receive(cmd, sink, self.ascii, cfg.use_sendfile, cfg.read_limit)
                    .with_path(shown)
                    .with_fast_storage(self.fast_storage());
                self.push_transfer(t, None, now, out);
            }
            FsResult::Stou(Ok((vpath, sink, shown))) => {
                let name = show(path::file_name(&vpath));
                let cfg = &self.ctx.config;
                let t = Transfer::receive(
                    TransferCmd::Stou,
                    sink,
                    self.ascii,
                    cfg.use_sendfile,
                    cfg.read_limit,
                )
                .with_path(shown)
                .with_fast_storage(self.fast_storage());
                self.push_transfer(t, Some(format!("FILE: {name}")), now, out);
            }
            FsResult::Stou(Err(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.reply(out, Reply::new(450, "No usable unique file name found."));
            }
            FsResult::Stou(Err(e)) => {
                self.reply(out, Reply::new(450, format!("{}.", strerror(&e))));
            }
            FsResult::List(cmd, Ok(lines)) => {
                let t = Transfer::send(
                    cmd,
                    Source::Lines(lines),
                    false,
                    false,
                    self.ctx.config.write_limit,
                )
                .with_fast_storage(self.fast_storage());
                self.push_transfer(t, None, now, out);
            }
            FsResult::List(cmd, Err(e)) => match e {
                ListError::Io(e) => self.fs_error(out, &e),
                ListError::NotDir => self.reply(out, Reply::new(501, "No such directory.")),
                // No match is an error before any transfer, not an empty
                // listing. vsftpd sends an empty listing (150, nothing,
                // 226); proftpd refuses up front with `450 No files found`
                // (mod_ls, unless `ListOptions NoErrorIfAbsent`). We follow
                // proftpd in refusing, but with 550 like any missing path,
                // as `ls *.none` does in a shell: 4xx means "try again
                // later" (RFC 959), and a pattern that matches nothing will
                // not match on a retry. What mget clients make of the three
                // answers, tried here: BSD ftp (tnftp) prints "No such file
                // or directory." for 550 and says nothing at all for 450 or
                // an empty listing; ncftpget reports both ("server said:
                // ...", exit 3; "no match.", exit 15); Python's ftplib
                // raises error_perm for 550 (what scripts catch for "no
                // files"), error_temp for 450, and gives [] for an empty
                // listing. lftp globs on its own over MLSD.
                ListError::NoMatch => {
                    self.reply(out, Reply::new(550, "No such file or directory."))
                }
                ListError::TooMany { asked, dir } => {
                    log::warn!(
                        "{} {} {}: more than {MAX_GLOB_MATCHES} entries of {} match; refused",
                        self.prefix,
                        cmd.name(),
                        show(&asked),
                        show(&dir)
                    );
                    self.reply(
                        out,
                        Reply::new(550, "Too many matches; narrow the pattern."),
                    );
                }
            },
            FsResult::Finished { result, ended } => match ended {
                Some(mut ended) => {
                    if let Err(e) = result {
                        if ended.result.is_ok() {
                            ended.result = Err(TransferError::Local(e));
                        } else {
                            log::warn!("{} cleaning up after a failed upload: {e}", self.prefix);
                        }
                    }
                    self.transfer_ended(*ended, out);
                }
                None => {
                    if let Err(e) = result {
                        log::warn!(
                            "{} cleaning up an upload that did not run: {e}",
                            self.prefix
                        );
                    }
                }
            },
        }
    }

    /// Whether the user's filesystem says it is local and fast
    /// ([`crate::fs::Filesystem::is_local_fast`]): its transfers may then do
    /// their file I/O (and zero-copy) on a poll loop's thread.
    fn fast_storage(&self) -> bool {
        self.login.as_ref().is_some_and(|l| l.fs.is_local_fast())
    }

    /// SIZE, MDTM and MFMT of something that is not a regular file.
    fn not_retrievable(&mut self, p: &[u8], dot: bool, out: &mut Vec<Action>) {
        let text = format!(
            "{} is not retrievable{}",
            show(p),
            if dot { "." } else { "" }
        );
        self.reply(out, Reply::new(550, text));
    }
}

fn strip_crlf(mut l: Vec<u8>) -> Vec<u8> {
    while matches!(l.last(), Some(b'\r') | Some(b'\n')) {
        l.pop();
    }
    l
}
