"""HTTP toxics reach keep-alive connections opened before them, and leave them after.

Every test opens its client connection first, on a proxy with no HTTP toxic ("http" not
set: auto), checks that it is one pooled connection, then adds and removes toxics.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
from collections.abc import AsyncIterator

import h11
import httpx
import pytest
import requests

from aichaos.proxy.proxy import Proxy
from tests.proxy.asgi_app import Seen
from tests.proxy.conftest import Api, Echo


def _proxy(api: Api) -> Proxy:
    return api.app.store.get("p")


def _modes(api: Api) -> list[str]:
    return sorted(c.http.mode for c in _proxy(api).conns if c.http is not None)


async def _wait_mode(api: Api, mode: str) -> None:
    for _ in range(200):
        if _modes(api) == [mode]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"connection modes {_modes(api)}, expected [{mode!r}]")


@pytest.fixture
async def auto(api: Api, upstream: tuple[str, Seen]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client (one pooled connection) through a proxy in auto mode."""
    host, port = await api.proxy(upstream[0])
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(
        base_url=f"http://{host}:{port}", timeout=10, limits=limits
    ) as client:
        assert (await client.get("/v1/models")).status_code == 200
        assert _modes(api) == ["tracked"]
        yield client


async def test_http_error_reaches_a_pooled_connection_opened_before_it(
    api: Api, auto: httpx.AsyncClient, upstream: tuple[str, Seen]
) -> None:
    await api.toxic(type="http_error", attributes={"status": 503})
    assert _modes(api) == ["layer"]  # idle connection: switched at once
    r = await auto.get("/v1/models")
    assert r.status_code == 503
    assert (await api.client.delete("/proxies/p/toxics/http_error_downstream")).status_code == 204
    assert _modes(api) == ["tracked"]
    assert (await auto.get("/v1/models")).status_code == 200
    proxy = _proxy(api)
    assert proxy.connections_total == 1  # the same keep-alive connection throughout
    assert upstream[1].paths == ["/v1/models", "/v1/models"]  # the 503 never went upstream
    assert proxy.requests_upstream == 2  # counted while tracked and in the layer alike
    metrics = (await api.client.get("/metrics")).text
    assert 'aichaos_proxy_http_switches_total{proxy="p"} 2' in metrics


async def test_http_delay_and_json_corrupt_reach_a_pooled_connection(
    api: Api, auto: httpx.AsyncClient
) -> None:
    await api.toxic(type="http_delay", attributes={"first_byte_ms": 200})
    start = time.perf_counter()
    assert (await auto.get("/v1/models")).status_code == 200
    assert time.perf_counter() - start >= 0.2
    await api.client.delete("/proxies/p/toxics/http_delay_downstream")
    await api.toxic(
        type="json_corrupt", attributes={"ops": [{"path": "predictions.*.score", "action": "nan"}]}
    )
    doc = json.loads((await auto.post("/v1/predict", json={"n": 2})).content)
    assert all(math.isnan(p["score"]) for p in doc["predictions"])
    await api.client.delete("/proxies/p/toxics/json_corrupt_downstream")
    start = time.perf_counter()
    doc = (await auto.post("/v1/predict", json={"n": 2})).json()
    assert doc["predictions"][0]["score"] == 0.9
    assert time.perf_counter() - start < 0.2
    assert _proxy(api).connections_total == 1


