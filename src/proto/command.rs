//! Command parsing and the one declarative command table.
//!
//! The table drives everything that depends on the set of commands:
//! whether a command needs a login, which permission letter it needs,
//! whether it takes an argument, its HELP text, and the FEAT lines.
//!
//! A line is parsed once, by [`Command::parse`], into a [`Command`]: its
//! [`Verb`] (one per table row) and its argument.

/// Whether a command takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgRule {
    /// The command must have an argument (`501 Syntax error: command needs an argument.`).
    Required,
    /// The command must not have an argument (`501 Syntax error: command does not accept arguments.`).
    Forbidden,
    /// The argument is optional.
    Optional,
}

impl ArgRule {
    /// The `501` text for an argument (`true`: present) this rule refuses,
    /// pyftpdlib's wording.
    pub fn refusal(self, has_arg: bool) -> Option<&'static str> {
        match (self, has_arg) {
            (ArgRule::Required, false) => Some("Syntax error: command needs an argument."),
            (ArgRule::Forbidden, true) => Some("Syntax error: command does not accept arguments."),
            _ => None,
        }
    }
}

/// Every command of the table, one variant per row (aliases such as `XCWD`
/// and `SITE` sub-commands are rows of their own).
///
/// A parsed line names its command by this type ([`Command::verb`]), so the
/// session dispatches with an exhaustive `match`: a row without a handler
/// does not compile. The row itself ([`Verb::spec`]) holds what the table
/// says about the command (permission letter, login requirement, argument
/// rule, HELP text, FEAT line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Verb {
    /// `ABOR`: abort the transfer in progress (RFC 959 §4.1.3).
    Abor,
    /// `ALLO`: allocate storage, a no-op here (RFC 959 §4.1.3).
    Allo,
    /// `APPE`: append to a file (RFC 959 §4.1.3).
    Appe,
    /// `AUTH`: secure the control connection (RFC 2228 §3, RFC 4217 §4).
    Auth,
    /// `CCC`: clear the command channel, refused here (RFC 2228 §3, RFC 4217 §11).
    Ccc,
    /// `CDUP`: change to the parent directory (RFC 959 §4.1.1).
    Cdup,
    /// `CWD`: change the working directory (RFC 959 §4.1.1).
    Cwd,
    /// `DELE`: delete a file (RFC 959 §4.1.3).
    Dele,
    /// `EPRT`: extended active mode (RFC 2428 §2).
    Eprt,
    /// `EPSV`: extended passive mode (RFC 2428 §3).
    Epsv,
    /// `FEAT`: list the extensions (RFC 2389 §3).
    Feat,
    /// `HELP`: command help (RFC 959 §4.1.3).
    Help,
    /// `LIST`: directory listing (RFC 959 §4.1.3).
    List,
    /// `MDTM`: modification time (RFC 3659 §3).
    Mdtm,
    /// `MFMT`: set the modification time (draft-somers-ftp-mfxx).
    Mfmt,
    /// `MKD`: make a directory (RFC 959 §4.1.3).
    Mkd,
    /// `MLSD`: machine listing of a directory (RFC 3659 §7).
    Mlsd,
    /// `MLST`: machine listing of one path (RFC 3659 §7).
    Mlst,
    /// `MODE`: transfer mode, stream only (RFC 959 §4.1.2).
    Mode,
    /// `NLST`: name list (RFC 959 §4.1.3).
    Nlst,
    /// `NOOP`: do nothing (RFC 959 §4.1.3).
    Noop,
    /// `OPTS`: command options, `UTF8` and `MLST` (RFC 2389 §4, RFC 3659 §7.9).
    Opts,
    /// `PASS`: password (RFC 959 §4.1.1).
    Pass,
    /// `PASV`: passive mode (RFC 959 §4.1.2).
    Pasv,
    /// `PBSZ`: protection buffer size (RFC 2228 §3, RFC 4217 §8).
    Pbsz,
    /// `PORT`: active mode (RFC 959 §4.1.2).
    Port,
    /// `PROT`: data channel protection level (RFC 2228 §3, RFC 4217 §9).
    Prot,
    /// `PWD`: print the working directory (RFC 959 §4.1.3).
    Pwd,
    /// `QUIT`: log out and close (RFC 959 §4.1.1).
    Quit,
    /// `REIN`: reinitialize, flushing the account (RFC 959 §4.1.1).
    Rein,
    /// `REST`: restart offset, stream mode (RFC 3659 §5).
    Rest,
    /// `RETR`: download a file (RFC 959 §4.1.3).
    Retr,
    /// `RMD`: remove a directory (RFC 959 §4.1.3).
    Rmd,
    /// `RNFR`: rename from (RFC 959 §4.1.3).
    Rnfr,
    /// `RNTO`: rename to (RFC 959 §4.1.3).
    Rnto,
    /// `SITE` without a known sub-command (RFC 959 §4.1.3).
    Site,
    /// `SITE CHMOD`: change a file's mode (pyftpdlib's SITE command).
    SiteChmod,
    /// `SITE HELP`: help on the SITE commands (pyftpdlib's SITE command).
    SiteHelp,
    /// `SIZE`: file size (RFC 3659 §4).
    Size,
    /// `STAT`: server status, or a listing over the control connection (RFC 959 §4.1.3).
    Stat,
    /// `STOR`: upload a file (RFC 959 §4.1.3).
    Stor,
    /// `STOU`: upload under a unique name (RFC 959 §4.1.3).
    Stou,
    /// `STRU`: file structure, file only (RFC 959 §4.1.2).
    Stru,
    /// `SYST`: system type (RFC 959 §4.1.3).
    Syst,
    /// `TYPE`: representation type, ASCII or image (RFC 959 §4.1.2).
    Type,
    /// `USER`: user name (RFC 959 §4.1.1).
    User,
    /// `XCUP`: obsolete `CDUP` (RFC 775, RFC 1123 §4.1.3.1).
    Xcup,
    /// `XCWD`: obsolete `CWD` (RFC 775, RFC 1123 §4.1.3.1).
    Xcwd,
    /// `XMKD`: obsolete `MKD` (RFC 775, RFC 1123 §4.1.3.1).
    Xmkd,
    /// `XPWD`: obsolete `PWD` (RFC 775, RFC 1123 §4.1.3.1).
    Xpwd,
    /// `XRMD`: obsolete `RMD` (RFC 775, RFC 1123 §4.1.3.1).
    Xrmd,
}

