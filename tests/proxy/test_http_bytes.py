"""The HTTP layer never drops a byte: what it cannot parse passes on byte for byte,
including what it held (issue 19, item 1), and what it parses but no toxic changes passes
on exactly as it came."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.proxy.conftest import Api


class Recorder:
    """A TCP server that records what it receives and sends what it is told to."""

    def __init__(self) -> None:
        self.got = bytearray()
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.connected.set()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                self.got += data

    async def wait_for(self, n: int, within_s: float = 3.0) -> bytes:
        for _ in range(int(within_s / 0.01)):
            if len(self.got) >= n:
                break
            await asyncio.sleep(0.01)
        return bytes(self.got)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with server:
        yield rec
        if rec.writer is not None:
            rec.writer.close()


@pytest.mark.parametrize("http", [None, True])
async def test_held_head_bytes_reach_the_upstream_when_the_parse_fails(
    api: Api, recorder: Recorder, http: bool | None
) -> None:
    """The issue's repro: a split head, then bytes that are not HTTP."""
    addr = await api.proxy(f"127.0.0.1:{recorder.port}", http=http)
    await api.toxic(type="http_error", attributes={"path": "/never"})
    reader, writer = await asyncio.open_connection(*addr)
    sent = [b"GET / HTTP/1.1\r\nHo", b"\x00junk", b"\r\nmore\r\n\r\n"]
    for part in sent:
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.3)
    assert await recorder.wait_for(len(b"".join(sent))) == b"".join(sent)
    # the response side, the same way: a split status line, then junk
    await recorder.connected.wait()
    assert recorder.writer is not None
    back = [b"HTTP/1.1 200 OK\r\nConte", b"\x00\x01 not a header\r\n\r\n", b"tail"]
    for part in back:
        recorder.writer.write(part)
        await recorder.writer.drain()
        await asyncio.sleep(0.1)
    got = await asyncio.wait_for(reader.readexactly(len(b"".join(back))), 3)
    assert got == b"".join(back)
    writer.close()


async def test_a_response_head_split_then_broken_is_passed_whole(
    api: Api, recorder: Recorder
) -> None:
    addr = await api.proxy(f"127.0.0.1:{recorder.port}", http=True)
    reader, writer = await asyncio.open_connection(*addr)
    writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await recorder.connected.wait()
    assert recorder.writer is not None
    back = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", b"lo\r\nZZ\r\n"]
    for part in back:
        recorder.writer.write(part)
        await recorder.writer.drain()
        await asyncio.sleep(0.1)
    got = await asyncio.wait_for(reader.readexactly(len(b"".join(back))), 3)
    assert got == b"".join(back)  # an untouched response goes on as it came, bad chunk too
    writer.close()


async def test_untouched_requests_pass_exactly_as_sent(api: Api, recorder: Recorder) -> None:
    """Odd but valid heads (spacing, header case, chunk extensions) are not rewritten."""
    addr = await api.proxy(f"127.0.0.1:{recorder.port}", http=True)
    await api.toxic(type="http_error", attributes={"path": "/never"})
    _, writer = await asyncio.open_connection(*addr)
    sent = (
        b"POST /x?q=1 HTTP/1.1\r\nhOsT:   spaced  \r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n"
        b"GET /y HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    for i in range(0, len(sent), 7):  # in 7-byte pieces
        writer.write(sent[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0.005)
    assert await recorder.wait_for(len(sent)) == sent
    writer.close()