async def test_requests_session_sees_the_toxic_and_then_not(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    host, port = await api.proxy(upstream[0])
    url = f"http://{host}:{port}/v1/models"
    with requests.Session() as session:

        def get() -> int:
            return session.get(url, timeout=10).status_code

        assert await asyncio.to_thread(get) == 200
        await api.toxic(type="http_error", attributes={"preset": "openai_rate_limit"})
        assert await asyncio.to_thread(get) == 429
        await api.client.post("/reset")
        assert await asyncio.to_thread(get) == 200
    assert _proxy(api).connections_total == 1


async def test_http_false_never_parses(api: Api, upstream: tuple[str, Seen]) -> None:
    host, port = await api.proxy(upstream[0], http=False)
    assert (await api.client.get("/proxies/p")).json()["http"] is False
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
        await api.toxic(type="http_error", attributes={"status": 503})
        assert (await client.get("/v1/models")).status_code == 200
    toxic = (await api.client.get("/proxies/p/toxics/http_error_downstream")).json()
    assert toxic["stats"]["seen"] == 0
    assert _proxy(api).requests_upstream == 0


async def test_patching_http_moves_live_connections(
    api: Api, auto: httpx.AsyncClient, upstream: tuple[str, Seen]
) -> None:
    r = await api.client.post("/proxies/p", json={"http": True})
    assert r.status_code == 200 and r.json()["http"] is True
    assert _modes(api) == ["layer"]
    r = await api.client.post("/proxies/p", json={"http": None})
    assert r.json()["http"] is None
    assert _modes(api) == ["tracked"]
    r = await api.client.post("/proxies/p", json={"http": "sometimes"})
    assert r.status_code == 400 and "http must be true, false, null" in r.json()["error"]
    assert (await auto.get("/v1/models")).status_code == 200


async def test_non_http_connection_stays_raw_and_exact(
    api: Api, echo_server: Echo, connect: object
) -> None:
    addr = await api.proxy(echo_server.addr)
    reader, writer = await asyncio.open_connection(*addr)
    payload = random.Random(5).randbytes(200_000)
    writer.write(b"\x00binary" + payload[:1000])
    got = await asyncio.wait_for(reader.readexactly(1007), 5)
    assert _modes(api) == ["raw"]
    await api.toxic(type="http_error", attributes={"status": 503})
    writer.write(payload[1000:])
    got += await asyncio.wait_for(reader.readexactly(len(payload) - 1000), 5)
    assert got == b"\x00binary" + payload
    assert _modes(api) == ["raw"]
    writer.close()


async def test_head_request_leaves_the_connection_raw(api: Api, auto: httpx.AsyncClient) -> None:
    assert (await auto.head("/v1/models")).status_code == 200
    assert _modes(api) == ["raw"]
    assert (await auto.get("/v1/models")).status_code == 200  # still forwarded exactly


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode()


def _responses(data: bytes, n: int) -> list[tuple[int, bytes]]:
    """Parse exactly n responses from data with h11 (a strict client-side parser)."""
    if not data:
        raise AssertionError("no data yet")  # h11 takes b"" for the end of the stream
    conn = h11.Connection(h11.CLIENT)
    out: list[tuple[int, bytes]] = []
    for i in range(n):
        conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        conn.send(h11.EndOfMessage())
        if i == 0:
            conn.receive_data(data)
        status, body = 0, b""
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"unexpected {event!r} after {len(out)} responses")
        out.append((status, body))
        conn.start_next_cycle()
    return out


async def _read_responses(
    reader: asyncio.StreamReader, n: int, head: bytes = b""
) -> list[tuple[int, bytes]]:
    data = head
    for _ in range(500):
        try:
            return _responses(data, n)
        except AssertionError:
            more = await asyncio.wait_for(reader.read(65536), 5)
            assert more, "connection closed early"
            data += more
    raise AssertionError("responses never completed")


async def test_pipelined_requests_survive_a_switch(
    api: Api, upstream: tuple[str, Seen], connect: object
) -> None:
    host, port = await api.proxy(upstream[0])
    reader, writer = await asyncio.open_connection(host, port)
    # three pipelined requests in one write; the first streams for ~50 ms
    writer.write(_request("/v1/stream") + _request("/v1/models") + _request("/v1/models"))
    first = await asyncio.wait_for(reader.read(100), 5)
    assert first.startswith(b"HTTP/1.1 200")
    await api.toxic(type="http_error", attributes={"status": 503})
    assert _modes(api) == ["tracked"]  # mid-exchange: the switch waits
    got = await _read_responses(reader, 3, first)
    assert [s for s, _ in got] == [200, 200, 200]
    assert got[0][1].count(b"data: ") == 6 and got[0][1].endswith(b"data: [DONE]\n\n")
    assert json.loads(got[1][1]) == json.loads(got[2][1]) == {"data": [{"id": "m1"}]}
    await _wait_mode(api, "layer")
    writer.write(_request("/v1/models") + _request("/v1/models"))  # pipelined into the layer
    assert [s for s, _ in await _read_responses(reader, 2)] == [503, 503]
    await api.client.delete("/proxies/p/toxics/http_error_downstream")
    await _wait_mode(api, "tracked")
    writer.write(_request("/v1/models"))
    assert [s for s, _ in await _read_responses(reader, 1)] == [200]
    writer.close()


