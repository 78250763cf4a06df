"""Every TCP toxic against a real echo server, with timing tolerances."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.proxy.conftest import Api, Echo, read_exactly

# loop and scheduler noise on a shared 2-core machine
TOL = 0.06


async def rtt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> float:
    start = time.perf_counter()
    writer.write(data)
    assert await read_exactly(reader, len(data)) == data
    return time.perf_counter() - start


async def test_no_toxic_echoes(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    assert await rtt(reader, writer, b"hello") < 0.05


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
async def test_latency_each_stream(api: Api, echo_server: Echo, connect, stream: str) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="latency", stream=stream, attributes={"latency": 100})
    took = await rtt(reader, writer, b"ping")
    assert 0.1 <= took < 0.1 + TOL


async def test_latency_both_streams_add_up(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="latency", stream="upstream", attributes={"latency": 60})
    await api.toxic(type="latency", stream="downstream", attributes={"latency": 60})
    took = await rtt(reader, writer, b"ping")
    assert 0.12 <= took < 0.12 + TOL


async def test_latency_pipelines_a_burst(api: Api, echo_server: Echo, connect) -> None:
    """Ten writes in a row arrive ~latency after they were sent, not 10 x latency."""
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="latency", attributes={"latency": 100})
    start = time.perf_counter()
    for i in range(10):
        writer.write(bytes([i]) * 10)
        await asyncio.sleep(0.005)
    await read_exactly(reader, 100)
    assert time.perf_counter() - start < 0.1 + 0.05 + TOL


async def test_latency_jitter_stays_in_band(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="latency", attributes={"latency": 50, "jitter": 30})
    times = [await rtt(reader, writer, b"j") for _ in range(8)]
    assert all(0.019 <= t < 0.08 + TOL for t in times)
    assert max(times) - min(times) > 0.005  # jitter really varies


async def test_bandwidth_limits_rate(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="bandwidth", attributes={"rate": 200})  # 200 KB/s
    payload = b"b" * 100_000
    took = await rtt(reader, writer, payload)
    assert 0.45 <= took < 0.5 + 0.15


async def test_slow_close_delays_the_close(api: Api, connect) -> None:
    async def greeter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greeter, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        addr = await api.proxy(f"127.0.0.1:{port}")
        await api.toxic(type="slow_close", attributes={"delay": 300})
        reader, _ = await connect(addr)
        start = time.perf_counter()
        assert await read_exactly(reader, 3) == b"bye"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.3 <= time.perf_counter() - start < 0.3 + TOL


async def test_timeout_drops_data_then_closes(api: Api, echo_server: Echo, connect) -> None:
    addr = await api.proxy(echo_server.addr)
    await api.toxic(type="timeout", stream="upstream", attributes={"timeout": 200})
    reader, writer = await connect(addr)
    start = time.perf_counter()
    writer.write(b"lost")
    assert await asyncio.wait_for(reader.read(100), 5) == b""
    assert 0.2 <= time.perf_counter() - start < 0.2 + TOL


async def test_timeout_zero_holds_until_removed(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    writer.write(b"dropped")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(100), 0.3)
    assert (await api.client.delete("/proxies/p/toxics/timeout_upstream")).status_code == 204
    assert await rtt(reader, writer, b"after") < 0.1


async def test_reset_peer_sends_rst_after_timeout(api: Api, echo_server: Echo, connect) -> None:
    addr = await api.proxy(echo_server.addr)
    await api.toxic(type="reset_peer", attributes={"timeout": 150})
    reader, _writer = await connect(addr)
    start = time.perf_counter()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(100), 5)
    assert 0.15 <= time.perf_counter() - start < 0.15 + TOL


async def test_reset_peer_on_open_connection_is_rst_not_fin(
    api: Api, echo_server: Echo, connect
) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await rtt(reader, writer, b"open")
    await api.toxic(type="reset_peer", attributes={"timeout": 0})
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(100), 5)


async def test_reset_peer_toxicity_zero_never_resets(api: Api, echo_server: Echo, connect) -> None:
    addr = await api.proxy(echo_server.addr)
    await api.toxic(type="reset_peer", toxicity=0.0, attributes={"timeout": 0})
    for _ in range(10):
        reader, writer = await connect(addr)
        assert await rtt(reader, writer, b"alive") < 0.1


async def test_slicer_cuts_into_small_reads(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(
        type="slicer", attributes={"average_size": 10, "size_variation": 5, "delay": 2000}
    )
    payload = bytes(range(256)) * 4
    writer.write(payload)
    reads = []
    got = b""
    while len(got) < len(payload):
        piece = await asyncio.wait_for(reader.read(4096), 5)
        assert piece
        reads.append(piece)
        got += piece
    assert got == payload
    assert len(reads) > 20  # 1024 bytes in ~10-byte slices, 2 ms apart


async def test_limit_data_closes_after_n_bytes(api: Api, echo_server: Echo, connect) -> None:
    addr = await api.proxy(echo_server.addr)
    await api.toxic(type="limit_data", attributes={"bytes": 10})
    reader, writer = await connect(addr)
    writer.write(b"x" * 100)
    got = await asyncio.wait_for(reader.read(), 5)
    assert got == b"x" * 10


async def test_noop_passes_bytes(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="noop")
    assert await rtt(reader, writer, b"n" * 1000) < 0.1


async def test_removing_a_toxic_frees_a_stuck_stream_at_once(
    api: Api, echo_server: Echo, connect
) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr))
    await api.toxic(type="latency", attributes={"latency": 3_600_000})
    writer.write(b"held")
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    r = await api.client.delete("/proxies/p/toxics/latency_downstream")
    assert r.status_code == 204
    assert await read_exactly(reader, 4) == b"held"
    assert time.perf_counter() - start < 0.1


async def test_upstream_unreachable_closes_client(api: Api, connect) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = sock.getsockname()[1]
    sock.close()
    reader, _ = await connect(await api.proxy(f"127.0.0.1:{dead}"))
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_half_close_passes_through(api: Api, echo_server: Echo, connect) -> None:
    reader, writer = await connect(await api.proxy(echo_server.addr, half_close=True))
    writer.write(b"last words")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 5) == b"last words"
