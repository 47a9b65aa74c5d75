"""A plain blocking client (Python stdlib: ftplib for the control
connection, `socket` for the data), used by `benches/ftpbench.rs`.

    python3 blocking_client.py --port P --user U --password W \
        --retr NAME --size BYTES --count N --new NAME --existing NAME \
        [--sessions K] [--seconds S]

- RETR of NAME (SIZE bytes) COUNT times reading with `recv(65536)`, then
  COUNT times with `recv(262144)`: the median milliseconds from PASV to the
  226 of each. The downloads of each read size are spread over K sessions
  (default 1), each logged in anew: where a session is served (its thread,
  the CPU it lands on beside the client's) moves one session's downloads
  together, so one session's median swings from run to run;
- then over one more session, STOR with 8 KiB `send()`s, as ftplib's default block size, for SECONDS
  (default 1) to the NEW name (which must not exist), which is then
  deleted, and then over the EXISTING name: MiB/s over that time (the time
  until the 226 is printed apart).

Prints one line: `retr64k_ms retr256k_ms stor_new_mibs stor_existing_mibs
stor_new_226_ms stor_existing_226_ms`; exits non-zero (reason on stderr) on
a failed transfer or a wrong byte count.
"""

import ftplib
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from ftpclient import login, parser  # noqa: E402  (beside this file)


def retr_ms(args, bufsize):
    """The median ms of `args.count` downloads over `args.sessions`
    sessions."""
    times = []
    sessions = max(1, min(args.sessions, args.count))
    for s in range(sessions):
        # the first sessions take the remainder
        n = args.count // sessions + (1 if s < args.count % sessions else 0)
        ftp = login(args)
        times += retr_times(ftp, args.retr, args.size, bufsize, n)
        ftp.quit()
    return statistics.median(times)


def retr_times(ftp, name, size, bufsize, count):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        conn = ftp.transfercmd("RETR " + name)  # PASV, RETR, the 150
        got = 0
        while True:
            d = conn.recv(bufsize)
            if not d:
                break
            got += len(d)
        conn.close()
        ftp.voidresp()  # the 226
        times.append((time.perf_counter() - t0) * 1000.0)
        if got != size:
            raise ftplib.Error("RETR %s: %d bytes, wanted %d" % (name, got, size))
    return times


def stor_rate(ftp, name, seconds):
    conn = ftp.transfercmd("STOR " + name)
    chunk = b"x" * 8192
    sent = 0
    t0 = time.perf_counter()
    stop = t0 + seconds
    while time.perf_counter() < stop:
        sent += conn.send(chunk)
    conn.close()
    t1 = time.perf_counter()
    ftp.voidresp()
    t2 = time.perf_counter()
    return sent / 1048576.0 / (t1 - t0), (t2 - t1) * 1000.0


def main():
    p = parser(timeout=60.0)
    p.add_argument("--retr", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--new", required=True)
    p.add_argument("--existing", required=True)
    p.add_argument("--seconds", type=float, default=1.0)
    args = p.parse_args()
    try:
        r64 = retr_ms(args, 65536)
        r256 = retr_ms(args, 262144)
        ftp = login(args)
        new, new_226 = stor_rate(ftp, args.new, args.seconds)
        # The upload just made is gigabytes (a second of sending) and the
        # faster the server, the bigger: removed before the next one, so
        # that the next figure does not carry its write-back (on disk) or
        # the memory it holds (in tmpfs).
        ftp.delete(args.new)
        old, old_226 = stor_rate(ftp, args.existing, args.seconds)
        ftp.quit()
    except (ftplib.Error, OSError, EOFError) as e:
        sys.exit("%s: %s" % (type(e).__name__, e))
    print(
        "%.3f %.3f %.1f %.1f %.1f %.1f" % (r64, r256, new, old, new_226, old_226)
    )


if __name__ == "__main__":
    main()
