"""The HTTP layer of an HTTP-aware connection: per-request toxics on HTTP/1.1 keep-alive.

A connection carries it only while its proxy has HTTP toxics (or ``"http": true``); see
:mod:`aichaos.proxy.http_switch` for how live connections move in and out of it. Requests
no toxic can match take the layer's fast path (:class:`~aichaos.proxy.http_track.
RequestWatcher`: bytes go on as they came, on the direct path); from the first request a
toxic can match until the connection is between exchanges again, two stages lead the
connection's chains: :class:`RequestStage` on the upstream link and
:class:`~aichaos.proxy.http_response.ResponseStage` on the downstream link. Each splits
its bytes into messages (:mod:`aichaos.proxy.http_framing`), and for each request runs
the handlers of the HTTP toxics that won it (:mod:`aichaos.proxy.toxics.http_base`), in
chain order, then forwards what they leave: the bytes as received when nothing changed,
re-serialised where a handler changed something. What the framing cannot follow (not
HTTP, an upgrade) passes on byte for byte, including what was held, and the connection
stays raw from there.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from aichaos.proxy.http_framing import End, Event, Head, MessageReader, Raw
from aichaos.proxy.http_track import MAX_HEAD_BYTES, request_path
from aichaos.proxy.toxics.base import Chunk, Out, StageEnv
from aichaos.proxy.toxics.http_base import (
    Exchange,
    HttpHandler,
    RequestInfo,
    hooks_of,
)

if TYPE_CHECKING:
    from aichaos.proxy.connection import Connection
    from aichaos.proxy.http_response import ResponseStage

__all__ = [
    "MAX_HEAD_BYTES",
    "LayerState",
    "RequestStage",
    "flush",
    "install",
    "serialize_head",
]


_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"content-length: 37\r\nconnection: close\r\n\r\nrequest head larger than 64 KiB: closed"
)


def install(conn: Connection, respond: bool = True) -> LayerState:
    """Put the HTTP layer's stages at the head of the connection's chains.

    Call it only at a message boundary of the request direction; ``respond``: the
    response direction is at a boundary too and owes nothing (else the request stage
    waits for :meth:`LayerState.attach_response`). The caller rebuilds the chains.
    """
    from aichaos.proxy.http_response import ResponseStage  # it builds on this module

    assert conn.up is not None and conn.down is not None
    state = LayerState(conn)
    state.request = RequestStage(state)
    state.response = ResponseStage(state)
    conn.up.head_stages = (state.request,)
    if respond:
        conn.down.head_stages = (state.response,)
    else:
        state.down_wait = conn.loop.create_future()
    return state


async def flush(parts: list[bytes], t: float, out: Out) -> None:
    """Send the bytes gathered so far as one chunk (one write instead of one per part)."""
    if parts:
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        await out(Chunk(data, t))


def serialize_head(head: Head) -> bytes:
    """A head as bytes again, after a handler changed it."""
    if head.method:
        start = b"%s %s HTTP/%s\r\n" % (head.method.encode(), head.target, head.version.encode())
    else:
        start = b"HTTP/%s %d %s\r\n" % (head.version.encode(), head.status, head.reason)
    return start + b"".join(n + b": " + v + b"\r\n" for n, v in head.headers) + b"\r\n"


class LayerState:
    """What both directions of one connection share: exchanges in request order."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        #: one entry per request still waiting for its response (answered ones too)
        self.pending: deque[Exchange] = deque()
        #: bytes that are not followable HTTP went by: both directions pass bytes on as is
        self.passthrough = False
        self.request: RequestStage | None = None
        self.response: ResponseStage | None = None
        #: the last request the stages saw needed them (a toxic won it, ...): stay, as the
        #: next one likely does too (handing back and diverting again costs a setup each)
        self.keep = False
        #: set while the response direction still carries responses owed to requests
        #: forwarded before the stages came in: the request stage forwards nothing yet
        self.down_wait: asyncio.Future[None] | None = None

    def attach_response(self) -> None:
        """The responses owed before went by: the response stage takes that direction
        (the caller rebuilds the chains) and the request stage goes on."""
        down, wait = self.conn.down, self.down_wait
        assert down is not None and self.response is not None
        down.head_stages = (self.response,)
        self.down_wait = None
        if wait is not None and not wait.done():
            wait.set_result(None)

    def idle(self) -> bool:
        """Between exchanges: no request owed a response, nothing half-parsed or held."""
        req, resp = self.request, self.response
        return (
            not self.pending
            and self.down_wait is None
            and req is not None
            and not req.busy
            and resp is not None
            and not resp.busy
        )

    def holding(self) -> bool:
        """Whether a stage still holds bytes it has not passed on (they go first)."""
        req, resp = self.request, self.response
        return (req is not None and req.reader.holding) or (resp is not None and resp.holding)

    def can_leave(self) -> bool:
        """Whether the stages can hand the connection back now: between exchanges, or
        passing bytes on as is with no response's handlers still running."""
        if self.down_wait is not None or self.holding():
            return False
        if self.passthrough:
            return self.response is None or not self.response.exchanging
        switch = self.conn.http
        if self.keep and switch is not None and switch.want:
            return False
        return self.idle()

    def after_chunk(self) -> None:
        """A stage finished a chunk: back to the direct path if between exchanges."""
        switch = self.conn.http
        if switch is not None and switch.layer is self:
            switch.try_leave()

    def emit_synthetic(self, data: bytes) -> None:
        """Send a response made here, behind every response still owed by the upstream."""
        down = self.conn.down
        assert down is not None
        down.feed(data, synthetic=True)

    def flush_ready(self, into: list[bytes] | None = None) -> None:
        """Answer synthetic responses that are now at the head of the line: into the
        response stage's output (``into``: in order with the upstream's responses that
        follow in the same chunk), or as chunks of their own."""
        while self.pending and self.pending[0].answer is not None:
            answer = self.pending.popleft().answer
            assert answer is not None
            if into is not None:
                into.append(answer)
            else:
                self.emit_synthetic(answer)

    def prune(self) -> None:
        """The proxy's toxics changed: wake the sleeps of handlers whose toxic is gone."""
        toxics = self.conn.proxy.toxics
        live = list(self.pending)
        if self.request is not None and self.request.ex is not None:
            live.append(self.request.ex)
        for ex in live:
            for handler in ex.handlers:
                toxic = handler.env.toxic
                if toxics.get(toxic.name) is not toxic:
                    handler.interrupt()


