"""A connection's two links: bytes from one socket, through a stage chain, to the other.

Each side of a connection is an ``asyncio.Protocol`` (:class:`Side`). Each direction is a
:class:`Link`. With no stage on it a link is *direct*: ``data_received`` writes straight
into the other transport, and the other transport's ``pause_writing`` pauses this side's
reading, so memory stays bounded by the transports' buffers. With stages, chunks (stamped
with their receive time) queue up and one pump task runs them through the chain in order;
the source is paused once the queue holds :data:`HIGH_WATER` bytes and resumed below
:data:`LOW_WATER`.

Changing the stages never drops or reorders a byte: a chunk already in the chain finishes
through the chain it entered; the pump hands over to direct mode only once its queue is
empty, and a removed stage's sleeps are interrupted so held bytes flow on at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from aichaos.proxy.timer import now
from aichaos.proxy.toxics.base import Chunk, Out, Stage

if TYPE_CHECKING:
    from aichaos.proxy.connection import Connection
    from aichaos.proxy.http_track import Tracker

__all__ = ["EARLY_MAX", "HIGH_WATER", "LOW_WATER", "NOT_READY", "Link", "Side"]

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
#: bytes a client may send before its upstream is connected, then its reading pauses
EARLY_MAX = 64 * 1024

# reasons a side's reading is paused; reading resumes when none is left
_DEST_FULL = 1
_QUEUE_FULL = 2
NOT_READY = 4


class Side(asyncio.Protocol):
    """One socket of a connection: the accepted client or the upstream server."""

    def __init__(self, conn: Connection, role: str) -> None:
        self.conn = conn
        self.role = role
        self.transport: asyncio.Transport | None = None
        #: the link that reads from this side, and the one that writes into it
        self.reading: Link | None = None
        self.writing: Link | None = None
        self._paused = 0
        #: bytes that arrived before the links existed (uvloop may read before a pause
        #: requested in connection_made takes effect)
        self.early: list[bytes] = []
        self.early_bytes = 0
        self.early_eof = False
        self._poke = conn.poke

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport; the connection decides when reading starts."""
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        if self._poke is not None:
            self._poke()
        self.conn.side_made(self)

    def data_received(self, data: bytes) -> None:
        """The hot path: straight into the other transport when the link is direct."""
        if self._poke is not None:
            self._poke()
        link = self.reading
        if link is None:
            self._hold(data)
            return
        link.bytes += len(data)
        if link.direct:
            tracker = link.tracker
            if tracker is None or not tracker.diverts:
                link.dst_transport.write(data)  # type: ignore[union-attr]
                if tracker is not None:
                    tracker.feed(data)  # after the write: the bytes do not wait for it
                return
            # this tracker sees the chunk first: from a request that needs the HTTP
            # layer's stages on, the bytes go to them (the link is no longer direct then)
            n = tracker.feed(data)
            if n == len(data):
                link.dst_transport.write(data)  # type: ignore[union-attr]
                return
            if n:
                link.dst_transport.write(data[:n])  # type: ignore[union-attr]
            link.feed(data[n:])
        else:
            link.feed(data)

    def _hold(self, data: bytes) -> None:
        """Keep bytes that arrive before the upstream is connected (a client usually sends
        its request at once). Reading is not paused up front: pausing and resuming costs
        two epoll_ctl calls per connection; it is paused only past :data:`EARLY_MAX`."""
        self.early.append(data)
        self.early_bytes += len(data)
        if self.early_bytes >= EARLY_MAX:
            self.pause(NOT_READY)
            # uvloop may keep reading after a pause asked for in connection_made
            if self.transport is not None and self.transport.is_reading():
                self.transport.pause_reading()

    def eof_received(self) -> bool:
        """Pass the end of stream through the link; keep the transport for half-close."""
        if self._poke is not None:
            self._poke()
        if self.reading is not None:
            self.reading.feed_eof()
        else:
            self.early_eof = True
        return True

    def pause_writing(self) -> None:
        """Our write buffer is full: the link writing into us must hold back."""
        if self.writing is not None:
            self.writing.dest_paused()

    def resume_writing(self) -> None:
        """Our write buffer drained."""
        if self.writing is not None:
            self.writing.dest_resumed()

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the connection; it tears the other side down."""
        self.conn.side_lost(self, exc)

    def pause(self, reason: int) -> None:
        """Stop reading for ``reason`` (reasons stack)."""
        if not self._paused and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self._paused |= reason

    def resume(self, reason: int) -> None:
        """Drop ``reason``; read again when no reason is left."""
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class Link:
    """One direction of a connection (``upstream``: client to server, or ``downstream``)."""

    def __init__(self, conn: Connection, stream: str, src: Side, dst: Side) -> None:
        self.conn = conn
        self.stream = stream
        self.src = src
        self.dst = dst
        self.dst_transport = dst.transport
        self.loop = conn.loop
        self.direct = True
        self.bytes = 0
        self.stages: tuple[Stage, ...] = ()
        #: stages that lead the chain (the HTTP layer, while the connection is in it)
        self.head_stages: tuple[Stage, ...] = ()
        #: sees every chunk at the head of the chain (HTTP boundary tracking; see http_switch)
        self.tracker: Tracker | None = None
        self._entry: Out = self._write
        self._queue: deque[Chunk] = deque()
        self._queued = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._dst_paused = False
        self._eof_seen = False
        src.reading = self
        dst.writing = self

    def take_early(self) -> None:
        """Forward what the source sent before this link existed."""
        early, self.src.early = self.src.early, []
        for data in early:
            self.src.data_received(data)
        if self.src.early_eof:
            self.feed_eof()

    # -- input -------------------------------------------------------------------------

    def feed(self, data: bytes, synthetic: bool = False) -> None:
        """Queue a chunk for the pump (pausing the source at the high-water mark)."""
        self._queue.append(Chunk(data, now(), synthetic=synthetic))
        self._queued += len(data)
        if self._queued >= HIGH_WATER:
            self.src.pause(_QUEUE_FULL)
        self._kick()

    def feed_eof(self) -> None:
        """The source finished sending: the end travels behind the data, through the chain."""
        if self._eof_seen:
            return
        self._eof_seen = True
        if self.direct:
            self.conn.link_eof(self)
        else:
            self._queue.append(Chunk(b"", now(), eof=True))
            self._kick()

    # -- stages ------------------------------------------------------------------------

    def set_stages(self, stages: Sequence[Stage]) -> None:
        """Install a new chain; chunks already inside the old chain finish through it."""
        self.stages = tuple(stages)
        entry: Out = self._write
        for stage in reversed(self.stages):
            entry = _bind(stage, entry)
        self._entry = entry
        if self.stages and self.direct:
            self.direct = False
            # the pump waits for a writable destination itself; the queue bounds reading
            self.src.resume(_DEST_FULL)
            self._start_pump()
        elif not self.stages:
            self._kick()  # let an idle pump notice it can hand back to direct mode

    # -- output ------------------------------------------------------------------------

    def dest_paused(self) -> None:
        """The destination's write buffer is above its high-water mark."""
        self._dst_paused = True
        if self.direct:
            self.src.pause(_DEST_FULL)

    def dest_resumed(self) -> None:
        """The destination drained."""
        self._dst_paused = False
        self.src.resume(_DEST_FULL)
        fut = self._writable
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def _write(self, chunk: Chunk) -> None:
        if chunk.eof:
            self.conn.link_eof(self)
            return
        transport = self.dst_transport
        if not chunk.data or transport is None or transport.is_closing():
            return
        transport.write(chunk.data)
        if self.conn.poke is not None:
            self.conn.poke()  # a delayed chunk went out: its answer may come back soon
        if self._dst_paused:
            self._writable = self.loop.create_future()
            try:
                await self._writable
            finally:
                self._writable = None

    # -- pump --------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._pump is None:
            if not self.direct:
                self._start_pump()
            return
        fut = self._wakeup
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _start_pump(self) -> None:
        if self._pump is None and not self.conn.closed:
            self._pump = self.loop.create_task(self._run())

    async def _run(self) -> None:
        queue = self._queue
        try:
            while True:
                if not queue:
                    if not self.stages:
                        # Hand back to the direct path: nothing queued, nothing in a chain.
                        self.direct = True
                        if self._dst_paused:
                            self.src.pause(_DEST_FULL)
                        return
                    self._wakeup = self.loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                chunk = queue.popleft()
                self._queued -= len(chunk.data)
                if self._queued < LOW_WATER:
                    self.src.resume(_QUEUE_FULL)
                # the chunk enters the chain it finds; the tracker may switch the chain,
                # which applies from the next chunk on, or from the offset it returns
                # (the bytes it diverted into the HTTP layer's stages)
                entry = self._entry
                tracker = self.tracker
                if tracker is not None and chunk.data and not chunk.synthetic:
                    data = chunk.data
                    n = tracker.feed(data)
                    if n < len(data):
                        if n:
                            await entry(Chunk(data[:n], chunk.t))
                        chunk = Chunk(data[n:], chunk.t)
                        entry = self._entry
                await entry(chunk)
        finally:
            self._pump = None

    def close(self) -> None:
        """Stop the pump (the connection is going away)."""
        if self._pump is not None:
            self._pump.cancel()
        self._queue.clear()


def _bind(stage: Stage, out: Out) -> Out:
    async def entry(chunk: Chunk) -> None:
        await stage.pipe(chunk, out)

    return entry
