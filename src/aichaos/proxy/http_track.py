"""Parsers that follow a connection's HTTP messages while its bytes take the direct path.

A link hands its tracker every chunk at the head of its chain. :meth:`Tracker.feed`
returns how many leading bytes go the way they came; the rest (if any) has been
*diverted* into the HTTP layer's stages, which the tracker's switch
(:mod:`aichaos.proxy.http_switch`) has just put at the head of the chain. Only a tracker
that can divert (:attr:`Tracker.diverts`) sees a chunk before it is written.

Each tracker owns one httptools parser for the life of its mode, fed every byte: httptools
(llhttp) keeps its state across the messages of a keep-alive connection, so message
boundaries cost no Python framing.

:class:`RequestTracker` and :class:`ResponseTracker` only count complete messages (no
header or body callbacks): the connection knows when it sits between exchanges.

:class:`RequestWatcher` is the HTTP layer's fast path: it also sees each request head
(method, target, headers) and asks :func:`needs_layer` whether an HTTP toxic could
match it. A request none can match is forwarded as it came, with no framing, matching
of its body or re-serialisation in Python. From the first byte of one that can, the
bytes go to the layer's stages, which run the handlers (and the response side follows
once the responses owed before it have gone by, so each response still meets its
request in pipelining order).

httptools reports no offsets, so a chunk can only be split where the watcher knows the
offset: it keeps every chunk it parses starting at a message boundary or inside the
body of a forwarded request whose remaining length it knows (a ``Content-Length`` body;
a chunked request body always goes to the stages). A chunk that finishes such a body
and goes on is parsed in two parts, the body's end first; a chunk that ends inside a
head goes to the stages whole (the head cannot be decided before its bytes must go).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import httptools

if TYPE_CHECKING:
    from aichaos.proxy.http_switch import HttpSwitch
    from aichaos.proxy.proxy import Proxy

__all__ = [
    "MAX_HEAD_BYTES",
    "Classifier",
    "RequestTracker",
    "RequestWatcher",
    "ResponseTracker",
    "Tracker",
    "needs_layer",
    "request_path",
]

_PARSE_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)
#: a request head larger than this is answered 431 and the connection closed, as servers
#: do: the layer's stages hold a head until it is complete, so they must not hold one
#: without bound (the fast path sends such a head to them, so every path answers alike)
MAX_HEAD_BYTES = 64 * 1024
#: what a head has beyond its target and header names and values: the request line's
#: method and version, ": " and line ends (generous: the stages measure exactly)
_HEAD_SLACK = 1024
#: requests decided per proxy (a keep-alive client asks for the same few targets)
_DECIDED_MAX = 1024
#: method names as the filters compare them (decoded once)
_METHODS = {m: m.decode() for m in (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS")}


def request_path(target: bytes) -> bytes:
    """The path of a request target, without its query (absolute form and ``*`` too)."""
    path = target.partition(b"?")[0]
    if not path.startswith(b"/"):  # absolute form (http://host/path) or "*"
        scheme_end = path.find(b"://")
        slash = path.find(b"/", scheme_end + 3) if scheme_end >= 0 else -1
        path = path[slash:] if slash >= 0 else b"/"
    return path


def needs_layer(
    proxy: Proxy, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
) -> bool:
    """Whether a request must go through the layer's stages: an HTTP toxic's filter
    selects it (toxicity is rolled there, once), the Host header is rewritten, or its
    response has no body whatever its head says (``HEAD``)."""
    if method == b"HEAD" or (proxy.upstream_tls is not None and proxy.host_header is not None):
        return True
    filters = proxy.http_filters
    if not filters:
        return False
    decided = proxy.http_decided
    if decided is not None:
        known = decided.get((method, target))
        if known is not None:
            return known
    # loaded once a proxy has an HTTP toxic (filters exist), not at the proxy's start
    from aichaos.proxy.toxics.http_base import RequestInfo

    name = _METHODS.get(method) or method.decode("ascii", "replace")
    path = target if target[:1] == b"/" and b"?" not in target else request_path(target)
    info = RequestInfo(name, path.decode("utf-8", "replace"), headers)
    selected = False
    for match in filters:  # a loop, not any(): no generator per request head
        if match(info):
            selected = True
            break
    if decided is not None:
        if len(decided) >= _DECIDED_MAX:
            decided.clear()
        decided[method, target] = selected
    return selected


class Tracker:
    """What a link calls with every chunk that reaches the head of its chain."""

    __slots__ = ()
    #: whether :meth:`feed` may divert part of a chunk (else the direct path writes the
    #: chunk first and feeds it after)
    diverts: ClassVar[bool] = False

    def feed(self, data: bytes) -> int:
        """Look at a chunk before it goes on; return how many leading bytes go on as they
        came (the rest went to the HTTP layer's stages, now at the head of the chain)."""
        raise NotImplementedError


class Classifier(Tracker):
    """Decides, on the first chunk of a connection, whether it can be HTTP at all."""

    __slots__ = ("switch", "upstream")

    def __init__(self, switch: HttpSwitch, upstream: bool) -> None:
        self.switch = switch
        self.upstream = upstream

    def feed(self, data: bytes) -> int:
        """A request line starts with a method: upper-case ASCII letters."""
        switch = self.switch
        if self.upstream and data[:1].isupper():
            switch.track()
            assert switch.req is not None
            return switch.req.feed(data)
        switch.give_up()
        return len(data)


class _Lost(Exception):
    """Raised from a parser callback: the exchange cannot be followed (e.g. ``HEAD``)."""


class _Follower(Tracker):
    """Follows one direction's messages with an httptools parser; counts complete ones."""

    __slots__ = ("busy", "done", "parser", "switch")

    def __init__(self, switch: HttpSwitch, parser: Any) -> None:
        self.switch = switch
        self.busy = False
        self.done = 0
        self.parser = parser

    def feed(self, data: bytes) -> int:
        """Parse; then, if the switch waits for a point between exchanges, check it."""
        try:
            self.parser.feed_data(data)
        except _PARSE_ERRORS:
            self.switch.give_up()
            return len(data)
        if self.switch.pending_move:
            self.switch.moment()
        return len(data)

    def on_message_begin(self) -> None:
        """httptools: the first byte of a request or status line."""
        self.busy = True


class RequestTracker(_Follower):
    """Counts complete requests on the client-to-server direction (no HTTP toxic)."""

    __slots__ = ()

    def __init__(self, switch: HttpSwitch) -> None:
        super().__init__(switch, httptools.HttpRequestParser(self))

    def on_message_complete(self) -> None:
        """httptools: a whole request (body included) went by."""
        self.busy = False
        self.done += 1
        self.switch.conn.proxy.requests_upstream += 1
        if self.parser.get_method() == b"HEAD":
            # the response parser cannot be told the response has no body
            raise _Lost


class ResponseTracker(_Follower):
    """Counts complete final responses on the server-to-client direction.

    ``owed`` >= 0: the layer's stages wait for that many responses to have gone by
    before they take this direction over (set by the switch when it diverts).
    """

    __slots__ = ("owed",)

    def __init__(self, switch: HttpSwitch) -> None:
        super().__init__(switch, httptools.HttpResponseParser(self))
        self.owed = -1

    def feed(self, data: bytes) -> int:
        """Parse; hand this direction to the layer's stages once nothing is owed."""
        try:
            self.parser.feed_data(data)
        except _PARSE_ERRORS:
            self.switch.give_up()
            return len(data)
        if self.owed >= 0:
            if not self.busy and self.done >= self.owed:
                # the next byte from the server answers a request the stages forward
                self.switch.responses_caught_up(unsolicited=self.done > self.owed)
        elif self.switch.pending_move:
            self.switch.moment()
        return len(data)

    def on_message_complete(self) -> None:
        """httptools: a whole response went by (an interim 1xx does not answer a request)."""
        self.busy = False
        if not 100 <= self.parser.get_status_code() < 200:
            self.done += 1


class RequestWatcher(_Follower):
    """The fast path of the HTTP layer on the client-to-server direction (see the module
    docstring): requests no HTTP toxic can match go on as they came."""

    __slots__ = (
        "chunked",
        "headers",
        "hit",
        "in_head",
        "left",
        "length",
        "proxy",
        "size",
        "url",
    )
    diverts = True

    def __init__(self, switch: HttpSwitch) -> None:
        super().__init__(switch, httptools.HttpRequestParser(self))
        self.proxy = switch.conn.proxy
        self.in_head = False
        #: a request in the chunk being parsed needs the layer's stages
        self.hit = False
        #: body bytes still to come of the request being forwarded (Content-Length)
        self.left = 0
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.length: bytes | None = None
        self.chunked = False
        #: the head's size so far, near enough (see _HEAD_SLACK)
        self.size = 0

    def feed(self, data: bytes) -> int:
        """Return how many leading bytes go on as they came: all of them if no request
        in the chunk needs the stages; else the bytes up to the message boundary the
        chunk's part holding that request starts at (the switch has just put the stages
        in: they take the rest, and parse again the requests before it)."""
        n = len(data)
        switch = self.switch
        done0 = self.done
        cut = 0
        if self.busy:
            # inside a forwarded request's body (the invariant above): parse to its end
            # first, so that whatever follows starts at a known offset
            if self.left >= n:
                return self._parse_rest(data, done0, n)
            cut = self.left
            if not self._parse(data[:cut]) or self.busy:
                switch.give_up()  # the body did not end where its length said: not ours
                return n
            data = data[cut:]
        done = self.done
        self.hit = False
        ok = self._parse(data)
        if self.hit or (ok and self.busy and self.in_head):
            self.proxy.requests_upstream += done - done0
            switch.divert(done)
            return cut
        if not ok:
            switch.give_up()
        self.proxy.requests_upstream += self.done - done0
        if switch.pending_move:
            switch.moment()
        return n

    def _parse_rest(self, data: bytes, done0: int, n: int) -> int:
        if not self._parse(data):
            self.switch.give_up()
        self.proxy.requests_upstream += self.done - done0
        return n

    def _parse(self, data: bytes) -> bool:
        try:
            self.parser.feed_data(data)
        except _PARSE_ERRORS:
            return False
        return True

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        """httptools: the first byte of a request line."""
        self.busy = self.in_head = True
        self.url = b""
        self.headers = []
        self.length = None
        self.chunked = False
        self.size = 0

    def on_url(self, url: bytes) -> None:
        """httptools: (a piece of) the request target."""
        self.url += url
        self.size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools: one header line."""
        self.headers.append((name, value))
        n = len(name)
        self.size += n + len(value) + 4
        if n == 14 and name.lower() == b"content-length":
            self.length = value
        elif n == 17 and name.lower() == b"transfer-encoding":
            self.chunked = True  # a body whose end only Python framing finds: the stages

    def on_headers_complete(self) -> None:
        """httptools: the head is complete; decide whether the request needs the stages."""
        self.in_head = False
        if self.hit:
            return  # the chunk goes to the stages anyway
        if self.size + _HEAD_SLACK > MAX_HEAD_BYTES:
            self.hit = True  # the stages decide (431) what would be too large for them
            return
        length = self.length
        if length is None:
            self.left = 0
        elif (stripped := length.strip()).isdigit():
            self.left = int(stripped)
        else:
            self.hit = True
            return
        method = self.parser.get_method()
        if self.chunked or needs_layer(self.proxy, method, self.url, self.headers):
            self.hit = True

    def on_body(self, body: bytes) -> None:
        """httptools: a piece of a forwarded request's body."""
        self.left -= len(body)

    def on_message_complete(self) -> None:
        """httptools: a whole request went by."""
        self.busy = False
        self.done += 1
        self.left = 0
