"""Probes against a real HTTP service and real processes."""

from __future__ import annotations

import asyncio
import math
import subprocess
import time

import pytest

from aichaos.errors import ProbeError, TargetError, ValidationError
from aichaos.jsonpath import JsonPath
from aichaos.probes.base import PROBES, ProbeContext
from aichaos.targets import HttpTarget, ProcessTarget
from tests.conftest import Server, process_state, wait_state


def ctx(**targets: object) -> ProbeContext:
    return ProbeContext(targets=targets, timeout_s=2.0)


def probe(kind: str, **kw: object):  # type: ignore[no-untyped-def]
    return PROBES.get(kind).model_validate(kw)


async def test_http_probe_status_latency_and_json_field(http_server: Server) -> None:
    c = ctx(api=HttpTarget(url=http_server.url))
    try:
        ok = await probe("http", target="api", path="/health", json_field="$.score").measure(c)
        assert ok["ok"] == 1 and ok["status"] == 200 and ok["value"] == pytest.approx(0.95)
        assert 0 < ok["latency_ms"] < 1000
        bad = await probe("http", target="api", path="/fail").measure(c)
        assert bad["ok"] == 0 and bad["status"] == 500
        missing = await probe("http", target="api", path="/health", json_field="$.nope").measure(c)
        assert missing["ok"] == 0 and "value" not in missing
    finally:
        await c.aclose()


async def test_http_probe_unreachable_is_a_measurement() -> None:
    c = ctx(api=HttpTarget(url="http://127.0.0.1:9"))
    try:
        out = await probe("http", target="api").measure(c)
    finally:
        await c.aclose()
    assert out["ok"] == 0 and out["status"] == 0 and out["error"] == 1
    assert out["latency_ms"] >= 2000  # a failed sample is at least as slow as its timeout


async def test_http_probe_timeout_is_a_measurement(http_server: Server) -> None:
    c = ctx(api=HttpTarget(url=http_server.url))
    try:
        out = await probe("http", target="api", path="/slow", timeout_s=0.05).measure(c)
    finally:
        await c.aclose()
    assert out["ok"] == 0 and out["timeout"] == 1 and out["error"] == 1


async def test_prometheus_probe_sums_matching_series(http_server: Server) -> None:
    c = ctx(api=HttpTarget(url=http_server.url))
    try:
        for _ in range(3):
            await c.client().get(http_server.url + "/health")
        acc = await probe("prometheus", target="api", metric="model_accuracy").measure(c)
        assert acc == {"up": 1.0, "series": 1.0, "value": pytest.approx(0.93)}
        hits = await probe(
            "prometheus", target="api", metric="requests_total", labels={"path": "/health"}
        ).measure(c)
        assert hits["value"] == 3
        none = await probe("prometheus", target="api", metric="nope_total").measure(c)
        assert none == {"up": 1.0, "series": 0.0}
        with pytest.raises(ProbeError, match="is not Prometheus text"):
            await probe("prometheus", target="api", path="/health", metric="x").measure(c)
    finally:
        await c.aclose()


async def test_process_probe(sleeper: subprocess.Popen[str]) -> None:
    import os
    import signal

    c = ctx(p=ProcessTarget(pid=sleeper.pid), gone=ProcessTarget(pid=2**22 - 3))
    out = await probe("process", target="p").measure(c)
    assert out["alive"] == 1 and out["count"] == 1 and out["rss_mb"] > 0 and out["stopped"] == 0
    os.kill(sleeper.pid, signal.SIGSTOP)
    try:
        assert wait_state(sleeper.pid, stopped=True)
        assert (await probe("process", target="p").measure(c))["stopped"] == 1
    finally:
        os.kill(sleeper.pid, signal.SIGCONT)
    assert (await probe("process", target="gone").measure(c))["alive"] == 0
    os.kill(sleeper.pid, signal.SIGKILL)
    for _ in range(200):  # bounded: the kill lands at once, /proc follows shortly
        if process_state(sleeper.pid) == "Z":
            break
        await asyncio.sleep(0.01)
    assert process_state(sleeper.pid) == "Z"  # dead, not reaped: this test is its parent
    assert (await probe("process", target="p").measure(c))["alive"] == 0


async def test_process_target_by_match(sleeper: subprocess.Popen[str]) -> None:
    assert sleeper.pid in ProcessTarget(match=r"^sleep 300").resolve()
    with pytest.raises(TargetError, match="no running process"):
        ProcessTarget(match=r"^no-such-command-xyz").resolve()


async def test_python_probe_coerces_and_rejects() -> None:
    c = ctx()
    assert await probe(
        "python", call="tests.engine.system:divide", arguments={"a": 8, "b": 2}
    ).measure(c) == {"value": 4.0}
    with pytest.raises(ValidationError, match="cannot import module"):
        await probe("python", call="no_such_mod:f").measure(c)
    with pytest.raises(ProbeError, match="must return"):
        await probe("python", call="os:getcwd").measure(c)


async def test_probe_target_checks() -> None:
    c = ctx(p=ProcessTarget(pid=1))
    with pytest.raises(TargetError, match="expected 'http'"):
        await probe("http", target="p").measure(c)
    with pytest.raises(TargetError, match="unknown target"):
        await probe("http", target="zz").measure(c)


@pytest.mark.parametrize(
    ("path", "doc", "value"),
    [
        ("$", 5, 5),
        ("$.a", {"a": 1}, 1),
        ("$.a.b[1]", {"a": {"b": [0, 7]}}, 7),
        ("$['odd key'][0]", {"odd key": [3]}, 3),
        ("$.predictions[0].score", {"predictions": [{"score": 0.5}]}, 0.5),
    ],
)
def test_jsonpath(path: str, doc: object, value: object) -> None:
    assert JsonPath.parse(path).get(doc) == value


@pytest.mark.parametrize("path", ["a.b", "$..a", "$.a[*]", "$.a[", "$[-1]", "$.a.[0]"])
def test_jsonpath_rejects_what_it_does_not_support(path: str) -> None:
    with pytest.raises(ValidationError, match=r"must start with|is not understood"):
        JsonPath.parse(path)


def test_http_probe_validates_json_field_at_load() -> None:
    from pydantic import ValidationError as PydanticError

    with pytest.raises(PydanticError, match="json_field must start with"):
        probe("http", target="api", json_field="score")
    assert math.isfinite(1.0)


async def test_http_probe_timeout_is_one_deadline_for_the_whole_exchange() -> None:
    # a server that trickles its answer, one byte every 50 ms: each read is quick, the
    # whole exchange is not
    handlers: list[asyncio.Task[object]] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass  # the probe gave up and dropped the connection
        finally:
            writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    c = ctx(api=HttpTarget(url=f"http://127.0.0.1:{port}"))
    try:
        t0 = time.monotonic()
        out = await probe("http", target="api", timeout_s=0.3).measure(c)
        took = time.monotonic() - t0
    finally:
        await c.aclose()
        server.close()
        # the handler would trickle on past the test's loop and be destroyed pending
        # (an unraisable "loop is closed" warning that fails a later test)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
    assert took < 1.0
    assert out["ok"] == 0 and out["timeout"] == 1 and out["error"] == 1
    assert out["latency_ms"] >= 300