async def _stream(client: httpx.AsyncClient, during: object = None) -> list[str]:
    lines: list[str] = []
    async with client.stream("GET", "/v1/stream") as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line:
                lines.append(line)
                if len(lines) == 1 and during is not None:
                    await during  # type: ignore[misc]
    return lines


async def test_sse_stream_is_not_broken_by_switches(api: Api, auto: httpx.AsyncClient) -> None:
    stall = {"type": "stream_stall", "attributes": {"after_events": 2, "stall_ms": 300}}
    # added mid-stream: this stream passes untouched, the next one stalls
    lines = await _stream(auto, api.toxic(**stall))
    assert len(lines) == 6 and lines[-1] == "data: [DONE]"
    await _wait_mode(api, "layer")
    start = time.perf_counter()
    assert len(await _stream(auto)) == 6
    assert time.perf_counter() - start >= 0.3
    # removed mid-stream (inside the layer): the stream completes, then the layer leaves
    removal = api.client.delete("/proxies/p/toxics/stream_stall_downstream")
    start = time.perf_counter()
    lines = await _stream(auto, removal)
    assert len(lines) == 6 and lines[-1] == "data: [DONE]"
    assert time.perf_counter() - start < 0.3
    await _wait_mode(api, "tracked")
    assert (await auto.get("/v1/models")).status_code == 200
    assert _proxy(api).connections_total == 1


@pytest.mark.slow
async def test_byte_exact_http_traffic_while_http_and_tcp_toxics_churn(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    host, port = await api.proxy(upstream[0])
    base = f"http://{host}:{port}"
    stop = asyncio.Event()
    changes = 0

    async def churn() -> None:
        nonlocal changes
        rng = random.Random(7)
        # none of them changes a response: only the path the bytes take changes
        toxics = [
            {"type": "http_error", "attributes": {"status": 503, "headers": {"x-never": "*"}}},
            {"type": "http_delay", "attributes": {"first_byte_ms": 1}},
            {"type": "latency", "attributes": {"latency": 2, "jitter": 1}},
            {"type": "slicer", "attributes": {"average_size": 900, "size_variation": 400}},
        ]
        while not stop.is_set():
            spec = rng.choice(toxics)
            stream = rng.choice(["upstream", "downstream"])
            name = f"{spec['type']}_{stream}"
            r = await api.client.post("/proxies/p/toxics", json={**spec, "stream": stream})
            if r.status_code == 409:
                await api.client.delete(f"/proxies/p/toxics/{name}")
            changes += 1
            await asyncio.sleep(rng.uniform(0.002, 0.02))

    async def worker(seed: int) -> int:
        rng = random.Random(seed)
        ok = 0
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            for _ in range(25):
                payload = rng.randbytes(rng.randrange(1, 48_000))
                r = await client.post("/echo", content=payload)
                assert r.status_code == 200
                assert hashlib.sha256(r.content).digest() == hashlib.sha256(payload).digest()
                ok += 1
        return ok

    churner = asyncio.create_task(churn())
    try:
        done = await asyncio.gather(*(worker(i) for i in range(8)))
    finally:
        stop.set()
        await churner
    assert done == [25] * 8
    assert changes >= 10
    proxy = _proxy(api)
    assert proxy.connections_total == 8  # keep-alive held through every switch
    assert proxy.http_switches >= 4  # connections really moved in and out of the layer


async def test_a_connection_opened_under_a_toxic_works_after_it_is_removed(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    """Reported from the MLflow tests: a keep-alive connection opened while http_error was
    on hung after the toxic was deleted. It must get 200 on the same connection."""
    host, port = await api.proxy(upstream[0])
    await api.toxic(type="http_error", attributes={"status": 503})
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=5, limits=limits) as c:
        assert (await c.get("/v1/models")).status_code == 503
        assert (await c.get("/v1/models")).status_code == 503
        assert (
            await api.client.delete("/proxies/p/toxics/http_error_downstream")
        ).status_code == 204
        assert (await c.get("/v1/models")).status_code == 200
        assert (await c.get("/v1/models")).status_code == 200
    assert _proxy(api).connections_total == 1
