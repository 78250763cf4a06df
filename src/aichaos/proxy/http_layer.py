"""The HTTP layer of an HTTP-aware connection: per-request faults on HTTP/1.1 keep-alive.

A connection carries it only while its proxy has HTTP toxics (or ``"http": true``); see
:mod:`aichaos.proxy.http_switch` for how live connections move in and out of it. Two
stages lead the connection's chains: :class:`RequestStage` on the upstream link parses
requests (httptools), asks the HTTP toxics for a :class:`Plan` per request and forwards
it, re-serialised, unless the plan answers it here; :class:`ResponseStage` on the
downstream link parses the responses, in order, and applies each one's plan (first byte
delay, event stalls and cuts, JSON corruption, truncation).

Known limits: responses to ``HEAD`` requests are not told apart (a ``HEAD`` answered with
a Content-Length confuses the response parser); after an upgrade (WebSocket) or bytes
that are not HTTP, the connection passes bytes through unparsed.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

from aichaos.proxy.toxic import Toxic
from aichaos.proxy.toxics.base import Chunk, Out, StageBase, StageEnv
from aichaos.proxy.toxics.http_base import HttpToxic, Plan, RequestInfo
from aichaos.proxy.toxics.json_corrupt import apply_ops

if TYPE_CHECKING:
    from aichaos.proxy.connection import Connection

__all__ = ["LayerState", "RequestStage", "ResponseStage", "install"]

#: JSON bodies above this pass uncorrupted rather than being held in memory
MAX_CORRUPT_BYTES = 8 * 1024 * 1024

Op = tuple[str, Any]


def install(conn: Connection) -> LayerState:
    """Put the HTTP layer at the head of both of the connection's chains.

    Call it only at a message boundary in both directions (a new connection, or a
    tracked one between exchanges); the caller rebuilds the chains.
    """
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


class _StageCore(StageBase):
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


class RequestStage(_StageCore):
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


class ResponseStage(_StageCore):
    """Parses responses in order and applies each one's plan."""

    __slots__ = (
        "_body",
        "_chunked",
        "_cut",
        "_events",
        "_headers",
        "_partial",
        "_plan",
        "_sent_body",
        "_status_line",
        "parser",
    )

    def __init__(self, state: LayerState) -> None:
        super().__init__(state)
        self.parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self._plan = Plan()
        self._headers: list[tuple[bytes, bytes]] = []
        self._status_line = b""
        self._chunked = False
        self._body: list[bytes] | None = None
        self._partial = b""
        self._events = 0
        self._sent_body = 0
        self._cut = False

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        if chunk.eof or chunk.synthetic or self.state.passthrough:
            await out(chunk)
            if not chunk.eof:
                self.state.after_chunk()
            return
        try:
            self.parser.feed_data(chunk.data)
        except httptools.HttpParserUpgrade:
            self.ops.append(("data", chunk.data))
            self.state.passthrough = True
        except httptools.HttpParserError:
            self.ops = [("data", chunk.data)]
            self.state.passthrough = True
        await self.run_ops(chunk.t, out)
        self.state.after_chunk()

    def _toxics(self) -> list[Toxic]:
        return list(self._plan.toxics)

    # httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.busy = True
        self._reset()
        pending = self.state.pending
        self._plan = pending[0] if pending else Plan()

    def on_status(self, status: bytes) -> None:
        self._status_line += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def _head(self, drop_length: bool = False, length: int | None = None) -> bytes:
        code = self.parser.get_status_code()
        version = self.parser.get_http_version().encode()
        lines = [b"HTTP/" + version + b" %d " % code + self._status_line + b"\r\n"]
        for n, v in self._headers:
            if drop_length and n.lower() in (b"content-length", b"transfer-encoding"):
                continue
            lines.append(n + b": " + v + b"\r\n")
        if length is not None:
            lines.append(b"content-length: %d\r\n" % length)
        return b"".join(lines) + b"\r\n"

    def on_headers_complete(self) -> None:
        plan = self._plan
        headers = {n.lower(): v for n, v in self._headers}
        self._chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if plan.first_byte_delay_s > 0:
            self.ops.append(("sleep", (plan.first_byte_delay_s, self._toxics())))
        if plan.corrupt and not plan.needs_events:
            self._body = []  # buffered; the head goes out with the rewritten body
            return
        self.ops.append(("data", self._head()))

    def on_body(self, body: bytes) -> None:
        if self._cut:
            return
        plan = self._plan
        if self._body is not None:
            self._body.append(body)
            if sum(map(len, self._body)) > MAX_CORRUPT_BYTES:
                # too big to rewrite: give up on this one and stream what we hold
                held, self._body = self._body, None
                self.ops.append(("data", self._head()))
                for piece in held:
                    self._send(piece)
            return
        if plan.needs_events:
            self._partial += body
            self._split_events()
            return
        self._send(body)

    def _send(self, body: bytes) -> None:
        plan = self._plan
        if plan.truncate_bytes is not None:
            left = plan.truncate_bytes - self._sent_body
            if len(body) >= left:
                if left > 0:
                    self._frame(body[:left])
                self._cut = True
                self.ops.append(("close", None))
                return
        self._sent_body += len(body)
        self._frame(body)

    def _frame(self, body: bytes) -> None:
        if body:
            self.ops.append(
                ("data", b"%x\r\n%b\r\n" % (len(body), body) if self._chunked else body)
            )

    def _split_events(self) -> None:
        plan = self._plan
        while not self._cut:
            end = _event_end(self._partial)
            if end < 0:
                return
            event, self._partial = self._partial[:end], self._partial[end:]
            if plan.drop_done and event.strip() == b"data: [DONE]":
                continue
            self._send(event)
            self._events += 1
            if plan.cut_after_events is not None and self._events >= plan.cut_after_events:
                self._end_stream()
                return
            stall_at = plan.stall_after_events
            if stall_at is not None and (
                self._events == stall_at
                or (plan.stall_every and stall_at and self._events % stall_at == 0)
            ):
                self.ops.append(("sleep", (plan.stall_s, self._toxics())))

    def _end_stream(self) -> None:
        plan = self._plan
        self._cut = True
        if plan.cut_error_event is not None:
            self._frame(plan.cut_error_event)
        if plan.cut_mode == "end" and self._chunked:
            self.ops.append(("data", b"0\r\n\r\n"))
            self._finish()
        else:
            self.ops.append(("close", None))

    def on_message_complete(self) -> None:
        self.busy = False
        plan = self._plan
        if self._body is not None:
            raw = b"".join(self._body)
            body = _corrupt(raw, plan)
            self.ops.append(("data", self._head(drop_length=True, length=len(body)) + body))
        elif not self._cut:
            if self._partial:
                self._send(self._partial)
                self._partial = b""
            if self._chunked and not self._cut:
                self.ops.append(("data", b"0\r\n\r\n"))
        code = self.parser.get_status_code()
        if 100 <= code < 200 and code != 101:
            return  # an interim response: the final one is still owed
        if not (self._cut and plan.cut_mode == "end"):
            self._finish()

    def _finish(self) -> None:
        pending = self.state.pending
        if pending and pending[0] is self._plan:
            pending.popleft()
        self.state.flush_ready()


def _event_end(buf: bytes) -> int:
    """Index just past the first blank line (``\\n\\n`` or ``\\r\\n\\r\\n``), or -1."""
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if (i := buf.find(sep)) >= 0]
    return min(ends) if ends else -1


def _corrupt(raw: bytes, plan: Plan) -> bytes:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw  # not JSON: nothing to corrupt
    assert plan.corrupt_rng is not None
    doc = apply_ops(doc, plan.corrupt, plan.corrupt_rng)
    return json.dumps(doc, allow_nan=True).encode()


class _NoToxic:
    """Placeholder toxic for the HTTP layer's env (it acts for many toxics, not one)."""

    name = ""
    attributes = None


_NO_TOXIC: Any = _NoToxic()
