"""A small HTTP/1.1 server for the control API: asyncio + httptools, keep-alive, bounded.

It is deliberately tiny (the API carries a few requests per experiment step) and starts in
milliseconds; a handler gets ``(method, path, body)`` and returns a :class:`Response`.

Every resource a client can hold is bounded (:class:`Limits`): the request head and body
sizes, the time a request may take to arrive once it has begun (a client that trickles
its headers -- slowloris -- is answered 408 and cut off), the time a keep-alive connection
may sit idle, and the number of open connections. With a ``token``, every request without
``Authorization: Bearer <token>`` is answered 401 (compared in constant time).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import httptools

from aichaos.access import (
    BODY_REFUSED_STATUS,
    UNAUTHORIZED,
    BodyRefused,
    bearer_ok,
    check_body_size,
)

__all__ = ["MAX_BODY_BYTES", "Handler", "HttpServerProtocol", "Limits", "Response", "ServerState"]

#: bodies above this are refused with 400 and the connection is closed
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one API server lets its clients hold."""

    max_body_bytes: int = MAX_BODY_BYTES
    #: request line plus headers
    max_head_bytes: int = 64 * 1024
    #: a request, once its first byte arrived, must be complete within this
    request_timeout_s: float = 10.0
    #: a keep-alive connection with no request in progress is closed after this
    idle_timeout_s: float = 120.0
    #: connections beyond this are closed at once
    max_connections: int = 512


@dataclass
class ServerState:
    """Shared by every connection of one server: limits, token, open connections."""

    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    connections: set[HttpServerProtocol] = field(default_factory=set)

    def authorized(self, header: bytes | None) -> bool:
        """Constant-time check of an ``Authorization`` header (always true without a token)."""
        return bearer_ok(header, self.token)


@dataclass(frozen=True)
class Response:
    """A status, and a JSON payload or raw text."""

    status: int
    payload: Any = None
    text: str | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

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
        head.extend(f"{name}: {value}" for name, value in self.headers)
        head.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


Handler = Callable[[str, str, bytes], Awaitable[Response]]


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, {"error": message, "status": status}, headers=headers)


class HttpServerProtocol(asyncio.Protocol):
    """One API connection; requests are answered in order."""

    def __init__(self, handler: Handler, state: ServerState | None = None) -> None:
        self.handler = handler
        self.state = state or ServerState()
        self.limits = self.state.limits
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._head = 0
        self._auth: bytes | None = None
        #: why the body is refused ("" while it is within the limit)
        self._too_big = ""
        self._last: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport; refuse it if the server already holds too many."""
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        if len(self.state.connections) >= self.limits.max_connections:
            self._send(_error(503, "too many API connections"), keep_alive=False)
            return
        self.state.connections.add(self)
        self._arm(self.limits.idle_timeout_s, self._idle)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and its timer."""
        self.state.connections.discard(self)
        self._disarm()

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _request_timeout(self) -> None:
        message = f"request not complete within {self.limits.request_timeout_s:g}s"
        self._send(_error(408, message), keep_alive=False)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a malformed request gets a 400 and the connection closes."""
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._send(_error(400, "bad request: protocol upgrade not supported"), False)
        except httptools.HttpParserError as exc:
            # httptools wraps an exception raised in a callback; ours says the head is too big
            if isinstance(exc.__context__, _HeadTooLarge):
                message = f"request head larger than {self.limits.max_head_bytes} bytes"
                self._send(_error(431, message), keep_alive=False)
            else:
                self._send(_error(400, f"bad request: malformed HTTP ({exc})"), keep_alive=False)
        except Exception as exc:  # never let a client's bytes take the server down
            self._send(_error(400, f"bad request: {type(exc).__name__}"), keep_alive=False)

    # httptools callbacks
    def on_message_begin(self) -> None:
        """A new request: its deadline starts now."""
        self._url, self._body, self._size, self._too_big = b"", [], 0, ""
        self._head, self._auth = 0, None
        self._in_request = True
        self._arm(self.limits.request_timeout_s, self._request_timeout)

    def _count_head(self, n: int) -> None:
        self._head += n
        if self._head > self.limits.max_head_bytes:
            raise _HeadTooLarge

    def on_url(self, url: bytes) -> None:
        """Part of the request target."""
        self._count_head(len(url))
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the head's size; keep the ``Authorization`` header only."""
        self._count_head(len(name) + len(value) + 4)
        if name.lower() == b"authorization":
            self._auth = value

    def on_body(self, body: bytes) -> None:
        """Part of the body, kept up to ``max_body_bytes``."""
        self._size += len(body)
        try:
            check_body_size(self._size, self.limits.max_body_bytes)
        except BodyRefused as exc:
            self._too_big = exc.message
            self._body = []
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        """Dispatch the request; answers go out in request order."""
        self._in_request = False
        self._arm(self.limits.idle_timeout_s, self._idle)
        keep_alive = self.parser.should_keep_alive()
        if not self.state.authorized(self._auth):
            denied = _error(401, UNAUTHORIZED, (("WWW-Authenticate", "Bearer"),))
            self._chain(self._respond_now(denied, keep_alive))
            return
        method = self.parser.get_method().decode("ascii", "replace")
        path = httptools.parse_url(self._url).path.decode("utf-8", "replace")
        if self._too_big:
            refused = _error(BODY_REFUSED_STATUS, f"bad request: {self._too_big}")
            self._chain(self._respond_now(refused, False))
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
            self._disarm()
            transport.close()


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the head is over its limit."""