impl Verb {
    /// This command's row of the table.
    pub fn spec(self) -> &'static CommandSpec {
        // The rows are in the order of the variants (checked at compile time below).
        &TABLE[self as usize]
    }

    /// The command's upper-case name, e.g. `"RETR"`, `"SITE CHMOD"`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The verb of a table name (as produced by [`parse`]), by exact match.
    pub fn from_name(name: &str) -> Option<Verb> {
        lookup(name).map(|c| c.verb)
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command this row describes.
    pub verb: Verb,
    /// Upper-case name, e.g. `"RETR"`, `"SITE CHMOD"`, `"XMKD"`.
    pub name: &'static str,
    /// Permission letter (one of `elradfmwMT`) the command needs, if any.
    pub perm: Option<char>,
    /// Whether the client must be logged in.
    pub needs_auth: bool,
    /// Argument rule.
    pub arg: ArgRule,
    /// HELP text, e.g. `"Syntax: RETR <SP> file-name (retrieve a file)."`.
    pub help: &'static str,
    /// The line this command adds to FEAT, if any (e.g. `"SIZE"`, `"REST STREAM"`).
    pub feat: Option<&'static str>,
}

/// A control line split into its verb and argument, the lexical step of
/// [`Command::parse`] (the verb may name no command of the table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Upper-cased verb. For `SITE xxx` this is `"SITE XXX"` (pyftpdlib's convention),
    /// for a bare `SITE` it is `"SITE"`.
    pub verb: String,
    /// The raw argument bytes after the separating space, `None` when empty.
    pub arg: Option<Vec<u8>>,
}

