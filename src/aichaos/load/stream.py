"""What one streamed response looked like: token times, output tokens, proper ending.

A :class:`StreamTracker` lives on each connection of the generator and is fed from the
HTTP parser's callbacks: the ``Content-Type`` header, every body piece with the time it
arrived, chunk boundaries and the end of the message. It never decodes JSON; it reads
server-sent events at the byte level and looks at each event's ``data`` with a few
substring tests and, only when an event may carry them, two precompiled regular
expressions (token counts in usage fields, a non-null ``finish_reason``).

Three shapes of body:

* **SSE** (``text/event-stream``): events split on blank lines (``\\n\\n``, ``\\r\\n\\r\\n``,
  ``\\r\\r``), ``data:`` lines joined. An event is *token-bearing* when its data carries
  a non-empty generated string: OpenAI ``delta.content`` / ``text`` / ``refusal`` /
  ``reasoning_content`` / tool-call deltas, Anthropic ``text_delta`` /
  ``input_json_delta`` / ``thinking_delta``, a Responses-API string ``delta``. A
  role-only first delta (``{"role": "assistant", "content": ""}``), pings, usage-only and
  finish events are not tokens. An event of no LLM shape (no ``"choices"``, no
  ``"type"``) with non-empty data counts as one token. The stream is *complete* after
  ``data: [DONE]``, a non-null ``finish_reason``, Anthropic's ``message_stop`` or the
  Responses API's ``response.completed``; anything else is incomplete.
* **chunked, not SSE**: each non-empty chunk is one token event; complete when the body
  ends with its terminating chunk.
* **anything else**: not streamed; the first body byte is the first token.

Output tokens are the last ``completion_tokens`` / ``output_tokens`` a usage field
reported (OpenAI, Anthropic, Responses API), else the number of token events.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["CHUNKED", "PLAIN", "SSE", "StreamTracker"]

PLAIN, CHUNKED, SSE = 0, 1, 2

#: an event whose data holds a non-empty generated string, or a tool-call delta
_TOKEN = re.compile(
    rb'"(?:content|text|delta|refusal|reasoning_content|reasoning|partial_json|thinking'
    rb'|arguments)"\s*:\s*"(?!")|"tool_calls"\s*:\s*\[\s*\{'
)
_USAGE = re.compile(rb'"(?:completion_tokens|output_tokens)"\s*:\s*(\d+)')
_FINISH = re.compile(rb'"finish_reason"\s*:\s*"')
_END_TYPE = re.compile(rb'"type"\s*:\s*"(?:message_stop|response\.completed)"')
_ENDS = (b"message_stop", b"response.completed")
#: an event larger than this without a blank line is not SSE a client can follow
MAX_EVENT_BYTES = 1 << 20


class StreamTracker:
    """The token timeline of the response in flight on one connection.

    >>> t = StreamTracker()
    >>> t.header(b"Content-Type", b"text/event-stream")
    >>> t.body(b'data: {"choices":[{"delta":{"content":"Hi"}}]}\\n\\ndata: [DONE]\\n\\n', 1.5)
    >>> t.token_times, t.complete, t.tokens
    ([1.5], True, 1)
    """

    __slots__ = (
        "_buf",
        "_chunk_bytes",
        "_last_t",
        "complete",
        "first_byte",
        "kind",
        "overflow",
        "token_times",
        "usage_tokens",
    )

    def __init__(self) -> None:
        self.token_times: list[float] = []
        self.reset()

    def reset(self) -> None:
        """Forget the last response (a new request is about to be sent)."""
        self.kind = PLAIN
        self.first_byte = 0.0
        if self.token_times:  # an empty one is reused: one allocation less per request
            self.token_times = []
        self.usage_tokens = -1
        self.complete = False
        self.overflow = False
        self._buf = b""
        self._chunk_bytes = 0
        self._last_t = 0.0

    @property
    def streamed(self) -> bool:
        """True for an SSE or chunked body (a stream that may end improperly)."""
        return self.kind != PLAIN

    @property
    def started(self) -> bool:
        """True once the first token (for a plain body: the first byte) has arrived."""
        return bool(self.token_times) if self.kind != PLAIN else bool(self.first_byte)

    @property
    def tokens(self) -> int:
        """Output tokens: the usage field's count when one was sent, else token events."""
        return self.usage_tokens if self.usage_tokens >= 0 else len(self.token_times)

    @property
    def from_usage(self) -> bool:
        """True when :attr:`tokens` came from a usage field."""
        return self.usage_tokens >= 0

    # -- parser callbacks -------------------------------------------------------------
    def header(self, name: bytes, value: bytes) -> None:
        """One response header (only ``Content-Type`` matters)."""
        if (
            len(name) == 12
            and name.lower() == b"content-type"
            and value[:17].lower() == b"text/event-stream"
        ):
            self.kind = SSE

    def chunk_header(self) -> None:
        """A chunk of a chunked body begins."""
        if self.kind == PLAIN:
            self.kind = CHUNKED
        self._chunk_bytes = 0

    def chunk_complete(self) -> None:
        """A chunk ended; a non-empty one is a token event of a chunked, non-SSE body."""
        if self.kind == CHUNKED and self._chunk_bytes:
            self.token_times.append(self._last_t)

    def message_complete(self, now: Callable[[], float]) -> None:
        """The response ended properly at the HTTP level."""
        if self.kind == CHUNKED:
            self.complete = True
        elif self.kind == PLAIN and not self.first_byte:
            self.first_byte = now()  # no body: the answer is all there is

    def body(self, data: bytes, t: float) -> None:
        """A piece of the body that arrived at ``t``."""
        if not self.first_byte:
            self.first_byte = t
        kind = self.kind
        if kind == SSE:
            self._sse(data, t)
        elif kind == CHUNKED:
            self._chunk_bytes += len(data)
            self._last_t = t

    # -- server-sent events -----------------------------------------------------------
    def _sse(self, data: bytes, t: float) -> None:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            carry = buf.endswith(b"\r")  # its \n may be in the next piece
            if carry:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if carry:
                buf += b"\r"
        events = buf.split(b"\n\n")
        rest = events.pop()
        if len(rest) > MAX_EVENT_BYTES:
            self.overflow = True
            rest = b""
        self._buf = rest
        if not events:
            return
        body = buf[: len(buf) - len(rest)] if rest else buf
        n = len(events)
        if (
            # the common piece: OpenAI chunks, one data line each, no usage, no end, no
            # comment; a token test per event is all it needs, done in C
            body.count(b'"choices"') == n
            and body.count(b"\n") == 2 * n
            and body.count(b"data:") == n
            and b'tokens"' not in body
            and b"[DONE]" not in body
            and b'"type"' not in body
            and b"\n:" not in body
            and body.count(b'"finish_reason"')
            == body.count(b'"finish_reason": null') + body.count(b'"finish_reason":null')
        ):
            self.token_times += [t] * sum(map(bool, map(_TOKEN.search, events)))
            return
        for ev in events:
            if ev:
                self._event(ev, t)

    def _event(self, ev: bytes, t: float) -> None:
        if ev.startswith(b"data:") and b"\n" not in ev:
            name = b""
            data = ev[5:]
        else:
            name = b""
            lines: list[bytes] = []
            for line in ev.split(b"\n"):
                if line.startswith(b"data:"):
                    lines.append(line[5:].removeprefix(b" "))
                elif line.startswith(b"event:"):
                    name = line[6:].strip()
            if not lines:
                return  # a comment, or an event without data: nothing is dispatched
            data = b"\n".join(lines)
        if data[:1] == b" ":
            data = data[1:]
        if data == b"[DONE]":
            self.complete = True
            return
        if b'tokens"' in data:
            m = _USAGE.search(data)
            if m is not None:
                self.usage_tokens = int(m[1])
        if b'"finish_reason"' in data and _FINISH.search(data):
            self.complete = True
        if name in _ENDS or (b'"type"' in data and _END_TYPE.search(data)):
            self.complete = True
            return
        if _TOKEN.search(data) is not None:
            self.token_times.append(t)
        elif data and b'"choices"' not in data and b'"type"' not in data:
            self.token_times.append(t)  # a plain event stream: one event, one token
