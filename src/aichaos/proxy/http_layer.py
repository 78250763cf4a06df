"""The HTTP layer of an HTTP-aware connection: per-request faults on HTTP/1.1 keep-alive.

A connection carries it only while its proxy has HTTP toxics (or ``"http": true``); see
:mod:`aichaos.proxy.http_switch` for how live connections move in and out of it. Two
stages lead the connection's chains: :class:`RequestStage` on the upstream link parses
requests (httptools), asks the HTTP toxics for a :class:`Plan` per request and forwards
it, re-serialised, unless the plan answers it here;
:class:`~aichaos.proxy.http_response.ResponseStage` on the downstream link parses the
responses, in order, and applies each one's plan (first byte delay, event stalls and
cuts, JSON corruption, truncation).

Known limits: responses to ``HEAD`` requests are not told apart (a ``HEAD`` answered with
a Content-Length confuses the response parser); after an upgrade (WebSocket) or bytes
that are not HTTP, the connection passes bytes through unparsed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

from aichaos.proxy.toxic import Toxic
from aichaos.proxy.toxics.base import Chunk, Out, StageBase, StageEnv
from aichaos.proxy.toxics.http_base import HttpToxic, Plan, RequestInfo

if TYPE_CHECKING:
    from aichaos.proxy.connection import Connection
    from aichaos.proxy.http_response import ResponseStage

__all__ = ["MAX_CORRUPT_BYTES", "LayerStage", "LayerState", "Op", "RequestStage", "install"]

#: JSON bodies above this pass uncorrupted rather than being held in memory
MAX_CORRUPT_BYTES = 8 * 1024 * 1024

Op = tuple[str, Any]


def install(conn: Connection) -> LayerState:
    """Put the HTTP layer at the head of both of the connection's chains.

    Call it only at a message boundary in both directions (a new connection, or a
    tracked one between exchanges); the caller rebuilds the chains.
    """
    from aichaos.proxy.http_response import ResponseStage  # it builds on this module

    assert conn.up is not None and conn.down is not None
    state = LayerState(conn)
    state.request = RequestStage(state)
    state.response = ResponseStage(state)
    conn.up.head_stages = (state.request,)
    conn.down.head_stages = (state.response,)
    return state


class LayerState:
    """What both directions of one connection share: plans in request order."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.env = StageEnv(conn.loop, conn.rng, conn, _NO_TOXIC)
        #: one entry per request still waiting for its response: a plan, or synthetic bytes
        self.pending: deque[Plan] = deque()
        self.passthrough = False
        self.request: RequestStage | None = None
        self.response: ResponseStage | None = None

    def idle(self) -> bool:
        """Between exchanges: no request owed a response, no message half-parsed."""
        req, resp = self.request, self.response
        return (
            not self.pending
            and req is not None
            and not req.busy
            and resp is not None
            and not resp.busy
        )

    def after_chunk(self) -> None:
        """A stage finished a chunk: leave the connection if no HTTP toxic is left."""
        switch = self.conn.http
        if switch is not None and not switch.want:
            switch.try_leave()

    def emit_synthetic(self, data: bytes) -> None:
        """Send a response made here, behind every response still owed by the upstream."""
        down = self.conn.down
        assert down is not None
        down.feed(data, synthetic=True)

    def flush_ready(self) -> None:
        """Answer synthetic responses that are now at the head of the line."""
        while self.pending and self.pending[0].synthetic is not None:
            plan = self.pending.popleft()
            assert plan.synthetic is not None
            self.emit_synthetic(plan.synthetic)


class LayerStage(StageBase):
    """Runs a list of ops produced by parser callbacks: data, sleeps, close."""

    __slots__ = ("busy", "ops", "state")

    def __init__(self, state: LayerState) -> None:
        super().__init__(state.env)
        self.state = state
        self.ops: list[Op] = []
        #: inside a message (from its first byte to its end)
        self.busy = False

    def interrupt(self) -> None:
        """The HTTP layer stays for the connection's life; closing cancels its sleeps."""

    async def run_ops(self, t: float, out: Out) -> None:
        ops, self.ops = self.ops, []
        for kind, arg in ops:
            if kind == "data":
                await out(Chunk(arg, t))
            elif kind == "sleep":
                await self._sleep(*arg)
            elif kind == "close":
                self.state.conn.close()
                return

    async def _sleep(self, seconds: float, toxics: list[Toxic]) -> None:
        """Sleep, but stop early once none of the toxics that asked for it is still on."""
        loop = self.env.loop
        deadline = loop.time() + seconds
        proxy_toxics = self.state.conn.proxy.toxics
        while (left := deadline - loop.time()) > 0:
            if toxics and all(proxy_toxics.get(t.name) is not t for t in toxics):
                return
            await asyncio.sleep(min(left, 0.05))


