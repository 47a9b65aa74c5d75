"""The kernel's share of a download: server CPU seconds per GiB of RETR for
each ftpdlib model and pyftpdlib's async server, beside a bare server that
sends the same file with blocking `sendfile(2)` calls over one TCP
connection and does nothing else (no FTP, no poller). A server that sends
with `sendfile(2)` can hardly spend less than that bare one: what is left
above it is the server's own work.

    python3 benches/support/retr_floor.py --ftpdlib target/release/ftpdlib \
        [--models multi-thread,async,multi-proc,pre-fork] [--rounds 3] \
        [--downloads 6] [--mib 512] [--dir /dev/shm] [--no-pyftpdlib]

Every server is started here on 127.0.0.1 and stopped at the end of its
turn; the turns rotate round by round, so that a slow spell of the machine
is shared. One reader for all, this script: logged in once per turn (ftplib),
it downloads `--downloads` times, reading with `recv_into(256 KiB)`. CPU is
the server's whole process tree's (`local_servers.py`).
Prints one line per server: the median over the rounds of CPU seconds per
GiB, each round's figure, and the median MiB/s.
"""

import ftplib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import local_servers as ls  # noqa: E402  (beside this file)

CHUNK = 256 * 1024


def read_all(sock):
    view = memoryview(bytearray(CHUNK))
    total = 0
    while True:
        n = sock.recv_into(view)
        if not n:
            return total
        total += n


def bare_server(port, path):
    """The bare server: accept, send the whole file with blocking
    sendfile calls, close; until killed."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", port))
    lsock.listen(8)
    size = os.path.getsize(path)
    while True:
        conn, _ = lsock.accept()
        try:
            with open(path, "rb") as src:
                off = 0
                while off < size:
                    off += os.sendfile(conn.fileno(), src.fileno(), off, size - off)
        except OSError:
            pass  # the start-up probe, which connects and closes at once
        conn.close()


def start_bare(path):
    port = ls.free_port()
    cmd = [sys.executable, os.path.realpath(__file__), "--bare-server", str(port), path]
    return ls.Server("bare sendfile(2)", cmd, port, None)


def turn(name, start, downloads, size):
    """One turn of one server: (CPU seconds per GiB, median MiB/s)."""
    server = start()
    port = server.port
    try:
        ftp = None
        if not name.startswith("bare"):
            ftp = ftplib.FTP(timeout=60)
            ftp.connect("127.0.0.1", port)
            ftp.login(ls.USER, ls.PASSWORD)
            ftp.voidcmd("TYPE I")
        rates = []
        cpu0 = server.cpu()
        for _ in range(downloads):
            t = time.perf_counter()
            if ftp:
                with ftp.transfercmd("RETR floor.bin") as data:
                    n = read_all(data)
                ftp.voidresp()
            else:
                with socket.create_connection(("127.0.0.1", port)) as data:
                    n = read_all(data)
            if n != size:
                sys.exit(f"{name}: {n} bytes, not {size}")
            rates.append(n / (1 << 20) / (time.perf_counter() - t))
        if ftp:
            ftp.quit()
            # a forking server's session process ends after QUIT: give its
            # parent the time to reap it (its CPU then counts)
            time.sleep(0.3)
        cpu = server.cpu() - cpu0
    finally:
        server.stop()
    return cpu / (downloads * size / (1 << 30)), statistics.median(rates)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-server":
        bare_server(int(sys.argv[2]), sys.argv[3])
        return
    ap = ls.parser(mib=512)
    ap.add_argument("--downloads", type=ls.positive, default=6)
    args = ap.parse_args()
    ls.stop_on_sigterm()

    work = tempfile.mkdtemp(prefix="retr-floor-", dir=args.dir)
    try:
        results = measure_all(args, work)
    except ls.StartFailed as e:
        sys.exit(f"a server did not start: {e}")
    finally:
        ls.remove_tree(work)

    print(f"RETR of {args.mib} MiB from {args.dir}, {args.downloads} downloads per turn, "
          f"{args.rounds} rounds: server CPU s/GiB (median; each round), MiB/s (median); "
          f"{ls.cpu_source()}")
    for name, rows in results.items():
        each = " ".join(f"{c:.3f}" for c, _ in rows)
        cpu = statistics.median(c for c, _ in rows)
        rate = statistics.median(m for _, m in rows)
        print(f"{name:22} {cpu:.3f} ({each})  {rate:.0f} MiB/s")


def measure_all(args, work):
    """Every server's turns: {name: [(CPU s/GiB, MiB/s) per round]}."""
    path = os.path.join(work, "floor.bin")
    size = args.mib << 20
    with open(path, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(args.mib):
            f.write(block)

    servers = [(f"ftpdlib {m}", lambda m=m: ls.start_ftpdlib(args.ftpdlib, m, work))
               for m in args.models]
    if not args.no_pyftpdlib:
        servers.append(("pyftpdlib async", lambda: ls.start_pyftpdlib(work)))
    servers.append(("bare sendfile(2)", lambda: start_bare(path)))

    results = {name: [] for name, _ in servers}
    for name, start in ls.in_turns(servers, args.rounds):
        results[name].append(turn(name, start, args.downloads, size))
    return results


if __name__ == "__main__":
    main()
