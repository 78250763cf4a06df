"""Which way a connection's bytes go: raw, tracked, or through the HTTP layer; switched live.

A connection is in one of four modes (:class:`HttpSwitch`):

``undecided``
    Nothing read yet. The first chunk decides: a client chunk that starts like an HTTP/1.x
    request line (an upper-case method letter) makes the connection *tracked*; anything
    else, or a server that speaks first, makes it *raw* for good.
``tracked``
    The proxy has no HTTP toxic. Bytes take the direct path; each direction also feeds a
    counting parser (:mod:`aichaos.proxy.http_track`), so the connection knows when it
    sits *between exchanges*: every request answered and no message half-read.
``layer``
    The proxy has HTTP toxics. Bytes still take the direct path as long as no request can
    match one: the request direction feeds the layer's fast path
    (:class:`~aichaos.proxy.http_track.RequestWatcher`), which sees each head. From the
    first request a toxic can match, the layer's stages (:mod:`aichaos.proxy.http_layer`)
    lead both chains, parse every message and run the handlers; once the connection is
    between exchanges again, the watchers take over again.
``raw``
    Never parsed again (not HTTP, an upgrade, a ``HEAD`` request while tracked, or
    ``"http": false``).

When an HTTP toxic appears, every tracked connection moves to the layer at its next point
between exchanges (at once if it is idle, as a pooled keep-alive connection usually is);
when the last HTTP toxic goes, the layer hands back to fresh trackers at its next such
point. Every hand-over happens at the head of each link's chain at a message boundary, so
the new parsers start where a message starts and no byte is lost, duplicated or
reordered.

Parsers follow chunk boundaries, so a pipelining client whose chunks always straddle two
requests switches between tracked and layer only once its pipeline drains (documented in
docs/proxy.md); inside the layer, a request a toxic can match always reaches the stages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aichaos.proxy.http_track import (
    Classifier,
    RequestTracker,
    RequestWatcher,
    ResponseTracker,
)

if TYPE_CHECKING:
    from aichaos.proxy.connection import Connection
    from aichaos.proxy.http_layer import LayerState
    from aichaos.proxy.link import Link

__all__ = ["HttpSwitch"]

UNDECIDED, TRACKED, LAYER, RAW = "undecided", "tracked", "layer", "raw"


class HttpSwitch:
    """The HTTP mode of one connection, and the hand-overs between modes."""

    __slots__ = ("conn", "ended", "layer", "mode", "pending_move", "req", "resp", "want")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.mode = UNDECIDED
        #: whether the proxy wants the HTTP layer on its connections now
        self.want = False
        #: the trackers change at the next point between exchanges (tracked <-> layer)
        self.pending_move = False
        self.req: RequestTracker | RequestWatcher | None = None
        self.resp: ResponseTracker | None = None
        #: the layer's stages, while they lead the chains (None: the direct path)
        self.layer: LayerState | None = None
        #: the server's end of stream went by (no response owed can come any more)
        self.ended = False

    def start(self) -> None:
        """The links exist: pick the first mode from the proxy's setting and toxics."""
        proxy = self.conn.proxy
        self.want = proxy.wants_layer
        if proxy.http_mode is False:
            self.mode = RAW
        elif self.want:
            self.watch()
        else:
            up, down = self._links()
            up.tracker = Classifier(self, upstream=True)
            down.tracker = Classifier(self, upstream=False)

    def update(self) -> None:
        """The proxy's HTTP toxics (or its ``http`` setting) changed."""
        proxy = self.conn.proxy
        self.want = want = proxy.wants_layer
        if self.layer is not None:
            self.layer.prune()
            self.try_leave()
            return
        mode = self.mode
        if mode == UNDECIDED:
            if want:
                self.watch()  # nothing has passed yet: every parser starts at the start
            return
        self.pending_move = (mode == TRACKED and want) or (mode == LAYER and not want)
        if self.pending_move:
            self.moment()

    # -- the direct path's parsers -------------------------------------------------------

    def track(self) -> None:
        """Count messages with fresh trackers (at a message boundary)."""
        self.mode = TRACKED
        self._follow(RequestTracker(self))
        self.pending_move = self.want

    def watch(self) -> None:
        """The layer's fast path, with fresh watchers (at a message boundary)."""
        self.mode = LAYER
        self._follow(RequestWatcher(self))
        self.pending_move = not self.want

    def _follow(self, req: RequestTracker | RequestWatcher) -> None:
        self.req = req
        self.resp = ResponseTracker(self)
        up, down = self._links()
        up.tracker, down.tracker = req, self.resp

    def give_up(self) -> None:
        """Not (or no longer followable as) HTTP: raw for the rest of the connection."""
        layer = self.layer
        if layer is not None:
            # the stages wait for the responses owed before them: they pass bytes on as is
            layer.passthrough = True
            if layer.down_wait is not None:
                self._attach_response()
            return
        self.mode = RAW
        self.pending_move = False
        self.req = self.resp = None
        up, down = self._links()
        up.tracker = down.tracker = None

    def moment(self) -> None:
        """Change trackers (tracked <-> layer) if the connection is between exchanges."""
        req, resp = self.req, self.resp
        if req is None or resp is None or req.busy or resp.busy or req.done != resp.done:
            return
        self.conn.proxy.http_switches += 1
        if self.want:
            self.watch()
        elif self.conn.proxy.http_mode is False:
            self.give_up()
        else:
            self.track()

    # -- direct path <-> the layer's stages ----------------------------------------------

    def divert(self, owed: int) -> None:
        """The request watcher met a request that needs the layer's stages: they take the
        request direction now, and the response direction once ``owed`` responses (those
        of the requests forwarded before) have gone by."""
        from aichaos.proxy.http_layer import install

        resp = self.resp
        assert resp is not None
        up, down = self._links()
        up.tracker = None
        self.req = None
        self.pending_move = False
        caught_up = not resp.busy and resp.done >= owed
        self.layer = layer = install(self.conn, respond=caught_up or self.ended)
        if caught_up or self.ended:
            down.tracker = None
            self.resp = None
            # an answer nothing asked for, or none to come: not followable
            layer.passthrough = not caught_up or resp.done > owed
        else:
            resp.owed = owed
        self.conn.rechain()

    def responses_caught_up(self, unsolicited: bool) -> None:
        """Every response owed before the stages went by (``unsolicited``: and more)."""
        if unsolicited and self.layer is not None:
            self.layer.passthrough = True
        self._attach_response()

    def upstream_ended(self) -> None:
        """The server's end of stream went by: if the stages wait (or come to wait) for
        responses owed, none will come; they pass the client's bytes on as they are."""
        self.ended = True
        layer = self.layer
        if layer is not None and layer.down_wait is not None:
            layer.passthrough = True
            self._attach_response()

    def _attach_response(self) -> None:
        layer = self.layer
        assert layer is not None
        _, down = self._links()
        down.tracker = None
        self.resp = None
        layer.attach_response()
        self.conn.rechain()

    def try_leave(self) -> None:
        """Hand the layer's stages back to the direct path if the connection is between
        exchanges now (or past following: raw)."""
        layer = self.layer
        if layer is None or not layer.can_leave():
            return
        up, down = self._links()
        up.head_stages = down.head_stages = ()
        self.layer = None
        if layer.passthrough or self.conn.proxy.http_mode is False:
            self.conn.proxy.http_switches += 1
            self.give_up()
        elif self.want:
            self.watch()
        else:
            self.conn.proxy.http_switches += 1
            self.track()
        self.conn.rechain()

    def _links(self) -> tuple[Link, Link]:
        conn = self.conn
        assert conn.up is not None and conn.down is not None
        return conn.up, conn.down
