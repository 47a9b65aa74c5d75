//! The data channel and the transfer on it, as the session sees them: the
//! passive listener's port, the data connection opening (secured under
//! PROT P), a transfer command waiting for it (150) or starting on it (125),
//! and a transfer's end (an upload's file committed or aborted first, then
//! the log line, the event and the reply).

use super::*;

/// OS errors of a file that mean the storage is full (`452`, RFC 959):
/// no space, over quota, file too large.
#[cfg(unix)]
pub(super) const STORAGE_FULL: [i32; 3] = [libc::ENOSPC, libc::EDQUOT, libc::EFBIG];
/// OS errors of a file that mean the storage is full (`452`, RFC 959).
#[cfg(windows)]
pub(super) const STORAGE_FULL: [i32; 4] = {
    use windows_sys::Win32::Foundation as w;
    [
        w::ERROR_DISK_FULL as i32,
        w::ERROR_HANDLE_DISK_FULL as i32,
        w::ERROR_DISK_QUOTA_EXCEEDED as i32,
        w::ERROR_FILE_TOO_LARGE as i32,
    ]
};

/// OS errors that mean the server is short of a resource of its own for
/// now (`451`, RFC 959: "local error in processing"), not that the file
/// or the request is at fault: out of descriptors (the process's or the
/// system's), of memory or of buffer space.
#[cfg(unix)]
pub(super) const SHORT_OF_RESOURCES: [i32; 5] = [
    libc::EMFILE,
    libc::ENFILE,
    libc::ENOMEM,
    libc::ENOBUFS,
    libc::EAGAIN,
];
/// OS errors that mean the server is short of a resource of its own
/// (`451`).
#[cfg(windows)]
pub(super) const SHORT_OF_RESOURCES: [i32; 3] = {
    use windows_sys::Win32::Foundation as w;
    [
        w::ERROR_TOO_MANY_OPEN_FILES as i32,
        w::ERROR_NOT_ENOUGH_MEMORY as i32,
        w::ERROR_OUTOFMEMORY as i32,
    ]
};

/// Whether `e` says the server is short of a resource of its own (see
/// [`SHORT_OF_RESOURCES`]).
pub(super) fn short_of_resources(e: &std::io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| SHORT_OF_RESOURCES.contains(&c))
}

/// A transfer that is running on the data connection.
pub(super) struct Running {
    pub(super) cmd: TransferCmd,
    pub(super) bytes: Arc<AtomicU64>,
    /// Where the latest pause of the transfer's bandwidth limit ends.
    pub(super) paused: crate::data::PauseEnd,
    pub(super) started: SystemTime,
    /// Why the session stopped it, if it did (its end then comes back as
    /// [`TransferError::Aborted`]).
    pub(super) abort: Option<AbortReason>,
}

/// Where the session's transfer stands (one at a time, RFC 959 §3.2).
pub(super) enum TransferState {
    /// No transfer.
    Idle,
    /// A transfer command was accepted (150 sent) and waits for its data
    /// connection.
    Waiting(Transfer),
    /// A transfer runs on the data connection.
    Running(Running),
}

impl TransferState {
    /// A transfer runs or waits for its data connection.
    pub(super) fn is_active(&self) -> bool {
        !matches!(self, TransferState::Idle)
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self, TransferState::Running(_))
    }

    pub(super) fn is_waiting(&self) -> bool {
        matches!(self, TransferState::Waiting(_))
    }

    pub(super) fn running(&self) -> Option<&Running> {
        match self {
            TransferState::Running(r) => Some(r),
            _ => None,
        }
    }

    /// Why the session stopped the running transfer, if it did.
    pub(super) fn abort(&self) -> Option<AbortReason> {
        self.running().and_then(|r| r.abort)
    }

    /// The transfer waiting for its data connection, if any (then none is left).
    pub(super) fn take_waiting(&mut self) -> Option<Transfer> {
        match std::mem::replace(self, TransferState::Idle) {
            TransferState::Waiting(t) => Some(t),
            other => {
                *self = other;
                None
            }
        }
    }
}

impl Session {
    // --- data channel events

