"""The event loop helpers: the one "uvloop where it is installed", and ending a task.

uvloop forwards bytes and runs callbacks faster than asyncio's own loop, so the proxy,
the load generator and the commands run on it when the ``fast`` extra is installed; the
standard loop otherwise, with the same behaviour. ``aichaos run`` asks for it only when
the experiment has a workload: probes and faults alone gain nothing from it.

:func:`cancel` and :func:`stop` end a task for sure (the engine's tickers, a fault's
poller on revert), where ``task.cancel(); await task`` can wait for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["cancel", "new_event_loop", "run", "stop"]

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


#: how long :func:`cancel` waits before it cancels again
RECANCEL_S = 0.5


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it, cancelling again while it runs on.

    A task can swallow a cancellation without meaning to: on Python 3.11
    ``asyncio.wait_for`` returns its result when the awaited call completes in the same
    loop pass as the cancel (gh-86296), and a loop around it then never ends. Seen once
    in CI: the guardrail ticker ran on and the run never finished.
    """
    task.cancel()
    while not (await asyncio.wait({task}, timeout=RECANCEL_S))[0]:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


async def stop(task: asyncio.Task[Any]) -> None:
    """:func:`cancel` ``task``, then raise what it failed with before it was cancelled.

    For a fault's background task on revert: the task's own error (a poller that could
    not restore what it held) is the revert's error, not lost with the cancellation.
    """
    await cancel(task)
    failure = None if task.cancelled() else task.exception()
    if failure is not None:
        raise failure
