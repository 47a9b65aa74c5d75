"""Many concurrent transfers from one event-loop client (Python stdlib only).

Used by `benches/ftpbench.rs`, in the way pyftpdlib's own benchmark drives a
server: N clients log in first (at most 32 logins in flight), each sends
TYPE I and PASV, and only then, all at once, each opens its data connection
and transfers. Downloads are read by `asyncio.Protocol.data_received`, so
with the transport's default read size; uploads are written in 64 KiB
chunks. Prints the wall seconds from the start signal until every client
had its 226; exits non-zero (reason on stderr) if any transfer failed, a
download's byte count was wrong or the whole run took longer than the bound.

    python3 many_clients.py --port P --user U --password W --clients N \
        --op retr|stor|stor-one --size BYTES --name NAME

`retr` downloads NAME (which must be SIZE bytes); `stor` uploads SIZE bytes
to NAME-<i> (one name per client); `stor-one` uploads SIZE bytes to NAME
from every client at once.
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from ftpclient import Failed, login_async, parser  # noqa: E402  (beside this file)

CHUNK = 65536


def pasv_port(rep):
    nums = rep[rep.index("(") + 1 : rep.index(")")].split(",")
    return int(nums[4]) * 256 + int(nums[5])


class Sink(asyncio.Protocol):
    """Counts what arrives; `done` resolves to the count at EOF."""

    def __init__(self):
        self.n = 0
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.n += len(data)

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(self.n)


async def transfer(i, c, args, ready, start):
    dport = pasv_port(await c.cmd("PASV", "227"))
    ready()
    await start.wait()
    loop = asyncio.get_running_loop()
    if args.op == "retr":
        transport, sink = await loop.create_connection(Sink, args.host, dport)
        await c.cmd("RETR " + args.name, "1")
        got = await sink.done
        rep = await c.reply()
        if not rep.startswith("226"):
            raise Failed("RETR: %s" % rep)
        if got != args.size:
            raise Failed("RETR: %d bytes, wanted %d" % (got, args.size))
    else:
        name = args.name if args.op == "stor-one" else "%s-%d" % (args.name, i)
        dr, dw = await asyncio.open_connection(args.host, dport)
        await c.cmd("STOR " + name, "1")
        chunk = b"x" * CHUNK
        left = args.size
        while left > 0:
            dw.write(chunk[: min(left, CHUNK)])
            left -= CHUNK
            await dw.drain()
        dw.close()
        await dw.wait_closed()
        rep = await c.reply()
        if not rep.startswith("226"):
            raise Failed("STOR: %s" % rep)


async def run(args):
    gate = asyncio.Semaphore(32)

    async def one_login():
        async with gate:
            try:
                return await asyncio.wait_for(
                    login_async(args.host, args.port, args.user, args.password), 30
                )
            except asyncio.TimeoutError:
                raise Failed("a login took longer than 30 s") from None

    clients = await asyncio.gather(*[one_login() for _ in range(args.clients)])
    all_ready = asyncio.get_running_loop().create_future()
    count = [0]

    def ready():
        count[0] += 1
        if count[0] == args.clients:
            all_ready.set_result(None)

    start = asyncio.Event()
    tasks = [
        asyncio.create_task(transfer(i, c, args, ready, start))
        for i, c in enumerate(clients)
    ]
    # every client has its passive port before the clock starts
    await asyncio.wait([all_ready, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if not all_ready.done():
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.w.close()
    return elapsed


def main():
    p = parser(timeout=300.0)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--op", choices=["retr", "stor", "stor-one"], required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--name", required=True)
    args = p.parse_args()
    try:
        elapsed = asyncio.run(asyncio.wait_for(run(args), args.timeout))
    except asyncio.TimeoutError:
        sys.exit("timed out after %.0f s" % args.timeout)
    except (Failed, OSError, ValueError) as e:
        sys.exit("%s: %s" % (type(e).__name__, e))
    print("%.4f" % elapsed)


if __name__ == "__main__":
    main()
