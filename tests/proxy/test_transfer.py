"""Byte-exact transfer through the proxy: 100 concurrent connections, with toxic churn."""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

from tests.proxy.conftest import Api, Echo

CONNS = 100
SIZE = 64 * 1024


async def _transfer(
    addr: tuple[str, int], seed: int, pause: float = 0.2, size: int = SIZE
) -> tuple[str, str]:
    rng = random.Random(seed)
    payload = rng.randbytes(size + rng.randrange(4096))
    reader, writer = await asyncio.open_connection(*addr)

    async def send() -> None:
        view = memoryview(payload)
        while view:
            n = rng.randrange(1, 8192)
            writer.write(view[:n])
            view = view[n:]
            await writer.drain()
            if rng.random() < pause:
                await asyncio.sleep(0.005)

    sender = asyncio.create_task(send())
    got = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
    await sender
    writer.close()
    return hashlib.sha256(payload).hexdigest(), hashlib.sha256(got).hexdigest()


async def test_100_connections_byte_exact_without_toxics(api: Api, echo_server: Echo) -> None:
    addr = await api.proxy(echo_server.addr)
    results = await asyncio.gather(*(_transfer(addr, i) for i in range(CONNS)))
    assert all(sent == got for sent, got in results)
    assert echo_server.connections == CONNS


@pytest.mark.slow
async def test_100_connections_byte_exact_while_toxics_churn(api: Api, echo_server: Echo) -> None:
    addr = await api.proxy(echo_server.addr)
    stop = asyncio.Event()
    changes = 0

    async def churn() -> None:
        nonlocal changes
        rng = random.Random(99)
        toxics = [
            {"type": "latency", "attributes": {"latency": 5, "jitter": 3}},
            {"type": "slicer", "attributes": {"average_size": 700, "size_variation": 300}},
            {"type": "noop"},
            {"type": "bandwidth", "attributes": {"rate": 50_000}},
        ]
        while not stop.is_set():
            spec = rng.choice(toxics)
            stream = rng.choice(["upstream", "downstream"])
            name = f"{spec['type']}_{stream}"
            r = await api.client.post("/proxies/p/toxics", json={**spec, "stream": stream})
            if r.status_code == 409:
                r = await api.client.delete(f"/proxies/p/toxics/{name}")
                assert r.status_code == 204
            else:
                assert r.status_code == 200, r.text
            changes += 1
            await asyncio.sleep(rng.uniform(0.001, 0.01))

    churner = asyncio.create_task(churn())
    try:
        results = await asyncio.gather(
            *(_transfer(addr, 1000 + i, pause=0.8, size=4 * SIZE) for i in range(CONNS))
        )
    finally:
        stop.set()
        await churner
    assert all(sent == got for sent, got in results)
    assert changes >= 5  # toxics really changed while bytes were in flight


@pytest.mark.slow
async def test_bytes_sent_before_the_upstream_connects_are_held_bounded(api: Api) -> None:
    """A full accept queue drops the proxy's SYN, so its upstream connect stalls ~1 s."""
    import socket

    from aichaos.proxy.link import EARLY_MAX

    upstream = socket.create_server(("127.0.0.1", 0), backlog=0)
    upstream.setblocking(False)
    port = upstream.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the accept queue (none accepted yet)
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    await asyncio.sleep(0.05)
    addr = await api.proxy(f"127.0.0.1:{port}")
    payload = random.Random(3).randbytes(1 << 20)
    _reader, writer = await asyncio.open_connection(*addr)
    writer.write(payload)
    await asyncio.sleep(0.3)
    (conn,) = api.app.store.get("p").conns
    assert conn.up is None  # still connecting
    held = conn.client.early_bytes
    assert 0 < held <= EARLY_MAX + 256 * 1024  # paused past the limit (one read may overshoot)
    for s in fillers:
        s.close()
    loop = asyncio.get_running_loop()
    got = b""
    deadline = loop.time() + 10
    while loop.time() < deadline:  # accept until the proxy's connection shows up
        try:
            peer, _ = upstream.accept()
        except BlockingIOError:
            await asyncio.sleep(0.02)
            continue
        peer.setblocking(False)
        try:
            while len(got) < len(payload) and loop.time() < deadline:
                try:
                    data = peer.recv(1 << 20)
                except BlockingIOError:
                    await asyncio.sleep(0.005)
                    continue
                if not data:
                    break
                got += data
        finally:
            peer.close()
        if got:
            break
    writer.close()
    upstream.close()
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
