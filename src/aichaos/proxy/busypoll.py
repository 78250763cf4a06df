"""Busy polling for a short window after I/O, so the next packet finds the proxy awake.

On a small VM a process that sleeps in ``epoll_wait`` is woken through the hypervisor:
a ping-pong between two processes on different vCPUs took 56 us a round trip here, on
one vCPU 11 us. A proxy sits in the middle of every exchange, so each of its sleeps
adds such a wake-up to the client's round trip -- most of what it costs. HAProxy's
``busy-polling`` answers this by never sleeping; this poller keeps the loop polling
(zero-timeout ``epoll_wait``: a callback that re-schedules itself keeps the loop's ready
queue non-empty) only for ``window_s`` after the last I/O, then lets it sleep again. An
exchange's reply, the next request of a keep-alive client and a new connection's first
bytes usually arrive within that window; an idle proxy costs no CPU.

Off by default, because it helps only in some placements (``bench/proxy.py`` measures
each): with client and server on other cores it removes most of the proxy's added round
trip; with everything pinned to one core it changes nothing; with client and server
sharing a core and the proxy left to float it makes hops slower (a polling proxy never
sleeps, so the kernel no longer pulls it onto its peers' core, and every hop crosses
cores). Each spin yields the core first (``sched_yield``) so a peer waiting for it runs.
Cost: at most ``window_s`` of CPU per burst of traffic (a spin is one ``epoll_wait`` and
one Python call); under steady load the loop is busy anyway.
"""

from __future__ import annotations

import asyncio
import os

from aichaos.proxy.timer import now

__all__ = ["DEFAULT_WINDOW_S", "MAX_WINDOW_S", "BusyPoll"]

#: the default polling window after I/O (off; see the module's docstring)
DEFAULT_WINDOW_S = 0.0
#: the largest window accepted (beyond this the CPU cost buys nothing more)
MAX_WINDOW_S = 0.01

_yield = getattr(os, "sched_yield", lambda: None)


class BusyPoll:
    """Keep one event loop polling for ``window_s`` after each :meth:`poke`."""

    __slots__ = ("_fresh", "_loop", "_on", "_until", "spins", "window_s")

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        if not 0.0 <= window_s <= MAX_WINDOW_S:
            raise ValueError(f"busy-poll window must be 0..{MAX_WINDOW_S * 1e6:.0f} us")
        self.window_s = window_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on = False
        self._fresh = False
        self._until = 0.0
        #: how many times the loop was kept polling (for tests and curiosity)
        self.spins = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Poll on ``loop`` (the loop the proxies run on)."""
        self._loop = loop

    @property
    def polling(self) -> bool:
        """Whether the loop is being kept awake now."""
        return self._on

    def poke(self) -> None:
        """I/O happened: keep polling until ``window_s`` after now. The hot path: two
        attribute tests and one store; the clock is read by the spinner, not here."""
        self._fresh = True
        if not self._on and self._loop is not None and self.window_s > 0.0:
            self._on = True
            self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        t = now()
        if self._fresh:
            self._fresh = False
            self._until = t + self.window_s
        if t < self._until and self._loop is not None and not self._loop.is_closed():
            self.spins += 1
            # a process waiting for this core (the proxy's peer, often) runs first: polling
            # must not delay the very packet it polls for
            _yield()
            self._loop.call_soon(self._spin)
        else:
            self._on = False
