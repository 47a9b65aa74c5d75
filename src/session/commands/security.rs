//! Security commands (RFC 4217, RFC 2228): AUTH, PBSZ, PROT, CCC, and the
//! TLS policy switches (`tls_control_required`, `tls_data_required`).

use super::*;

impl Session {
    // --- TLS (RFC 4217)

    /// Under `tls_data_required`, the refusal of a transfer on a data
    /// channel that is not protected (RFC 4217 §9: 521). Checked when each
    /// transfer starts, whatever set the channel up.
    pub(in crate::session) fn data_protection_refusal(&self) -> Option<&'static str> {
        let tls = self.ctx.config.tls.as_ref()?;
        (tls.data_required && !self.security.data())
            .then_some("Data connection cannot be opened with this PROT setting.")
    }

    /// pyftpdlib's refusals under `tls_control_required` / `tls_data_required`.
    pub(super) fn tls_refusal(&self, verb: Verb) -> Option<&'static str> {
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

    pub(super) fn cmd_auth(&mut self, arg: &[u8], out: &mut Vec<Action>) {
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

    pub(super) fn cmd_pbsz(&mut self, out: &mut Vec<Action>) {
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

    pub(super) fn cmd_prot(&mut self, arg: &[u8], out: &mut Vec<Action>) {
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
    pub(super) fn close_data_channel(&mut self, out: &mut Vec<Action>) {
        if !self.transfer.is_active() && self.data != DataState::None {
            out.push(Action::CloseData);
            self.data = DataState::None;
        }
    }

    /// REIN resets the security state too: the data channel protection is
    /// forgotten and the control connection returns to where it was when the
    /// client connected (clear for explicit FTPS, a fresh handshake for implicit).
    pub(super) fn rein_tls(&mut self, out: &mut Vec<Action>) {
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
}
