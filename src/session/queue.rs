//! The control lines a session holds: each line is run in its turn, or
//! waits behind a command that waits for the driver (a login check, a
//! filesystem task, a transfer, a data connection being set up), so that
//! replies keep the order of the commands; only ABOR, STAT, NOOP and QUIT
//! are served during a transfer. At a change of security state (AUTH,
//! REIN) the lines held are dropped, never run on the other side of it.

use super::*;

/// A control line as the framer delivered it, parsed once on arrival: a
/// command line (the command, or why it is none, to answer in its turn),
/// or one that was too long (answered `500`, in its turn like any other line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Received {
    Line {
        /// The line as received, for the log.
        line: Vec<u8>,
        parsed: Result<Command, NotUnderstood>,
    },
    TooLong,
}

impl Received {
    pub(super) fn line(line: &[u8]) -> Self {
        Received::Line {
            line: line.to_vec(),
            parsed: Command::parse(line),
        }
    }

    /// The command of the line, if it is one.
    pub(super) fn command(&self) -> Option<&Command> {
        match self {
            Received::Line { parsed, .. } => parsed.as_ref().ok(),
            Received::TooLong => None,
        }
    }

    /// AUTH or REIN: a command after which the client may speak TLS (or
    /// stop speaking it).
    pub(super) fn changes_security(&self) -> bool {
        self.command()
            .is_some_and(|c| matches!(c.verb, Verb::Auth | Verb::Rein))
    }

    /// ABOR, STAT without an argument, NOOP and QUIT: served while a
    /// transfer runs (RFC 959 §4.1.3: ABOR and STAT "may be sent during a
    /// transfer"; pyftpdlib also answers NOOP and defers QUIT).
    pub(super) fn urgent(&self) -> bool {
        self.command().is_some_and(|c| match c.verb {
            Verb::Abor | Verb::Noop | Verb::Quit => true,
            Verb::Stat => c.arg.is_none(),
            _ => false,
        })
    }
}

impl Session {
    // --- lines

    /// A line (or an over-long one) in its turn: run now, or queued behind a
    /// login check or a transfer. Replies keep the order of the lines.
    pub(super) fn on_line(&mut self, line: Received, now: SystemTime, out: &mut Vec<Action>) {
        if self.quit_pending || self.shutting_down {
            // pyftpdlib stops reading commands once QUIT was received during a transfer.
            log::debug!("{} ignored after QUIT: {line:?}", self.prefix);
            return;
        }
        if self.awaiting != Awaiting::Nothing
            || (!self.queued.is_empty() && !self.transfer_waiting())
        {
            // answered in order once the login check is done (or behind the
            // lines already waiting: the queue drains after this input)
            self.queue_line(line, out);
            return;
        }
        if self.transfer_waiting() {
            // ABOR, STAT, NOOP and QUIT are served while a transfer runs; the
            // rest waits its turn. Replies keep the order of the commands:
            // behind queued commands, an ABOR stops the transfer at once (its
            // 426 is the transfer command's, which came first) but its own
            // 226 comes in its turn, after the replies to the commands sent
            // before it.
            let abor = line.command().is_some_and(|c| c.verb == Verb::Abor);
            if abor && !self.queued.is_empty() {
                self.abort_ahead(out);
                self.queue_line(line, out);
                return;
            }
            if !(line.urgent() && self.queued.is_empty()) {
                self.queue_line(line, out);
                return;
            }
        } else if self.busy() {
            // PASV/EPSV or PORT/EPRT waits for the driver's answer
            self.queue_line(line, out);
            return;
        }
        self.dispatch_received(line, now, out);
    }

    /// Drop every line held (and the reply of an ABOR among them).
    pub(super) fn clear_queue(&mut self) {
        self.queued.clear();
        self.abor_reply_due = false;
    }

    pub(super) fn dispatch_received(
        &mut self,
        line: Received,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        match line {
            Received::Line { line, parsed } => self.dispatch(&line, parsed, now, out),
            Received::TooLong => {
                // like any command, it ends what the previous one left (RNFR...)
                self.drop_ahead();
                self.warn_reply(out, Reply::new(500, "Command too long."));
            }
        }
    }

    /// A transfer runs or waits for its data connection.
    pub(super) fn transfer_waiting(&self) -> bool {
        self.transfer.is_active()
    }

    /// Keep a line until the login check or the transfer is done. A driver
    /// that honours [`Session::accepts_lines`] never overfills the queue; if
    /// one does, the line is refused (450), never silently dropped.
    pub(super) fn queue_line(&mut self, line: Received, out: &mut Vec<Action>) {
        if self.queued.len() < MAX_QUEUED {
            self.queued.push_back(line);
        } else {
            self.warn_reply(
                out,
                Reply::new(450, "Too many commands queued; command refused."),
            );
        }
    }

    /// Drop the lines queued behind a command that changes the security of
    /// the control connection (AUTH, REIN): they were received before the
    /// change and are never run after it.
    pub(super) fn drop_queued_at_security_change(&mut self) {
        if !self.queued.is_empty() {
            log::warn!(
                "{} discarded {} queued commands received before a change of security state",
                self.prefix,
                self.queued.len()
            );
            self.clear_queue();
        }
    }

    /// Whether a command waits for the driver: a login check, a transfer
    /// (running, or waiting for its data connection), a passive listener
    /// being opened or an active connect in progress. Lines received
    /// meanwhile wait their turn, so that each one runs in the state the
    /// ones before it left and gets its own reply, in order.
    pub(super) fn busy(&self) -> bool {
        self.awaiting != Awaiting::Nothing
            || self.timers.hold.is_some()
            || self.transfer.is_active()
            || matches!(
                self.data,
                DataState::PassiveOpening { .. } | DataState::ActiveConnecting
            )
    }

    /// Run queued commands until one waits for the driver again (see
    /// [`Session::busy`]). Called after every input.
    pub(super) fn drain_queue(&mut self, now: SystemTime, out: &mut Vec<Action>) {
        while !self.busy() && !self.closing && !self.disconnected {
            let Some(line) = self.queued.pop_front() else {
                break;
            };
            self.dispatch_received(line, now, out);
        }
    }
}
