//! Command parsing and the one declarative command table.
//!
//! The table drives everything that depends on the set of commands:
//! whether a command needs a login, which permission letter it needs,
//! whether it takes an argument, its HELP text, and the FEAT lines.

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

/// One row of the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
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

/// A parsed control line.
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
/// lines are not in the `feat` field but in [`TLS_FEAT_LINES`], to be added
/// only when TLS is available.
pub fn table() -> &'static [CommandSpec] {
    TABLE
}

/// FEAT entries pyftpdlib's TLS handler adds (pass them to
/// [`feat_lines_with`] when TLS is configured).
pub const TLS_FEAT_LINES: [&str; 4] = ["AUTH TLS", "AUTH SSL", "PBSZ", "PROT"];

/// FEAT entries that belong to the server rather than to one command.
const ALWAYS_FEAT: [&str; 1] = ["TVFS"];

/// The middle lines of the FEAT reply (each starting with one space), sorted,
/// generated from the table plus the MLST line built by the caller.
///
/// With the default facts this is:
/// ` EPRT`, ` EPSV`, ` MDTM`, ` MFMT`,
/// ` MLST type*;perm*;size*;modify*;unique;unix.mode;unix.uid;unix.gid;`,
/// ` REST STREAM`, ` SIZE`, ` TVFS`, ` UTF8`. An empty `mlst_line` is left out.
pub fn feat_lines(mlst_line: &str) -> Vec<String> {
    feat_lines_with(mlst_line, &[])
}

