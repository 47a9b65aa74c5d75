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

/// Parse one control line (without its line terminator).
pub fn parse(line: &[u8]) -> Result<Request, ParseError> {
    let _ = line;
    todo!("proto helper")
}

/// Look up a verb (as produced by [`parse`]) in the command table.
pub fn lookup(verb: &str) -> Option<&'static CommandSpec> {
    let _ = verb;
    todo!("proto helper")
}

/// The whole command table (RFC 959/1123/2389/2428/2640/3659 commands, X* aliases, SITE commands).
pub fn table() -> &'static [CommandSpec] {
    todo!("proto helper")
}

/// The middle lines of the FEAT reply (each starting with one space), sorted,
/// generated from the table plus the MLST line built by the caller.
pub fn feat_lines(mlst_line: &str) -> Vec<String> {
    let _ = mlst_line;
    todo!("proto helper")
}

/// The middle lines of `HELP` with no argument: the non-SITE commands, several per line.
pub fn help_lines() -> Vec<String> {
    todo!("proto helper")
}

/// The middle lines of `SITE HELP` with no argument: the SITE sub-commands.
pub fn site_help_lines() -> Vec<String> {
    todo!("proto helper")
}
