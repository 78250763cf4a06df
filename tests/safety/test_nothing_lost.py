"""Nothing lost: bytes through a churning proxy, and a journal under SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aichaos.engine.journal import read_journal
from aichaos.proxy.server import ApiSite, ProxyApp
from tests.conftest import Server
from tests.safety.conftest import fd_targets, open_fds, raise_nofile

CONNECTIONS = 1000
MAX_BYTES = 48 * 1024


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _client(
    addr: tuple[str, int], payload: bytes, rng: random.Random, start: asyncio.Event
) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection(*addr)
    try:
        await start.wait()  # every connection is open before any byte moves

        async def send() -> None:
            view = memoryview(payload)
            while view:
                n = rng.randint(1, 4096)
                writer.write(view[:n])
                view = view[n:]
                await writer.drain()
                # paced, so the transfer spans seconds of toxic churn
                await asyncio.sleep(rng.uniform(0, 0.2))

        sender = asyncio.create_task(send())
        got = await asyncio.wait_for(reader.readexactly(len(payload)), 45)
        await sender
        return hashlib.sha256(payload).hexdigest(), hashlib.sha256(got).hexdigest()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _churn(api: httpx.AsyncClient, rng: random.Random, stop: asyncio.Event) -> int:
    """Add and remove toxics that must not lose data, as fast as the API answers."""
    changes = 0
    live: list[str] = []
    kinds = [
        ("latency", lambda: {"latency": rng.randint(0, 5), "jitter": rng.randint(0, 3)}),
        ("slicer", lambda: {"average_size": rng.randint(512, 4096), "size_variation": 256}),
        ("bandwidth", lambda: {"rate": rng.randint(20_000, 100_000)}),
        ("noop", lambda: {}),
    ]
    while not stop.is_set():
        if live and (len(live) >= 4 or rng.random() < 0.5):
            name = live.pop(rng.randrange(len(live)))
            r = await api.delete(f"/proxies/p/toxics/{name}")
            assert r.status_code == 204, r.text
        else:
            kind, attrs = rng.choice(kinds)
            name = f"{kind}-{changes}"
            body = {
                "name": name,
                "type": kind,
                "stream": rng.choice(["upstream", "downstream"]),
                "toxicity": rng.choice([0.5, 1.0]),
                "attributes": attrs(),
            }
            r = await api.post("/proxies/p/toxics", json=body)
            assert r.status_code == 200, r.text
            live.append(name)
        changes += 1
        await asyncio.sleep(rng.uniform(0.002, 0.02))
    return changes


@pytest.mark.slow
async def test_every_byte_arrives_in_order_while_toxics_churn() -> None:
    raise_nofile(4 * CONNECTIONS + 512)
    rng = random.Random(20240607)
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0, backlog=2048)
    app = ProxyApp(seed=5)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    async with httpx.AsyncClient(base_url=site.url, timeout=10) as api:
        upstream = f"127.0.0.1:{echo.sockets[0].getsockname()[1]}"
        r = await api.post("/proxies", json={"name": "p", "upstream": upstream})
        assert r.status_code == 201
        host, port = r.json()["listen"].rsplit(":", 1)
        # one warm-up connection through a toxic, so lazily created loop resources
        # (the toxics' timerfd) exist before counting
        await api.post(
            "/proxies/p/toxics", json={"name": "w", "type": "latency", "attributes": {"latency": 1}}
        )
        assert await _client((host, int(port)), b"warm", rng, _set(asyncio.Event()))
        await api.delete("/proxies/p/toxics/w")
        fds_before = open_fds()
        targets_before = fd_targets()

        start, stop = asyncio.Event(), asyncio.Event()
        payloads = [rng.randbytes(rng.randint(0, MAX_BYTES)) for _ in range(CONNECTIONS)]
        clients = [
            asyncio.create_task(_client((host, int(port)), p, random.Random(i), start))
            for i, p in enumerate(payloads)
        ]
        churn = asyncio.create_task(_churn(api, random.Random(1), stop))
        await asyncio.sleep(0.5)  # let every connection be accepted
        t0 = time.monotonic()
        start.set()
        results = await asyncio.gather(*clients, return_exceptions=True)
        elapsed = time.monotonic() - t0
        stop.set()
        changes = await churn
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, f"{len(errors)} connections failed, first: {errors[0]!r}"
        mismatched = sum(sent != got for sent, got in results)  # type: ignore[misc]
        assert mismatched == 0, f"{mismatched} of {CONNECTIONS} streams differ"
        assert changes >= 25, f"only {changes} toxic changes happened during the transfer"
        print(
            f"{CONNECTIONS} connections, {sum(map(len, payloads))} bytes each way, "
            f"{changes} toxic changes in {elapsed:.1f}s"
        )

        proxy = app.store.get("p")
        for _ in range(100):  # closes land asynchronously: up to 5 s
            if not proxy.conns and open_fds() <= fds_before:
                break
            await asyncio.sleep(0.05)
        assert not proxy.conns, f"{len(proxy.conns)} proxy connections still open"
        new = {fd: t for fd, t in fd_targets().items() if targets_before.get(fd) != t}
        assert open_fds() <= fds_before, f"fd leak: {fds_before} -> {open_fds()}: {new}"
    await site.stop()
    await app.close()
    echo.close()
    await echo.wait_closed()


def _set(event: asyncio.Event) -> asyncio.Event:
    event.set()
    return event


# -- the journal under SIGKILL ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_journal_survives_sigkill_at_a_random_moment(
    tmp_path: Path, http_server: Server, seed: int
) -> None:
    delay = random.Random(seed).uniform(0.3, 2.0)  # somewhere in baseline or injection
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"""
title: sigkill journal
seed: {seed}
targets:
  api: {{type: http, url: "{http_server.url}"}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.01}}
workload: {{type: http, target: api, path: /health, rate_rps: 200, window_s: 0.05}}
method:
  - fault: {{type: python-callable, apply: "time:time"}}
    duration_s: 2
phases: {{baseline_s: 0.5, recovery_s: 0.5}}
safety: {{guardrail_interval_s: 0.05, ttl_s: 2}}
"""
    )
    journal = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stderr is not None
    proc.stderr.close()
    raw = journal.read_bytes()
    lines = raw.split(b"\n")
    complete, torn = lines[:-1], lines[-1]
    assert len(complete) >= 2, f"killed after {delay:.2f}s with only {len(complete)} events"
    for line in complete:
        json.loads(line)  # every complete line is valid JSON
    events = list(read_journal(journal))
    assert len(events) == len(complete)
    assert events[0]["event"] == "run-started"
    assert events[-1]["event"] != "run-ended"  # it really was cut short
    assert not journal.with_name("run.summary.json").exists()
    assert torn == b"" or not torn.endswith(b"\n")
