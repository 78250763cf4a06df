"""A fast HTTP/1.1 server for the load benchmark (one uvloop process, fixed answer).

``python bench/load_server.py [--stall-after S --stall-for S]`` prints its port on the
first line. With ``--stall-after``, every request that arrives in the window
``[first request + stall_after, + stall_for)`` is held until the window ends: the
server stalls once, mid-run, as in wrk2's coordinated-omission demonstration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" + (
    b'{"ok":true}'
)


class Stall:
    """When the one stall happens (relative to the first request)."""

    def __init__(self, after_s: float | None, for_s: float) -> None:
        self.after_s = after_s
        self.for_s = for_s
        self.start = 0.0

    def hold_until(self, now: float) -> float:
        if self.after_s is None:
            return 0.0
        if not self.start:
            self.start = now + self.after_s
        if self.start <= now < self.start + self.for_s:
            return self.start + self.for_s
        return 0.0


class Server(asyncio.Protocol):
    """Answers every request (counted by its blank line) with RESPONSE."""

    stall = Stall(None, 0.0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        n = data.count(b"\r\n\r\n")
        until = self.stall.hold_until(time.monotonic())
        if until:
            self.loop.call_later(until - time.monotonic(), self._write, n)
        else:
            self.transport.write(RESPONSE * n)

    def _write(self, n: int) -> None:
        if not self.transport.is_closing():
            self.transport.write(RESPONSE * n)


async def main(args: argparse.Namespace) -> None:
    Server.stall = Stall(args.stall_after, args.stall_for)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Server, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--stall-after", type=float, default=None)
    p.add_argument("--stall-for", type=float, default=1.0)
    p.add_argument("--lifetime", type=float, default=120.0)
    try:
        import uvloop

        uvloop.run(main(p.parse_args()))
    except ImportError:
        asyncio.run(main(p.parse_args()))
    sys.exit(0)
