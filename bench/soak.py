"""Soak: the chaos proxy holding many idle connections while many others stay busy.

``python bench/soak.py [--duration-s 600] [--idle 10000] [--active 1000] [--rate-hz 2]``

Three processes: a real ``aichaos proxy`` (what is measured), an echo server upstream,
and this driver. The driver opens ``--idle`` connections through the proxy that never
send a byte, then ``--active`` connections that each send a 256-byte message every
``1/rate-hz`` seconds and wait for its echo, plus ``--active // 10`` connections doing
the same *directly* to the echo server, side by side, so the added latency is measured
against the same machine at the same moment. Every 5 s it samples the proxy's RSS.

Printed: RSS per idle connection (goal < 10 KB), RSS growth after warm-up (goal: flat),
p50/p99 round trip through the proxy and direct, and the p99 the proxy adds.

Each proxied connection holds two descriptors in the proxy; where RLIMIT_NOFILE's hard
limit cannot hold ``idle + active`` connections, the idle count is lowered and said so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import time

ECHO = """
import asyncio, sys
async def echo(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except ConnectionError:
        pass
    finally:
        w.close()
async def main():
    s = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    print(s.sockets[0].getsockname()[1], flush=True)
    await s.serve_forever()
try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def _open_many(addr: tuple[str, int], n: int, batch: int = 500) -> list[asyncio.StreamWriter]:
    writers: list[asyncio.StreamWriter] = []
    for start in range(0, n, batch):
        pairs = await asyncio.gather(
            *(asyncio.open_connection(*addr) for _ in range(min(batch, n - start)))
        )
        writers.extend(w for _, w in pairs)
    return writers


async def _pinger(
    addr: tuple[str, int], period_s: float, until: float, rtts: list[float], offset: float
) -> None:
    reader, writer = await asyncio.open_connection(*addr)
    msg = b"x" * 256
    await asyncio.sleep(offset)
    next_at = time.monotonic()
    try:
        while time.monotonic() < until:
            t0 = time.monotonic()
            writer.write(msg)
            await reader.readexactly(len(msg))
            rtts.append((time.monotonic() - t0) * 1000)
            next_at += period_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        writer.close()


def start(
    args: argparse.Namespace,
) -> tuple[subprocess.Popen[str], subprocess.Popen[str], int, str, int]:
    """Raise the fd limit, start the echo server and the proxy; (echo, proxy, port, api, idle)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    fit = (hard - 200) // 2 - args.active  # the proxy holds 2 fds per connection
    idle = min(args.idle, fit)
    if idle < args.idle:
        print(
            f"note: RLIMIT_NOFILE hard limit is {hard}: the proxy can hold "
            f"{(hard - 200) // 2} connections, so idle = {idle} (asked {args.idle})"
        )
    echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    assert echo.stdout is not None
    echo_port = int(echo.stdout.readline())
    proxy = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "proxy", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "AICHAOS_TOKEN"},
    )
    assert proxy.stdout is not None
    m = re.search(r"API on (http://\S+)", proxy.stdout.readline())
    assert m, "proxy did not start"
    return echo, proxy, echo_port, m.group(1), idle


async def run(
    args: argparse.Namespace,
    echo: subprocess.Popen[str],
    proxy: subprocess.Popen[str],
    echo_port: int,
    api_url: str,
    idle: int,
) -> None:
    """Open the idle connections, run the active ones, print the figures."""
    import httpx

    async with httpx.AsyncClient(base_url=api_url) as api:
        r = await api.post("/proxies", json={"name": "soak", "upstream": f"127.0.0.1:{echo_port}"})
        r.raise_for_status()
        host, port = r.json()["listen"].rsplit(":", 1)
    via = (host, int(port))
    direct = ("127.0.0.1", echo_port)
    idle_writers: list[asyncio.StreamWriter] = []
    try:
        await asyncio.sleep(0.5)
        rss_empty = _rss_kib(proxy.pid)
        t0 = time.monotonic()
        idle_writers += await _open_many(via, idle)
        await asyncio.sleep(2.0)  # let the proxy finish accepting and dialing upstream
        rss_idle = _rss_kib(proxy.pid)
        per_idle = (rss_idle - rss_empty) * 1024 / max(idle, 1)
        print(
            f"idle: {idle} connections opened in {time.monotonic() - t0:.1f}s; proxy RSS "
            f"{rss_empty / 1024:.1f} MiB -> {rss_idle / 1024:.1f} MiB = "
            f"{per_idle / 1024:.2f} KiB per idle connection"
        )

        period = 1.0 / args.rate_hz
        until = time.monotonic() + args.duration_s
        via_rtts: list[float] = []
        direct_rtts: list[float] = []
        tasks = [
            asyncio.create_task(_pinger(via, period, until, via_rtts, i * period / args.active))
            for i in range(args.active)
        ]
        n_direct = max(1, args.active // 10)
        tasks += [
            asyncio.create_task(_pinger(direct, period, until, direct_rtts, i * period / n_direct))
            for i in range(n_direct)
        ]
        samples: list[tuple[float, int]] = []
        start = time.monotonic()
        while time.monotonic() < until:
            await asyncio.sleep(min(5.0, max(0.0, until - time.monotonic())))
            samples.append((time.monotonic() - start, _rss_kib(proxy.pid)))
            print(
                f"  t={samples[-1][0]:6.0f}s rss={samples[-1][1] / 1024:7.1f} MiB "
                f"round trips via proxy={len(via_rtts)} direct={len(direct_rtts)}",
                flush=True,
            )
        await asyncio.gather(*tasks)
        # growth after warm-up: first sample past 20% of the run vs the last
        warm = [s for s in samples if s[0] >= args.duration_s * 0.2] or samples
        (t_a, rss_a), (t_b, rss_b) = warm[0], samples[-1]
        slope = (rss_b - rss_a) / max(t_b - t_a, 1e-9) * 60
        print(
            f"RSS after warm-up (t={t_a:.0f}s): {rss_a / 1024:.1f} MiB; at end (t={t_b:.0f}s): "
            f"{rss_b / 1024:.1f} MiB; growth {slope:+.1f} KiB/min "
            f"(max {max(r for _, r in samples) / 1024:.1f} MiB)"
        )
        p99_via, p99_direct = _pct(via_rtts, 0.99), _pct(direct_rtts, 0.99)
        print(
            f"round trip via proxy: n={len(via_rtts)} p50={statistics.median(via_rtts):.2f} ms "
            f"p99={p99_via:.2f} ms; direct: n={len(direct_rtts)} "
            f"p50={statistics.median(direct_rtts):.2f} ms p99={p99_direct:.2f} ms"
        )
        print(f"p99 added by the proxy: {p99_via - p99_direct:.2f} ms")
        print(
            f"RESULT idle={idle} active={args.active} duration_s={args.duration_s:g} "
            f"rss_per_idle_kib={per_idle / 1024:.2f} growth_kib_per_min={slope:+.1f} "
            f"p99_added_ms={p99_via - p99_direct:.2f}"
        )
    finally:
        for w in idle_writers:
            w.close()


def main() -> None:
    """Parse arguments and run the soak."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration-s", type=float, default=600.0)
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--active", type=int, default=1_000)
    ap.add_argument("--rate-hz", type=float, default=2.0, help="messages per active connection")
    args = ap.parse_args()
    echo, proxy, echo_port, api_url, idle = start(args)
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(run(args, echo, proxy, echo_port, api_url, idle))
        else:
            uvloop.run(run(args, echo, proxy, echo_port, api_url, idle))
    finally:
        for p in (proxy, echo):
            p.terminate()
            p.wait(10)
            if p.stdout is not None:
                p.stdout.close()


if __name__ == "__main__":
    main()
