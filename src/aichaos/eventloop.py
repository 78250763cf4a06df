"""The one "uvloop where it is installed" helper.

uvloop forwards bytes and runs callbacks faster than asyncio's own loop, so the proxy,
the load generator and the commands run on it when the ``fast`` extra is installed; the
standard loop otherwise, with the same behaviour. ``aichaos run`` asks for it only when
the experiment has a workload: probes and faults alone gain nothing from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run"]

T = TypeVar("T")


def new_event_loop(fast: bool = True) -> asyncio.AbstractEventLoop:
    """A uvloop loop where uvloop is installed, asyncio's otherwise.

    ``fast=False`` asks for asyncio's own loop: for work that moves few bytes (an
    experiment's probes and faults without a load generator), where importing uvloop
    would cost start-up time and about 2 MiB and buy nothing.
    """
    if not fast:
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the `fast` extra is optional
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(coro: Coroutine[Any, Any, T], fast: bool = True) -> T:
    """Run ``coro`` to completion on a fresh :func:`new_event_loop` (as ``asyncio.run``)."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(fast)) as runner:
        return runner.run(coro)
