//! The upload's receive low-water mark on a real loopback connection.

use super::*;
use std::io::{Read, Write};

/// A fast upload grows the receive buffer, and the mark follows it: a
/// quarter of it, up to the cap. The reader reads as a batching session
/// does (a blocking read returns once the mark is in).
#[test]
fn the_mark_follows_the_receive_buffer_up_to_its_cap() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sender = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let chunk = [7u8; 8192];
        // 256 MiB in ftplib's 8 KiB writes
        for _ in 0..32 * 1024 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    // (blocking, as accepted: a read waits for the mark)
    let (r, _) = listener.accept().unwrap();
    let mut r = TcpStream::from_std(r);
    let mut b = Batching::new(&r).unwrap();
    let first = b.mark;
    let mut buf = vec![0u8; 4 * 1024 * 1024];
    let mut total = 0usize;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
        b.raise(&r);
        let rcvbuf = socket2::SockRef::from(&r).recv_buffer_size().unwrap();
        assert_eq!(
            b.mark,
            UPLOAD_RCVLOWAT.min(rcvbuf / 4),
            "receive buffer {rcvbuf}"
        );
    }
    sender.join().unwrap();
    assert_eq!(total, 256 * 1024 * 1024);
    // (Linux grows the buffer to 1.5-6 MiB in this upload)
    assert!(b.mark > first, "the mark stayed at {first}");
    assert!(b.is_raised());
}
