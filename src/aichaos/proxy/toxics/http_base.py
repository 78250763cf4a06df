"""The HTTP toxic contract: request matching, and per-request handlers with hooks.

An HTTP toxic does not sit in a byte chain. For each request on an HTTP-aware connection
the HTTP layer (:mod:`aichaos.proxy.http_layer`) asks every HTTP toxic, in chain order,
whether the request matches (method, path glob or regex, headers); if so it rolls the
toxic's toxicity *for this request*, and a winner builds an :class:`HttpHandler` for it.
The handler owns the toxic's behaviour through optional hooks, each run for the
handlers of the request in chain order:

``on_request(ex)``
    the request head, before it is forwarded: sleep, edit headers, or answer it here.
``on_response(ex)``
    the response head, before it is forwarded: sleep (time to first byte), edit headers,
    ask for the whole body (:meth:`Exchange.want_body`).
``on_event(ex, event)``
    each event of a streamed response (server-sent events, or NDJSON lines): return the
    events to pass on (none, the same, changed, more); sleep; end or cut the stream.
``on_body(ex, body)``
    the whole body (when asked for in ``on_response``): return the body to send.
``on_data(ex, data)``
    each piece of the body as it goes out (after the hooks above): return what to send.

Several toxics compose by order: each hook of each handler runs, so two stalls are two
stalls and the second toxic sees what the first one made. A handler calls
:meth:`HttpHandler.hit` when it really changed something, which is what the toxic's
``affected`` counter counts. Sleeps use :meth:`StageBase.sleep` (the toxics' precise
timer) and end at once when the toxic is removed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from aichaos.proxy import codings
from aichaos.proxy.toxics.base import StageBase, StageEnv, ToxicAttributes

if TYPE_CHECKING:
    from aichaos.proxy.http_framing import Head

__all__ = [
    "Exchange",
    "HttpHandler",
    "HttpToxic",
    "RequestFilter",
    "RequestInfo",
    "StreamMode",
    "hooks_of",
    "stream_kind",
]

StreamMode = Literal["close", "end"]


class RequestInfo:
    """What matching sees of a request: method, path (no query) and lower-cased headers.

    The headers are decoded on first use (most toxics filter on the path only).
    """

    __slots__ = ("_headers", "_raw", "method", "path")

    def __init__(self, method: str, path: str, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.path = path
        self._raw = raw_headers
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Header name (lower case) -> value (latin-1); the last one of repeated names."""
        if self._headers is None:
            self._headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in self._raw}
        return self._headers


class Exchange:
    """One request and its response, as the handlers of the toxics that won it see them.

    ``request`` is the request head; ``response`` the response head once it arrived
    (``None`` before). Hooks change them through the methods below.
    """

    __slots__ = (
        "_ending",
        "answer",
        "body_wanted",
        "events",
        "handlers",
        "info",
        "request",
        "request_edited",
        "response",
        "response_edited",
    )

    def __init__(self, request: Head, info: RequestInfo, handlers: list[HttpHandler]) -> None:
        self.request = request
        self.info = info
        self.handlers = handlers
        self.response: Head | None = None
        #: a complete response made here (the request is then not forwarded)
        self.answer: bytes | None = None
        self.request_edited = False
        self.response_edited = False
        self.body_wanted = False
        #: events passed on to the client so far (streamed responses)
        self.events = 0
        #: how the stream ends early, if a handler said so: "close" or "end"
        self._ending: str | None = None

    def respond(self, raw: bytes) -> None:
        """Answer the request with ``raw`` (a complete HTTP response): it is not forwarded,
        and the handlers after this one are not asked about it."""
        self.answer = raw

    def set_request_header(self, name: str, value: str | None) -> None:
        """Set (or with ``None`` remove) a request header before the request is forwarded."""
        assert self.response is None, "the request has already been forwarded"
        _set_header(self.request.headers, name, value)
        self.request_edited = True

    def set_response_header(self, name: str, value: str | None) -> None:
        """Set (or remove) a response header; only from ``on_response``."""
        assert self.response is not None
        _set_header(self.response.headers, name, value)
        self.response_edited = True

    def want_body(self) -> None:
        """Buffer the whole response body and pass it to ``on_body`` (from ``on_response``).

        Bodies over the layer's limit pass unchanged; a streamed response (events) is
        never held back.
        """
        self.body_wanted = True

    def close(self) -> None:
        """Drop the connection after what was passed on so far (the client sees a cut)."""
        self._ending = "close"

    def end(self) -> None:
        """End the response cleanly after what was passed on so far (a response that just
        stops). The upstream's rest of it is dropped and the connection closed after it,
        so it cannot spill into the next request (announce that with a ``connection:
        close`` header from ``on_response``)."""
        if self._ending is None:
            self._ending = "end"

    @property
    def ending(self) -> str | None:
        """``"close"``, ``"end"`` or None: whether a handler ended the stream early."""
        return self._ending

    @property
    def is_stream(self) -> bool:
        """Whether the response is a stream of events (SSE or NDJSON)."""
        return self.response is not None and stream_kind(self.response) is not None


