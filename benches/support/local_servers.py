"""What the by-hand measuring scripts share (stdlib only): starting and
stopping a server on 127.0.0.1 (ftpdlib in a model, pyftpdlib's async
server), and the CPU time of a server's whole process tree.

CPU time comes from a cgroup of the server's own where this process may
make one (cgroup v1 `cpuacct.usage` or v2 `cpu.stat`, nanoseconds, every
process and thread the server starts, exited ones included), else from
`/proc` (clock ticks, which miss short bursts on an otherwise idle CPU:
a hundred session processes woken now and then can show a third of their
time).

Imported by `retr_floor.py` and `stor_one_name.py`, which are run by path
and put this directory on `sys.path` themselves. Every server gets the
account `u` / `p` with write permission, and a port found free just before
(nothing else binds 127.0.0.1 ports in a bench run).
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
CGROUP_V1 = "/sys/fs/cgroup/cpuacct"
CGROUP_V2 = "/sys/fs/cgroup"
USER = "u"
PASSWORD = "p"


MODELS = ("multi-thread", "async", "multi-proc", "pre-fork")


def positive(text):
    """argparse type: an integer of 1 or more."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return n


def model_list(text):
    """argparse type: ftpdlib models, comma-separated, each once."""
    models = []
    for m in (m.strip() for m in text.split(",")):
        if m and m not in MODELS:
            raise argparse.ArgumentTypeError(f"{m}: not a model ({', '.join(MODELS)})")
        if m and m not in models:
            models.append(m)
    return models


def existing_dir(text):
    """argparse type: a directory that exists."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    return text


def parser(mib):
    """The options both scripts take: --ftpdlib (the binary), --models,
    --no-pyftpdlib, --rounds (default 3), --mib (the transfer size, default
    `mib`) and --dir (where the files go, default /dev/shm)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--ftpdlib", required=True)
    ap.add_argument("--models", type=model_list, default=list(MODELS))
    ap.add_argument("--no-pyftpdlib", action="store_true")
    ap.add_argument("--rounds", type=positive, default=3)
    ap.add_argument("--mib", type=positive, default=mib)
    ap.add_argument("--dir", type=existing_dir, default="/dev/shm")
    return ap


class StartFailed(Exception):
    """A server did not come up; its process is stopped, its cgroup gone."""


def stop_on_sigterm():
    """SIGTERM (`timeout`, a killed job) ends the script as Ctrl-C does, so
    that its `finally` clauses stop the server and remove what it made."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def cpu_source():
    """Where the CPU figures come from, for the scripts' output."""
    probe = _new_cgroup()
    if probe is None:
        return "CPU from /proc in clock ticks (no cgroup could be made: coarse for short runs)"
    os.rmdir(probe[0])
    return "CPU from a cgroup per server"


def in_turns(servers, rounds):
    """Every item of `servers` once per round, the order rotating by one each
    round, so that a slow spell of the machine is shared."""
    if not servers:
        sys.exit("nothing to measure: no server given")
    for r in range(rounds):
        k = r % len(servers)
        yield from servers[k:] + servers[:k]


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def tree_cpu(pid):
    """CPU seconds (user + system, 10 ms ticks) of `pid` and every process
    below it, each with the children it has reaped: threads and exited
    session processes included."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass  # ended meanwhile: its parent's reaped figures hold it
    return total / TICK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, deadline=10.0):
    """Until `port` accepts (the server is up); `StartFailed` if the server
    ended or the deadline (seconds) passed."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise StartFailed(f"exited at start (status {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise StartFailed(f"not listening on port {port} after {deadline} s")


def _own_cgroup(v1):
    """This process's cgroup path (relative) in the cpuacct hierarchy (v1)
    or the unified one (v2); "" where it can't be read."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                names = controllers.split(",")
                if (v1 and "cpuacct" in names) or (not v1 and controllers == ""):
                    return path.lstrip("/")
    except (OSError, ValueError):
        pass
    return ""


def _new_cgroup():
    """A fresh cgroup directory to put a server in, and the file its CPU
    nanoseconds are read from; `None` where none can be made."""
    name = f"ftpdlib-measure-{os.getpid()}-{time.monotonic_ns()}"
    for base, stat in ((CGROUP_V1, "cpuacct.usage"), (CGROUP_V2, "cpu.stat")):
        if not os.path.exists(os.path.join(base, stat)):
            continue  # not that hierarchy (a v2 root has its own cpu.stat)
        # below this process's own cgroup, so that the limits it runs under
        # (a container's) hold for the server too
        path = os.path.join(base, _own_cgroup(base == CGROUP_V1), name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        if os.path.exists(os.path.join(path, stat)):
            return path, os.path.join(path, stat)
        os.rmdir(path)
    return None


class Server:
    """A started server: `proc`, `port`, and `cpu()`, its CPU seconds so
    far."""

    def __init__(self, name, cmd, port, cpus):
        self.name = name
        self.port = port
        self.cgroup = _new_cgroup()
        self.proc = None

        def setup():
            if self.cgroup:
                with open(os.path.join(self.cgroup[0], "cgroup.procs"), "w") as f:
                    f.write("0")
            if cpus is not None:
                os.sched_setaffinity(0, cpus)

        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, preexec_fn=setup)
            wait_listening(port, self.proc)
        except BaseException as e:
            self.stop()
            if isinstance(e, (OSError, subprocess.SubprocessError, StartFailed)):
                raise StartFailed(f"{name}: {e}") from e
            raise

    def cpu(self):
        if not self.cgroup:
            return tree_cpu(self.proc.pid)
        with open(self.cgroup[1]) as f:
            text = f.read()
        if self.cgroup[1].endswith("cpuacct.usage"):
            return int(text) / 1e9
        usage = dict(line.split() for line in text.splitlines())
        return int(usage["usage_usec"]) / 1e6

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; the cgroup is removed."""
        if self.proc is not None:
            stop(self.proc)
        if self.cgroup:
            for _ in range(50):
                try:
                    os.rmdir(self.cgroup[0])
                    break
                except OSError:
                    time.sleep(0.05)


def start_ftpdlib(binary, model, root, cpus=None):
    """`binary` in `model` serving `root`, on `cpus` (a set of CPU numbers;
    every CPU if `None`): a `Server` (`StartFailed` if it did not come up)."""
    port = free_port()
    extra = ["--workers", "2"] if model == "pre-fork" else []
    cmd = [binary, "--concurrency", model, *extra, "-i", "127.0.0.1", "-p", str(port),
           "-d", root, "-u", USER, "-P", PASSWORD, "-w",
           "--max-cons", "1000", "--max-cons-per-ip", "1000"]
    return Server(f"ftpdlib {model}", cmd, port, cpus)


def start_pyftpdlib(root, cpus=None):
    """pyftpdlib's async server (`python3 -m pyftpdlib`) serving `root`, on
    `cpus`: a `Server`."""
    port = free_port()
    cmd = [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port),
           "-d", root, "-u", USER, "-P", PASSWORD, "-w"]
    return Server("pyftpdlib async", cmd, port, cpus)


def stop(proc):
    """SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
