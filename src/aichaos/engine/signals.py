"""SIGINT and SIGTERM during a run: abort, let the rollback finish, exit ``aborted``.

The handlers live on the event loop while the run does. When they are removed, a run
that a signal stopped ignores further signals: a second Ctrl-C racing the exit would
otherwise raise ``KeyboardInterrupt`` and turn the ``aborted`` verdict (exit 3) into a
traceback.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

__all__ = ["install_signal_handlers"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_signal_handlers(
    on_signal: Callable[[signal.Signals], None], stopped_by_signal: Callable[[], bool]
) -> Callable[[], None]:
    """Route SIGINT/SIGTERM to ``on_signal`` on the running loop; return the restorer."""
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)

    def restore() -> None:
        stopped = stopped_by_signal()
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
            if stopped:
                signal.signal(sig, signal.SIG_IGN)

    return restore
