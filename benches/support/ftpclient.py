"""What the bench's Python clients share (stdlib only): their connection
options and their login, as a blocking ftplib session or an asyncio one.

Imported by `blocking_client.py` and `many_clients.py`, which are run by
path and put this directory on `sys.path` themselves.
"""

import argparse
import asyncio
import ftplib


def parser(timeout):
    """The options every client takes: --host, --port, --user, --password,
    and --timeout (seconds, default `timeout`)."""
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--timeout", type=float, default=timeout)
    return p


def login(args):
    """A blocking ftplib session, logged in, TYPE I."""
    ftp = ftplib.FTP(timeout=args.timeout)
    ftp.connect(args.host, args.port)
    ftp.login(args.user, args.password)
    ftp.voidcmd("TYPE I")
    return ftp


class Failed(Exception):
    pass


class Control:
    """An asyncio control connection: commands and whole (multi-line)
    replies."""

    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer

    async def reply(self):
        line = await self.r.readline()
        if len(line) < 4:
            raise Failed("connection closed (got %r)" % line)
        if line[3:4] == b"-":
            end = line[:3] + b" "
            while True:
                more = await self.r.readline()
                if not more:
                    raise Failed("connection closed in a multi-line reply")
                if more.startswith(end):
                    line = more
                    break
        return line.decode("latin-1").rstrip("\r\n")

    async def cmd(self, line, expect):
        self.w.write(line.encode("latin-1") + b"\r\n")
        await self.w.drain()
        rep = await self.reply()
        if not rep.startswith(expect):
            raise Failed("%s: %s" % (line.split()[0], rep))
        return rep


async def login_async(host, port, user, password):
    """An asyncio session, logged in, TYPE I."""
    reader, writer = await asyncio.open_connection(host, port)
    c = Control(reader, writer)
    greeting = await c.reply()
    if not greeting.startswith("220"):
        raise Failed("greeting: %s" % greeting)
    await c.cmd("USER " + user, "331")
    await c.cmd("PASS " + password, "230")
    await c.cmd("TYPE I", "200")
    return c