def stream_kind(head: Head) -> str | None:
    """``"sse"`` or ``"lines"`` for a streamed response's content type, else None."""
    ctype = (head.get("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype == "text/event-stream":
        return "sse"
    if ctype in ("application/x-ndjson", "application/jsonl", "application/json-seq"):
        return "lines"
    return None


def _set_header(headers: list[tuple[bytes, bytes]], name: str, value: str | None) -> None:
    if "\r" in name or "\n" in name or (value is not None and ("\r" in value or "\n" in value)):
        raise ValueError(f"header {name!r} must not contain CR or LF")
    key = name.lower().encode("latin-1")
    headers[:] = [(n, v) for n, v in headers if n.lower() != key]
    if value is not None:
        headers.append((name.encode("latin-1"), value.encode("latin-1")))


class HttpHandler(StageBase):
    """One HTTP toxic acting on one request. Override the hooks the toxic needs.

    ``self.env.toxic`` is the live toxic (its ``attributes`` are the toxic's settings),
    ``self.env.rng`` the connection's seeded RNG, ``self.sleep`` the precise timer.
    """

    __slots__ = ("_hit",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self._hit = False

    def hit(self) -> None:
        """This request was really changed: count it once in the toxic's ``affected``."""
        if not self._hit:
            self._hit = True
            self.env.toxic.affected += 1

    def rewrite_json(self, ex: Exchange, body: bytes, change: Callable[[Any], bool]) -> bytes:
        """``body`` with its JSON document edited in place by ``change`` (true when it
        changed something), encoded again in the response's content coding and counted
        as a hit; the bytes unchanged when it is not JSON or nothing changed."""
        assert ex.response is not None
        coding = ex.response.get("content-encoding")
        doc = codings.decode_json(body, coding)
        if doc is None or not change(doc):
            return body
        self.hit()
        return codings.encode_json(doc, coding)

    async def on_request(self, ex: Exchange) -> None:
        """The request head, before it is forwarded (or answered)."""

    async def on_response(self, ex: Exchange) -> None:
        """The response head, before it is forwarded."""

    async def on_event(self, ex: Exchange, event: bytes) -> list[bytes]:
        """One event of a streamed response; returns the events to pass on."""
        return [event]

    async def on_body(self, ex: Exchange, body: bytes) -> bytes:
        """The whole response body (if :meth:`Exchange.want_body` was called)."""
        return body

    async def on_data(self, ex: Exchange, data: bytes) -> bytes:
        """A piece of the body on its way out; returns what to send."""
        return data


_HOOKS = ("on_request", "on_response", "on_event", "on_body", "on_data")
_HOOKS_OF: dict[type, frozenset[str]] = {}


def hooks_of(handler: HttpHandler) -> frozenset[str]:
    """The hooks a handler's class overrides (known per class: the layer skips the rest)."""
    cls = type(handler)
    known = _HOOKS_OF.get(cls)
    if known is None:
        known = _HOOKS_OF[cls] = frozenset(
            h for h in _HOOKS if getattr(cls, h) is not getattr(HttpHandler, h)
        )
    return known


class HttpToxic(ToxicAttributes):
    """Matching fields shared by every HTTP toxic (all optional: no filter hits every request).

    Subclasses set ``handler_class`` (or override :meth:`handler`).
    """

    kind: ClassVar[str] = "http"
    handler_class: ClassVar[type[HttpHandler]] = HttpHandler

    method: str | None = Field(None, description="HTTP method, e.g. POST (case-insensitive)")
    path: str | None = Field(None, description="glob on the path, e.g. /v1/*")
    path_regex: str | None = Field(None, description="regex searched in the path")
    headers: dict[str, str] = Field(
        default_factory=dict, description="header name -> glob on its value ('*': present)"
    )

    @field_validator("path_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            from aichaos.proxy.pathregex import compile_path_regex

            compile_path_regex(value)
        return value

    def matches(self, req: RequestInfo) -> bool:
        """Whether this toxic's filter selects the request (the layer runs the same
        :class:`RequestFilter`, compiled once per toxic change)."""
        return RequestFilter(self)(req)

    def handler(self, env: StageEnv) -> HttpHandler:
        """Build this toxic's handler for one request."""
        return self.handler_class(env)


def _glob(pattern: str) -> Callable[[str], object]:
    """``fnmatch.fnmatchcase`` against ``pattern``, compiled once."""
    return re.compile(fnmatch.translate(pattern)).match


class RequestFilter:
    """An HTTP toxic's filter, compiled: the HTTP layer runs it on every request head.

    ``toxic`` is what the caller attaches it to (the proxy keeps one per HTTP toxic, in
    chain order, rebuilt whenever its toxics change).
    """

    __slots__ = ("headers", "method", "path", "regex", "toxic")

    def __init__(self, attrs: HttpToxic, toxic: Any = None) -> None:
        self.toxic = toxic
        self.method = None if attrs.method is None else attrs.method.upper()
        self.path = None if attrs.path is None else _glob(attrs.path)
        self.regex: Callable[[str], object] | None = None
        if attrs.path_regex is not None:
            from aichaos.proxy.pathregex import compile_path_regex

            self.regex = compile_path_regex(attrs.path_regex).search
        self.headers = tuple((n.lower(), _glob(p)) for n, p in attrs.headers.items())

    def __call__(self, req: RequestInfo) -> bool:
        """Whether the filter selects the request (no filter selects every request)."""
        if self.method is not None and req.method != self.method:
            return False
        if self.path is not None and self.path(req.path) is None:
            return False
        if self.regex is not None and self.regex(req.path) is None:
            return False
        if self.headers:
            seen = req.headers
            for name, match in self.headers:
                value = seen.get(name)
                if value is None or match(value) is None:
                    return False
        return True
