"""The HTTP layer's fast path: requests no toxic can match stay on the direct path, and
every request a toxic can match still reaches its handlers wherever it falls in the
client's chunks (pipelined behind forwarded requests, after a body that straddles two
chunks, in a head split across writes) and whatever responses are still owed before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import socket

import h11
import httpx

from aichaos.proxy.connection import Connection
from tests.proxy.asgi_app import Seen
from tests.proxy.conftest import Api

HIT = {"type": "http_error", "attributes": {"path": "/hit/*", "status": 503}}
NAN = {
    "type": "json_corrupt",
    "attributes": {
        "path": "/v1/predict",
        "ops": [{"path": "predictions.*.score", "action": "nan"}],
    },
}
MODELS = {"data": [{"id": "m1"}]}

Response = tuple[int, bytes]


def _get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode()


def _post(path: str, body: bytes, chunked: bool = False) -> bytes:
    if chunked:
        cut = len(body) // 2
        pieces = [p for p in (body[:cut], body[cut:]) if p]
        framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        return b"POST %s HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n%s" % (
            path.encode(),
            framed,
        )
    return b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (
        path.encode(),
        len(body),
        body,
    )


class Client:
    """A raw keep-alive connection; responses parsed by h11 (a strict client parser)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.methods: list[str] = []

    @classmethod
    async def open(cls, addr: tuple[str, int]) -> Client:
        reader, writer = await asyncio.open_connection(*addr)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, *pieces: bytes, pause_s: float = 0.02) -> None:
        """Write each piece on its own (a pause between, so each is its own chunk)."""
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(pause_s)
            self.writer.write(piece)
            await self.writer.drain()

    async def responses(self, methods: list[str]) -> list[Response]:
        """The next responses, one per request method given (HEAD answers have no body)."""
        out: list[Response] = []
        for method in methods:
            self.h11.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
            self.h11.send(h11.EndOfMessage())
            status, body = 0, b""
            while True:
                event = self.h11.next_event()
                if event is h11.NEED_DATA:
                    data = await asyncio.wait_for(self.reader.read(65536), 5)
                    assert data, f"connection closed after {len(out)} responses"
                    self.h11.receive_data(data)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise AssertionError(f"unexpected {event!r}")
            out.append((status, body))
            self.h11.start_next_cycle()
        return out

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def _conn(api: Api) -> Connection:
    (conn,) = api.app.store.get("p").conns
    return conn


