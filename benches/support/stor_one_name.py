"""Where the time of many uploads to one name goes when the client shares
the server's host: pyftpdlib's benchmark's `N concurrent clients (STOR)`
pattern (N sessions logged in first; each sends TYPE I and STOR of the same
name; then one process writes 8 KiB `send()`s to every data connection as
it becomes writable), against each ftpdlib model and pyftpdlib's async
server, with the client's and the server's CPUs free or kept apart.

    python3 benches/support/stor_one_name.py --ftpdlib target/release/ftpdlib \
        [--models multi-thread,async,multi-proc,pre-fork] [--no-pyftpdlib] \
        [--clients 200] [--mib 10] [--rounds 3] [--dir /dev/shm] \
        [--placement free,apart]

`apart` runs the server on the highest CPU it may use and the client on the others (as
with clients on other hosts); `free` lets both run anywhere, as the bench
does. For each server and placement, the medians over the rounds of:
- `wall`: seconds from the first data byte to the last one handed to the
  kernel (the benchmark script's clock);
- `226`: seconds until every session had its 226;
- `client CPU`: this process's user + system seconds over `wall`;
- `waits`: the times this process was switched out while runnable
  (involuntary context switches) over `wall`;
- `idle`: the share of the machine's CPU time left idle over `wall`;
- `server CPU`: the server's whole process tree's (`local_servers.py`),
  from the first byte to the last 226.

The turns rotate round by round. Needs at least 2 CPUs for `apart`.
"""

import argparse
import ftplib
import os
import resource
import selectors
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import local_servers as ls  # noqa: E402  (beside this file)

BLOCK = b"x" * 8192
# a run whose connections all stay unwritable this long has stalled
STALL_SECS = 60


def cpu_idle():
    """(idle + iowait, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)


def turn(start, clients, size):
    server = start()
    port = server.port
    sessions = []
    try:
        for _ in range(clients):
            ftp = ftplib.FTP(timeout=120)
            ftp.connect("127.0.0.1", port)
            ftp.login(ls.USER, ls.PASSWORD)
            sessions.append(ftp)
        sel = selectors.DefaultSelector()
        left = {}
        for ftp in sessions:
            ftp.voidcmd("TYPE I")
            data = ftp.transfercmd("STOR one.bin")
            data.setblocking(False)
            sel.register(data, selectors.EVENT_WRITE)
            left[data] = size
        idle0, all0 = cpu_idle()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        srv0 = server.cpu()
        t0 = time.perf_counter()
        while left:
            ready = sel.select(timeout=STALL_SECS)
            if not ready:
                raise RuntimeError(f"no data connection writable for {STALL_SECS} s: "
                                   f"{len(left)} uploads stalled")
            for key, _ in ready:
                data = key.fileobj
                try:
                    n = data.send(BLOCK[: min(len(BLOCK), left[data])])
                except BlockingIOError:
                    continue
                left[data] -= n
                if left[data] == 0:
                    sel.unregister(data)
                    data.close()
                    del left[data]
        sel.close()
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        idle1, all1 = cpu_idle()
        for ftp in sessions:
            ftp.voidresp()
        done = time.perf_counter() - t0
        srv = server.cpu() - srv0
        for ftp in sessions:
            ftp.quit()
        sessions = []
    finally:
        for ftp in sessions:
            ftp.close()
        server.stop()
    client = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    idle = (idle1 - idle0) / max(1, all1 - all0)
    return {"wall": wall, "226": done, "client CPU": client,
            "waits": ru1.ru_nivcsw - ru0.ru_nivcsw, "idle": idle, "server CPU": srv}


def placement_list(text):
    """argparse type: `free` and/or `apart`, comma-separated."""
    places = [p.strip() for p in text.split(",") if p.strip()]
    if not places or any(p not in ("free", "apart") for p in places):
        raise argparse.ArgumentTypeError(f"{text}: `free`, `apart` or both")
    return list(dict.fromkeys(places))


def main():
    ap = ls.parser(mib=10)
    ap.add_argument("--clients", type=ls.positive, default=200)
    ap.add_argument("--placement", type=placement_list, default=["free", "apart"])
    args = ap.parse_args()
    ls.stop_on_sigterm()

    # every session's sockets, files and pipes in one server process
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    # the CPUs this process may use (taskset, a container's cpuset)
    allowed = os.sched_getaffinity(0)
    if "apart" in args.placement and len(allowed) < 2:
        sys.exit("`apart` needs 2 CPUs or more to run on")
    work = tempfile.mkdtemp(prefix="stor-one-", dir=args.dir)
    try:
        results = measure_all(args, work, allowed)
    except ls.StartFailed as e:
        sys.exit(f"a server did not start: {e}")
    finally:
        os.sched_setaffinity(0, allowed)
        ls.remove_tree(work)

    print(f"{args.clients} clients STOR {args.mib} MiB each to one name, files in {args.dir}, "
          f"{args.rounds} rounds (medians); {ls.cpu_source()}")
    print("| server | placement | wall s | 226 s | client CPU s | waits | idle | server CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (name, place), rows in results.items():
        def med(key):
            return statistics.median(row[key] for row in rows)
        print(f"| {name} | {place} | {med('wall'):.2f} | {med('226'):.2f} | "
              f"{med('client CPU'):.2f} | {med('waits'):.0f} | {100 * med('idle'):.0f}% | "
              f"{med('server CPU'):.2f} |")


def measure_all(args, work, allowed):
    """Every server's turns in every placement: {(name, placement): [row per
    round]}. `apart` keeps the server on the highest allowed CPU and this
    process on the others."""
    os.chmod(work, 0o777)
    server_cpu = max(allowed)
    servers = []
    for place in args.placement:
        srv_cpus = {server_cpu} if place == "apart" else allowed
        for m in args.models:
            servers.append((f"ftpdlib {m}", place,
                            lambda m=m, c=srv_cpus: ls.start_ftpdlib(args.ftpdlib, m, work, c)))
        if not args.no_pyftpdlib:
            servers.append(("pyftpdlib async", place,
                            lambda c=srv_cpus: ls.start_pyftpdlib(work, c)))

    results = {(name, place): [] for name, place, _ in servers}
    for name, place, start in ls.in_turns(servers, args.rounds):
        os.sched_setaffinity(0, allowed - {server_cpu} if place == "apart" else allowed)
        results[(name, place)].append(turn(start, args.clients, args.mib << 20))
        os.sched_setaffinity(0, allowed)
        os.sync()
    return results


if __name__ == "__main__":
    main()
