"""Sub-millisecond sleeps for the toxics.

The event loop's timers are only as precise as ``epoll_wait``'s millisecond timeout (and
uvloop's clock is millisecond-grained), which made a 10 ms latency toxic deliver ~10.5 ms
on average. On Linux one ``timerfd`` per loop, armed (absolute, CLOCK_MONOTONIC) for the
earliest deadline and watched by the loop itself, wakes it within microseconds; no thread
and no GIL hand-off sit in between. Elsewhere it falls back to ``loop.call_later``.
Deadlines are on :func:`now` (``time.monotonic``), the clock chunks are stamped with.

Waking from idle is not free: on a 2-core VM a sleeping coroutine resumed 0.1-0.3 ms
after its timerfd's expiry (a halted vCPU, cold caches), and how late varies from one
machine -- and one day -- to the next. So the timer learns it: each sleeper reports how
late it resumed (:meth:`PreciseTimer.observe`), the timer keeps a decaying upper
estimate of that lateness, and resolves futures that much (plus :data:`MARGIN_S`, at most
:data:`MAX_LEAD_S`) before their deadlines; the caller
(:meth:`~aichaos.proxy.toxics.base.StageBase.sleep_until`) spins on the clock for the
rest -- about ``MARGIN_S`` of CPU per wake-up once calibrated, in exchange for on-time
delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
import time
import weakref

__all__ = ["LEAD_S", "MARGIN_S", "MAX_LEAD_S", "PreciseTimer", "now", "timer_for"]

#: the clock every chunk stamp and toxic deadline uses (microsecond-precise, monotonic)
now = time.monotonic

#: how long before its deadline a sleep is woken at first (the sleeper spins the rest)
LEAD_S = 0.00025
#: spin budget kept on top of the learned lateness
MARGIN_S = 0.00003
#: the earliest a sleep is ever woken before its deadline
MAX_LEAD_S = 0.001

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create  # noqa: B018 - probe that the symbol exists
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


class PreciseTimer:
    """Resolve futures at monotonic deadlines, woken by a timerfd the loop watches."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # a weak reference: the loop's registry of timers must not keep a closed loop alive
        self._loop_ref = weakref.ref(loop)
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._armed = float("inf")
        #: decaying upper estimate of how late a woken sleeper resumes
        self._late = LEAD_S - MARGIN_S
        #: how long before a deadline futures are resolved now
        self.lead = LEAD_S
        self._fd = -1
        if _LIBC is not None:
            fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                loop.add_reader(fd, self._fire)
                weakref.finalize(self, os.close, fd)

    def at(self, deadline: float) -> asyncio.Future[None]:
        """A future resolved on the loop once ``now() >= deadline - self.lead``.

        Already done if that moment has passed (the caller spins without a wake-up).
        """
        loop = self._loop_ref()
        assert loop is not None
        fut: asyncio.Future[None] = loop.create_future()
        wake = deadline - self.lead
        left = wake - now()
        if left <= 0:
            fut.set_result(None)
            return fut
        if self._fd < 0:
            loop.call_later(left, _wake, fut)
            return fut
        heapq.heappush(self._heap, (wake, next(self._seq), fut))
        if wake < self._armed:
            self._arm(wake)
        return fut

    def observe(self, late: float) -> None:
        """A sleeper resumed ``late`` seconds after its wake-up time: adjust the lead.

        The estimate jumps most of the way up to a late wake-up and decays slowly, so the
        lead follows the slow tail of this machine's wake-ups, not their average.
        """
        est = self._late
        est += (late - est) * (0.5 if late > est else 0.02)
        self._late = est = min(est, MAX_LEAD_S)  # one descheduled sleeper must not stick
        self.lead = min(MAX_LEAD_S, max(0.0, est) + MARGIN_S)

    def _arm(self, deadline: float) -> None:
        assert _LIBC is not None
        self._armed = deadline
        sec = int(deadline)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, int((deadline - sec) * 1e9) or 1))
        _LIBC.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None)

    def _fire(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        heap, t = self._heap, now()
        while heap and heap[0][0] <= t:
            _wake(heapq.heappop(heap)[2])
        self._armed = float("inf")
        while heap and heap[0][2].done():  # interrupted sleeps need no wake-up
            heapq.heappop(heap)
        if heap:
            self._arm(heap[0][0])

    def close(self) -> None:
        """Stop watching the timerfd (the loop is closing)."""
        loop = self._loop_ref()
        if self._fd >= 0 and loop is not None and not loop.is_closed():
            loop.remove_reader(self._fd)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PreciseTimer] = (
    weakref.WeakKeyDictionary()
)


def timer_for(loop: asyncio.AbstractEventLoop) -> PreciseTimer:
    """The loop's timer (created on first use)."""
    timer = _TIMERS.get(loop)
    if timer is None:
        timer = _TIMERS[loop] = PreciseTimer(loop)
    return timer
