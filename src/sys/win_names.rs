//! Which paths Windows reads as the session does (pure rules, tested on
//! every system; used by the Windows module).

/// The DOS device names Win32 resolves in every directory (with any
/// extension): opening `con.txt` opens the console, not a file.
const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6",
    "LPT7", "LPT8", "LPT9",
];

/// Whether the `/`-separated relative path `path` names, to Windows, the
/// same components the session sees: no `\` (a second separator), no `:`
/// (drive prefixes, alternate data streams), no wildcard (`*`, `?`, which
/// directory listing calls expand) nor other character Win32 refuses in
/// names (`<`, `>`, `|`, `"`, control characters), no
/// component that Win32 would rewrite (a trailing `.` or space is dropped:
/// `dir.` opens `dir`) and no DOS device name. Otherwise the session's
/// per-directory permissions would be checked on one path and another
/// would be opened.
pub(crate) fn is_portable_path(path: &str) -> bool {
    if path
        .chars()
        .any(|c| matches!(c, '\\' | ':' | '*' | '?' | '<' | '>' | '|' | '"') || c < ' ')
    {
        return false;
    }
    path.split('/').all(|comp| {
        if comp.is_empty() || comp == "." || comp == ".." {
            return true;
        }
        if comp.ends_with(['.', ' ']) {
            return false;
        }
        let stem = comp.split('.').next().unwrap_or(comp).trim_end_matches(' ');
        !DEVICE_NAMES.iter().any(|d| d.eq_ignore_ascii_case(stem))
    })
}

#[cfg(test)]
mod tests {
    use super::is_portable_path;

    #[test]
    fn plain_paths_pass() {
        for p in [
            "a",
            "dir/file.txt",
            "été/naïve.txt",
            ".hidden",
            "a b/c d.txt",
            "con-artist.txt",
            "console",
            "comma.txt",
            "COM10",
            "x/./y",
        ] {
            assert!(is_portable_path(p), "{p}");
        }
    }

    #[test]
    fn second_separators_streams_and_wildcards_are_refused() {
        for p in [
            r"a\b",
            r"..\..\windows",
            "c:file",
            "file.txt:hidden",
            "f*",
            "f?",
            "a<b",
            "a>b",
            "a|b",
            "a\"b",
            "tab\there",
            "nul\0byte",
        ] {
            assert!(!is_portable_path(p), "{p}");
        }
    }

    #[test]
    fn names_win32_rewrites_are_refused() {
        for p in [
            "dir.",
            "dir./file",
            "file ",
            "sub/file. ",
            "con",
            "CON",
            "con.txt",
            "sub/Nul.tar.gz",
            "aux ",
            "prn",
            "com1",
            "LPT9.log",
            "conin$",
            "CONOUT$",
        ] {
            assert!(!is_portable_path(p), "{p}");
        }
    }
}
