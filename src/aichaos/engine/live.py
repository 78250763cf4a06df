"""Faults held outside an engine run, with the run's lease, renewal and watchdog.

Chaos Toolkit actions and pytest markers apply a fault in one synchronous call and
revert it in another, so the injection must outlive the call: :class:`LiveFaults` runs
the injections on a background event loop, writes each one's undo actions to a lease
(:mod:`aichaos.engine.deadman`) right after apply, and renews both the lease and the
injection's own deadline while the fault should stay. If the process dies -- ``kill -9``,
SIGTERM, ``pytest-timeout`` calling ``os._exit`` -- renewal stops and the watchdog undoes
the fault ``ttl_s`` later, exactly as for ``aichaos run``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from aichaos.engine.deadman import DeadMan, Lease
from aichaos.faults.base import Injection

__all__ = ["LiveFault", "LiveFaults"]

T = TypeVar("T")

# renewal runs this many times per TTL, so one late tick never lets a fault expire
_RENEWALS_PER_TTL = 4
_MAX_RENEW_INTERVAL_S = 1.0
_RENEW_CALL_S = 5.0


@dataclass
class LiveFault:
    """An applied injection, its lease with the watchdog (if it leaves state), its TTL."""

    name: str
    injection: Injection
    lease: Lease | None
    ttl_s: float


class LiveFaults:
    """Live faults of this process; a loop thread applies, renews and reverts them.

    >>> live = LiveFaults()                                      # doctest: +SKIP
    >>> live.hold("pause", fault.injection(ctx), ttl_s=5)        # doctest: +SKIP
    >>> live.release("pause")                                    # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.faults: dict[str, LiveFault] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadman: DeadMan | None = None
        self._lock = threading.Lock()
        self._failed: list[LiveFault] = []
        self._changed: asyncio.Event | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The background loop (started on first use)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                t = threading.Thread(target=loop.run_forever, name="aichaos-live", daemon=True)
                t.start()
                self._loop = loop
                asyncio.run_coroutine_threadsafe(self._renew_forever(), loop)
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run ``coro`` on the background loop and wait for its result (bounded).

        On timeout the coroutine is cancelled: an apply that went on after its caller
        gave up would leave a fault applied with no lease and no owner.
        """
        future = asyncio.run_coroutine_threadsafe(coro, self.loop())
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def deadman(self, ttl_s: float) -> DeadMan:
        """The watchdog of this process (started on first need)."""
        if self._deadman is None:
            self._deadman = DeadMan.start(ttl_s)
        return self._deadman

    def hold(
        self, name: str, injection: Injection, ttl_s: float, apply_s: float = 60.0
    ) -> LiveFault:
        """Apply ``injection`` and keep it, leased and renewed, until :meth:`release`."""
        self.run(injection.__aenter__(), apply_s)
        actions = injection.undo_actions()
        lease = self.deadman(ttl_s).lease(name, actions, ttl_s) if actions else None
        live = LiveFault(name, injection, lease, ttl_s)
        self.faults[name] = live
        loop = self.loop()
        loop.call_soon_threadsafe(self._wake)
        return live

    def release(self, name: str, revert_s: float = 60.0) -> LiveFault | None:
        """Revert the fault ``name`` and drop its lease; ``None`` if none is held."""
        live = self.faults.pop(name, None)
        if live is None:
            return None
        try:
            self.run(live.injection.__aexit__(None, None, None), revert_s)
        except BaseException:
            # no longer renewed, its lease kept: the watchdog undoes it at TTL
            self._failed.append(live)
            raise
        if live.lease is not None:
            live.lease.release()
        return live

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _renew_forever(self) -> None:
        self._changed = asyncio.Event()
        while True:
            ttls = [live.ttl_s for live in self.faults.values()]
            interval = min([_MAX_RENEW_INTERVAL_S] + [t / _RENEWALS_PER_TTL for t in ttls])
            # a new fault wakes the loop: its first renewal must not wait a whole interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), interval)
            if self._changed.is_set():
                self._changed.clear()
                continue
            for live in list(self.faults.values()):
                if live.lease is not None:
                    live.lease.renew()
                # a renewal that fails is retried next tick; the lease still holds
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(live.injection.renew(live.ttl_s), _RENEW_CALL_S)

    def close(self) -> None:
        """Revert every live fault (best effort: a failure leaves its lease to the watchdog)."""
        for name in list(self.faults):
            with contextlib.suppress(Exception):
                self.release(name, 30.0)
        if self._deadman is not None and not self.faults and not self._failed:
            with contextlib.suppress(Exception):
                self._deadman.stop()
            self._deadman = None
