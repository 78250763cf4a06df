"""The open-loop generator: sends on schedule, measures from the intended send time.

Everything on the hot path is a loop callback (no coroutine per request): a timer
callback sends every request whose intended time has come, each response or failure is
a protocol callback. Latency is ``response time - intended send time``, so when the
server stalls, the requests that *should* have gone out during the stall carry the
stall in their latency, as wrk2 and vegeta report it (coordinated omission corrected).

``max_concurrency`` caps requests in flight (one connection each, kept alive and reused).
A request due while the cap is reached waits; once it is later than the request timeout
it is counted as ``missed`` and skipped: never silently dropped, never sent uselessly.
The per-request timeout runs from the actual send.

>>> # async with uvloop: Generator(...).run(duration_s=30)   (see aichaos.load.api)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aichaos.load.client import ClientConnection, HeaderConnection
from aichaos.load.quality import QualityBaseline, Tracker
from aichaos.load.requests import Endpoint, RequestItem, RequestSource
from aichaos.load.schedule import arrivals
from aichaos.load.stats import WindowStats, status_kind
from aichaos.load.streamstats import GoodputSettings, first_token_ages

__all__ = ["Generator"]

OnWindow = Callable[[WindowStats], None]
_MIN_DELAY_S = 0.001


class _Req:
    __slots__ = ("conn", "done", "intended", "item", "sent", "timer")

    def __init__(self, intended: float, item: RequestItem, sent: float) -> None:
        self.intended = intended
        self.sent = sent  # the origin of TTFT and e2e, as LLM benchmarks measure them
        self.item = item
        self.conn: ClientConnection | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False


class Generator:
    """One process's open-loop generator. Run it with :meth:`run` inside an event loop.

    ``start_at`` (a ``clock()`` value) lets several processes share one time origin so
    their windows line up for merging; ``offset_s`` shifts this one's schedule.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        source: RequestSource,
        *,
        rate_rps: float,
        arrival: str = "constant",
        timeout_s: float = 10.0,
        max_concurrency: int = 256,
        window_s: float = 1.0,
        rng: random.Random | None = None,
        quality: Tracker | None = None,
        goodput: GoodputSettings | None = None,
        phase: Callable[[], str] = lambda: "",
        on_window: OnWindow | None = None,
        clock: Callable[[], float] = time.monotonic,
        offset_s: float = 0.0,
    ) -> None:
        self.endpoint = endpoint
        self.source = source
        self.rate_rps = rate_rps
        self.timeout_s = timeout_s
        self.window_s = window_s
        self.quality = quality
        self.goodput = goodput
        self.quality_baseline = QualityBaseline()
        self.windows: list[WindowStats] = []
        self.total = WindowStats()
        self._cap = max_concurrency
        self._phase = phase
        self._on_window = on_window
        self._clock = clock
        self._arr = arrivals(arrival, rate_rps, rng or random.Random(0), offset_s)
        self._idle: list[ClientConnection] = []
        self._conns: set[ClientConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight = 0
        # sends in intended-time order; the front is the oldest request in flight
        self._pending: deque[_Req] = deque()
        self._blocked = False
        self._stopped = False
        self._timer: asyncio.TimerHandle | None = None
        self._flush_timer: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._end = math.inf
        self._next = 0.0
        self._win = WindowStats()
        self._win_end = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    # ---------------------------------------------------------------- lifecycle
    async def run(
        self,
        duration_s: float | None = None,
        stop: asyncio.Event | None = None,
        start_at: float | None = None,
    ) -> WindowStats:
        """Send until ``duration_s`` has passed or ``stop`` is set, then wait for the
        requests in flight (at most the timeout) and return the whole run's figures."""
        loop = self._loop = asyncio.get_running_loop()
        import numpy  # noqa: F401  # first use would otherwise stall the first window

        self._finished = loop.create_future()
        now = self._clock()
        self._start = start_at if start_at is not None else now
        if duration_s is not None:
            self._end = self._start + duration_s
            loop.call_later(max(0.0, self._end - now), self._on_end)
        self._next = self._start + next(self._arr)
        self._new_window(0, self._phase())
        self._flush_timer = loop.call_later(self._start + self.window_s - now, self._flush)
        self._timer = loop.call_later(max(0.0, self._next - now), self._tick)
        waiter: asyncio.Future[Any] | None = None
        try:
            if stop is not None:
                waiter = asyncio.ensure_future(stop.wait())
                futures: list[asyncio.Future[Any]] = [self._finished, waiter]
                await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
            else:
                await self._finished
            self._finish()
            await self._drain()
        finally:
            if waiter is not None:
                waiter.cancel()
            self._shutdown()
        # rates are over the sending span; completions while draining still count
        self.total.start_s, self.total.duration_s = 0.0, self._end - self._start
        return self.total

    def _on_end(self) -> None:
        # uvloop timers have millisecond resolution and may fire a little early
        left = self._end - self._clock()
        if left > 0:
            assert self._loop is not None
            self._loop.call_later(left, self._on_end)
            return
        self._tick()
        self._finish()

    def _finish(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._end = min(self._end, self._clock())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # requests that were due but never went out (cap reached) are missed, not lost
        while self._next < self._end:
            self._win.missed += 1
            self._next = self._start + next(self._arr)
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    async def _drain(self) -> None:
        assert self._loop is not None
        if self._inflight:
            self._drained = self._loop.create_future()
            # every request has its own timer; this bound only guards against a bug
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained, self.timeout_s + 1.0)
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self._skip_stale(self._clock())
        self._flush(final=True)

    def _shutdown(self) -> None:
        for t in (self._timer, self._flush_timer):
            if t is not None:
                t.cancel()
        for conn in list(self._conns):
            conn.busy = False
            conn.close()
        self._conns.clear()
        self._idle.clear()
        for task in self._tasks:
            task.cancel()

    # ---------------------------------------------------------------- windows
    def _new_window(self, index: int, phase: str) -> None:
        self._win = WindowStats(
            index=index, start_s=index * self.window_s, duration_s=self.window_s, phase=phase
        )
        self._win_end = self._start + (index + 1) * self.window_s
        self._win.stream.good = None if self.goodput is None else 0  # 0 is reported too
        self._baseline_now = phase == "baseline"

    def _flush(self, final: bool = False) -> None:
        # called by its timer, or early by a send or response already past the window's
        # end (timers may run late), so every event lands in the window of its time
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        w = self._win
        now = self._clock()
        if final:
            w.duration_s = max(0.0, now - self._start - w.start_s)
            if not (w.sent or w.completed or w.missed or w.error_count):
                return
        else:
            self._skip_stale(now)
        pending = self._pending
        while pending and pending[0].done:
            pending.popleft()
        w.inflight_us = [int((now - r.intended) * 1e6) for r in pending if not r.done]
        w.stream.inflight_ttft_us = first_token_ages(pending, now)
        if self.quality is not None:
            w.quality = self.quality.take()
            if w.phase == "baseline":
                self.quality_baseline.add(w.quality)
        self.total.merge(w)
        self.windows.append(w)
        if not final:
            self._new_window(w.index + 1, self._phase())
            assert self._loop is not None
            due = self._start + (w.index + 2) * self.window_s
            self._flush_timer = self._loop.call_later(max(0.0, due - now), self._flush)
        if self._on_window is not None:
            self._on_window(w)

    # ---------------------------------------------------------------- sending
    def _tick(self) -> None:
        self._timer = None
        if self._stopped:
            return
        now = self._clock()
        late = now - self.timeout_s
        end = self._end
        t = self._next
        while t <= now:
            if t >= end:
                return
            if t < late:
                self._win.missed += 1
            elif self._inflight >= self._cap:
                self._blocked = True
                return
            else:
                while t >= self._win_end:
                    self._flush()
                self._send(t, now)
            t = self._next = self._start + next(self._arr)
        if t < end:
            assert self._loop is not None
            # uvloop timers count whole milliseconds: a shorter delay becomes 0 and the
            # loop would spin until the next send, eating the core the server needs
            self._timer = self._loop.call_later(max(t - now, _MIN_DELAY_S), self._tick)

    def _skip_stale(self, now: float) -> None:
        """While blocked at the cap, count requests that can no longer go out in time."""
        if not self._blocked:
            return
        late = min(now - self.timeout_s, self._end)
        while self._next < late:
            self._win.missed += 1
            self._next = self._start + next(self._arr)

    def _send(self, intended: float, now: float) -> None:
        assert self._loop is not None
        req = _Req(intended, self.source.next(), self._clock())  # after any window flush
        self._pending.append(req)
        self._inflight += 1
        w = self._win
        w.sent += 1
        w.send_lag.record_us(int((now - intended) * 1e6))
        req.timer = self._loop.call_later(self.timeout_s, self._on_timeout, req)
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.req, req.conn = req, conn
                conn.send(req.item.raw)
                return
            self._conns.discard(conn)
        task = self._loop.create_task(self._connect(req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, req: _Req) -> None:
        assert self._loop is not None
        ep = self.endpoint
        keep_body = self.quality is not None
        kind = (
            HeaderConnection
            if self.quality is not None and self.quality.wants_headers
            else ClientConnection
        )
        try:
            _, conn = await self._loop.create_connection(
                lambda: kind(self, keep_body, self._clock), ep.host, ep.port
            )
        except ConnectionRefusedError:
            self._fail(req, "refused")
            return
        except OSError:
            self._fail(req, "connect")
            return
        self._conns.add(conn)
        if req.done:  # timed out while connecting: keep the connection for the next one
            self._park(conn)
            return
        conn.req, req.conn = req, conn
        conn.send(req.item.raw)

    def _park(self, conn: ClientConnection) -> None:
        if self._finished is not None and self._finished.done():
            conn.close()
            self._conns.discard(conn)
        else:
            self._idle.append(conn)

    # ---------------------------------------------------------------- outcomes
    def on_response(
        self, conn: ClientConnection, status: int, body: bytes, keep_alive: bool
    ) -> None:
        """A response arrived (called by :class:`ClientConnection`)."""
        req: Any = conn.req
        conn.req = None
        if req is None or req.done:
            return
        req.done = True
        req.timer.cancel()
        now = self._clock()
        while now >= self._win_end and not self._stopped:
            self._flush()
        w = self._win
        w.completed += 1
        w.latency.record_us(int((now - req.intended) * 1e6))
        w.stream.response(conn.stream, req.sent, now, status, self.goodput)
        kind = status_kind(status)
        if kind is not None:
            w.errors[kind] += 1
        elif self.quality is not None and 200 <= status < 300:
            item = req.item
            args = (item.index, item.expected, item.labelled, body, self._baseline_now)
            self.quality.observe(*args, conn.response_headers())
        if keep_alive:
            self._park(conn)
        else:
            conn.close()
            self._conns.discard(conn)
        self._release()

    def on_failure(self, conn: ClientConnection, kind: str) -> None:
        """The request in flight on ``conn`` failed (called by :class:`ClientConnection`)."""
        self._conns.discard(conn)
        req = conn.req
        conn.req = None
        if req is not None and not req.done:
            self._fail(req, kind)

    def _on_timeout(self, req: _Req) -> None:
        if req.done:
            return
        conn = req.conn
        if conn is not None:
            conn.req = None
            conn.busy = False
            conn.close()
            self._conns.discard(conn)
        self._fail(req, "timeout")

    def _fail(self, req: _Req, kind: str) -> None:
        req.done = True
        if req.timer is not None:
            req.timer.cancel()
        self._win.stream.failure(None if req.conn is None else req.conn.stream, req.sent)
        self._win.errors[kind] += 1
        self._release()

    def _release(self) -> None:
        self._inflight -= 1
        if self._blocked:
            self._blocked = False
            self._tick()
        if self._drained is not None and not self._inflight and not self._drained.done():
            self._drained.set_result(None)
