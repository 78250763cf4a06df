"""The response side of the HTTP layer: each response through its request's handlers.

:class:`ResponseStage` leads the downstream chain of a connection in the HTTP layer (see
:mod:`aichaos.proxy.http_layer`, which installs it beside the request stage). Each
response is matched with the exchange its request opened; the handlers of that exchange
see its head (``on_response``), then, by what they asked for and what the response is,
its events (``on_event``, streamed responses: never held back), its whole body
(``on_body``) or its pieces (``on_data``). A response no handler touches goes on as it
came, byte for byte.
"""

from __future__ import annotations

from aichaos.proxy.http_framing import Body, End, Event, Head, MessageReader, Raw
from aichaos.proxy.http_layer import LayerState, flush, serialize_head
from aichaos.proxy.toxics.base import Chunk, Out
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, hooks_of, stream_kind

__all__ = ["MAX_BODY_BYTES", "ResponseStage"]

#: whole bodies above this pass unchanged rather than being held in memory
MAX_BODY_BYTES = 8 * 1024 * 1024
#: response heads longer than this are not followed (the connection goes raw)
MAX_RESPONSE_HEAD = 256 * 1024

# how the current response's body goes out
_RAW, _EVENTS, _BODY, _DATA, _DROP = range(5)
_SSE_ENDS = (b"\r\n\r\n", b"\n\n", b"\r\r")