class RequestStage:
    """Parses requests, runs the request hooks, forwards each request or answers it here."""

    __slots__ = ("_parts", "ex", "reader", "state")

    def __init__(self, state: LayerState) -> None:
        self.state = state
        #: bytes to send, joined into one write per chunk (a syscall each saved)
        self._parts: list[bytes] = []
        self.reader = MessageReader(responses=False, max_head=MAX_HEAD_BYTES)
        #: the request being read (from its head to its end)
        self.ex: Exchange | None = None

    @property
    def busy(self) -> bool:
        """Inside a request (or holding part of one)."""
        return self.reader.busy or self.ex is not None

    def interrupt(self) -> None:
        """The HTTP layer stays for the connection's life (handlers are woken one by one)."""

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        """Split the chunk into messages and act on each."""
        if self.state.down_wait is not None:
            # responses owed before the stages came in are still on their way: a request
            # forwarded now could be answered before the response stage takes over
            await self.state.down_wait
        if chunk.eof:
            for event in self.reader.eof():
                await self._event(event, chunk.t, out)
            await flush(self._parts, chunk.t, out)
            await out(chunk)
            return
        if self.state.passthrough:
            held = self.reader.release()
            await out(Chunk(held + chunk.data, chunk.t) if held else chunk)
        else:
            for event in self.reader.feed(chunk.data):
                await self._event(event, chunk.t, out)
            if self.reader.too_large:
                self._parts.clear()
                self._too_large()
            await flush(self._parts, chunk.t, out)
        self.state.after_chunk()

    def _too_large(self) -> None:
        # the connection ends here: answer straight on the client socket (close() flushes
        # buffered writes), nothing more goes upstream
        client = self.state.conn.client.transport
        if client is not None and not client.is_closing():
            client.write(_HEAD_TOO_LARGE)
        self.state.passthrough = True
        self.state.conn.close()

    async def _event(self, event: Event, t: float, out: Out) -> None:
        if isinstance(event, Head):
            await self._head(event, t, out)
            return
        if isinstance(event, Raw):
            if self.reader.too_large:
                return  # answered 431: nothing of it goes upstream
            self.state.passthrough = True
            self._parts.append(event.raw)
            return
        ex = self.ex
        answered = ex is not None and ex.answer is not None
        if event.raw and not answered:  # an answered request's body is dropped here
            self._parts.append(event.raw)
        if isinstance(event, End) and ex is not None:
            self.ex = None
            if answered:
                state = self.state
                if state.pending:
                    state.pending.append(ex)  # answered behind the responses owed before it
                else:
                    assert ex.answer is not None
                    state.emit_synthetic(ex.answer)

    async def _head(self, head: Head, t: float, out: Out) -> None:
        state = self.state
        conn = state.conn
        proxy = conn.proxy
        if head.framing == "upgrade":
            # the protocol changes after this request: the rest of the connection is raw
            state.passthrough = True
            self._parts.append(head.raw)
            return
        path = request_path(head.target).decode("utf-8", "replace")
        info = RequestInfo(head.method, path, head.headers)
        handlers: list[HttpHandler] = []
        rng = conn.rng
        for match in proxy.http_filters:
            if not match(info):
                continue
            toxic = match.toxic
            toxic.seen += 1
            if rng.random() < toxic.toxicity:
                handlers.append(toxic.attributes.handler(StageEnv(conn.loop, rng, conn, toxic)))
        ex = self.ex = Exchange(head, info, handlers)
        host = proxy.host_header
        state.keep = bool(handlers) or host is not None or head.method == "HEAD"
        if host is not None:  # upstream_tls.host_header: the provider routes by Host
            ex.set_request_header("host", host)
        for handler in handlers:
            if "on_request" in hooks_of(handler) and not handler.gone:
                await flush(self._parts, t, out)  # what came before goes on first
                await handler.on_request(ex)
                if ex.answer is not None:
                    return  # answered at the request's end; nothing goes upstream
        proxy.requests_upstream += 1
        state.pending.append(ex)
        self._parts.append(serialize_head(head) if ex.request_edited else head.raw)
