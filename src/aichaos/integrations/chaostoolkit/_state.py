"""State shared by the Chaos Toolkit actions of one ``chaos`` process.

Chaos Toolkit calls each action as a plain synchronous function, so whatever must outlive
one call lives here: the proxy processes started so far, and the live fault injections
(:class:`~aichaos.engine.live.LiveFaults`: leased, renewed, undone by the watchdog if
this process dies).
"""

from __future__ import annotations

import atexit
import contextlib

from aichaos.engine.live import LiveFault, LiveFaults
from aichaos.integrations.proxyproc import ProxyProcess

__all__ = ["LiveFault", "State", "state"]


class State(LiveFaults):
    """Proxies and live faults of this process."""

    def __init__(self) -> None:
        super().__init__()
        self.proxies: dict[str, ProxyProcess] = {}
        atexit.register(self.close)

    def close(self) -> None:
        """Revert every live fault and stop every proxy (at exit)."""
        super().close()
        for proc in list(self.proxies.values()):
            with contextlib.suppress(Exception):
                proc.stop()
        self.proxies.clear()


state = State()
