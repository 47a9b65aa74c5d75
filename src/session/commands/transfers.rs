//! Transfers: RETR, STOR, APPE, STOU, LIST, NLST, MLSD (patterns
//! included), and the rest of each once its filesystem task answered.

use super::*;

impl Session {
    // --- transfers

    /// Refuse an upload before it touches a file: no data channel set up
    /// (425), or one that `tls_data_required` forbids (521). Downloads and
    /// listings are refused the same way when they start (`push_transfer`),
    /// after their path checks, as pyftpdlib orders the replies.
    pub(super) fn refuse_transfer(&mut self, out: &mut Vec<Action>) -> bool {
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

    pub(super) fn cmd_retr(
        &mut self,
        arg: &[u8],
        perm: Option<char>,
        rest: u64,
        out: &mut Vec<Action>,
    ) {
        if let Some((path, check)) = self.checked_path(arg, perm, out) {
            self.fs_task(check, FsOp::Retr { path, rest }, out);
        }
    }

    pub(super) fn cmd_stor(
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

    pub(super) fn cmd_stou(&mut self, arg: &[u8], rest: u64, out: &mut Vec<Action>) {
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

    pub(super) fn cmd_list(
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

    /// Whether the user's filesystem says it is local and fast
    /// ([`crate::fs::Filesystem::is_local_fast`]): its transfers may then do
    /// their file I/O (and zero-copy) on a poll loop's thread.
    pub(super) fn fast_storage(&self) -> bool {
        self.login.as_ref().is_some_and(|l| l.fs.is_local_fast())
    }

    /// The user's bandwidth for uploads (`upload`) or downloads, shared by
    /// all of the user's transfers, if the account sets one.
    pub(super) fn user_rate(&self, upload: bool) -> Option<SharedRate> {
        let login = self.login.as_ref()?;
        let limits = &login.account.limits;
        let rate = if upload {
            limits.read_limit
        } else {
            limits.write_limit
        };
        SharedRate::new(Arc::clone(login.slot.as_ref()?), rate, upload)
    }

    /// The rest of a transfer command (or of an upload's end), once its
    /// filesystem task answered: the transfer is set up, or refused.
    pub(super) fn transfer_done(
        &mut self,
        r: TransferResult,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        match r {
            TransferResult::Retr(Ok((file, shown))) => {
                let cfg = &self.ctx.config;
                let t = Transfer::send(
                    TransferCmd::Retr,
                    Source::File(file),
                    self.ascii,
                    cfg.use_sendfile,
                    cfg.write_limit,
                )
                .with_user_rate(self.user_rate(false))
                .with_path(shown)
                .with_fast_storage(self.fast_storage());
                self.push_transfer(t, None, now, out);
            }
            TransferResult::Retr(Err(e)) | TransferResult::Stor { result: Err(e), .. } => match e {
                OpenError::Io(e) => self.fs_error(out, &e),
                OpenError::Restart(why) => self.reply(out, Reply::new(554, why)),
            },
            TransferResult::Stor {
                cmd,
                result: Ok((sink, shown)),
            } => {
                let cfg = &self.ctx.config;
                let t = Transfer::receive(cmd, sink, self.ascii, cfg.use_sendfile, cfg.read_limit)
                    .with_user_rate(self.user_rate(true))
                    .with_path(shown)
                    .with_fast_storage(self.fast_storage());
                self.push_transfer(t, None, now, out);
            }
            TransferResult::Stou(Ok((vpath, sink, shown))) => {
                let name = show(path::file_name(&vpath));
                let cfg = &self.ctx.config;
                let t = Transfer::receive(
                    TransferCmd::Stou,
                    sink,
                    self.ascii,
                    cfg.use_sendfile,
                    cfg.read_limit,
                )
                .with_user_rate(self.user_rate(true))
                .with_path(shown)
                .with_fast_storage(self.fast_storage());
                self.push_transfer(t, Some(format!("FILE: {name}")), now, out);
            }
            TransferResult::Stou(Err(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.reply(out, Reply::new(450, "No usable unique file name found."));
            }
            TransferResult::Stou(Err(e)) => {
                self.reply(out, Reply::new(450, format!("{}.", strerror(&e))));
            }
            TransferResult::List(cmd, Ok(lines)) => {
                let t = Transfer::send(
                    cmd,
                    Source::Lines(lines),
                    false,
                    false,
                    self.ctx.config.write_limit,
                )
                .with_user_rate(self.user_rate(false))
                .with_fast_storage(self.fast_storage());
                self.push_transfer(t, None, now, out);
            }
            TransferResult::List(cmd, Err(e)) => match e {
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
            TransferResult::Finished { result, ended } => match ended {
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
}
