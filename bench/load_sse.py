"""Streaming (SSE) benchmark: events parsed per core, TTFT/ITL accuracy, open-loop lag.

Run: ``.venv/bin/python bench/load_sse.py`` (references: ``httpx-sse`` from the
``bench-load`` extra and the ``openai`` SDK; one that is absent is skipped, saying so).

The server is ``tests/load/stream_server.py`` in its own process: OpenAI chat-completion
chunks, one token per event, each written at an absolute time from the request's arrival.

1. Parse rate: responses of 2,000 events each, sent at once; SSE events handled per
   CPU-second of the *client* process (its own user+system time, so "per core" even
   though the server shares the machine), for the aichaos generator and, over the same
   server in the same run, what a user would pick: ``httpx-sse`` (SSE events over httpx,
   data left as text) and the ``openai`` SDK's stream iteration (typed chunks).
2. Accuracy: TTFT 50 ms, ITL 10 ms, 16 tokens, 20 req/s for 5 s: the generator's median,
   mean and p99 minus what the server was told; then the floor, what a minimal blocking
   socket client (no parser, no event loop) sees from the same server, 50 requests.
3. Open loop with 1,000 streams open: 550 req/s of ~2 s streams (TTFT 100 ms, then 10
   tokens 200 ms apart) for 6 s; send lag (actual - intended send time) and the streams
   open at each 0.5 s window's end.
"""

from __future__ import annotations

import itertools
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.load.streaming import StreamServer

from aichaos.eventloop import new_event_loop
from aichaos.load.spec import LoadSpec, freeze_gc, run_load

PARSE_EVENTS = 2000
PARSE_S = 4.0


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def generate(url: str, duration_s: float, **kw: Any) -> Any:
    spec = LoadSpec(url=url, method="POST", body='{"stream": true}', **kw)
    loop = new_event_loop()
    try:
        return loop.run_until_complete(run_load(spec, duration_s=duration_s)).total
    finally:
        loop.close()


def parse_rate_aichaos(srv: StreamServer) -> tuple[float, int]:
    url = srv.url()
    c0 = cpu()
    total = generate(url, PARSE_S, rate_rps=100, max_concurrency=64, timeout_ms=30_000)
    used = cpu() - c0
    events = total.stream.itl.count + total.stream.ttft.count
    assert total.stream.incomplete == 0 and total.completed, total.metrics()
    return events / used, events


def parse_rate_httpx_sse(srv: StreamServer) -> tuple[float, int] | None:
    try:
        import httpx
        from httpx_sse import connect_sse
    except ImportError:
        print("  httpx-sse not installed (bench-load extra): reference skipped")
        return None
    events = 0
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.Client() as client:
        c0 = cpu()
        deadline = time.monotonic() + PARSE_S
        while time.monotonic() < deadline:
            with connect_sse(client, "POST", srv.url(), json=body) as source:
                for sse in source.iter_sse():
                    events += 1
                    _ = sse.data
        used = cpu() - c0
    return events / used, events


def parse_rate_openai(srv: StreamServer) -> tuple[float, int] | None:
    try:
        import openai
    except ImportError:
        print("  openai SDK not installed: reference skipped")
        return None
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{srv.port}/v1", api_key="local", max_retries=0
    )
    events = 0
    c0 = cpu()
    deadline = time.monotonic() + PARSE_S
    while time.monotonic() < deadline:
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            events += 1
            _ = chunk.choices[0].delta.content if chunk.choices else None
    used = cpu() - c0
    client.close()
    return events / used, events


def accuracy(srv: StreamServer) -> None:
    url = srv.url("ttft_ms=50&itl_ms=10&tokens=16")
    total = generate(url, 5.0, rate_rps=20)
    s = total.stream
    print(f"  {total.completed} streams, {s.ttft.count} TTFTs, {s.itl.count} ITLs")
    for name, h, told in (("TTFT", s.ttft, 50.0), ("ITL", s.itl, 10.0)):
        p50, p99, mean = h.percentile_ms(50), h.percentile_ms(99), h.mean_ms
        print(
            f"  {name}: told {told:g} ms; median {p50:.3f} ({p50 - told:+.3f}), "
            f"mean {mean:.3f} ({mean - told:+.3f}), p99 {p99:.3f} ({p99 - told:+.3f}) ms"
        )


