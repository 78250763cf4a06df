"""``redis_stream`` between a real redis-server and a real redis-py consumer.

The producer writes straight to Redis; the consumer reads through the chaos proxy. What
the consumer observes is asserted, and what the broker holds (every entry, unchanged).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.proxy.conftest import Api

redis = pytest.importorskip("redis", reason="redis-py is in the 'data-test' extra")
if shutil.which("redis-server") is None:
    pytest.skip(
        "redis-server is missing (.ci/run installs Debian's redis-server)",
        allow_module_level=True,
    )

N = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A real redis-server on 127.0.0.1, no persistence, with N entries in stream 'events'."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--protected-mode", "yes"),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for i in range(N):  # the producer
            client.xadd("events", {"n": str(i), "payload": f"value-{i:04d}"})
        client.close()
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def consumer(api: Api, redis_port: int) -> AsyncIterator[Any]:
    """A redis.asyncio client that reaches Redis through proxy 'p'."""
    host, port = await api.proxy(f"127.0.0.1:{redis_port}")
    client = redis.asyncio.Redis(host=host, port=port)
    yield client
    await client.aclose()


async def _read(client: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    reply = await client.xread({"events": "0"}, count=10 * N)
    ((_name, entries),) = reply
    return [(ident, fields) for ident, fields in entries]


def _clean(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> bool:
    ns = [int(f[b"n"]) for _, f in entries]
    return ns == list(range(N)) and all(
        f[b"payload"] == f"value-{int(f[b'n']):04d}".encode() for _, f in entries
    )


@pytest.mark.parametrize(
    ("attributes", "check"),
    [
        ({"drop": 0.2}, "drop"),
        ({"duplicate": 0.2}, "duplicate"),
        ({"corrupt": 0.2}, "corrupt"),
        ({"reorder": 0.2}, "reorder"),
    ],
)
async def test_the_consumer_sees_the_fault_and_the_broker_keeps_every_entry(
    api: Api, consumer: Any, redis_port: int, attributes: dict[str, Any], check: str
) -> None:
    assert _clean(await _read(consumer))
    toxic = await api.toxic(type="redis_stream", stream="downstream", attributes=attributes)
    seen = await _read(consumer)
    ns = [int(f[b"n"]) if f.get(b"n", b"x").isdigit() else -1 for _, f in seen]
    if check == "drop":
        assert 0.1 * N < N - len(seen) < 0.3 * N and len(set(ns)) == len(seen)
    elif check == "duplicate":
        assert 0.1 * N < len(seen) - len(set(ns)) < 0.3 * N and set(ns) == set(range(N))
    elif check == "corrupt":
        bad = [f for _, f in seen if not _clean_fields(f)]
        assert len(seen) == N and 0.1 * N < len(bad) < 0.3 * N
    else:
        ids = [ident for ident, _ in seen]
        assert sorted(ns) == list(range(N)) and ns != sorted(ns)
        assert ids != sorted(ids, key=lambda i: tuple(map(int, i.split(b"-"))))
    direct = redis.Redis(port=redis_port)
    try:  # the broker still holds every entry, unchanged
        assert direct.xlen("events") == N
        assert _clean(direct.xrange("events"))
    finally:
        direct.close()
    r = await api.client.delete(f"/proxies/p/toxics/{toxic['name']}")
    assert r.status_code == 204
    assert _clean(await _read(consumer))  # reverted: the next read is whole and in order


def _clean_fields(f: dict[bytes, bytes]) -> bool:
    try:
        return f[b"payload"] == f"value-{int(f[b'n']):04d}".encode()
    except (KeyError, ValueError):
        return False


async def test_delay_holds_replies_with_entries_only(api: Api, consumer: Any) -> None:
    await api.toxic(type="redis_stream", stream="downstream", attributes={"delay": 300})
    t0 = time.monotonic()
    assert await consumer.ping()  # not a stream reply: not held
    ping_s = time.monotonic() - t0
    t0 = time.monotonic()
    assert _clean(await _read(consumer))
    read_s = time.monotonic() - t0
    assert ping_s < 0.25 and read_s >= 0.3


async def test_other_streams_and_commands_pass_untouched(
    api: Api, consumer: Any, redis_port: int
) -> None:
    await api.toxic(
        type="redis_stream",
        stream="downstream",
        attributes={"drop": 1.0, "key": "orders*"},
    )
    assert _clean(await _read(consumer))  # 'events' does not match 'orders*'
    await consumer.set("k", "v" * 10_000)
    assert await consumer.get("k") == b"v" * 10_000


def test_an_experiment_declares_it_and_a_typo_is_named() -> None:
    import re
    from pathlib import Path

    from aichaos.errors import ExperimentError
    from aichaos.experiment.loader import parse_experiment

    docs = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
    block = docs.split("## Streams: Redis Streams in flight", 1)[1]
    yaml_text = re.search(r"```yaml\n(.*?)```", block, re.S).group(1)  # type: ignore[union-attr]
    doc = "title: t\n" + yaml_text
    step = parse_experiment(doc.encode(), "e.yaml").experiment.method[0]
    assert step.fault.toxic == "redis_stream"
    with pytest.raises(ExperimentError, match="drp"):
        parse_experiment(doc.replace("drop:", "drp:").encode(), "e.yaml")


async def test_a_reply_half_received_when_the_toxic_goes_arrives_whole(api: Api) -> None:
    """A scripted RESP upstream sends half a stream reply, the toxic is removed, then the
    rest: the client gets every byte, in order."""
    import asyncio

    entries = [
        b"*2\r\n$%d\r\n%s\r\n*2\r\n$1\r\nn\r\n$%d\r\n%s\r\n"
        % (len(f"{i}-0"), f"{i}-0".encode(), len(str(i)), str(i).encode())
        for i in range(1, 200)
    ]
    reply = b"*%d\r\n" % len(entries) + b"".join(entries)
    half = len(reply) // 2
    rest = asyncio.Event()
    served: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(writer)
        await reader.readuntil(b"\r\n")
        writer.write(reply[:half])
        await writer.drain()
        await rest.wait()
        writer.write(reply[half:])
        await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    host, listen = await api.proxy(f"127.0.0.1:{port}", name="r")
    toxic = await api.toxic(proxy="r", type="redis_stream", stream="downstream", attributes={})
    reader, writer = await asyncio.open_connection(host, listen)
    try:
        writer.write(b"*1\r\n$6\r\nXRANGE\r\n")
        await writer.drain()
        await asyncio.sleep(0.3)  # the first half sits in the stage: a reply is not whole
        r = await api.client.delete(f"/proxies/r/toxics/{toxic['name']}")
        assert r.status_code == 204
        rest.set()
        got = await asyncio.wait_for(reader.readexactly(len(reply)), 5)
        assert got == reply
    finally:
        writer.close()
        await writer.wait_closed()
        for w in served:  # the upstream's side, before the loop goes
            w.close()
            await w.wait_closed()
        server.close()
        await server.wait_closed()
