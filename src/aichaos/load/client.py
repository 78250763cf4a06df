"""The wire: one keep-alive HTTP/1.1 connection as a raw asyncio protocol.

A plain :class:`asyncio.Protocol` with ``httptools`` (the llhttp parser uvicorn uses)
does no per-request allocation beyond the response body, which is what lets one core
drive several times the traffic of a general-purpose client. The connection reports to
its owner through two calls, :meth:`Owner.on_response` and :meth:`Owner.on_failure`;
it never decides what a response means.

:class:`Pool` runs single requests over the same connections for callers that send one
at a time and await the answer (the HTTP probe, the preflight): a plain-HTTP exchange
needs neither httpx nor its import and memory at start-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from aichaos.load.stream import StreamTracker

__all__ = ["ClientConnection", "ExchangeError", "HeaderConnection", "Owner", "Pool"]

_NO_HEADERS: dict[str, str] = {}


class Owner(Protocol):
    """What a :class:`ClientConnection` reports to (the generator)."""

    def on_response(
        self, conn: ClientConnection, status: int, body: bytes, keep_alive: bool
    ) -> None:
        """A full response arrived for the request in flight on ``conn``."""

    def on_failure(self, conn: ClientConnection, kind: str) -> None:
        """The request in flight on ``conn`` failed (``reset`` or ``invalid``)."""


class ClientConnection(asyncio.Protocol):
    """One HTTP/1.1 connection; at most one request in flight (no pipelining).

    Its :attr:`stream` records the token timeline of the response in flight (see
    :mod:`aichaos.load.stream`), stamped with ``clock``.
    """

    __slots__ = (
        "_body",
        "_clock",
        "_done",
        "_keep",
        "_owner",
        "_parser",
        "_status",
        "busy",
        "closed",
        "keep_body",
        "req",
        "stream",
        "transport",
    )

    def __init__(
        self, owner: Owner, keep_body: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        import httptools

        self._owner = owner
        self._clock = clock
        self.stream = StreamTracker()
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._done = False
        self._keep = False
        self._status = 0
        self.keep_body = keep_body
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.closed = False
        #: the generator's record of the request in flight (opaque here)
        self.req: Any = None

    # asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        import httptools

        if not self.busy:
            # bytes nobody asked for: the server is not speaking HTTP/1.1 to us
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("invalid")
            return
        if self._done:
            # finish after feed_data returns, so a new request is never written from
            # inside the parser's callback
            self._done = False
            body = b"".join(self._body) if self.keep_body else b""
            self._body.clear()
            self.busy = False
            self._owner.on_response(self, self._status, body, self._keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self._fail("reset")

    # httptools callbacks --------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one header (the content type says whether it is SSE)."""
        self.stream.header(name, value)

    def on_chunk_header(self) -> None:
        """Parser callback: a chunk of a chunked body begins."""
        self.stream.chunk_header()

    def on_chunk_complete(self) -> None:
        """Parser callback: a chunk of a chunked body ended."""
        self.stream.chunk_complete()

    def on_body(self, body: bytes) -> None:
        """Parser callback: a piece of the response body."""
        stream = self.stream
        if stream.kind or not stream.first_byte:  # a plain body needs its first byte only
            stream.body(body, self._clock())
        if self.keep_body:
            self._body.append(body)

    def on_message_complete(self) -> None:
        """Parser callback: the response is complete."""
        self.stream.message_complete(self._clock)
        # read now: llhttp resets its flags once the callback returns
        self._status = int(self._parser.get_status_code())
        self._keep = bool(self._parser.should_keep_alive())
        self._done = True

    # used by the generator ------------------------------------------------------------
    def send(self, raw: bytes) -> None:
        """Write one request; the connection is busy until its response or failure."""
        assert self.transport is not None
        self.busy = True
        self.stream.reset()
        self.transport.write(raw)

    def close(self) -> None:
        """Drop the connection at once (RST on a busy one: a timed-out request)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def response_headers(self) -> dict[str, str]:
        """The last response's headers; none are kept here (see :class:`HeaderConnection`)."""
        return _NO_HEADERS

    def _fail(self, kind: str) -> None:
        self.busy = False
        self._body.clear()
        self.close()
        self._owner.on_failure(self, kind)


