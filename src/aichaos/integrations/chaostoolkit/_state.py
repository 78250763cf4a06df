"""State shared by the Chaos Toolkit actions of one ``chaos`` process.

Chaos Toolkit calls each action as a plain synchronous function, so whatever must outlive
one call lives here: the proxy processes started so far, and the live fault injections
with a background event loop that renews them. A watchdog process (the engine's
dead-man's switch) undoes the injections that leave state behind if this process dies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from aichaos.integrations.proxyproc import ProxyProcess

__all__ = ["LiveFault", "State", "state"]

T = TypeVar("T")


@dataclass
class LiveFault:
    """An applied injection, its lease with the watchdog, and its TTL."""

    name: str
    injection: Any
    lease: Any
    ttl_s: float


class State:
    """Proxies and live faults of this process; a loop thread renews the faults."""

    def __init__(self) -> None:
        self.proxies: dict[str, ProxyProcess] = {}
        self.faults: dict[str, LiveFault] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._deadman: Any = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    def loop(self) -> asyncio.AbstractEventLoop:
        """The background loop (started on first use)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                t = threading.Thread(target=loop.run_forever, name="aichaos-ctk", daemon=True)
                t.start()
                self._loop, self._thread = loop, t
                asyncio.run_coroutine_threadsafe(self._renew_forever(), loop)
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run ``coro`` on the background loop and wait for its result (bounded)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop()).result(timeout_s)

    def deadman(self, ttl_s: float) -> Any:
        """The watchdog of this process (started on first need)."""
        if self._deadman is None:
            from aichaos.engine.deadman import DeadMan

            self._deadman = DeadMan.start(ttl_s)
        return self._deadman

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for live in list(self.faults.values()):
                if live.lease is not None:
                    live.lease.renew()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(live.injection.renew(live.ttl_s), 5.0)

    def close(self) -> None:
        """Revert every live fault and stop every proxy (at exit)."""
        for name in list(self.faults):
            with contextlib.suppress(Exception):
                live = self.faults.pop(name)
                self.run(live.injection.revert(), 30.0)
                if live.lease is not None:
                    live.lease.release()
        for proc in list(self.proxies.values()):
            with contextlib.suppress(Exception):
                proc.stop()
        self.proxies.clear()
        if self._deadman is not None:
            with contextlib.suppress(Exception):
                self._deadman.stop()
            self._deadman = None


state = State()