    pub(super) fn on_passive_listening(&mut self, port: u16, out: &mut Vec<Action>) {
        let DataState::PassiveOpening { extended } = self.data else {
            return;
        };
        self.data = DataState::PassiveListening;
        if extended {
            self.reply(out, Reply::new(229, crate::proto::addr::epsv_text(port)));
        } else {
            let cfg = &self.ctx.config;
            let ip = crate::proto::addr::masquerade(
                cfg.masquerade_address,
                &cfg.masquerade_address_map,
                canonical_ip(self.local.ip()),
                canonical_ip(self.remote.ip()),
            )
            .unwrap_or(self.local.ip());
            match canonical_ip(ip) {
                IpAddr::V4(v4) => self.reply(
                    out,
                    Reply::new(227, crate::proto::addr::pasv_text(v4, port)),
                ),
                IpAddr::V6(_) => {
                    self.data = DataState::None;
                    out.push(Action::CloseData);
                    self.reply(
                        out,
                        Reply::new(425, "Can't announce an IPv6 address with PASV; use EPSV."),
                    );
                }
            }
        }
    }

    pub(super) fn on_data_connected(&mut self, now: SystemTime, out: &mut Vec<Action>) {
        let was = self.data;
        self.data = DataState::Connected;
        // A PROT change closes the data channel (see `cmd_prot`), so the
        // level in force is the one this channel was set up under.
        if self.security.data() {
            out.push(Action::SecureData);
        }
        if was == DataState::ActiveConnecting {
            self.reply(out, Reply::new(200, "Active data connection established."));
        }
        if let Some(t) = self.transfer.take_waiting() {
            self.start(t, now, out);
        }
    }

    pub(super) fn start(&mut self, t: Transfer, now: SystemTime, out: &mut Vec<Action>) {
        self.transfer = TransferState::Running(Running {
            cmd: t.cmd,
            bytes: t.byte_counter(),
            paused: t.pause_end(),
            started: now,
            abort: None,
        });
        out.push(Action::StartTransfer(t));
    }

    /// Queue `t` behind the data connection: start it now if the connection is
    /// open (125), else wait for it (150). `preliminary` overrides the reply text.
    pub(super) fn push_transfer(
        &mut self,
        t: Transfer,
        preliminary: Option<String>,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        if let Some(refusal) = self.data_protection_refusal() {
            self.drop_transfer(t, out);
            self.reply(out, Reply::new(521, refusal));
            return;
        }
        let t = t.with_tls(self.security.data());
        match self.data {
            DataState::Connected => {
                let text = preliminary
                    .unwrap_or_else(|| "Data connection already open. Transfer starting.".into());
                self.reply(out, Reply::new(125, text));
                self.start(t, now, out);
            }
            DataState::PassiveListening
            | DataState::ActiveConnecting
            | DataState::PassiveOpening { .. } => {
                let text = preliminary
                    .unwrap_or_else(|| "File status okay. About to open data connection.".into());
                self.reply(out, Reply::new(150, text));
                self.transfer = TransferState::Waiting(t);
            }
            DataState::None => {
                self.drop_transfer(t, out);
                self.reply(out, Reply::new(425, "Use PORT or PASV first."));
            }
        }
    }

    /// A transfer that will not run: an upload's file is aborted (a
    /// replacing upload leaves the old file whole), with no reply waiting.
    pub(super) fn drop_transfer(&mut self, mut t: Transfer, out: &mut Vec<Action>) {
        if let Some(sink) = t.take_sink() {
            out.push(Action::Fs(FsTask::finish(sink, false, None)));
        }
    }

    /// A pending transfer will never get its data connection.
    pub(super) fn fail_pending(&mut self, out: &mut Vec<Action>) {
        if let Some(mut t) = self.transfer.take_waiting() {
            if let Some(sink) = t.take_sink() {
                out.push(Action::Fs(FsTask::finish(sink, false, None)));
            }
            if let Some(p) = t.file_path.clone() {
                out.push(Action::Event(if t.cmd.is_upload() {
                    Event::IncompleteFileReceived(p)
                } else {
                    Event::IncompleteFileSent(p)
                }));
            }
        }
    }