/// [`feat_lines`] plus extra entries (e.g. [`TLS_FEAT_LINES`]); duplicates
/// are removed, the result is sorted byte-wise like pyftpdlib's `sorted()`.
pub fn feat_lines_with(mlst_line: &str, extra: &[&str]) -> Vec<String> {
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
pub fn help_lines() -> Vec<String> {
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
pub fn site_help_lines() -> Vec<String> {
    TABLE
        .iter()
        .filter_map(|c| c.name.strip_prefix("SITE "))
        .map(|n| format!(" {n}"))
        .collect()
}

/// Shorthand constructor for the table.
const fn cmd(
    name: &'static str,
    perm: Option<char>,
    needs_auth: bool,
    arg: ArgRule,
    help: &'static str,
    feat: Option<&'static str>,
) -> CommandSpec {
    CommandSpec {
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
static TABLE: &[CommandSpec] = &[
    cmd("ABOR", None, true, Forbidden, "Syntax: ABOR (abort transfer).", None),
    cmd("ALLO", None, true, Required, "Syntax: ALLO <SP> bytes (noop; allocate storage).", None),
    cmd("APPE", Some('a'), true, Required, "Syntax: APPE <SP> file-name (append data to file).", None),
    cmd("AUTH", None, false, Required, "Syntax: AUTH <SP> TLS|SSL (set up secure control channel).", None),
    cmd("CCC", None, true, Forbidden, "Syntax: CCC (clear command channel).", None),
    cmd("CDUP", Some('e'), true, Forbidden, "Syntax: CDUP (go to parent directory).", None),
    cmd("CWD", Some('e'), true, Optional, "Syntax: CWD [<SP> dir-name] (change working directory).", None),
    cmd("DELE", Some('d'), true, Required, "Syntax: DELE <SP> file-name (delete file).", None),
    cmd("EPRT", None, true, Required, "Syntax: EPRT <SP> |proto|ip|port| (extended active mode).", Some("EPRT")),
    cmd("EPSV", None, true, Optional, "Syntax: EPSV [<SP> proto/\"ALL\"] (extended passive mode).", Some("EPSV")),
    cmd("FEAT", None, false, Forbidden, "Syntax: FEAT (list all new features supported).", None),
    cmd("HELP", None, false, Optional, "Syntax: HELP [<SP> cmd] (show help).", None),
    cmd("LIST", Some('l'), true, Optional, "Syntax: LIST [<SP> path] (list files).", None),
    cmd("MDTM", Some('l'), true, Required, "Syntax: MDTM [<SP> path] (file last modification time).", Some("MDTM")),
    cmd("MFMT", Some('T'), true, Required, "Syntax: MFMT <SP> timeval <SP> path (file update last modification time).", Some("MFMT")),
    cmd("MKD", Some('m'), true, Required, "Syntax: MKD <SP> path (create directory).", None),
    cmd("MLSD", Some('l'), true, Optional, "Syntax: MLSD [<SP> path] (list directory).", None),
    cmd("MLST", Some('l'), true, Optional, "Syntax: MLST [<SP> path] (show information about path).", None),
    cmd("MODE", None, true, Required, "Syntax: MODE <SP> mode (noop; set data transfer mode).", None),
    cmd("NLST", Some('l'), true, Optional, "Syntax: NLST [<SP> path] (list path in a compact form).", None),
    cmd("NOOP", None, false, Forbidden, "Syntax: NOOP (just do nothing).", None),
    cmd("OPTS", None, false, Required, "Syntax: OPTS <SP> cmd [<SP> option] (set option for command).", Some("UTF8")),
    cmd("PASS", None, false, Optional, "Syntax: PASS [<SP> password] (set user password).", None),
    cmd("PASV", None, true, Forbidden, "Syntax: PASV (open passive data connection).", None),
    cmd("PBSZ", None, false, Required, "Syntax: PBSZ <SP> 0 (negotiate TLS buffer).", None),
    cmd("PORT", None, true, Required, "Syntax: PORT <sp> h,h,h,h,p,p (open active data connection).", None),
    cmd("PROT", None, false, Required, "Syntax: PROT <SP> [C|P] (set up un/secure data channel).", None),
    cmd("PWD", None, true, Forbidden, "Syntax: PWD (get current working directory).", None),
    cmd("QUIT", None, false, Forbidden, "Syntax: QUIT (quit current session).", None),
    cmd("REIN", None, false, Forbidden, "Syntax: REIN (flush account).", None),
    cmd("REST", None, true, Required, "Syntax: REST <SP> offset (set file offset).", Some("REST STREAM")),
    cmd("RETR", Some('r'), true, Required, "Syntax: RETR <SP> file-name (retrieve a file).", None),
    cmd("RMD", Some('d'), true, Required, "Syntax: RMD <SP> dir-name (remove directory).", None),
    cmd("RNFR", Some('f'), true, Required, "Syntax: RNFR <SP> file-name (rename (source name)).", None),
    cmd("RNTO", Some('f'), true, Required, "Syntax: RNTO <SP> file-name (rename (destination name)).", None),
    cmd("SITE", None, false, Required, "Syntax: SITE <SP> site-command (execute SITE command).", None),
    cmd("SITE CHMOD", Some('M'), true, Required, "Syntax: SITE CHMOD <SP> mode path (change file mode).", None),
    cmd("SITE HELP", None, false, Optional, "Syntax: SITE HELP [<SP> cmd] (show SITE command help).", None),
    cmd("SIZE", Some('l'), true, Required, "Syntax: SIZE <SP> file-name (get file size).", Some("SIZE")),
    cmd("STAT", Some('l'), false, Optional, "Syntax: STAT [<SP> path name] (server stats [list files]).", None),
    cmd("STOR", Some('w'), true, Required, "Syntax: STOR <SP> file-name (store a file).", None),
    cmd("STOU", Some('w'), true, Optional, "Syntax: STOU [<SP> name] (store a file with a unique name).", None),
    cmd("STRU", None, true, Required, "Syntax: STRU <SP> type (noop; set file structure).", None),
    cmd("SYST", None, false, Forbidden, "Syntax: SYST (get operating system type).", None),
    cmd("TYPE", None, true, Required, "Syntax: TYPE <SP> [A | I] (set transfer type).", None),
    cmd("USER", None, false, Required, "Syntax: USER <SP> user-name (set username).", None),
    cmd("XCUP", Some('e'), true, Forbidden, "Syntax: XCUP (obsolete; go to parent directory).", None),
    cmd("XCWD", Some('e'), true, Optional, "Syntax: XCWD [<SP> dir-name] (obsolete; change directory).", None),
    cmd("XMKD", Some('m'), true, Required, "Syntax: XMKD <SP> dir-name (obsolete; create directory).", None),
    cmd("XPWD", None, true, Forbidden, "Syntax: XPWD (obsolete; get current dir).", None),
    cmd("XRMD", Some('d'), true, Required, "Syntax: XRMD <SP> dir-name (obsolete; remove directory).", None),
];

#[cfg(test)]
mod tests;
