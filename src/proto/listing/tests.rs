use super::*;

/// 2023-11-14 22:13:20 UTC.
const NOW: i64 = 1_700_000_000;

fn entry(name: &[u8], kind: FileKind) -> EntryInfo {
    EntryInfo {
        name: name.to_vec(),
        kind,
        size: 1024,
        mode: 0o644,
        nlink: 1,
        uid: 1000,
        gid: 100,
        owner: Some("owner".into()),
        group: Some("group".into()),
        mtime: NOW - 3600,
        dev: 0x803,
        ino: 0x1a2b,
        link_target: None,
    }
}

fn s(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap()
}

#[test]
fn list_line_basic() {
    let e = entry(b"name", FileKind::File);
    assert_eq!(
        s(list_line(&e, NOW, TimeMode::Gmt)),
        "-rw-r--r--   1 owner    group        1024 Nov 14 21:13 name\r\n"
    );
}

#[test]
fn list_line_old_file_shows_year_and_wide_fields() {
    let mut e = entry(b"name", FileKind::Dir);
    e.mode = 0o755;
    e.nlink = 12345;
    e.owner = Some("averylongowner".into());
    e.group = None;
    e.gid = 1000;
    e.size = 12_345_678_901;
    e.mtime = 1_600_000_000;
    assert_eq!(
        s(list_line(&e, NOW, TimeMode::Gmt)),
        "drwxr-xr-x 12345 averylongowner 1000     12345678901 Sep 13  2020 name\r\n"
    );
}

#[test]
fn list_line_uid_gid_when_names_unknown_and_nlink_zero() {
    let mut e = entry(b"f", FileKind::File);
    e.owner = None;
    e.group = None;
    e.nlink = 0;
    e.size = 0;
    assert_eq!(
        s(list_line(&e, NOW, TimeMode::Gmt)),
        "-rw-r--r--   1 1000     100             0 Nov 14 21:13 f\r\n"
    );
}

#[test]
fn list_line_180_day_boundary_and_future() {
    let mut e = entry(b"f", FileKind::File);
    e.mtime = NOW - SIX_MONTHS;
    assert!(s(list_line(&e, NOW, TimeMode::Gmt)).contains(" May 18 22:13 f"));
    e.mtime = NOW - SIX_MONTHS - 1;
    assert!(s(list_line(&e, NOW, TimeMode::Gmt)).contains(" May 18  2023 f"));
    e.mtime = NOW;
    assert!(s(list_line(&e, NOW, TimeMode::Gmt)).contains(" Nov 14 22:13 f"));
    e.mtime = NOW + 10;
    assert!(s(list_line(&e, NOW, TimeMode::Gmt)).contains(" Nov 14  2023 f"));
    e.mtime = 0;
    assert!(s(list_line(&e, NOW, TimeMode::Gmt)).contains(" Jan 01  1970 f"));
}

#[test]
fn list_line_extreme_times_do_not_panic() {
    let mut e = entry(b"f", FileKind::File);
    for (mtime, now) in [
        (i64::MIN, NOW),
        (i64::MAX, NOW),
        (i64::MIN, i64::MAX),
        (i64::MAX, i64::MIN),
        (-1, 0),
        (253_402_300_800, NOW), // year 10000
    ] {
        e.mtime = mtime;
        let line = s(list_line(&e, now, TimeMode::Gmt));
        assert!(line.ends_with(" f\r\n"), "{line}");
        let line = s(list_line(&e, now, TimeMode::Local));
        assert!(line.ends_with(" f\r\n"), "{line}");
    }
    // Unrepresentable mtime falls back to the current time.
    e.mtime = i64::MAX;
    assert!(s(list_line(&e, NOW, TimeMode::Gmt)).contains(" Nov 14 22:13 f"));
}

#[test]
fn list_line_all_months_english() {
    let mut e = entry(b"f", FileKind::File);
    // The 15th of each month of 2020, shown with the year.
    let expected = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    for (i, m) in expected.iter().enumerate() {
        let date = NaiveDate::from_ymd_opt(2020, i as u32 + 1, 15).unwrap();
        e.mtime = date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
        let line = s(list_line(&e, NOW, TimeMode::Gmt));
        assert!(line.contains(&format!(" {m} 15  2020 f")), "{line}");
    }
}

