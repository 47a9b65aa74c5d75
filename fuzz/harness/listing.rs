//! `listing`: LIST / NLST / MLSx lines and MDTM times from arbitrary entries.
//!
//! Invariants:
//! - `list_line`, `nlst_line` and `mlsx_line` give exactly one line: it ends
//!   in CRLF and holds no other LF, and a CR only as RFC 959's CR NUL, whatever
//!   bytes the name, link target, owner, group or permission letters hold;
//! - the name is in the line (encoded the same way), and the MLSx facts part
//!   is `fact=value;` pairs before the first space;
//! - no time panics, including `i64::MIN`/`i64::MAX` modification and current times;
//! - `try_format_mdtm` gives 14 digits or `None`, and `format_mdtm` always 14 digits.

use ftpdlib::proto::listing::{
    self, EntryInfo, FileKind, MlstFacts, MlsxRole, TimeMode, AVAILABLE_FACTS,
};

use super::cursor::Cursor;

/// Times worth trying more often than chance gives them.
const TIMES: [i64; 10] = [
    i64::MIN,
    i64::MAX,
    0,
    -1,
    253_402_300_799,   // 9999-12-31T23:59:59Z
    253_402_300_800,   // 10000-01-01
    -62_167_219_200,   // 0000-01-01
    -62_167_219_201,   // -0001-12-31
    8_210_298_412_799, // chrono's largest
    1_700_000_000,
];

fn time(c: &mut Cursor) -> i64 {
    match c.u8() % 4 {
        0 => c.pick(&TIMES),
        1 => c.pick(&TIMES).wrapping_add(i64::from(c.u16() as i16)),
        _ => c.i64(),
    }
}

fn opt_string(c: &mut Cursor) -> Option<String> {
    c.bool()
        .then(|| String::from_utf8_lossy(c.bytes(24)).into_owned())
}

fn entry(c: &mut Cursor) -> EntryInfo {
    let kind = match c.u8() % 5 {
        0 => FileKind::File,
        1 => FileKind::Dir,
        2 => FileKind::Symlink,
        3 => FileKind::Other(char::from(c.u8())),
        _ => FileKind::Other(char::from_u32(c.u32()).unwrap_or('\u{fffd}')),
    };
    EntryInfo {
        kind,
        size: c.u64(),
        mode: c.u32(),
        nlink: c.u64(),
        uid: c.u32(),
        gid: c.u32(),
        owner: opt_string(c),
        group: opt_string(c),
        mtime: time(c),
        dev: c.u64(),
        ino: c.u64(),
        link_target: c.bool().then(|| c.bytes(32).to_vec()),
        name: c.bytes(64).to_vec(),
    }
}

/// One line: CRLF at the end only; any other CR is followed by NUL.
fn assert_one_line(line: &[u8], what: &str, e: &EntryInfo) {
    let body = line
        .strip_suffix(b"\r\n")
        .unwrap_or_else(|| panic!("{what}: no CRLF at the end: {line:?} for {e:?}"));
    assert!(
        !body.contains(&b'\n'),
        "{what}: LF inside the line {line:?} for {e:?}"
    );
    for (i, &b) in body.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(
                body.get(i + 1),
                Some(&0),
                "{what}: bare CR inside the line {line:?} for {e:?}"
            );
        }
    }
}

/// A name as it must appear in a line (CR as CR NUL, LF as NUL).
fn encoded(name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(name.len());
    for &b in name {
        match b {
            b'\r' => v.extend_from_slice(b"\r\0"),
            b'\n' => v.push(0),
            _ => v.push(b),
        }
    }
    v
}

fn assert_mdtm(t: &str) {
    assert!(
        t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit()),
        "bad MDTM time {t:?}"
    );
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let tm = if c.bool() {
        TimeMode::Gmt
    } else {
        TimeMode::Local
    };
    let now = time(&mut c);
    let mut facts = MlstFacts::NONE;
    let bits = c.u8();
    let opts: String = AVAILABLE_FACTS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| format!("{f};"))
        .collect();
    facts.set_from_opts(&opts);
    let perms = String::from_utf8_lossy(c.bytes(16)).into_owned();
    let role = c.pick(&[MlsxRole::Entry, MlsxRole::Current, MlsxRole::Parent]);
    while !c.is_empty() {
        let e = entry(&mut c);
        let name = encoded(&e.name);

        let l = listing::list_line(&e, now, tm);
        assert_one_line(&l, "LIST", &e);
        assert!(
            l.windows(name.len().max(1)).any(|w| w == name.as_slice()) || name.is_empty(),
            "LIST line without the name"
        );
        let l = listing::nlst_line(&e);
        assert_one_line(&l, "NLST", &e);
        assert_eq!(
            &l[..l.len() - 2],
            name.as_slice(),
            "NLST line is not the name"
        );
        let l = listing::mlsx_line(&e, &facts, &perms, role);
        assert_one_line(&l, "MLSx", &e);
        let tail = [b" ".as_slice(), &name, b"\r\n"].concat();
        assert!(
            l.ends_with(&tail),
            "MLSx line does not end with the name: {l:?}"
        );
        if perms.bytes().all(|b| b.is_ascii_alphanumeric()) {
            // The facts are what comes before the first space.
            let sp = l.iter().position(|&b| b == b' ').unwrap_or(l.len());
            for fact in l[..sp].split(|&b| b == b';').filter(|f| !f.is_empty()) {
                assert!(fact.contains(&b'='), "MLSx fact without a value: {l:?}");
            }
        }

        if let Some(t) = listing::try_format_mdtm(e.mtime) {
            assert_mdtm(&t);
        }
        assert_mdtm(&listing::format_mdtm(e.mtime));
        let _ = listing::mode_string(e.kind, e.mode);
    }
}
