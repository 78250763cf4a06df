"""The one "uvloop where it is installed" helper.

uvloop forwards bytes and runs callbacks faster than asyncio's own loop, so the proxy,
the load generator and the commands run on it when the ``fast`` extra is installed; the
standard loop otherwise, with the same behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run"]

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop where uvloop is installed, asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the `fast` extra is optional
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh :func:`new_event_loop` (as ``asyncio.run``)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)