class HeaderConnection(ClientConnection):
    """A connection that also keeps each response's headers (names lower-cased, repeated
    ones joined by ``, ``), for quality checks that read them; the plain connection only
    looks at the content type, without decoding or storing anything."""

    __slots__ = ("_headers",)

    def __init__(
        self, owner: Owner, keep_body: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(owner, keep_body, clock)
        self._headers: dict[str, str] = {}

    def on_message_begin(self) -> None:
        """Parser callback: a new response starts."""
        self._headers = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one header."""
        self.stream.header(name, value)
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = text if old is None else f"{old}, {text}"

    def response_headers(self) -> dict[str, str]:
        """The headers of the last response."""
        return self._headers


class ExchangeError(ConnectionError):
    """A :class:`Pool` request failed on the wire: ``reset`` or ``invalid`` (the kind)."""


class _EofConnection(ClientConnection):
    """A connection that also accepts a response whose body ends when the server closes.

    HTTP/1.1 allows a response with neither Content-Length nor chunked encoding, read
    until the connection closes (``http.server`` answers so); the generator counts that
    as a reset, a single exchange must not. httptools only calls the header callbacks a
    parser's protocol defines, so the generator's connections do not pay for them.
    """

    __slots__ = ("_framed", "_headers")

    def __init__(self, owner: Owner) -> None:
        super().__init__(owner, keep_body=True)
        self._framed = False
        self._headers = False

    def on_message_begin(self) -> None:
        """Parser callback: a new response starts."""
        self._framed = False
        self._headers = False

    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one header; remember whether the body is framed."""
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        """Parser callback: the status line and headers are in."""
        self._headers = True
        self._status = int(self._parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy and self._headers and not self._framed and exc is None:
            # the close is the end of an unframed body: the response is complete
            self.closed = True
            self.busy = False
            body = b"".join(self._body)
            self._body.clear()
            self._owner.on_response(self, self._status, body, False)
            return
        super().connection_lost(exc)


class Pool:
    """Keep-alive HTTP/1.1 connections for one request at a time each; plain HTTP only.

    >>> pool = Pool()                                            # doctest: +SKIP
    >>> status, body = await pool.request("127.0.0.1", 8000, raw)  # doctest: +SKIP
    >>> pool.close()                                             # doctest: +SKIP

    The caller bounds the exchange (``asyncio.timeout``): a cancelled request drops its
    connection, so a late answer is never read as the next request's.
    """

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[ClientConnection]] = {}

    async def request(self, host: str, port: int, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw`` (one full request) and return the status and body of the answer.

        Raises :class:`OSError` when the connection cannot be made and
        :class:`ExchangeError` when it breaks or the answer is not HTTP/1.1.
        """
        loop = asyncio.get_running_loop()
        conn = self._take(host, port)
        if conn is None:
            _, conn = await loop.create_connection(lambda: _EofConnection(self), host, port)
        done: asyncio.Future[tuple[int, bytes, bool]] = loop.create_future()
        conn.req = done
        try:
            conn.send(raw)
            status, body, keep = await done
        except BaseException:
            conn.close()
            raise
        conn.req = None
        if keep and not conn.closed:
            self._idle.setdefault((host, port), []).append(conn)
        else:
            conn.close()
        return status, body

    def _take(self, host: str, port: int) -> ClientConnection | None:
        idle = self._idle.get((host, port), [])
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def on_response(
        self, conn: ClientConnection, status: int, body: bytes, keep_alive: bool
    ) -> None:
        """Owner call: the answer to the request in flight on ``conn``."""
        done = conn.req
        if done is not None and not done.done():
            done.set_result((status, body, keep_alive))

    def on_failure(self, conn: ClientConnection, kind: str) -> None:
        """Owner call: the request in flight on ``conn`` failed."""
        done = conn.req
        if done is not None and not done.done():
            done.set_exception(ExchangeError(kind))

    def close(self) -> None:
        """Drop every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
