"""The wire: one keep-alive HTTP/1.1 connection as a raw asyncio protocol.

A plain :class:`asyncio.Protocol` with ``httptools`` (the llhttp parser uvicorn uses)
does no per-request allocation beyond the response body, which is what lets one core
drive several times the traffic of a general-purpose client. The connection reports to
its owner through two calls, :meth:`Owner.on_response` and :meth:`Owner.on_failure`;
it never decides what a response means.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, cast

__all__ = ["ClientConnection", "Owner"]


class Owner(Protocol):
    """What a :class:`ClientConnection` reports to (the generator)."""

    def on_response(
        self, conn: ClientConnection, status: int, body: bytes, keep_alive: bool
    ) -> None:
        """A full response arrived for the request in flight on ``conn``."""

    def on_failure(self, conn: ClientConnection, kind: str) -> None:
        """The request in flight on ``conn`` failed (``reset`` or ``invalid``)."""


class ClientConnection(asyncio.Protocol):
    """One HTTP/1.1 connection; at most one request in flight (no pipelining)."""

    __slots__ = (
        "_body",
        "_done",
        "_keep",
        "_owner",
        "_parser",
        "_status",
        "busy",
        "closed",
        "keep_body",
        "req",
        "transport",
    )

    def __init__(self, owner: Owner, keep_body: bool) -> None:
        import httptools

        self._owner = owner
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
    def on_body(self, body: bytes) -> None:
        """Parser callback: a chunk of the response body."""
        if self.keep_body:
            self._body.append(body)

    def on_message_complete(self) -> None:
        """Parser callback: the response is complete."""
        # read now: llhttp resets its flags once the callback returns
        self._status = int(self._parser.get_status_code())
        self._keep = bool(self._parser.should_keep_alive())
        self._done = True

    # used by the generator ------------------------------------------------------------
    def send(self, raw: bytes) -> None:
        """Write one request; the connection is busy until its response or failure."""
        assert self.transport is not None
        self.busy = True
        self.transport.write(raw)

    def close(self) -> None:
        """Drop the connection at once (RST on a busy one: a timed-out request)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, kind: str) -> None:
        self.busy = False
        self._body.clear()
        self.close()
        self._owner.on_failure(self, kind)
