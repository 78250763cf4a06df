"""A run talks to each proxy control API over one client (one kept-alive connection).

Building a client per apply, renewal and revert cost tens of milliseconds of the event
loop each time, between a guardrail breach and the toxic's removal. A counting TCP relay
in front of a real ``aichaos proxy`` API shows what the engine really opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.engine.test_proxy_steps import Proxy, proxy, run, write

pytestmark = pytest.mark.slow
__all__ = ["proxy"]  # the fixture, imported for use here


class Relay:
    """Forwards 127.0.0.1:<port> to ``upstream`` and counts accepted connections."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.accepted = 0
        #: the bytes clients sent, in order (request lines show what was asked)
        self.sent = bytearray()
        self.writers: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(self._close_all())
        self.loop.close()

    async def _close_all(self) -> None:
        for writer in self.writers:
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in self.writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)
        up_r, up_w = await asyncio.open_connection(*self.upstream)
        self.writers.append(up_w)

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool = False
        ) -> None:
            try:
                while data := await src.read(65536):
                    if record:
                        self.sent += data
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w, record=True), pipe(up_r, writer))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def relay(proxy: Proxy) -> Iterator[Relay]:
    r = Relay(proxy.api)
    r.thread.start()
    assert r.ready.wait(5)
    yield r
    r.stop()


def test_apply_renewals_and_revert_share_one_connection(
    tmp_path: Path, http_server: Server, proxy: Proxy, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))
    api = f"http://127.0.0.1:{relay.port}"
    exp = write(
        tmp_path,
        f"""
title: one client per proxy API
targets:
  api: {{type: http, url: "http://{proxy.listen}"}}
  dep: {{type: proxy, api_url: "{api}", proxy: api}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1}}
steady_state: ['health.ok == 1']
method:
  - {{name: slow, fault: {{type: proxy-latency, latency_ms: 5}}, target: dep, duration_s: 1}}
phases: {{baseline_s: 0.3, recovery_s: 0.2}}
safety: {{guardrail_interval_s: 0.1, ttl_s: 2}}
""",
    )
    code, events, _summary = run(tmp_path, exp)
    assert code == 0, events[-1]
    kinds = [e["event"] for e in events]
    assert kinds.count("fault-applied") == kinds.count("fault-reverted") == 1
    assert httpx.get(f"{proxy.api}/proxies/api/toxics").json() == []
    # the preflight, apply, about ten renewals and the revert: one connection, not one
    # per call; the preflight asked the API before anything was applied
    assert relay.accepted == 1
    assert bytes(relay.sent).startswith(b"GET /version ")
    assert b"POST /proxies/api/toxics " in relay.sent


def test_a_run_finds_a_refused_token_before_the_baseline(tmp_path: Path) -> None:
    # A proxy API that wants a token, and a run whose token is wrong: the preflight of a
    # real run (not only --dry-run) asks the API and stops before anything is injected.
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "proxy", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "AICHAOS_TOKEN": "right-token"},
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"API on (http://\S+)", proc.stdout.readline())
        assert m
        exp = write(
            tmp_path,
            f"""
title: a wrong token
targets:
  dep: {{type: proxy, api_url: "{m.group(1)}", proxy: api, token_env: MY_PROXY_TOKEN}}
probes:
  p: {{type: python, call: "os:getpid"}}
steady_state: ['p.value > 0']
method:
  - {{name: slow, fault: {{type: proxy-latency, latency_ms: 5}}, target: dep, duration_s: 1}}
phases: {{baseline_s: 0.3, recovery_s: 0.2}}
""",
        )
        code, events, summary = run(tmp_path, exp, env={"MY_PROXY_TOKEN": "wrong-token"})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert (code, summary["status"]) == (5, "error"), summary
    assert "targets.dep: " in summary["reason"]
    assert "/version refused the run's token (HTTP 401)" in summary["reason"]
    kinds = [e["event"] for e in events]
    assert "phase" not in kinds and "fault-applied" not in kinds