/// Why a control line could not be parsed into a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line was empty (or only spaces).
    Empty,
    /// The verb is not made of printable ASCII; carries a printable rendering of it.
    BadVerb(String),
}

/// Render a verb for messages: printable ASCII kept (upper-cased), other
/// bytes escaped as `\xNN`.
fn render_verb(verb: &[u8]) -> String {
    let mut s = String::with_capacity(verb.len());
    for &b in verb {
        if b.is_ascii_graphic() {
            s.push(char::from(b.to_ascii_uppercase()));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Split at the first space: (word, rest after that space or `None` if empty).
fn split_word(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    match line.iter().position(|&b| b == b' ') {
        Some(i) => {
            let rest = &line[i + 1..];
            (&line[..i], (!rest.is_empty()).then_some(rest))
        }
        None => (line, None),
    }
}

/// Upper-cased verb, or [`ParseError::BadVerb`] if it is not printable ASCII.
fn verb_text(verb: &[u8], shown_prefix: &str) -> Result<String, ParseError> {
    if verb.iter().all(u8::is_ascii_graphic) {
        // All bytes are ASCII, so this conversion is lossless.
        Ok(verb
            .iter()
            .map(|&b| char::from(b.to_ascii_uppercase()))
            .collect())
    } else {
        Err(ParseError::BadVerb(format!(
            "{shown_prefix}{}",
            render_verb(verb)
        )))
    }
}

/// Parse one control line (without its line terminator).
///
/// The verb is everything before the first space, upper-cased; the argument
/// is everything after that one space (further spaces are kept). For
/// `SITE <sub> [arg]` the verb becomes `"SITE <SUB>"` and the argument what
/// follows the sub-command. A line starting with a space (but not only
/// spaces) yields an empty verb, which [`lookup`] does not know.
pub fn parse(line: &[u8]) -> Result<Request, ParseError> {
    if line.iter().all(|&b| b == b' ') {
        return Err(ParseError::Empty);
    }
    let (verb, arg) = split_word(line);
    let verb = verb_text(verb, "")?;
    if verb == "SITE" {
        if let Some(rest) = arg {
            let (sub, arg) = split_word(rest);
            let sub = verb_text(sub, "SITE ")?;
            return Ok(Request {
                verb: format!("SITE {sub}"),
                arg: arg.map(<[u8]>::to_vec),
            });
        }
    }
    Ok(Request {
        verb,
        arg: arg.map(<[u8]>::to_vec),
    })
}

/// A control line parsed into a command of the table: what the session runs.
///
/// Made once per line by [`Command::parse`]; the session keeps it (queued
/// behind a transfer or a login check) and dispatches on [`Command::verb`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command (for a line with Telnet garbage before `ABOR`, `STAT` or
    /// `QUIT`, that command).
    pub verb: Verb,
    /// The raw argument bytes after the separating space (after the
    /// sub-command for `SITE xxx`), `None` when empty.
    pub arg: Option<Vec<u8>>,
}

/// A control line that names no command of the table; the session answers
/// `500 Command "<verb>" not understood.` ([`NotUnderstood::reply_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUnderstood {
    /// The verb as shown in the reply: upper-cased, bytes that are not
    /// printable ASCII as `\xNN`, `SITE xxx` as `"SITE XXX"`; empty for an
    /// empty line.
    pub verb: String,
}

impl NotUnderstood {
    /// The text of the `500` reply (pyftpdlib's wording).
    pub fn reply_text(&self) -> String {
        format!("Command \"{}\" not understood.", self.verb)
    }
}

/// The commands that may follow Telnet garbage (pyftpdlib's rule): a client
/// sends the Telnet IP and Synch sequences before them (RFC 959 §4.1.3,
/// ABOR), and bytes of those that reach the line stay in front of the verb.
const AFTER_GARBAGE: [Verb; 3] = [Verb::Abor, Verb::Stat, Verb::Quit];

impl Command {
    /// Parse a control line (without its terminator) into a command of the table.
    ///
    /// The line is split by [`parse`] and its verb looked up in the table.
    /// pyftpdlib's rule for Telnet garbage holds: a verb that is unknown (or
    /// not printable) but ends in `ABOR`, `STAT` or `QUIT` is that command.
    /// Anything else that is not in the table, an empty line and a verb that
    /// is not printable ASCII are [`NotUnderstood`]. Argument rules and the
    /// login requirement are checked when the command runs
    /// ([`Command::arg_refusal`], [`Command::needs_login`]).
    pub fn parse(line: &[u8]) -> Result<Command, NotUnderstood> {
        match parse(line) {
            Ok(Request { verb, arg }) => {
                if let Some(spec) = lookup(&verb) {
                    return Ok(Command {
                        verb: spec.verb,
                        arg,
                    });
                }
                let tail = verb.get(verb.len().saturating_sub(4)..).unwrap_or("");
                match AFTER_GARBAGE.into_iter().find(|v| v.name() == tail) {
                    Some(verb) => Ok(Command { verb, arg }),
                    None => Err(NotUnderstood { verb }),
                }
            }
            Err(ParseError::Empty) => Err(NotUnderstood {
                verb: String::new(),
            }),
            Err(ParseError::BadVerb(shown)) => {
                let (word, _) = split_word(line);
                let upper = word.to_ascii_uppercase();
                let after_garbage = AFTER_GARBAGE
                    .iter()
                    .any(|v| upper.ends_with(v.name().as_bytes()));
                if after_garbage {
                    // The command from its name on: four printable bytes, so this parses.
                    Command::parse(&line[word.len() - 4..])
                } else {
                    Err(NotUnderstood { verb: shown })
                }
            }
        }
    }

    /// This command's row of the table.
    pub fn spec(&self) -> &'static CommandSpec {
        self.verb.spec()
    }

    /// The `501` text if the argument breaks the command's [`ArgRule`].
    pub fn arg_refusal(&self) -> Option<&'static str> {
        self.spec().arg.refusal(self.arg.is_some())
    }

    /// Whether the command needs a login: the table's `needs_auth`, and
    /// `STAT` with an argument (it lists files, pyftpdlib's rule).
    pub fn needs_login(&self) -> bool {
        self.spec().needs_auth || (self.verb == Verb::Stat && self.arg.is_some())
    }
}