    pub(super) fn on_transfer_done(
        &mut self,
        mut t: Transfer,
        result: Result<(), TransferError>,
        seconds: f64,
        out: &mut Vec<Action>,
    ) {
        let reason = match std::mem::replace(&mut self.transfer, TransferState::Idle) {
            TransferState::Running(r) => r.abort,
            _ => None,
        };
        self.data = DataState::None;
        // what the session stopped the transfer for
        let result = match (result, reason) {
            (Err(TransferError::Aborted), Some(AbortReason::Stalled)) => {
                Err(TransferError::TimedOut)
            }
            (Err(TransferError::Aborted), Some(AbortReason::ControlLost)) => {
                Err(TransferError::Network(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "control connection closed",
                )))
            }
            (Err(TransferError::Aborted), Some(AbortReason::Handshake)) => {
                Err(TransferError::Handshake(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                )))
            }
            (result, _) => result,
        };
        let ended = Box::new(fs_work::Ended {
            cmd: t.cmd,
            file_path: t.file_path.clone(),
            bytes: t.bytes(),
            seconds,
            aborted_by_client: reason == Some(AbortReason::Client),
            result,
        });
        // Finish the file first: an upload is only reported complete once
        // it is in place, and the next command sees it there.
        match t.take_sink() {
            Some(sink) => {
                let commit = ended.result.is_ok();
                self.awaiting = Awaiting::Fs { log: None };
                out.push(Action::Fs(FsTask::finish(sink, commit, Some(ended))));
            }
            None => self.transfer_ended(*ended, out),
        }
    }

    /// The rest of a transfer's end, once an upload's file is committed or
    /// aborted: the log line, the event, the reply.
    pub(super) fn transfer_ended(&mut self, ended: fs_work::Ended, out: &mut Vec<Action>) {
        let fs_work::Ended {
            cmd,
            file_path,
            bytes,
            seconds,
            result,
            aborted_by_client,
        } = ended;
        let upload = cmd.is_upload();
        let completed = result.is_ok();
        if let Some(path) = &file_path {
            log::info!(
                "{} {} {} completed={} bytes={} seconds={:.3}",
                self.prefix,
                cmd.name(),
                path.display(),
                u8::from(completed),
                bytes,
                seconds
            );
            let ev = match (upload, completed) {
                (true, true) => Event::FileReceived(path.clone()),
                (true, false) => Event::IncompleteFileReceived(path.clone()),
                (false, true) => Event::FileSent(path.clone()),
                (false, false) => Event::IncompleteFileSent(path.clone()),
            };
            out.push(Action::Event(ev));
        }
        if self.disconnected {
            return;
        }
        match result {
            Ok(()) => self.reply(out, Reply::new(226, "Transfer complete.")),
            Err(TransferError::Aborted) if self.shutting_down && !aborted_by_client => {
                self.reply_info(
                    out,
                    Reply::new(426, "Transfer aborted: the server is shutting down."),
                );
            }
            Err(TransferError::Aborted) => {
                if aborted_by_client {
                    self.reply_info(out, Reply::new(426, "Transfer aborted via ABOR."));
                    // an ABOR queued behind other commands answers in its turn
                    if !self.abor_reply_due {
                        self.reply(out, Reply::new(226, "ABOR command successful."));
                    }
                }
            }
            Err(TransferError::TimedOut) => {
                self.reply_info(out, Reply::new(421, "Data connection timed out."));
                self.close(out);
                return;
            }
            Err(TransferError::Handshake(e)) => {
                log::info!("{} data channel TLS handshake failed: {e}", self.prefix);
                self.reply(out, Reply::new(522, "SSL handshake failed."));
            }
            Err(TransferError::Network(e)) => {
                log::info!("{} data connection error: {e}", self.prefix);
                let text = if upload {
                    "Connection closed; transfer aborted.".to_string()
                } else {
                    format!("Transfer aborted; {bytes} bytes transmitted.")
                };
                self.reply(out, Reply::new(426, text));
            }
            Err(TransferError::Local(e)) => {
                log::warn!("{} file error during {}: {e}", self.prefix, cmd.name());
                let full = e.raw_os_error().is_some_and(|c| STORAGE_FULL.contains(&c));
                let code = if full { 452 } else { 451 };
                self.warn_reply(
                    out,
                    Reply::new(code, format!("{}; transfer aborted.", strerror(&e))),
                );
            }
        }
        if self.shutting_down {
            self.say_shutdown(out);
        } else if self.quit_pending {
            self.quit_pending = false;
            self.send_goodbye(out);
        }
    }
}
