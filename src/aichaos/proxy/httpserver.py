"""A small HTTP/1.1 server for the control API: asyncio + httptools, keep-alive, bounded bodies.

It is deliberately tiny (the API carries a few requests per experiment step) and starts in
milliseconds; a handler gets ``(method, path, body)`` and returns a :class:`Response`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

import httptools

__all__ = ["MAX_BODY_BYTES", "Handler", "HttpServerProtocol", "Response"]

#: bodies above this are refused with 400 and the connection is closed
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Response:
    """A status, and a JSON payload or raw text."""

    status: int
    payload: Any = None
    text: str | None = None
    content_type: str = "application/json"

    def encode(self, keep_alive: bool) -> bytes:
        """The response as bytes on the wire."""
        if self.text is not None:
            body = self.text.encode()
        elif self.payload is None:
            body = b""
        else:
            body = json.dumps(self.payload).encode()
        reason = HTTPStatus(self.status).phrase
        head = [f"HTTP/1.1 {self.status} {reason}"]
        if body or self.status not in (204, 304):
            head.append(f"Content-Type: {self.content_type}")
            head.append(f"Content-Length: {len(body)}")
        head.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


Handler = Callable[[str, str, bytes], Awaitable[Response]]


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": message, "status": status})


class HttpServerProtocol(asyncio.Protocol):
    """One API connection; requests are answered in order."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._too_big = False
        self._last: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a malformed request gets a 400 and the connection closes."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._send(_error(400, f"bad request: malformed HTTP ({exc})"), keep_alive=False)

    # httptools callbacks
    def on_message_begin(self) -> None:
        """A new request."""
        self._url, self._body, self._size, self._too_big = b"", [], 0, False

    def on_url(self, url: bytes) -> None:
        """Part of the request target."""
        self._url += url

    def on_body(self, body: bytes) -> None:
        """Part of the body, kept up to :data:`MAX_BODY_BYTES`."""
        self._size += len(body)
        if self._size > MAX_BODY_BYTES:
            self._too_big = True
            self._body = []
        elif not self._too_big:
            self._body.append(body)

    def on_message_complete(self) -> None:
        """Dispatch the request; answers go out in request order."""
        method = self.parser.get_method().decode("ascii", "replace")
        path = httptools.parse_url(self._url).path.decode("utf-8", "replace")
        keep_alive = self.parser.should_keep_alive()
        if self._too_big:
            message = f"bad request body: larger than {MAX_BODY_BYTES} bytes"
            self._chain(self._respond_now(_error(400, message), False))
            return
        body = b"".join(self._body)
        self._chain(self._dispatch(method, path, body, keep_alive))

    def _chain(self, coro: Awaitable[None]) -> None:
        previous = self._last

        async def run() -> None:
            if previous is not None:
                await asyncio.shield(previous)
            await coro

        self._last = asyncio.get_running_loop().create_task(run())

    async def _respond_now(self, response: Response, keep_alive: bool) -> None:
        self._send(response, keep_alive)

    async def _dispatch(self, method: str, path: str, body: bytes, keep_alive: bool) -> None:
        try:
            response = await self.handler(method, path, body)
        except Exception as exc:  # the server must stay up whatever a handler does
            response = _error(500, f"internal error: {type(exc).__name__}: {exc}")
        self._send(response, keep_alive)

    def _send(self, response: Response, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(response.encode(keep_alive))
        if not keep_alive:
            transport.close()
