#!/usr/bin/env python3
"""Opens COUNT keep-alive connections to HOST:PORT, sends one `GET PATH` on each and reads the
whole answer, then holds them all open until a line arrives on stdin, then closes them. With a
fifth argument, a CA file, the connections are TLS.

Prints `open COUNT` once every connection has its answer, and `closed` at the end; exits
non-zero if any connection fails. Used by bench/connections.sh; loopback only.
"""

import asyncio
import ssl
import sys

CONNECT_CONCURRENCY = 200  # below the listen backlog, so no SYN is dropped and retried


async def one(host, port, path, gate, held, tls):
    async with gate:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {head[:40]!r}")
        await reader.readexactly(length)
        held.append(writer)


async def main():
    host, port, count, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tls = ssl.create_default_context(cafile=sys.argv[5]) if len(sys.argv) > 5 else None
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    held = []
    await asyncio.gather(*(one(host, port, path, gate, held, tls) for _ in range(count)))
    print(f"open {len(held)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for writer in held:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in held), return_exceptions=True)
    print("closed", flush=True)


asyncio.run(main())
