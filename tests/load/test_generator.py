"""The open-loop generator against real local servers: exact counts per outcome."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time

import pytest

from aichaos.load.generator import Generator
from aichaos.load.histogram import LatencyHistogram
from aichaos.load.requests import RequestSource, parse_url
from aichaos.load.schedule import arrivals
from aichaos.load.stats import WindowStats

from .servers import RawServer


def make(url: str, body: str | None = None, **kw: object) -> Generator:
    ep = parse_url(url)
    src = RequestSource.from_template(ep, "POST" if body else "GET", body)
    return Generator(ep, src, **kw)  # type: ignore[arg-type]


async def ok(head: bytes, body: bytes) -> tuple[int, bytes]:
    return 200, b'{"ok": true}'


async def test_constant_rate_sends_exactly_the_schedule() -> None:
    async with RawServer(ok) as srv:
        gen = make(srv.url, rate_rps=200, window_s=0.5)
        total = await gen.run(duration_s=1.0)
    m = total.metrics()
    assert m["sent"] == 200 and m["completed"] == 200 and m["missed"] == 0
    assert m["errors"] == 0 and m["error_rate"] == 0
    assert srv.requests == 200
    assert m["rate_rps"] == pytest.approx(200, rel=0.01)
    assert 0 < m["p50_ms"] <= m["p99_ms"] <= m["max_ms"] < 200
    # keep-alive: connections are reused (only a stall on this shared box opens more
    # than a few, one per request then in flight); without reuse there would be 200
    assert srv.connections <= 20
    assert total.latency.count == 200


async def test_poisson_sends_what_the_seeded_schedule_says() -> None:
    expected = 0
    for t in arrivals("poisson", 300, random.Random(7)):
        if t >= 1.0:
            break
        expected += 1
    async with RawServer(ok) as srv:
        gen = make(srv.url, rate_rps=300, arrival="poisson", rng=random.Random(7))
        total = await gen.run(duration_s=1.0)
    assert total.sent == expected == srv.requests
    assert abs(expected - 300) < 4 * 300**0.5  # a Poisson count near its mean


async def test_error_kinds_counted_exactly_by_status() -> None:
    table = {0: 200, 1: 404, 2: 429, 3: 503, 4: 302}

    async def by_seq(head: bytes, body: bytes) -> tuple[int, bytes]:
        return table[json.loads(body)["n"] % 5], b"{}"

    async with RawServer(by_seq) as srv:
        gen = make(srv.url, '{"n": {seq}}', rate_rps=250)
        total = await gen.run(duration_s=1.0)
    m = total.metrics()
    assert m["sent"] == m["completed"] == 250
    assert (m["errors_4xx"], m["errors_429"], m["errors_5xx"]) == (50, 50, 50)
    assert m["errors"] == 150
    assert m["error_rate"] == pytest.approx(150 / 250)
    assert m["errors_timeout"] == m["errors_reset"] == m["errors_refused"] == 0


async def test_always_429() -> None:
    async def busy(head: bytes, body: bytes) -> tuple[int, bytes]:
        return 429, b'{"error": "slow down"}'

    async with RawServer(busy) as srv:
        total = await make(srv.url, rate_rps=100).run(duration_s=0.5)
    assert total.errors["429"] == total.sent == 50
    assert total.metrics()["error_rate"] == 1.0


async def test_resets_counted_as_reset() -> None:
    async def reset(head: bytes, body: bytes) -> str:
        return "reset"

    async with RawServer(reset) as srv:
        total = await make(srv.url, rate_rps=100).run(duration_s=0.5)
    assert total.sent == 50
    assert total.errors["reset"] == 50
    assert total.completed == 0


async def test_non_http_answers_counted_as_invalid() -> None:
    async def garbage(head: bytes, body: bytes) -> str:
        return "garbage"

    async with RawServer(garbage) as srv:
        total = await make(srv.url, rate_rps=40).run(duration_s=0.5)
    assert total.errors["invalid"] == total.sent == 20


async def test_refused_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    total = await make(f"http://127.0.0.1:{port}/", rate_rps=40).run(duration_s=0.5)
    assert total.errors["refused"] == total.sent == 20


async def test_timeouts_from_a_stalling_server() -> None:
    async def hang(head: bytes, body: bytes) -> str:
        return "hang"

    async with RawServer(hang) as srv:
        t0 = time.monotonic()
        total = await make(srv.url, rate_rps=20, timeout_s=0.2).run(duration_s=0.5)
        took = time.monotonic() - t0
    assert total.errors["timeout"] == total.sent == 10
    assert took < 0.5 + 0.2 + 0.3  # drained as soon as the last timeout fired


async def test_concurrency_cap_counts_missed_requests() -> None:
    async def hang(head: bytes, body: bytes) -> str:
        return "hang"

    async with RawServer(hang) as srv:
        gen = make(srv.url, rate_rps=100, timeout_s=0.1, max_concurrency=2)
        total = await gen.run(duration_s=1.0)
    # every intended request is accounted for: sent (then timed out) or missed
    assert total.sent + total.missed == 100
    assert total.missed > 50
    assert total.errors["timeout"] == total.sent
    assert total.metrics()["error_rate"] == 1.0


async def test_stall_shows_in_latency_from_intended_time() -> None:
    """A 0.5 s stall at rate 100: ~50 requests wait, linearly 0.5 s down to 0 (CO corrected)."""
    stall = {"until": 0.0}

    async def stalls_once(head: bytes, body: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        if stall["until"] == 0.0 and now >= stall["at"]:
            stall["until"] = now + 0.5
        if now < stall["until"]:
            await asyncio.sleep(stall["until"] - now)
        return 200, b"{}"

    async with RawServer(stalls_once) as srv:
        stall["at"] = time.monotonic() + 0.7
        gen = make(srv.url, rate_rps=100, max_concurrency=200)
        total = await gen.run(duration_s=2.0)
    assert total.completed == 200
    # about S*R/2 = 25 requests waited >= 250 ms; p99 (2nd slowest of 200) ~ 490 ms
    assert 20 <= total.latency.count_at_or_above_ms(250) <= 30
    assert 440 <= total.latency.percentile_ms(99) <= 560
    assert total.latency.max_ms >= 490


async def test_a_stall_shows_in_the_window_it_happens_in() -> None:
    """While nothing completes, the window's p99 counts requests still in flight at their
    age so far: a guardrail sees the stall now, not when it ends. The run total is not
    affected (those requests are recorded once, when they complete)."""
    release = asyncio.Event()

    async def stalls(head: bytes, body: bytes) -> tuple[int, bytes]:
        await release.wait()
        return 200, b"{}"

    seen: list[WindowStats] = []
    async with RawServer(stalls) as srv:
        gen = make(srv.url, rate_rps=50, window_s=0.25, on_window=seen.append)
        task = asyncio.create_task(gen.run(duration_s=1.0))
        await asyncio.sleep(0.8)
        release.set()
        total = await task
    stalled = [w for w in seen if w.start_s + w.duration_s <= 0.75]
    assert stalled and all(w.completed == 0 for w in stalled)
    last = stalled[-1].metrics()
    assert last["inflight"] >= 30
    assert 600 <= last["inflight_oldest_ms"] <= 900
    assert last["p99_ms"] >= 600 and last["max_ms"] == pytest.approx(
        last["inflight_oldest_ms"], rel=0.01
    )
    assert total.completed == total.sent == 50
    assert total.inflight_us == []  # the run total counts each request once


async def test_windows_add_up_to_the_total_exactly() -> None:
    seen: list[WindowStats] = []
    async with RawServer(ok) as srv:
        gen = make(srv.url, rate_rps=300, window_s=0.25, on_window=seen.append)
        total = await gen.run(duration_s=1.0)
    assert len(seen) >= 4
    assert [w.index for w in seen] == list(range(len(seen)))
    assert sum(w.sent for w in seen) == total.sent == 300
    merged = LatencyHistogram()
    for w in seen:
        merged.merge(w.latency)
    assert merged == total.latency
    assert all(abs(w.sent - 75) <= 1 for w in seen[:4])


async def test_stop_event_ends_the_run() -> None:
    stop = asyncio.Event()
    async with RawServer(ok) as srv:
        gen = make(srv.url, rate_rps=100)
        asyncio.get_running_loop().call_later(0.3, stop.set)
        t0 = time.monotonic()
        total = await gen.run(stop=stop)
    assert time.monotonic() - t0 < 1.0
    assert 25 <= total.sent <= 35


async def test_windows_round_trip_json_exactly() -> None:
    async with RawServer(ok) as srv:
        total = await make(srv.url, rate_rps=100).run(duration_s=0.3)
    again = WindowStats.from_json(json.loads(json.dumps(total.to_json())))
    assert again.latency == total.latency
    assert again.metrics() == total.metrics()
