"""SIGINT and SIGTERM during and after a run.

While the run lives, both abort it: the rollback finishes and the verdict is
``aborted``. Once the run has its verdict, a signal only asks the command to finish
early (end the metrics linger): it never raises ``KeyboardInterrupt`` into the code
that is printing, pushing or journaling the verdict, so a Ctrl-C racing the end of a
run can neither turn the verdict into a traceback nor skip the Pushgateway push.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["ignore_signals", "install_signal_handlers", "stop_requested"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: set by a SIGINT/SIGTERM that arrives after the run's verdict
stop_requested = threading.Event()


def _after_the_run(signum: int, frame: FrameType | None) -> None:
    stop_requested.set()


def install_signal_handlers(on_signal: Callable[[signal.Signals], None]) -> Callable[[], None]:
    """Route SIGINT/SIGTERM to ``on_signal`` on the running loop; return the restorer.

    The restorer hands both signals to :data:`stop_requested` for the rest of the
    process (the command ends soon after the verdict).
    """
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)

    def restore() -> None:
        # removing the loop's handler puts the default one back (KeyboardInterrupt for
        # SIGINT) until ours is set: block both meanwhile, so a signal racing the swap
        # waits and then reaches _after_the_run
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
                signal.signal(sig, _after_the_run)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    return restore


def ignore_signals() -> None:
    """Ignore SIGINT/SIGTERM for the rest of the process: the verdict is out.

    Call it just before exiting with the verdict's code. A Python-level handler would
    not do: interpreter shutdown puts the default action back, so a late Ctrl-C would
    kill the process (exit -2) instead of letting it exit with its verdict.
    """
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
