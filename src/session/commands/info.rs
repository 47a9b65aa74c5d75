//! Informational commands: OPTS (RFC 2389), HELP and SITE HELP, STAT
//! (RFC 959 §4.1.3), TYPE.

use super::*;

impl Session {
    // --- informational

    pub(super) fn cmd_opts(&mut self, arg: &[u8], out: &mut Vec<Action>) {
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
    pub(super) fn cmd_help(&mut self, arg: &[u8], site: bool, out: &mut Vec<Action>) {
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

    pub(super) fn cmd_stat(
        &mut self,
        arg: &[u8],
        perm: Option<char>,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
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

    pub(super) fn cmd_type(&mut self, arg: &[u8], out: &mut Vec<Action>) {
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
}
