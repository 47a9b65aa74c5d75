//! Logging in pyftpdlib's format: `[I 13-02-01 19:04:56] message`.
//!
//! The level letter and time are coloured only when the output is a
//! terminal. Use [`init`] from a program, or install any other `log`
//! backend: the library only emits `log` records.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

enum Sink {
    Stderr { colour: bool },
    File(Mutex<File>),
}

/// A `log` backend writing pyftpdlib-style lines to stderr or a file.
pub struct FtpLogger {
    level: LevelFilter,
    sink: Sink,
}

impl FtpLogger {
    /// A logger to stderr (coloured if stderr is a terminal).
    pub fn stderr(level: LevelFilter) -> Self {
        FtpLogger {
            level,
            sink: Sink::Stderr {
                colour: io::stderr().is_terminal(),
            },
        }
    }

    /// A logger appending to `path` (created if missing).
    ///
    /// # Errors
    /// The OS error of opening `path` for appending.
    pub fn file(level: LevelFilter, path: &Path) -> io::Result<Self> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FtpLogger {
            level,
            sink: Sink::File(Mutex::new(f)),
        })
    }

    /// Format one record as a line (without colour).
    pub fn format_line(level: Level, msg: &std::fmt::Arguments<'_>) -> String {
        let now = local_now().format("%y-%m-%d %H:%M:%S");
        format!("[{} {now}] {msg}\n", letter(level))
    }
}

/// The local time of a log line, with the local UTC offset looked up at
/// most a few times a minute for the whole process.
///
/// `chrono::Local` keeps its parsed time zone per thread: the first line a
/// thread logs reads and parses `/etc/localtime` (or `TZ`) again, which in
/// the models with a thread per session is every session's first line, and
/// leaves that thread its own copy of the zone and the deepest stack of its
/// life (five resident pages instead of four). The offset of the current
/// UTC minute is shared by all threads (see [`MinuteOffsets`]); the thread
/// that first logs in a new minute asks chrono for it.
fn local_now() -> chrono::DateTime<chrono::FixedOffset> {
    static OFFSETS: MinuteOffsets = MinuteOffsets::new();
    OFFSETS.local(chrono::Utc::now(), |t| {
        *t.with_timezone(&chrono::Local).offset()
    })
}

/// The local UTC offset of one UTC minute, shared by the threads that log.
///
/// A minute's offset is shared only when it is the same at the minute's
/// first and last second: the offsets of the zones in tzdata change at whole
/// minutes, but a `TZ` rule may change them at any second
/// (`TZ=AAA0BBB,J334/18:38:30,...`), and a line logged after such a change
/// must not carry the offset of the minute's start. In such a minute each
/// line looks its offset up.
struct MinuteOffsets {
    /// The UTC minute (seconds since the epoch / 60) and its offset, `None`
    /// when the offset changes within it.
    cached: Mutex<Option<(i64, Option<chrono::FixedOffset>)>>,
}

impl MinuteOffsets {
    const fn new() -> Self {
        MinuteOffsets {
            cached: Mutex::new(None),
        }
    }

    /// `now` in local time; `offset_at` gives the local offset of an instant.
    fn local(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        offset_at: impl Fn(chrono::DateTime<chrono::Utc>) -> chrono::FixedOffset,
    ) -> chrono::DateTime<chrono::FixedOffset> {
        let minute = now.timestamp().div_euclid(60);
        let cached = *self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let offset = match cached {
            Some((m, Some(offset))) if m == minute => offset,
            Some((m, None)) if m == minute => offset_at(now),
            _ => {
                let at = |second: i64| {
                    chrono::DateTime::from_timestamp(minute * 60 + second, 0).map(&offset_at)
                };
                let whole = match (at(0), at(59)) {
                    (Some(first), Some(last)) if first == last => Some(first),
                    _ => None,
                };
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((minute, whole));
                whole.unwrap_or_else(|| offset_at(now))
            }
        };
        now.with_timezone(&offset)
    }
}

fn letter(level: Level) -> char {
    match level {
        Level::Error => 'E',
        Level::Warn => 'W',
        Level::Info => 'I',
        Level::Debug => 'D',
        Level::Trace => 'T',
    }
}

impl Log for FtpLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match &self.sink {
            Sink::Stderr { colour: true } => {
                let code = match record.level() {
                    Level::Error => "31",
                    Level::Warn => "33",
                    Level::Info => "32",
                    Level::Debug | Level::Trace => "34",
                };
                let now = local_now().format("%y-%m-%d %H:%M:%S");
                let _ = writeln!(
                    io::stderr().lock(),
                    "\x1b[{code}m[{} {now}]\x1b[0m {}",
                    letter(record.level()),
                    record.args()
                );
            }
            Sink::Stderr { colour: false } => {
                let _ = io::stderr()
                    .lock()
                    .write_all(Self::format_line(record.level(), record.args()).as_bytes());
            }
            Sink::File(f) => {
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                let _ = f.write_all(Self::format_line(record.level(), record.args()).as_bytes());
            }
        }
    }

    fn flush(&self) {
        if let Sink::File(f) = &self.sink {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}

/// Install the logger (to `file` if given, else stderr) at `level`, as
/// the process's [`log`] logger.
///
/// # Errors
/// As [`FtpLogger::file`]; an [`io::ErrorKind::Other`] error when a logger
/// is already installed.
pub fn init(level: LevelFilter, file: Option<&Path>) -> io::Result<()> {
    let logger = match file {
        Some(p) => FtpLogger::file(level, p)?,
        None => FtpLogger::stderr(level),
    };
    log::set_boxed_logger(Box::new(logger)).map_err(|e| io::Error::other(e.to_string()))?;
    log::set_max_level(level);
    Ok(())
}

#[cfg(test)]
mod tests;