/// Look up a verb (as produced by [`parse`]) in the command table.
///
/// The match is exact (verbs from [`parse`] are already upper-case).
pub fn lookup(verb: &str) -> Option<&'static CommandSpec> {
    TABLE.iter().find(|c| c.name == verb)
}

/// The whole command table (RFC 959/1123/2389/2428/2640/3659 commands, X* aliases, SITE commands).
///
/// Sorted by name. Besides pyftpdlib's plain-FTP table it holds its TLS
/// commands `AUTH`, `PBSZ`, `PROT` and also `CCC` (RFC 4217); their FEAT
/// lines are not in the `feat` field but in `TLS_FEAT_LINES`, to be added
/// only when TLS is available.
pub fn table() -> &'static [CommandSpec] {
    TABLE
}

/// FEAT entries pyftpdlib's TLS handler adds (pass them to
/// [`feat_lines_with`] when TLS is configured).
pub(crate) const TLS_FEAT_LINES: [&str; 4] = ["AUTH TLS", "AUTH SSL", "PBSZ", "PROT"];

/// FEAT entries that belong to the server rather than to one command.
const ALWAYS_FEAT: [&str; 1] = ["TVFS"];

/// The middle lines of the FEAT reply (each starting with one space), sorted,
/// generated from the table plus the MLST line built by the caller.
///
/// With the default facts this is:
/// ` EPRT`, ` EPSV`, ` MDTM`, ` MFMT`,
/// ` MLST type*;perm*;size*;modify*;unique;unix.mode;unix.uid;unix.gid;`,
/// ` REST STREAM`, ` SIZE`, ` TVFS`, ` UTF8`. An empty `mlst_line` is left out.
#[cfg(test)]
pub(crate) fn feat_lines(mlst_line: &str) -> Vec<String> {
    feat_lines_with(mlst_line, &[])
}

