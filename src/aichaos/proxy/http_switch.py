"""Which way a connection's bytes go: raw, tracked, or through the HTTP layer; switched live.

A connection is in one of four modes (:class:`HttpSwitch`):

``undecided``
    Nothing read yet. The first chunk decides: a client chunk that starts like an HTTP/1.x
    request line (an upper-case method letter) makes the connection *tracked*; anything
    else, or a server that speaks first, makes it *raw* for good.
``tracked``
    Bytes take the fast path. Each direction also feeds a httptools parser that has only
    ``on_message_begin`` / ``on_message_complete`` callbacks (no header or body callbacks,
    no copies, no queue), so the connection knows when it sits *between exchanges*: every
    request answered and no message half-read in either direction.
``layer``
    The HTTP layer (:mod:`aichaos.proxy.http_layer`) parses every request and response and
    applies the HTTP toxics.
``raw``
    Never parsed again (not HTTP, an upgrade, a ``HEAD`` request, or ``"http": false``).

When an HTTP toxic appears, every tracked connection moves to the layer at its next point
between exchanges (at once if it is idle, as a pooled keep-alive connection usually is);
when the last HTTP toxic goes, the layer hands back to a fresh tracker at its next such
point. Both hand-overs happen at the head of each link's chain, between two chunks, so the
new parsers start at a message boundary and no byte is lost, duplicated or reordered.

Parsers follow chunk boundaries, so a pipelining client whose chunks always straddle two
requests switches only once its pipeline drains (documented in docs/proxy.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httptools

if TYPE_CHECKING:
    from aichaos.proxy.connection import Connection
    from aichaos.proxy.http_layer import LayerState
    from aichaos.proxy.link import Link

__all__ = ["HttpSwitch", "Tracker"]

UNDECIDED, TRACKED, LAYER, RAW = "undecided", "tracked", "layer", "raw"

_PARSE_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)


class Tracker:
    """What a link calls with every chunk that passes the head of its chain."""

    __slots__ = ()

    def feed(self, data: bytes) -> None:
        """Look at one chunk (already forwarded, or about to enter the chain)."""
        raise NotImplementedError


class _Classifier(Tracker):
    """Decides, on the first chunk of a connection, whether it can be HTTP at all."""

    __slots__ = ("switch", "upstream")

    def __init__(self, switch: HttpSwitch, upstream: bool) -> None:
        self.switch = switch
        self.upstream = upstream

    def feed(self, data: bytes) -> None:
        """A request line starts with a method: upper-case ASCII letters."""
        switch = self.switch
        if self.upstream and data[:1].isupper():
            switch.track()
            assert switch.req is not None
            switch.req.feed(data)
        else:
            switch.give_up()


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

    def feed(self, data: bytes) -> None:
        """Parse; then, if the layer is wanted, see whether this is the moment."""
        try:
            self.parser.feed_data(data)
        except _PARSE_ERRORS:
            self.switch.give_up()
            return
        if self.switch.want:
            self.switch.try_enter()

    def on_message_begin(self) -> None:
        """httptools: the first byte of a request or status line."""
        self.busy = True


class _RequestTracker(_Follower):
    """Counts complete requests on the client-to-server direction."""

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


class _ResponseTracker(_Follower):
    """Counts complete final responses on the server-to-client direction."""

    __slots__ = ()

    def __init__(self, switch: HttpSwitch) -> None:
        super().__init__(switch, httptools.HttpResponseParser(self))

    def on_message_complete(self) -> None:
        """httptools: a whole response went by (an interim 1xx does not answer a request)."""
        self.busy = False
        if not 100 <= self.parser.get_status_code() < 200:
            self.done += 1


class HttpSwitch:
    """The HTTP mode of one connection, and the hand-overs between modes."""

    __slots__ = ("conn", "layer", "mode", "req", "resp", "want")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.mode = UNDECIDED
        #: whether the proxy wants the HTTP layer on its connections now
        self.want = False
        self.req: _RequestTracker | None = None
        self.resp: _ResponseTracker | None = None
        self.layer: LayerState | None = None

    def start(self) -> None:
        """The links exist: pick the first mode from the proxy's setting and toxics."""
        proxy = self.conn.proxy
        self.want = proxy.wants_layer
        if proxy.http_mode is False:
            self.mode = RAW
        elif self.want:
            self._enter()
        else:
            up, down = self._links()
            up.tracker = _Classifier(self, upstream=True)
            down.tracker = _Classifier(self, upstream=False)

    def update(self) -> None:
        """The proxy's HTTP toxics (or its ``http`` setting) changed."""
        proxy = self.conn.proxy
        self.want = proxy.wants_layer
        if self.layer is not None:
            self.layer.prune()
        if self.want:
            if self.mode == UNDECIDED:
                self._enter()  # nothing has passed yet: every parser starts at the start
            elif self.mode == TRACKED:
                self.try_enter()
        elif self.mode == LAYER:
            self.try_leave()

    # -- tracked <-> layer ---------------------------------------------------------------

    def track(self) -> None:
        """Follow the connection with fresh boundary trackers (at a message boundary)."""
        self.mode = TRACKED
        self.req = _RequestTracker(self)
        self.resp = _ResponseTracker(self)
        up, down = self._links()
        up.tracker, down.tracker = self.req, self.resp

    def give_up(self) -> None:
        """Not (or no longer followable as) HTTP: raw for the rest of the connection."""
        self.mode = RAW
        self.req = self.resp = None
        up, down = self._links()
        up.tracker = down.tracker = None

    def try_enter(self) -> None:
        """Move to the HTTP layer if the connection is between exchanges now."""
        req, resp = self.req, self.resp
        if req is None or resp is None or req.busy or resp.busy or req.done != resp.done:
            return
        self._enter()

    def _enter(self) -> None:
        from aichaos.proxy.http_layer import install

        if self.mode != UNDECIDED:
            self.conn.proxy.http_switches += 1
        up, down = self._links()
        up.tracker = down.tracker = None
        self.req = self.resp = None
        self.mode = LAYER
        self.layer = install(self.conn)
        self.conn.rechain()

    def try_leave(self) -> None:
        """Hand back from the layer to a tracker if no request is in flight now."""
        layer = self.layer
        if layer is None or self.want or not (layer.passthrough or layer.idle()):
            return
        if layer.holding():
            return  # held bytes go out through the layer first
        up, down = self._links()
        up.head_stages = down.head_stages = ()
        self.layer = None
        self.conn.proxy.http_switches += 1
        if layer.passthrough or self.conn.proxy.http_mode is False:
            self.give_up()
        else:
            self.track()
        self.conn.rechain()

    def _links(self) -> tuple[Link, Link]:
        conn = self.conn
        assert conn.up is not None and conn.down is not None
        return conn.up, conn.down
