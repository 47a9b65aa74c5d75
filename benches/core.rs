//! Micro-benchmarks of the pure protocol core (no sockets, no files).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ftpdlib::proto::command;
use ftpdlib::proto::line::LineReader;
use ftpdlib::proto::listing::{self, EntryInfo, FileKind, MlstFacts, MlsxRole, TimeMode};
use ftpdlib::proto::path;
use ftpdlib::proto::reply::Reply;

fn entry() -> EntryInfo {
    EntryInfo {
        name: b"some-file-name.tar.gz".to_vec(),
        kind: FileKind::File,
        size: 123_456_789,
        mode: 0o644,
        nlink: 1,
        uid: 1000,
        gid: 1000,
        owner: Some("user".into()),
        group: Some("users".into()),
        mtime: 1_700_000_000,
        dev: 2049,
        ino: 1_234_567,
        link_target: None,
    }
}

fn core(c: &mut Criterion) {
    c.bench_function("parse command", |b| {
        b.iter(|| command::parse(black_box(b"RETR some/dir/file name.bin")))
    });
    c.bench_function("lookup command", |b| {
        b.iter(|| command::lookup(black_box("MLSD")))
    });
    let reply = Reply::new(227, "Entering passive mode (127,0,0,1,195,80).");
    c.bench_function("reply to bytes", |b| {
        b.iter(|| black_box(&reply).to_bytes())
    });
    let e = entry();
    c.bench_function("LIST line", |b| {
        b.iter(|| listing::list_line(black_box(&e), 1_700_100_000, TimeMode::Gmt))
    });
    let facts = MlstFacts::default();
    c.bench_function("MLSD line", |b| {
        b.iter(|| listing::mlsx_line(black_box(&e), &facts, "elradfmwMT", MlsxRole::Entry))
    });
    c.bench_function("resolve path", |b| {
        b.iter(|| {
            path::resolve(
                black_box(b"/home/dir/sub"),
                black_box(b"../other/./x/../file"),
            )
        })
    });
    let input: Vec<u8> = b"NOOP\r\nRETR file.bin\r\nSTOR other.bin\r\n".repeat(100);
    c.bench_function("frame 300 control lines", |b| {
        b.iter(|| {
            let mut r = LineReader::new(8192);
            r.push(black_box(&input));
            let mut n = 0;
            while r.next_event().is_some() {
                n += 1;
            }
            n
        })
    });
}

criterion_group!(benches, core);
criterion_main!(benches);
