"""Nothing lost through the HTTP layer: 1,000 connections of split HTTP/1.1 heads, bodies
and trailing junk, while HTTP and TCP toxics churn and the proxy's ``http`` mode toggles;
every byte is hash-compared at both ends (issue 19, item 1).

Client and server follow one script per connection, drawn from a seed the first request
line carries: the requests the client sends, the responses the server answers, and
maybe bytes that are not HTTP at the end (the server echoes them). Every message is
canonical, so a layer that forwards what no toxic changes must deliver it byte for byte;
none of the churning toxics changes a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time

import httpx
import pytest

from aichaos.proxy.server import ApiSite, ProxyApp
from tests.safety.conftest import raise_nofile

pytestmark = pytest.mark.slow

CONNECTIONS = 1000


def _script(seed: int) -> tuple[list[bytes], list[bytes], bytes]:
    """(requests, responses, junk) of one connection."""
    rng = random.Random(seed)
    requests, responses = [], []
    for i in range(rng.randint(1, 4)):
        path = f"/c/{seed}/{i}".encode()
        body = rng.randbytes(rng.choice([0, 10, 3000, 20_000]))
        kind = rng.choice(["get", "length", "chunked"])
        if kind == "get" or not body:
            req = b"GET %s HTTP/1.1\r\nHost: up\r\nX-Pad: %s\r\n\r\n" % (
                path,
                b"p" * rng.randint(0, 900),
            )
        elif kind == "length":
            req = b"POST %s HTTP/1.1\r\nHost: up\r\nContent-Length: %d\r\n\r\n%s" % (
                path,
                len(body),
                body,
            )
        else:
            req = (
                b"POST %s HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n%s0\r\n\r\n"
                % (
                    path,
                    _chunks(body, rng),
                )
            )
        requests.append(req)
        rbody = rng.randbytes(rng.choice([0, 50, 5000, 40_000]))
        rkind = rng.choice(["length", "chunked", "sse"])
        if rkind == "length":
            resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(rbody), rbody)
        elif rkind == "chunked":
            resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s0\r\n\r\n" % _chunks(
                rbody, rng
            )
        else:
            events = b"".join(b'data: {"t": %d}\n\n' % k for k in range(rng.randint(1, 6)))
            resp = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%s0\r\n\r\n" % _chunks(events, rng)
            )
        responses.append(resp)
    junk = rng.randbytes(rng.randint(1, 3000)) if rng.random() < 0.3 else b""
    return requests, responses, junk


def _chunks(body: bytes, rng: random.Random) -> bytes:
    out, i = [], 0
    while i < len(body):
        n = rng.randint(1, 9000)
        out.append(b"%x\r\n%s\r\n" % (len(body[i : i + n]), body[i : i + n]))
        i += n
    return b"".join(out)


async def _write_split(writer: asyncio.StreamWriter, data: bytes, rng: random.Random) -> None:
    """Write in random pieces, pausing now and then, so heads and lines split."""
    i = 0
    while i < len(data):
        n = rng.choice([1, 7, 40, 500, 4096, 65536])
        writer.write(data[i : i + n])
        i += n
        await writer.drain()
        if rng.random() < 0.3:
            await asyncio.sleep(rng.uniform(0, 0.01))


async def _server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        line = await reader.readuntil(b"\r\n")
        seed = int(line.split(b"/")[2])
        requests, responses, junk = _script(seed)
        rng = random.Random(-seed)
        got = line + await reader.readexactly(len(requests[0]) - len(line))
        for i, req in enumerate(requests):
            if i:
                got = await reader.readexactly(len(req))
            if got != req:
                writer.write(b"MISMATCH")  # the client sees it as a difference
                return
            await _write_split(writer, responses[i], rng)
        if junk:
            await _write_split(writer, await reader.readexactly(len(junk)), rng)
        await reader.read()  # until the client closes
    except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
        pass
    finally:
        writer.close()


async def _client(addr: tuple[str, int], seed: int, start: asyncio.Event) -> tuple[str, str]:
    requests, responses, junk = _script(seed)
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(*addr)
    await start.wait()
    expected = b"".join(responses) + junk
    received = bytearray()
    try:
        for req, resp in zip(requests, responses, strict=True):
            # idle between exchanges: where live connections move in and out of the layer
            await asyncio.sleep(rng.uniform(0, 0.6))
            await _write_split(writer, req, rng)
            received += await asyncio.wait_for(reader.readexactly(len(resp)), 60)
        if junk:
            await _write_split(writer, junk, rng)
            received += await asyncio.wait_for(reader.readexactly(len(junk)), 60)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return hashlib.sha256(expected).hexdigest(), hashlib.sha256(received).hexdigest()


async def _churn(api: httpx.AsyncClient, rng: random.Random, stop: asyncio.Event) -> int:
    """HTTP toxics that change no message, TCP toxics that lose nothing, ``http`` toggles."""
    kinds = [
        {"type": "http_error", "attributes": {"path": "/never"}},
        {
            "type": "json_corrupt",
            "attributes": {"path": "/never", "ops": [{"path": "a", "action": "null"}]},
        },
        {"type": "http_delay", "attributes": {"first_byte_ms": 1, "request_ms": 1}},
        {"type": "latency", "attributes": {"latency": 2, "jitter": 1}},
        {"type": "slicer", "attributes": {"average_size": 700, "size_variation": 300}},
    ]
    changes = 0
    while not stop.is_set():
        if rng.random() < 0.25:
            r = await api.post("/proxies/p", json={"http": rng.choice([True, False, None])})
            assert r.status_code == 200, r.text
        else:
            spec = rng.choice(kinds)
            stream = rng.choice(["upstream", "downstream"])
            name = f"{spec['type']}_{stream}"
            r = await api.post("/proxies/p/toxics", json={**spec, "stream": stream})
            if r.status_code == 409:
                r = await api.delete(f"/proxies/p/toxics/{name}")
                assert r.status_code == 204, r.text
            else:
                assert r.status_code == 200, r.text
        changes += 1
        await asyncio.sleep(rng.uniform(0.002, 0.02))
    return changes


async def test_http_bytes_arrive_exactly_while_toxics_and_http_mode_churn() -> None:
    raise_nofile(4 * CONNECTIONS + 512)
    server = await asyncio.start_server(_server, "127.0.0.1", 0, backlog=2048)
    app = ProxyApp(seed=9)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    try:
        async with httpx.AsyncClient(base_url=site.url, timeout=10) as api:
            upstream = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
            r = await api.post("/proxies", json={"name": "p", "upstream": upstream})
            assert r.status_code == 201
            host, port = r.json()["listen"].rsplit(":", 1)
            start, stop = asyncio.Event(), asyncio.Event()
            clients = [
                asyncio.create_task(_client((host, int(port)), seed, start))
                for seed in range(CONNECTIONS)
            ]
            churn = asyncio.create_task(_churn(api, random.Random(3), stop))
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            start.set()
            results = await asyncio.gather(*clients, return_exceptions=True)
            elapsed = time.monotonic() - t0
            stop.set()
            changes = await churn
        errors = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
        assert not errors, f"{len(errors)} connections failed, first (seed, error): {errors[0]!r}"
        differ = [i for i, (want, got) in enumerate(results) if want != got]  # type: ignore[misc]
        assert not differ, f"{len(differ)} of {CONNECTIONS} streams differ, e.g. seed {differ[0]}"
        assert changes >= 10, f"only {changes} changes during the transfer"
        proxy = app.store.get("p")
        assert proxy.http_switches > 0, "no connection moved in or out of the HTTP layer"
        print(
            f"{CONNECTIONS} connections, {changes} changes, {proxy.http_switches} switches in {elapsed:.1f}s"
        )
    finally:
        await site.stop()
        await app.close()
        server.close()
        await server.wait_closed()
