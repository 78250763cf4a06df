"""The response side of the HTTP layer: parse responses in order, apply each one's plan.

:class:`ResponseStage` leads the downstream chain of a connection in the HTTP layer (see
:mod:`aichaos.proxy.http_layer`, which installs it beside the request stage). Each
response is matched with the plan its request was given and gets that plan's faults:
time-to-first-byte delay, stalls and cuts of server-sent-event streams, JSON
corruption, truncation.
"""

from __future__ import annotations

import json

import httptools

from aichaos.proxy.http_layer import MAX_CORRUPT_BYTES, LayerStage, LayerState
from aichaos.proxy.toxic import Toxic
from aichaos.proxy.toxics.base import Chunk, Out
from aichaos.proxy.toxics.http_base import Plan
from aichaos.proxy.toxics.json_corrupt import apply_ops

__all__ = ["ResponseStage"]


class ResponseStage(LayerStage):
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