#: a request head larger than this is answered 431 and the connection closed, as servers
#: do: the layer holds a head until it is complete, so it must not hold one without bound
MAX_HEAD_BYTES = 64 * 1024

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"content-length: 37\r\nconnection: close\r\n\r\nrequest head larger than 64 KiB: closed"
)


class RequestStage(LayerStage):
    """Parses requests, plans each one, forwards it re-serialised or answers it here."""

    __slots__ = (
        "_chunked",
        "_head_bytes",
        "_headers",
        "_in_head",
        "_plan",
        "_toxics",
        "_url",
        "parser",
    )

    def __init__(self, state: LayerState) -> None:
        super().__init__(state)
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._plan = Plan()
        self._toxics: list[Toxic] = []
        self._chunked = False
        # bytes fed while a request head is incomplete (httptools buffers a header until
        # it ends, so the bound is checked on what is fed, not in its callbacks)
        self._in_head = True
        self._head_bytes = 0

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        if chunk.eof or self.state.passthrough:
            await out(chunk)
            if not chunk.eof:
                self.state.after_chunk()
            return
        if self._in_head:
            self._head_bytes += len(chunk.data)
        try:
            self.parser.feed_data(chunk.data)
            if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
                # the connection ends here: answer straight on the client socket (close()
                # flushes buffered writes), nothing more goes upstream
                client = self.state.conn.client.transport
                if client is not None and not client.is_closing():
                    client.write(_HEAD_TOO_LARGE)
                self.ops = [("close", None)]
                self.state.passthrough = True
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(chunk.data)
            self.ops.append(("data", chunk.data[offset:]))
            self.state.passthrough = True
        except httptools.HttpParserError:
            self.ops = [("data", chunk.data)]
            self.state.passthrough = True
        await self.run_ops(chunk.t, out)
        self.state.after_chunk()

    # httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.busy = True
        self._url, self._headers, self._chunked = b"", [], False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        parser = self.parser
        method = parser.get_method().decode("ascii", "replace")
        path = httptools.parse_url(self._url).path.decode("utf-8", "replace")
        headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in self._headers}
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        plan, winners = Plan(), []
        req = RequestInfo(method, path, headers)
        proxy = self.state.conn.proxy
        rng = self.env.rng
        for toxic in list(proxy.toxics.values()):
            attrs = toxic.attributes
            if not isinstance(attrs, HttpToxic) or not attrs.matches(req):
                continue
            toxic.seen += 1
            if rng.random() < toxic.toxicity:
                toxic.affected += 1
                attrs.plan(plan, rng)
                winners.append(toxic)
        self._plan, self._toxics = plan, winners
        if plan.synthetic is not None:
            return  # answered at message end; the request's bytes are dropped
        proxy.requests_upstream += 1
        self.state.pending.append(plan)
        plan.toxics = winners
        if plan.request_delay_s > 0:
            self.ops.append(("sleep", (plan.request_delay_s, winners)))
        version = parser.get_http_version()
        head = [method.encode() + b" " + self._url + b" HTTP/" + version.encode() + b"\r\n"]
        head += [n + b": " + v + b"\r\n" for n, v in self._headers]
        head.append(b"\r\n")
        self.ops.append(("data", b"".join(head)))

    def on_body(self, body: bytes) -> None:
        if self._plan.synthetic is not None:
            return
        if self._chunked:
            body = b"%x\r\n%b\r\n" % (len(body), body)
        self.ops.append(("data", body))

    def on_message_complete(self) -> None:
        self._in_head = True
        self.busy = False
        plan = self._plan
        if plan.synthetic is not None:
            if self.state.pending:
                self.state.pending.append(plan)  # answered after the responses owed before it
            else:
                self.state.emit_synthetic(plan.synthetic)
        elif self._chunked:
            self.ops.append(("data", b"0\r\n\r\n"))


class _NoToxic:
    """Placeholder toxic for the HTTP layer's env (it acts for many toxics, not one)."""

    name = ""
    attributes = None


_NO_TOXIC: Any = _NoToxic()