class ResponseStage:
    """Parses responses in order and runs each one's handlers."""

    __slots__ = (
        "_chunked",
        "_data_hooks",
        "_ex",
        "_held",
        "_held_raw",
        "_kind",
        "_mode",
        "_partial",
        "_parts",
        "reader",
        "state",
    )

    def __init__(self, state: LayerState) -> None:
        self.state = state
        self.reader = MessageReader(True, MAX_RESPONSE_HEAD, self._answers_head)
        self._ex: Exchange | None = None
        self._mode = _RAW
        self._chunked = False
        self._kind: str | None = None
        self._partial = b""
        self._held: list[bytes] = []
        self._held_raw: list[bytes] = []
        self._data_hooks: list[HttpHandler] = []
        #: bytes to send, joined into one write per chunk (a syscall each saved)
        self._parts: list[bytes] = []

    def _answers_head(self) -> bool:
        pending = self.state.pending
        return bool(pending) and pending[0].request.method == "HEAD"

    @property
    def busy(self) -> bool:
        """Inside a response (or holding part of one)."""
        return self.reader.busy or self._ex is not None

    @property
    def exchanging(self) -> bool:
        """Inside a response that has an exchange (its handlers may still act on it)."""
        return self._ex is not None

    @property
    def holding(self) -> bool:
        """Whether bytes of a response are held here (a head, a body being buffered)."""
        return self.reader.holding or bool(self._held_raw)

    def interrupt(self) -> None:
        """The HTTP layer stays for the connection's life (handlers are woken one by one)."""

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        """Split the chunk into responses and act on each."""
        if chunk.synthetic:
            await out(chunk)
        elif chunk.eof:
            for event in self.reader.eof():
                await self._event(event, chunk.t, out)
            if self._held_raw:  # a buffered body the upstream never finished
                self._parts += self._held_raw
                self._held_raw = []
            await flush(self._parts, chunk.t, out)
            await out(chunk)
            return
        elif self.state.passthrough and self._ex is None:
            held = self.reader.release()
            await out(Chunk(held + chunk.data, chunk.t) if held else chunk)
        else:
            for event in self.reader.feed(chunk.data):
                await self._event(event, chunk.t, out)
            await flush(self._parts, chunk.t, out)
        self.state.after_chunk()

    async def _event(self, event: Event, t: float, out: Out) -> None:
        if isinstance(event, Head):
            await self._head(event, t, out)
        elif isinstance(event, Body):
            await self._body(event, t, out)
        elif isinstance(event, End):
            await self._end(event, t, out)
        else:
            assert isinstance(event, Raw)
            self.state.passthrough = True
            self._ex = None
            self._parts.append(b"".join(self._held_raw) + event.raw)
            self._held_raw = []

    # -- head --------------------------------------------------------------------------

    async def _head(self, head: Head, t: float, out: Out) -> None:
        pending = self.state.pending
        ex = pending[0] if pending else None
        self._mode = _RAW
        if head.framing == "upgrade":
            self.state.passthrough = True
        if ex is None or not ex.handlers or head.status < 200 or head.framing == "upgrade":
            self._ex = ex if head.status >= 200 else None
            self._parts.append(head.raw)
            return
        self._ex = ex
        ex.response = head
        for handler in ex.handlers:
            if "on_response" in hooks_of(handler) and not handler.gone:
                await flush(self._parts, t, out)
                await handler.on_response(ex)
        live = [h for h in ex.handlers if not h.gone]
        self._data_hooks = [h for h in live if "on_data" in hooks_of(h)]
        self._chunked = head.framing == "chunked"
        self._kind = stream_kind(head)
        if self._kind is not None and any("on_event" in hooks_of(h) for h in live):
            if head.framing == "length" and head.version == "1.1":
                # events may change the body's length: send it chunked instead
                ex.set_response_header("content-length", None)
                ex.set_response_header("transfer-encoding", "chunked")
                self._chunked = True
            if head.framing != "length" or self._chunked:
                self._mode = _EVENTS
                self._partial = b""
        elif ex.body_wanted and self._kind is None and head.framing != "none":
            self._mode = _BODY
            self._held, self._held_raw = [], [head.raw]
            return  # the head goes out with the body
        if self._mode == _RAW and self._data_hooks and head.framing != "none":
            self._mode = _DATA
        self._parts.append(serialize_head(head) if ex.response_edited else head.raw)

    # -- body --------------------------------------------------------------------------

    async def _body(self, body: Body, t: float, out: Out) -> None:
        mode = self._mode
        if mode == _RAW:
            self._parts.append(body.raw)
        elif mode == _EVENTS:
            self._partial += body.data
            while self._mode == _EVENTS:
                end = _event_end(self._partial, self._kind)
                if end < 0:
                    break
                event, self._partial = self._partial[:end], self._partial[end:]
                await self._run_event(event, t, out)
        elif mode == _BODY:
            self._held.append(body.data)
            self._held_raw.append(body.raw)
            if sum(map(len, self._held)) > MAX_BODY_BYTES:
                # too big to rewrite: this one goes on as it came
                self._mode = _RAW
                self._parts.append(b"".join(self._held_raw))
                self._held, self._held_raw = [], []
        elif mode == _DATA:
            await self._send(body.data, t, out)
        # _DROP: the stream was ended here; the upstream's rest is dropped

    async def _run_event(self, event: bytes, t: float, out: Out) -> None:
        ex = self._ex
        assert ex is not None
        events = [event]
        for handler in ex.handlers:
            if "on_event" not in hooks_of(handler) or handler.gone:
                continue
            passed: list[bytes] = []
            await flush(self._parts, t, out)
            for item in events:
                passed += await handler.on_event(ex, item)
            events = passed
            if ex.ending is not None:
                break
        # a hook that ended the stream still has every event it returned sent (a
        # provider's closing events come several at once); an end from on_data stops at once
        ended_here = ex.ending is not None
        for item in events:
            if self._mode == _DROP:
                return
            await self._send(item, t, out, finish=not ended_here)
            ex.events += 1
        if ex.ending is not None:
            await self._finish_early(t, out)

    async def _send(self, data: bytes, t: float, out: Out, finish: bool = True) -> None:
        ex = self._ex
        for handler in self._data_hooks:
            if not handler.gone and data:
                await flush(self._parts, t, out)
                data = await handler.on_data(ex, data)  # type: ignore[arg-type]
        if data:
            self._parts.append(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)
        if finish and ex is not None and ex.ending is not None and self._mode != _DROP:
            await self._finish_early(t, out)

    async def _finish_early(self, t: float, out: Out) -> None:
        """A handler ended the stream: end it (or cut it) and let nothing more through."""
        ex = self._ex
        if ex is None or self._mode == _DROP:
            return
        if ex.ending == "end" and self._chunked:
            self._parts.append(b"0\r\n\r\n")
        # the upstream is still sending the rest of this response on this connection:
        # closing it is what keeps that rest out of the client's next request
        self._complete(ex, answer_next=False)
        self._mode = _DROP
        await flush(self._parts, t, out)
        self.state.conn.close()

    # -- end ---------------------------------------------------------------------------

    async def _end(self, end: End, t: float, out: Out) -> None:
        ex, mode = self._ex, self._mode
        if mode == _EVENTS and self._partial:
            event, self._partial = self._partial, b""
            await self._run_event(event, t, out)
            mode = self._mode
        if mode == _BODY:
            assert ex is not None and ex.response is not None
            body = b"".join(self._held)
            self._held, self._held_raw = [], []
            for handler in ex.handlers:
                if "on_body" in hooks_of(handler) and not handler.gone:
                    await flush(self._parts, t, out)
                    body = await handler.on_body(ex, body)
            head = ex.response
            head.headers = [
                (n, v)
                for n, v in head.headers
                if n.lower() not in (b"content-length", b"transfer-encoding")
            ]
            head.headers.append((b"content-length", b"%d" % len(body)))
            self._parts.append(serialize_head(head))
            self._chunked = False
            await self._send(body, t, out)
        elif mode in (_EVENTS, _DATA) and self._chunked:
            self._parts.append(b"0\r\n\r\n")
        elif mode == _RAW and end.raw:
            self._parts.append(end.raw)
        if ex is not None and mode != _DROP and self._mode != _DROP:
            self._complete(ex)

    def _complete(self, ex: Exchange, answer_next: bool = True) -> None:
        self._ex = None
        self._mode = _RAW
        pending = self.state.pending
        if pending and pending[0] is ex:
            pending.popleft()
        # answers made here for the requests next in line go out right behind this
        # response, before any upstream response that came in the same chunk
        self.state.flush_ready(self._parts if answer_next else None)


def _event_end(buf: bytes, kind: str | None) -> int:
    """Index just past the first complete event in ``buf`` (SSE: a blank line; lines:
    a newline), or -1."""
    if kind == "lines":
        i = buf.find(b"\n")
        return i + 1 if i >= 0 else -1
    ends = [i + len(sep) for sep in _SSE_ENDS if (i := buf.find(sep)) >= 0]
    return min(ends) if ends else -1