async def _direct(conn: Connection) -> bool:
    for _ in range(100):
        assert conn.up is not None and conn.down is not None
        if conn.up.direct and conn.down.direct:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_unmatched_requests_stay_on_the_direct_path(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    host, port = await api.proxy(upstream[0])
    await api.toxic(**HIT)
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(
        base_url=f"http://{host}:{port}", timeout=5, limits=limits
    ) as client:
        for _ in range(3):
            assert (await client.get("/v1/models")).json() == MODELS
        conn = _conn(api)
        assert conn.http is not None and conn.http.mode == "layer"
        assert await _direct(conn), "unmatched requests left the direct path"
        assert (await client.get("/hit/1")).status_code == 503
        assert (await client.post("/echo", content=b"abc")).content == b"abc"
        assert await _direct(conn), "the connection did not come back to the direct path"
        assert (await client.get("/hit/2")).status_code == 503
    assert upstream[1].paths == ["/v1/models"] * 3 + ["/echo"]
    stats = (await api.client.get("/proxies/p/toxics/http_error_downstream")).json()["stats"]
    assert stats == {"seen": 2, "affected": 2}  # rolled only for the requests it matched


async def test_a_matching_request_waits_for_the_responses_owed_before_it(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    """Pipelined behind a streamed response that is still coming: the stages take over
    the response direction exactly where that stream ends."""
    addr = await api.proxy(upstream[0])
    await api.toxic(**HIT)
    await api.toxic(**NAN)
    async with await Client.open(addr) as client:
        await client.send(_get("/v1/stream"))
        await asyncio.sleep(0.015)  # the stream has begun: its response is owed
        predict = _post("/v1/predict", b'{"n": 2}')
        await client.send(predict + _get("/hit/1") + _get("/v1/models"))
        (s1, stream), (s2, doc), (s3, _), (s4, models) = await client.responses(
            ["GET", "POST", "GET", "GET"]
        )
        assert (s1, s2, s3, s4) == (200, 200, 503, 200)
        assert stream.count(b"data: ") == 6 and stream.endswith(b"data: [DONE]\n\n")
        assert all(math.isnan(p["score"]) for p in json.loads(doc)["predictions"])
        assert json.loads(models) == MODELS


async def test_a_matching_request_after_a_body_that_straddles_chunks(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    addr = await api.proxy(upstream[0])
    await api.toxic(**HIT)
    async with await Client.open(addr) as client:
        body = random.Random(3).randbytes(20_000)
        request = _post("/echo", body)
        cut = len(request) - 7000
        await client.send(request[:cut], request[cut:] + _get("/hit/1") + _get("/v1/models"))
        got = await client.responses(["POST", "GET", "GET"])
        assert got[0] == (200, body)
        assert [s for s, _ in got] == [200, 503, 200]
    assert upstream[1].paths == ["/echo", "/v1/models"]


async def test_split_heads_are_decided_when_complete(api: Api, upstream: tuple[str, Seen]) -> None:
    addr = await api.proxy(upstream[0])
    await api.toxic(**HIT)
    async with await Client.open(addr) as client:
        for path, status in (("/hit/1", 503), ("/v1/models", 200), ("/hit/2", 503)):
            head = _get(path)
            await client.send(head[:20], head[20:])
            assert [s for s, _ in await client.responses(["GET"])] == [status]
    assert upstream[1].paths == ["/v1/models"]


def _script(rng: random.Random) -> list[tuple[str, bytes, str, bytes]]:
    """Requests of one connection: (kind, bytes, method, body sent)."""
    out = []
    for i in range(rng.randint(1, 6)):
        kind = rng.choice(["models", "echo", "chunked", "hit", "predict", "head", "stream"])
        if kind in ("echo", "chunked"):
            body = rng.randbytes(rng.choice([1, 300, 9000]))
            out.append((kind, _post("/echo", body, chunked=kind == "chunked"), "POST", body))
        elif kind == "predict":
            out.append((kind, _post("/v1/predict", b'{"n": 2}'), "POST", b""))
        elif kind == "head":
            out.append((kind, _get("/v1/models", "HEAD"), "HEAD", b""))
        else:
            path = {"models": "/v1/models", "hit": f"/hit/{i}", "stream": "/v1/stream"}[kind]
            out.append((kind, _get(path), "GET", b""))
    return out


def _check(kind: str, sent: bytes, got: Response) -> None:
    status, body = got
    assert status == (503 if kind == "hit" else 200), got
    if kind == "models":
        assert json.loads(body) == MODELS
    elif kind in ("echo", "chunked"):
        assert body == sent
    elif kind == "predict":
        assert all(math.isnan(p["score"]) for p in json.loads(body)["predictions"])
    elif kind == "head":
        assert body == b""
    elif kind == "stream":
        assert body.count(b"data: ") == 6 and body.endswith(b"data: [DONE]\n\n")


async def test_random_mixes_of_matching_and_forwarded_requests(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    """Seeded scripts: requests a toxic matches (answered here, or corrupted on the way
    back) mixed with forwarded ones, pipelined or one by one, cut at random points."""
    addr = await api.proxy(upstream[0])
    await api.toxic(**HIT)
    await api.toxic(**NAN)
    expected: list[str] = []
    for seed in range(20):
        rng = random.Random(seed)
        script = _script(rng)
        async with await Client.open(addr) as client:
            i = 0
            while i < len(script):
                batch = script[i : i + rng.randint(1, 3)]  # pipelined together
                data = b"".join(r for _, r, _, _ in batch)
                cuts = sorted(rng.sample(range(1, len(data)), 2))
                pieces = (data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True))
                await client.send(*pieces, pause_s=0.005)
                got = await client.responses([m for _, _, m, _ in batch])
                for (kind, _, _, sent), response in zip(batch, got, strict=True):
                    _check(kind, sent, response)
                i += len(batch)
        paths = {"models": "/v1/models", "head": "/v1/models", "predict": "/v1/predict"}
        expected += [
            paths.get(k, f"/v1/{k}" if k == "stream" else "/echo") for k, *_ in script if k != "hit"
        ]
    assert upstream[1].paths == expected  # nothing a toxic answered went upstream


async def test_requests_waiting_for_owed_responses_go_on_when_the_server_ends(
    api: Api,
) -> None:
    """Half-closed: the server ends its side before answering the request owed, with a
    matching request waiting behind it; the client's bytes and end still reach it."""
    got = bytearray()
    ended = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.extend(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")  # 7 bytes short
        await writer.drain()
        writer.write_eof()
        while data := await reader.read(65536):
            got.extend(data)
        ended.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        addr = await api.proxy(f"127.0.0.1:{port}", half_close=True)
        await api.toxic(**HIT)
        async with await Client.open(addr) as client:
            await client.send(_get("/v1/models"))
            assert await asyncio.wait_for(client.reader.read(100), 5)  # the owed response
            await client.send(_get("/hit/1"))
            client.writer.write_eof()
            await asyncio.wait_for(ended.wait(), 5)
    assert bytes(got) == _get("/v1/models") + _get("/hit/1")


async def test_decisions_follow_toxic_changes_and_header_filters(
    api: Api, upstream: tuple[str, Seen]
) -> None:
    """The fast path remembers what it decided per target; a toxic added or changed, or
    one that filters on a header, must still reach the next request to that target."""
    host, port = await api.proxy(upstream[0])
    await api.toxic(**HIT)
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(
        base_url=f"http://{host}:{port}", timeout=5, limits=limits
    ) as client:
        assert (await client.get("/v1/models")).status_code == 200
        await api.toxic(
            type="http_error", name="e", attributes={"path": "/v1/models", "status": 500}
        )
        assert (await client.get("/v1/models")).status_code == 500
        r = await api.client.post("/proxies/p/toxics/e", json={"attributes": {"path": "/x"}})
        assert r.status_code == 200, r.text
        assert (await client.get("/v1/models")).status_code == 200
        r = await api.client.post(
            "/proxies/p/toxics/e",
            json={"attributes": {"path": None, "headers": {"x-chaos": "1"}}},
        )
        assert r.status_code == 200, r.text
        assert (await client.get("/v1/models")).status_code == 200
        assert (await client.get("/v1/models", headers={"x-chaos": "1"})).status_code == 500
        assert (await client.get("/v1/models")).status_code == 200