def raw_floor(srv: StreamServer, n: int = 50) -> None:
    import socket
    import statistics

    req = (
        b"POST /v1?ttft_ms=50&itl_ms=10&tokens=16 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    ttft: list[float] = []
    gaps: list[float] = []
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            t0 = time.monotonic()
            s.sendall(req)
            buf, times = b"", []
            while not buf.endswith(b"0\r\n\r\n"):
                data = s.recv(65536)
                times += [time.monotonic()] * data.count(b'"content": " t')
                buf += data
            ttft.append((times[0] - t0) * 1e3)
            gaps += [(b - a) * 1e3 for a, b in itertools.pairwise(times)]
            time.sleep(0.02)
    print(
        f"  floor (blocking socket): TTFT median {statistics.median(ttft):.3f} "
        f"({statistics.median(ttft) - 50:+.3f}), ITL median {statistics.median(gaps):.3f} "
        f"({statistics.median(gaps) - 10:+.3f}) ms"
    )


def open_loop(srv: StreamServer) -> None:
    url = srv.url("ttft_ms=100&itl_ms=200&tokens=10")
    windows: list[dict[str, float]] = []
    spec = LoadSpec(
        url=url,
        method="POST",
        body='{"stream": true}',
        rate_rps=550,
        max_concurrency=2000,
        timeout_ms=20_000,
        window_s=0.5,
    )
    loop = new_event_loop()
    try:
        gen = loop.run_until_complete(
            run_load(spec, duration_s=6.0, on_window=lambda w: windows.append(w.metrics()))
        )
    finally:
        loop.close()
    total = gen.total
    lag = total.send_lag
    most = max(w["inflight"] for w in windows)
    steady = [w["inflight"] for w in windows[4:12]]  # after the first 2 s of ramp-up
    print(
        f"  sent {total.sent} (schedule: 3300), missed {total.missed}, completed "
        f"{total.completed}, incomplete {total.stream.incomplete}, "
        f"errors {total.error_count}"
    )
    print(
        f"  streams open at a window's end: max {most:.0f}, "
        f"from 2 s to 6 s: min {min(steady):.0f}, mean {sum(steady) / len(steady):.0f}"
    )
    print(
        f"  send lag: p50 {lag.percentile_ms(50):.3f} ms, p99 {lag.percentile_ms(99):.3f} ms, "
        f"max {lag.max_ms:.3f} ms"
    )
    s = total.stream
    print(
        f"  TTFT p50 {s.ttft.percentile_ms(50):.2f} ms (told 100), "
        f"ITL p50 {s.itl.percentile_ms(50):.2f} ms (told 200), "
        f"p99 {s.ttft.percentile_ms(99):.2f} / {s.itl.percentile_ms(99):.2f} ms"
    )


def main() -> None:
    freeze_gc()
    with StreamServer(f"tokens={PARSE_EVENTS}&batch=1&ttft_ms=0") as fast:
        print(f"1. SSE events parsed per client CPU-second ({PARSE_EVENTS}-event responses)")
        ours, n = parse_rate_aichaos(fast)
        print(f"  aichaos generator: {ours:,.0f} events/s per core ({n:,} events)")
        for name, ref in (
            ("httpx-sse", parse_rate_httpx_sse(fast)),
            ("openai SDK stream", parse_rate_openai(fast)),
        ):
            if ref is not None:
                print(
                    f"  {name}: {ref[0]:,.0f} events/s per core ({ref[1]:,} events); "
                    f"aichaos is {ours / ref[0]:.1f}x"
                )
    with StreamServer() as srv:
        print("2. TTFT / ITL accuracy against what the server was told")
        accuracy(srv)
        raw_floor(srv)
        print("3. open-loop arrivals with ~1,000 streams open")
        open_loop(srv)


if __name__ == "__main__":
    main()