/// [`feat_lines`] plus extra entries (e.g. [`TLS_FEAT_LINES`]); duplicates
/// are removed, the result is sorted byte-wise like pyftpdlib's `sorted()`.
pub(crate) fn feat_lines_with(mlst_line: &str, extra: &[&str]) -> Vec<String> {
    let mut feats: Vec<&str> = TABLE
        .iter()
        .filter_map(|c| c.feat)
        .chain(ALWAYS_FEAT)
        .chain(extra.iter().copied())
        .collect();
    if !mlst_line.is_empty() {
        feats.push(mlst_line);
    }
    feats.sort_unstable();
    feats.dedup();
    feats.into_iter().map(|f| format!(" {f}")).collect()
}

/// Commands per HELP line, as pyftpdlib lays them out.
const HELP_PER_LINE: usize = 8;

/// The middle lines of `HELP` with no argument: the non-SITE commands, several per line.
///
/// pyftpdlib's layout: the sorted names (bare `SITE` included, `SITE xxx`
/// not), eight per line, each as `" %-6s"` (so lines start with a space and
/// keep trailing padding), e.g. `" ABOR   ALLO   APPE   AUTH   CCC    CDUP   CWD    DELE  "`.
pub(crate) fn help_lines() -> Vec<String> {
    let names: Vec<&str> = TABLE
        .iter()
        .map(|c| c.name)
        .filter(|n| !n.starts_with("SITE "))
        .collect();
    names
        .chunks(HELP_PER_LINE)
        .map(|chunk| chunk.iter().map(|n| format!(" {n:<6}")).collect())
        .collect()
}

/// The middle lines of `SITE HELP` with no argument: the SITE sub-commands.
///
/// One per line, with a leading space: `" CHMOD"`, `" HELP"`.
pub(crate) fn site_help_lines() -> Vec<String> {
    TABLE
        .iter()
        .filter_map(|c| c.name.strip_prefix("SITE "))
        .map(|n| format!(" {n}"))
        .collect()
}

/// Shorthand constructor for the table.
const fn cmd(
    verb: Verb,
    name: &'static str,
    perm: Option<char>,
    needs_auth: bool,
    arg: ArgRule,
    help: &'static str,
    feat: Option<&'static str>,
) -> CommandSpec {
    CommandSpec {
        verb,
        name,
        perm,
        needs_auth,
        arg,
        help,
        feat,
    }
}

use ArgRule::{Forbidden, Optional, Required};

