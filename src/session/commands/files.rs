//! Directories and file information: CWD/CDUP, MKD, RMD, DELE, RNFR/RNTO,
//! SITE CHMOD (RFC 959 §4.1), SIZE, MDTM, MLST (RFC 3659), MFMT, and the
//! rest of each once its filesystem task answered.

use super::*;

impl Session {
    // --- directories

    pub(super) fn cmd_cwd(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((p, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Cwd(p), out);
        }
    }

    pub(super) fn cmd_mkd(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((p, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Mkd(p), out);
        }
    }

    pub(super) fn cmd_rmd(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let Some((p, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        if p == b"/" {
            self.reply(out, Reply::new(550, "Can't remove root directory."));
            return;
        }
        self.fs_task(check, FsOp::Rmd(p), out);
    }

    pub(super) fn cmd_dele(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((p, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Dele(p), out);
        }
    }

    pub(super) fn cmd_rnfr(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
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
    pub(super) fn cmd_rnto(
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

    pub(super) fn cmd_chmod(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
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

    pub(super) fn cmd_size(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let Some((path, check)) = self.checked_path(arg, perm, out) else {
            return;
        };
        if self.ascii {
            self.reply(out, Reply::new(550, "SIZE not allowed in ASCII mode."));
            return;
        }
        self.fs_task(check, FsOp::FileInfo { path, size: true }, out);
    }

    pub(super) fn cmd_mdtm(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        if let Some((path, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::FileInfo { path, size: false }, out);
        }
    }

    pub(super) fn cmd_mfmt(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
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

    pub(super) fn cmd_mlst(&mut self, arg: &[u8], perm: Option<char>, out: &mut Vec<Action>) {
        let target = if arg.is_empty() {
            self.cwd.clone()
        } else {
            arg.to_vec()
        };
        if let Some((p, check)) = self.checked_path(&target, perm, out) {
            self.fs_task(check, FsOp::Mlst(p), out);
        }
    }

    /// SIZE, MDTM and MFMT of something that is not a regular file.
    pub(super) fn not_retrievable(&mut self, p: &[u8], dot: bool, out: &mut Vec<Action>) {
        let text = format!(
            "{} is not retrievable{}",
            show(p),
            if dot { "." } else { "" }
        );
        self.reply(out, Reply::new(550, text));
    }

    /// The rest of a directory or file-information command, once its
    /// filesystem task answered.
    pub(super) fn file_done(&mut self, r: FileResult, out: &mut Vec<Action>) {
        match r {
            FileResult::Cwd(p, Ok(m)) if m.kind == FileKind::Dir => {
                self.cwd = p;
                let cwd = show(&self.cwd);
                self.reply(
                    out,
                    Reply::new(250, format!("\"{cwd}\" is the current directory.")),
                );
            }
            FileResult::Cwd(_, Ok(_)) => self.reply(out, Reply::new(550, "Not a directory.")),
            FileResult::Mkd(p, Ok(())) => {
                let shown = show(&p).replace('"', "\"\"");
                self.reply(
                    out,
                    Reply::new(257, format!("\"{shown}\" directory created.")),
                );
            }
            FileResult::Rmd(p, Ok(())) => {
                if path::is_within(&p, &self.cwd) {
                    self.cwd = path::parent(&p);
                }
                self.reply(out, Reply::new(250, "Directory removed."));
            }
            FileResult::Dele(Ok(())) => self.reply(out, Reply::new(250, "File removed.")),
            FileResult::Rnfr(p, Ok(_)) => {
                self.ahead = Ahead::Rename(p);
                self.reply(out, Reply::new(350, "Ready for destination name."));
            }
            FileResult::Rnfr(_, Err(_)) => {
                self.reply(out, Reply::new(550, "No such file or directory."))
            }
            FileResult::Rnto(Ok(())) => self.reply(out, Reply::new(250, "Renaming ok.")),
            FileResult::Chmod(Ok(())) => self.reply(out, Reply::new(200, "SITE CHMOD successful.")),
            FileResult::Cwd(_, Err(e))
            | FileResult::Mkd(_, Err(e))
            | FileResult::Rmd(_, Err(e))
            | FileResult::Dele(Err(e))
            | FileResult::Rnto(Err(e))
            | FileResult::Chmod(Err(e))
            | FileResult::Mlst(_, Err(e))
            | FileResult::Stat(_, Err(e))
            | FileResult::Mfmt(_, Some(Err(e))) => self.fs_error(out, &e),
            FileResult::FileInfo { path, size, result } => match result {
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
            FileResult::Mfmt(p, None) => self.not_retrievable(&p, false, out),
            FileResult::Mfmt(p, Some(Ok(m))) => {
                let t = listing::format_mdtm(m.mtime);
                self.reply(out, Reply::new(213, format!("Modify={t}; {}.", show(&p))));
            }
            FileResult::Mlst(p, Ok(e)) => {
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
            FileResult::Stat(p, Ok(lines)) => {
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
        }
    }
}
