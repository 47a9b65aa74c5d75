//! Setting up the data connection: PORT/EPRT (active), PASV/EPSV
//! (passive; RFC 959 §4.1.2, RFC 2428), REST (RFC 3659 §5), ABOR.

use super::*;

impl Session {
    pub(super) fn cmd_abor(&mut self, out: &mut Vec<Action>) {
        if std::mem::take(&mut self.abor_reply_due) {
            // the transfer was stopped when this ABOR arrived (see `on_line`)
            self.reply(out, Reply::new(226, "ABOR command successful."));
            return;
        }
        if let TransferState::Running(r) = &mut self.transfer {
            // answered when the transfer's end comes back (426, 226)
            if r.abort.replace(AbortReason::Client).is_none() {
                out.push(Action::AbortTransfer);
            }
            return;
        }
        if self.transfer.is_waiting() {
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

    /// An ABOR behind queued commands: stop the transfer now; the ABOR's
    /// own `226` is given when it comes up in the queue.
    pub(in crate::session) fn abort_ahead(&mut self, out: &mut Vec<Action>) {
        if let TransferState::Running(r) = &mut self.transfer {
            if r.abort.replace(AbortReason::Client).is_none() {
                out.push(Action::AbortTransfer);
            }
        } else if self.transfer.is_waiting() {
            self.fail_pending(out);
            out.push(Action::CloseData);
            self.data = DataState::None;
            self.reply_info(out, Reply::new(426, "Transfer aborted via ABOR."));
        }
        self.abor_reply_due = true;
    }

    // --- data connection set-up

    pub(super) fn cmd_port(&mut self, arg: &[u8], extended: bool, out: &mut Vec<Action>) {
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

    pub(super) fn open_passive(&mut self, extended: bool, out: &mut Vec<Action>) {
        if self.data != DataState::None {
            out.push(Action::CloseData);
        }
        self.data = DataState::PassiveOpening { extended };
        out.push(Action::ListenPassive(self.local.ip()));
    }

    pub(super) fn cmd_pasv(&mut self, out: &mut Vec<Action>) {
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

    pub(super) fn cmd_epsv(&mut self, arg: &[u8], out: &mut Vec<Action>) {
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

    pub(super) fn cmd_rest(&mut self, arg: &[u8], out: &mut Vec<Action>) {
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
}