/// The command table, sorted by name (pyftpdlib's `proto_cmds` plus its TLS
/// commands and CCC).
///
/// Valid before login (`needs_auth: false`): the login and security
/// commands USER, PASS, AUTH, PBSZ, PROT (RFC 959 §5.4, RFC 4217 §6-9), REIN
/// and QUIT; the informational FEAT and OPTS (RFC 2389 §3-4: "FEAT ... may
/// be issued ... before login"; RFC 2640 §3.1 OPTS UTF8, which Windows'
/// ftp.exe sends only there), HELP, SITE HELP, SYST, NOOP and STAT without
/// an argument. Everything that names a file or sets up a transfer needs a
/// login.
#[rustfmt::skip]
const ROWS: [CommandSpec; 51] = [
    cmd(Verb::Abor, "ABOR", None, true, Forbidden, "Syntax: ABOR (abort transfer).", None),
    cmd(Verb::Allo, "ALLO", None, true, Required, "Syntax: ALLO <SP> bytes (noop; allocate storage).", None),
    cmd(Verb::Appe, "APPE", Some('a'), true, Required, "Syntax: APPE <SP> file-name (append data to file).", None),
    cmd(Verb::Auth, "AUTH", None, false, Required, "Syntax: AUTH <SP> TLS|SSL (set up secure control channel).", None),
    cmd(Verb::Ccc, "CCC", None, true, Forbidden, "Syntax: CCC (clear command channel).", None),
    cmd(Verb::Cdup, "CDUP", Some('e'), true, Forbidden, "Syntax: CDUP (go to parent directory).", None),
    cmd(Verb::Cwd, "CWD", Some('e'), true, Optional, "Syntax: CWD [<SP> dir-name] (change working directory).", None),
    cmd(Verb::Dele, "DELE", Some('d'), true, Required, "Syntax: DELE <SP> file-name (delete file).", None),
    cmd(Verb::Eprt, "EPRT", None, true, Required, "Syntax: EPRT <SP> |proto|ip|port| (extended active mode).", Some("EPRT")),
    cmd(Verb::Epsv, "EPSV", None, true, Optional, "Syntax: EPSV [<SP> proto/\"ALL\"] (extended passive mode).", Some("EPSV")),
    cmd(Verb::Feat, "FEAT", None, false, Forbidden, "Syntax: FEAT (list all new features supported).", None),
    cmd(Verb::Help, "HELP", None, false, Optional, "Syntax: HELP [<SP> cmd] (show help).", None),
    cmd(Verb::List, "LIST", Some('l'), true, Optional, "Syntax: LIST [<SP> path] (list files).", None),
    cmd(Verb::Mdtm, "MDTM", Some('l'), true, Required, "Syntax: MDTM [<SP> path] (file last modification time).", Some("MDTM")),
    cmd(Verb::Mfmt, "MFMT", Some('T'), true, Required, "Syntax: MFMT <SP> timeval <SP> path (file update last modification time).", Some("MFMT")),
    cmd(Verb::Mkd, "MKD", Some('m'), true, Required, "Syntax: MKD <SP> path (create directory).", None),
    cmd(Verb::Mlsd, "MLSD", Some('l'), true, Optional, "Syntax: MLSD [<SP> path] (list directory).", None),
    cmd(Verb::Mlst, "MLST", Some('l'), true, Optional, "Syntax: MLST [<SP> path] (show information about path).", None),
    cmd(Verb::Mode, "MODE", None, true, Required, "Syntax: MODE <SP> mode (noop; set data transfer mode).", None),
    cmd(Verb::Nlst, "NLST", Some('l'), true, Optional, "Syntax: NLST [<SP> path] (list path in a compact form).", None),
    cmd(Verb::Noop, "NOOP", None, false, Forbidden, "Syntax: NOOP (just do nothing).", None),
    cmd(Verb::Opts, "OPTS", None, false, Required, "Syntax: OPTS <SP> cmd [<SP> option] (set option for command).", Some("UTF8")),
    cmd(Verb::Pass, "PASS", None, false, Optional, "Syntax: PASS [<SP> password] (set user password).", None),
    cmd(Verb::Pasv, "PASV", None, true, Forbidden, "Syntax: PASV (open passive data connection).", None),
    cmd(Verb::Pbsz, "PBSZ", None, false, Required, "Syntax: PBSZ <SP> 0 (negotiate TLS buffer).", None),
    cmd(Verb::Port, "PORT", None, true, Required, "Syntax: PORT <sp> h,h,h,h,p,p (open active data connection).", None),
    cmd(Verb::Prot, "PROT", None, false, Required, "Syntax: PROT <SP> [C|P] (set up un/secure data channel).", None),
    cmd(Verb::Pwd, "PWD", None, true, Forbidden, "Syntax: PWD (get current working directory).", None),
    cmd(Verb::Quit, "QUIT", None, false, Forbidden, "Syntax: QUIT (quit current session).", None),
    cmd(Verb::Rein, "REIN", None, false, Forbidden, "Syntax: REIN (flush account).", None),
    cmd(Verb::Rest, "REST", None, true, Required, "Syntax: REST <SP> offset (set file offset).", Some("REST STREAM")),
    cmd(Verb::Retr, "RETR", Some('r'), true, Required, "Syntax: RETR <SP> file-name (retrieve a file).", None),
    cmd(Verb::Rmd, "RMD", Some('d'), true, Required, "Syntax: RMD <SP> dir-name (remove directory).", None),
    cmd(Verb::Rnfr, "RNFR", Some('f'), true, Required, "Syntax: RNFR <SP> file-name (rename (source name)).", None),
    cmd(Verb::Rnto, "RNTO", Some('f'), true, Required, "Syntax: RNTO <SP> file-name (rename (destination name)).", None),
    cmd(Verb::Site, "SITE", None, false, Required, "Syntax: SITE <SP> site-command (execute SITE command).", None),
    cmd(Verb::SiteChmod, "SITE CHMOD", Some('M'), true, Required, "Syntax: SITE CHMOD <SP> mode path (change file mode).", None),
    cmd(Verb::SiteHelp, "SITE HELP", None, false, Optional, "Syntax: SITE HELP [<SP> cmd] (show SITE command help).", None),
    cmd(Verb::Size, "SIZE", Some('l'), true, Required, "Syntax: SIZE <SP> file-name (get file size).", Some("SIZE")),
    cmd(Verb::Stat, "STAT", Some('l'), false, Optional, "Syntax: STAT [<SP> path name] (server stats [list files]).", None),
    cmd(Verb::Stor, "STOR", Some('w'), true, Required, "Syntax: STOR <SP> file-name (store a file).", None),
    cmd(Verb::Stou, "STOU", Some('w'), true, Optional, "Syntax: STOU [<SP> name] (store a file with a unique name).", None),
    cmd(Verb::Stru, "STRU", None, true, Required, "Syntax: STRU <SP> type (noop; set file structure).", None),
    cmd(Verb::Syst, "SYST", None, false, Forbidden, "Syntax: SYST (get operating system type).", None),
    cmd(Verb::Type, "TYPE", None, true, Required, "Syntax: TYPE <SP> [A | I] (set transfer type).", None),
    cmd(Verb::User, "USER", None, false, Required, "Syntax: USER <SP> user-name (set username).", None),
    cmd(Verb::Xcup, "XCUP", Some('e'), true, Forbidden, "Syntax: XCUP (obsolete; go to parent directory).", None),
    cmd(Verb::Xcwd, "XCWD", Some('e'), true, Optional, "Syntax: XCWD [<SP> dir-name] (obsolete; change directory).", None),
    cmd(Verb::Xmkd, "XMKD", Some('m'), true, Required, "Syntax: XMKD <SP> dir-name (obsolete; create directory).", None),
    cmd(Verb::Xpwd, "XPWD", None, true, Forbidden, "Syntax: XPWD (obsolete; get current dir).", None),
    cmd(Verb::Xrmd, "XRMD", Some('d'), true, Required, "Syntax: XRMD <SP> dir-name (obsolete; remove directory).", None),
];

/// The table, for the functions that walk it.
static TABLE: &[CommandSpec] = &ROWS;

// Each row sits at the index of its verb, so [`Verb::spec`] is an index.
const _: () = {
    let mut i = 0;
    while i < ROWS.len() {
        assert!(
            ROWS[i].verb as usize == i,
            "command table out of Verb order"
        );
        i += 1;
    }
};

#[cfg(test)]
mod tests;