#[test]
fn list_line_symlink() {
    let mut e = entry(b"link", FileKind::Symlink);
    e.mode = 0o777;
    e.link_target = Some(b"target/file".to_vec());
    assert_eq!(
        s(list_line(&e, NOW, TimeMode::Gmt)),
        "lrwxrwxrwx   1 owner    group        1024 Nov 14 21:13 link -> target/file\r\n"
    );
    e.link_target = None;
    assert!(s(list_line(&e, NOW, TimeMode::Gmt)).ends_with(" link\r\n"));
    // A target on a non-symlink is ignored.
    let mut f = entry(b"file", FileKind::File);
    f.link_target = Some(b"x".to_vec());
    assert!(s(list_line(&f, NOW, TimeMode::Gmt)).ends_with(" file\r\n"));
}

#[test]
fn list_line_raw_name_bytes() {
    let e = entry(b"caf\xe9 \xff\0x", FileKind::File);
    let line = list_line(&e, NOW, TimeMode::Gmt);
    assert!(line.ends_with(b" caf\xe9 \xff\0x\r\n"));
}

/// How many lines a client reads in `line` (each ends at a LF).
fn line_count(line: &[u8]) -> usize {
    line.iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn cr_and_lf_in_names_never_start_a_second_line() {
    // A name with CRLF used to end the line early: the client read `evil`
    // as a second entry. Every kind of line, every field that can hold them.
    let mut e = entry(
        b"a\r\n-rw-r--r-- 1 x x 0 Jan 01 00:00 evil\nb\rc",
        FileKind::Symlink,
    );
    e.link_target = Some(b"t\r\nu".to_vec());
    e.owner = Some("own\ner".into());
    e.group = Some("gr\r\noup".into());
    let encoded: &[u8] = b"a\r\0\0-rw-r--r-- 1 x x 0 Jan 01 00:00 evil\0b\r\0c";
    let lines = [
        list_line(&e, NOW, TimeMode::Gmt),
        nlst_line(&e),
        mlsx_line(&e, &MlstFacts::default(), "el\r\nr", MlsxRole::Entry),
    ];
    for line in lines {
        assert_eq!(line_count(&line), 1, "{line:?}");
        assert!(line.ends_with(b"\r\n"));
        let body = &line[..line.len() - 2];
        assert!(!body.contains(&b'\n'), "{line:?}");
        for (i, &b) in body.iter().enumerate() {
            if b == b'\r' {
                assert_eq!(body.get(i + 1), Some(&0), "bare CR in {line:?}");
            }
        }
        assert!(
            body.windows(encoded.len()).any(|w| w == encoded),
            "{line:?}"
        );
    }
    let l = list_line(&e, NOW, TimeMode::Gmt);
    assert!(l.ends_with(b" -> t\r\0\0u\r\n"), "{l:?}");
    assert!(l.windows(7).any(|w| w == b"own\0er "), "{l:?}");
    assert_eq!(nlst_line(&e), [encoded, b"\r\n"].concat());
}

#[test]
fn list_line_local_matches_chrono_local() {
    let e = entry(b"f", FileKind::File);
    let local = DateTime::from_timestamp(e.mtime, 0)
        .unwrap()
        .with_timezone(&Local);
    let expected = format!(
        " {} {:02} {:02}:{:02} f\r\n",
        MONTHS[local.month0() as usize],
        local.day(),
        local.hour(),
        local.minute()
    );
    assert!(s(list_line(&e, NOW, TimeMode::Local)).ends_with(&expected));
}

#[test]
fn mode_strings() {
    use FileKind::*;
    assert_eq!(mode_string(File, 0o644), "-rw-r--r--");
    assert_eq!(mode_string(Dir, 0o755), "drwxr-xr-x");
    assert_eq!(mode_string(File, 0), "----------");
    assert_eq!(mode_string(File, 0o777), "-rwxrwxrwx");
    assert_eq!(mode_string(File, 0o4755), "-rwsr-xr-x");
    assert_eq!(mode_string(File, 0o4644), "-rwSr--r--");
    assert_eq!(mode_string(File, 0o2755), "-rwxr-sr-x");
    assert_eq!(mode_string(File, 0o2644), "-rw-r-Sr--");
    assert_eq!(mode_string(Dir, 0o1777), "drwxrwxrwt");
    assert_eq!(mode_string(Dir, 0o1776), "drwxrwxrwT");
    assert_eq!(mode_string(File, 0o7777), "-rwsrwsrwt");
    assert_eq!(mode_string(File, 0o7000), "---S--S--T");
    assert_eq!(mode_string(Symlink, 0o777), "lrwxrwxrwx");
    assert_eq!(mode_string(Other('c'), 0o600), "crw-------");
    assert_eq!(mode_string(Other('b'), 0o660), "brw-rw----");
    assert_eq!(mode_string(Other('p'), 0o644), "prw-r--r--");
    assert_eq!(mode_string(Other('s'), 0o755), "srwxr-xr-x");
    assert_eq!(mode_string(Other('\n'), 0o755), "?rwxr-xr-x");
    // Bits above 0o7777 are ignored.
    assert_eq!(mode_string(File, 0o100644), "-rw-r--r--");
}

#[test]
fn nlst() {
    assert_eq!(
        nlst_line(&entry(b"a b", FileKind::File)),
        b"a b\r\n".to_vec()
    );
    assert_eq!(
        nlst_line(&entry(b"\xff", FileKind::Dir)),
        b"\xff\r\n".to_vec()
    );
}

#[test]
fn mlsx_default_facts_file() {
    let e = entry(b"music.mp3", FileKind::File);
    let line = s(mlsx_line(
        &e,
        &MlstFacts::default(),
        "elradfmwMT",
        MlsxRole::Entry,
    ));
    assert_eq!(
        line,
        "modify=20231114211320;perm=radfwMT;size=1024;type=file;unique=803g1a2b; music.mp3\r\n"
    );
}

#[test]
fn mlsx_default_facts_dir() {
    let e = entry(b"ebooks", FileKind::Dir);
    let line = s(mlsx_line(
        &e,
        &MlstFacts::default(),
        "elradfmwMT",
        MlsxRole::Entry,
    ));
    assert_eq!(
        line,
        "modify=20231114211320;perm=eldfmMTcp;size=1024;type=dir;unique=803g1a2b; ebooks\r\n"
    );
}

#[test]
fn mlsx_all_facts_sorted_by_name() {
    let mut e = entry(b"x", FileKind::File);
    e.mode = 0o4755;
    let mut all = MlstFacts::NONE;
    all.set_from_opts("type;perm;size;modify;unique;unix.mode;unix.uid;unix.gid;");
    let line = s(mlsx_line(&e, &all, "elr", MlsxRole::Entry));
    assert_eq!(
        line,
        "modify=20231114211320;perm=r;size=1024;type=file;unique=803g1a2b;\
         unix.gid=100;unix.mode=0755;unix.uid=1000; x\r\n"
    );
}

#[test]
fn mlsx_no_facts() {
    let e = entry(b"x", FileKind::File);
    let line = mlsx_line(&e, &MlstFacts::NONE, "elr", MlsxRole::Entry);
    assert_eq!(line, b" x\r\n".to_vec());
}

#[test]
fn mlsx_types() {
    let facts = {
        let mut f = MlstFacts::NONE;
        f.type_ = true;
        f
    };
    let t = |kind, role| s(mlsx_line(&entry(b"n", kind), &facts, "", role));
    assert_eq!(t(FileKind::File, MlsxRole::Entry), "type=file; n\r\n");
    assert_eq!(t(FileKind::Dir, MlsxRole::Entry), "type=dir; n\r\n");
    assert_eq!(t(FileKind::Dir, MlsxRole::Current), "type=cdir; n\r\n");
    assert_eq!(t(FileKind::Dir, MlsxRole::Parent), "type=pdir; n\r\n");
    assert_eq!(
        t(FileKind::Symlink, MlsxRole::Entry),
        "type=OS.unix=symlink; n\r\n"
    );
    assert_eq!(
        t(FileKind::Other('c'), MlsxRole::Entry),
        "type=OS.unix=chardev; n\r\n"
    );
    assert_eq!(
        t(FileKind::Other('b'), MlsxRole::Entry),
        "type=OS.unix=blockdev; n\r\n"
    );
    assert_eq!(
        t(FileKind::Other('p'), MlsxRole::Entry),
        "type=OS.unix=fifo; n\r\n"
    );
    assert_eq!(
        t(FileKind::Other('s'), MlsxRole::Entry),
        "type=OS.unix=socket; n\r\n"
    );
    assert_eq!(
        t(FileKind::Other('?'), MlsxRole::Entry),
        "type=OS.unix=other; n\r\n"
    );
}

#[test]
fn mlsx_perm_derivation() {
    let facts = {
        let mut f = MlstFacts::NONE;
        f.perm = true;
        f
    };
    let p = |kind, role, perms| s(mlsx_line(&entry(b"n", kind), &facts, perms, role));
    assert_eq!(p(FileKind::Dir, MlsxRole::Entry, "elr"), "perm=el; n\r\n");
    assert_eq!(p(FileKind::File, MlsxRole::Entry, "elr"), "perm=r; n\r\n");
    assert_eq!(p(FileKind::Dir, MlsxRole::Entry, "w"), "perm=c; n\r\n");
    assert_eq!(p(FileKind::Dir, MlsxRole::Entry, "a"), "perm=c; n\r\n");
    assert_eq!(p(FileKind::Dir, MlsxRole::Entry, "f"), "perm=fc; n\r\n");
    assert_eq!(p(FileKind::Dir, MlsxRole::Entry, "d"), "perm=dp; n\r\n");
    assert_eq!(p(FileKind::Dir, MlsxRole::Current, "elr"), "perm=el; n\r\n");
    assert_eq!(
        p(FileKind::Dir, MlsxRole::Parent, "elrd"),
        "perm=eldp; n\r\n"
    );
    assert_eq!(p(FileKind::File, MlsxRole::Entry, ""), "perm=; n\r\n");
    assert_eq!(
        p(FileKind::Symlink, MlsxRole::Entry, "elradfmwMT"),
        "perm=radfwMT; n\r\n"
    );
}

#[test]
fn mlsx_unique_and_mode_formats() {
    let mut facts = MlstFacts::NONE;
    facts.unique = true;
    facts.unix_mode = true;
    let mut e = entry(b"n", FileKind::File);
    e.dev = 0;
    e.ino = 0;
    e.mode = 0;
    assert_eq!(
        s(mlsx_line(&e, &facts, "", MlsxRole::Entry)),
        "unique=0g0;unix.mode=0000; n\r\n"
    );
    e.dev = u64::MAX;
    e.ino = 0xdeadbeef;
    e.mode = 0o1007;
    assert_eq!(
        s(mlsx_line(&e, &facts, "", MlsxRole::Entry)),
        "unique=ffffffffffffffffgdeadbeef;unix.mode=0007; n\r\n"
    );
}

#[test]
fn mlsx_unrepresentable_modify_is_omitted() {
    let mut e = entry(b"n", FileKind::File);
    e.mtime = i64::MAX;
    let mut facts = MlstFacts::NONE;
    facts.modify = true;
    facts.size = true;
    assert_eq!(
        s(mlsx_line(&e, &facts, "", MlsxRole::Entry)),
        "size=1024; n\r\n"
    );
}

#[test]
fn mlsx_raw_name() {
    let e = entry(b"a;b \xff", FileKind::File);
    let line = mlsx_line(&e, &MlstFacts::NONE, "", MlsxRole::Entry);
    assert_eq!(line, b" a;b \xff\r\n".to_vec());
}

#[test]
fn feat_line_default_and_custom() {
    assert_eq!(
        MlstFacts::default().feat_line(),
        "MLST type*;perm*;size*;modify*;unique*;unix.mode;unix.uid;unix.gid;"
    );
    assert_eq!(
        MlstFacts::NONE.feat_line(),
        "MLST type;perm;size;modify;unique;unix.mode;unix.uid;unix.gid;"
    );
    let mut f = MlstFacts::NONE;
    f.unix_gid = true;
    f.unique = true;
    assert_eq!(
        f.feat_line(),
        "MLST type;perm;size;modify;unique*;unix.mode;unix.uid;unix.gid*;"
    );
}

#[test]
fn opts_mlst() {
    let mut f = MlstFacts::default();
    assert_eq!(f.set_from_opts("type;size;"), "type;size;");
    assert_eq!(
        f,
        MlstFacts {
            type_: true,
            size: true,
            ..MlstFacts::NONE
        }
    );
    // Case-insensitive, unknown ignored, client order kept.
    assert_eq!(
        f.set_from_opts("SIZE;Unix.Mode;bogus;create;TYPE"),
        "size;unix.mode;type;"
    );
    assert!(f.size && f.unix_mode && f.type_ && !f.perm && !f.modify);
    // Empty disables everything.
    assert_eq!(f.set_from_opts(""), "");
    assert_eq!(f, MlstFacts::NONE);
    assert_eq!(f.set_from_opts(";;;"), "");
    assert_eq!(f.set_from_opts("unique"), "unique;");
    assert!(f.unique);
    assert!(f.is_enabled("unique"));
    assert!(!f.is_enabled("type"));
    assert!(!f.is_enabled("bogus"));
}

#[test]
fn try_opts_mlst() {
    let mut f = MlstFacts::default();
    assert_eq!(f.try_set_from_opts("type"), Err("Invalid argument"));
    assert_eq!(f, MlstFacts::default());
    assert_eq!(f.try_set_from_opts("type;"), Ok("type;".to_string()));
    assert_eq!(f.try_set_from_opts(""), Ok(String::new()));
    assert_eq!(f, MlstFacts::NONE);
}

#[test]
fn mdtm_format() {
    assert_eq!(format_mdtm(0), "19700101000000");
    assert_eq!(format_mdtm(NOW), "20231114221320");
    assert_eq!(format_mdtm(1_709_164_800), "20240229000000");
    assert_eq!(format_mdtm(253_402_300_799), "99991231235959");
    assert_eq!(try_format_mdtm(253_402_300_800), None);
    assert_eq!(format_mdtm(253_402_300_800), "19700101000000");
    assert_eq!(try_format_mdtm(i64::MIN), None);
    assert_eq!(try_format_mdtm(i64::MAX), None);
    assert_eq!(format_mdtm(-1), "19691231235959");
}

#[test]
fn timeval_ok() {
    assert_eq!(parse_timeval("19700101000000"), Some(0));
    assert_eq!(parse_timeval("20231114221320"), Some(NOW));
    assert_eq!(parse_timeval("20231114221320.5"), Some(NOW));
    assert_eq!(parse_timeval("20231114221320.12"), Some(NOW));
    assert_eq!(parse_timeval("20231114221320.999"), Some(NOW));
    assert_eq!(parse_timeval("20240229000000"), Some(1_709_164_800));
    assert_eq!(parse_timeval("99991231235959"), Some(253_402_300_799));
    assert_eq!(parse_timeval("19691231235959"), Some(-1));
    assert_eq!(parse_timeval("00010101000000").map(|t| t < 0), Some(true));
}

#[test]
fn timeval_round_trip() {
    for t in [0, 1, NOW, 1_709_164_800, 951_782_400, 4_102_444_800] {
        assert_eq!(parse_timeval(&format_mdtm(t)), Some(t));
    }
}

#[test]
fn timeval_bad() {
    for bad in [
        "",
        "2023",
        "2023111422132",
        "202311142213200",
        "20231114221320.",
        "20231114221320.1234",
        "20231114221320.a",
        "20231114221320,5",
        "20231114221320 ",
        " 20231114221320",
        "2023111422132a",
        "-2023111422132",
        "+2023111422132",
        "20231314221320",
        "20230014221320",
        "20231100221320",
        "20231131221320",
        "20230229000000",
        "20231114241320",
        "20231114226020",
        "20231114221360",
        "00000101000000",
        "２０２３１１１４２２１３２０",
        "2023111422132é",
        "20231114221320.5.5",
    ] {
        assert_eq!(parse_timeval(bad), None, "{bad:?}");
    }
}
