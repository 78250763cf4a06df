"""Small helpers for the engine's tasks: bound, settle, read an outcome (cancel is in
:mod:`aichaos.eventloop`, shared with the faults that run a task of their own)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from aichaos.errors import OperationTimeout

__all__ = ["bounded", "failure_text", "settle", "task_error"]

T = TypeVar("T")


async def bounded(call: Awaitable[T], seconds: float) -> T:
    """Await ``call`` for at most ``seconds``; past that, :class:`OperationTimeout`.

    A probe, apply or revert that runs past its enforced limit is an aichaos error with
    the limit in its message, not a bare ``TimeoutError`` the caller has to decode.
    """
    try:
        return await asyncio.wait_for(call, seconds)
    except TimeoutError as exc:
        if isinstance(exc, OperationTimeout):
            raise
        raise OperationTimeout(f"timed out after {seconds:g}s") from exc


def failure_text(exc: BaseException) -> str:
    """One line for a failed operation: a timeout says its limit, others their type."""
    if isinstance(exc, OperationTimeout):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def settle(task: asyncio.Task[None]) -> None:
    """Wait for ``task`` to finish, whatever its outcome."""
    with contextlib.suppress(BaseException):
        await task


def task_error(task: asyncio.Task[None]) -> str | None:
    """One line for a task's failure (every member of an exception group), or ``None``."""
    if task.cancelled():
        return None
    exc = task.exception()
    if exc is None:
        return None
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(f"{type(e).__name__}: {e}" for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"
