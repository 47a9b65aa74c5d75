//! Command dispatch: a parsed command line is checked (argument rule,
//! login, TLS policy), handed what the previous command left for it, and
//! run by the handler of its family, one file per family:
//!
//! - [`login`]: USER, PASS, REIN, QUIT;
//! - [`security`]: AUTH, PBSZ, PROT, CCC;
//! - [`info`]: FEAT, OPTS, HELP, SYST, STAT, NOOP, TYPE, STRU, MODE, ALLO;
//! - [`files`]: CWD, MKD, RMD, DELE, RNFR/RNTO, SITE CHMOD, SIZE, MDTM, MFMT, MLST;
//! - [`data_channel`]: PORT, EPRT, PASV, EPSV, REST, ABOR;
//! - [`transfers`]: RETR, STOR, APPE, STOU, LIST, NLST, MLSD.
//!
//! A command that needs the filesystem emits a task ([`Action::Fs`]) and is
//! finished by its family's `*_done` when the result comes back.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use super::fs_work::{
    FileResult, FsOp, FsResult, KindCheck, ListError, ListSpec, OpenError, TransferResult,
};
use super::{
    canonical_ip, long_reply, strerror, AbortReason, Action, Ahead, Awaiting, DataState, FsTask,
    LoggedIn, LoginError, LoginOutcome, LoginTask, Offence, Security, Session, SharedRate,
    TransferState, MAX_GLOB_MATCHES,
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

mod data_channel;
mod files;
mod info;
pub(super) mod login;
mod security;
mod transfers;

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

    /// The reply to a command whose filesystem work failed with `e`:
    /// `550` with the system's message, as pyftpdlib's, except where the
    /// server, not the file or the request, is at fault: `452` when the
    /// storage is full and `451` when the server is short of descriptors
    /// or memory (RFC 959: the client may try again), logged as warnings
    /// for the operator.
    fn fs_error(&mut self, out: &mut Vec<Action>, e: &io::Error) {
        let text = format!("{}.", strerror(e).trim_end_matches('.'));
        let code = e.raw_os_error().and_then(|c| {
            if super::transfer::STORAGE_FULL.contains(&c) {
                Some(452)
            } else if super::transfer::short_of_resources(e) {
                Some(451)
            } else {
                None
            }
        });
        match code {
            Some(code) => self.warn_reply(out, Reply::new(code, text)),
            None => self.reply(out, Reply::new(550, text)),
        }
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

    // --- results of filesystem work

    /// The result of the command's [`Action::Fs`] task: the rest of the
    /// command, then its log line (for [`LOGGED_CMDS`]).
    pub(super) fn fs_done(&mut self, r: FsResult, now: SystemTime, out: &mut Vec<Action>) {
        let awaited = !matches!(
            r,
            FsResult::Transfers(TransferResult::Finished { ended: None, .. })
        );
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
                FsResult::Transfers(TransferResult::Stor {
                    result: Ok((sink, _)),
                    ..
                })
                | FsResult::Transfers(TransferResult::Stou(Ok((_, sink, _)))) => {
                    out.push(Action::Fs(FsTask::finish(sink, false, None)));
                }
                FsResult::Transfers(TransferResult::Finished {
                    ended: Some(ended), ..
                }) => self.transfer_ended(*ended, out),
                _ => {}
            }
            return;
        }
        match r {
            FsResult::Denied => self.reply(out, Reply::new(550, "Not enough privileges.")),
            FsResult::Files(f) => self.file_done(f, out),
            FsResult::Transfers(t) => self.transfer_done(t, now, out),
        }
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
}

fn strip_crlf(mut l: Vec<u8>) -> Vec<u8> {
    while matches!(l.last(), Some(b'\r') | Some(b'\n')) {
        l.pop();
    }
    l
}
