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
/// most once a minute for the whole process.
///
/// `chrono::Local` keeps its parsed time zone per thread: the first line a
/// thread logs reads and parses `/etc/localtime` (or `TZ`) again, which in
/// the models with a thread per session is every session's first line, and
/// leaves that thread its own copy of the zone and the deepest stack of its
/// life (five resident pages instead of four). Offsets change at whole
/// minutes in every zone in use, so the offset of the current UTC minute is
/// shared by all threads; the thread that first logs in a new minute asks
/// chrono for it.
fn local_now() -> chrono::DateTime<chrono::FixedOffset> {
    /// The UTC minute (seconds since the epoch / 60) and its local offset.
    static OFFSET: Mutex<Option<(i64, chrono::FixedOffset)>> = Mutex::new(None);
    let now = chrono::Utc::now();
    let minute = now.timestamp().div_euclid(60);
    let cached = *OFFSET.lock().unwrap_or_else(|e| e.into_inner());
    let offset = match cached {
        Some((m, offset)) if m == minute => offset,
        _ => {
            let offset = *now.with_timezone(&chrono::Local).offset();
            *OFFSET.lock().unwrap_or_else(|e| e.into_inner()) = Some((minute, offset));
            offset
        }
    };
    now.with_timezone(&offset)
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
