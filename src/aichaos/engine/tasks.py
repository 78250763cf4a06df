"""Small helpers for the engine's tasks: cancel, settle, read an outcome."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["cancel", "settle", "task_error"]


async def settle(task: asyncio.Task[None]) -> None:
    """Wait for ``task`` to finish, whatever its outcome."""
    with contextlib.suppress(BaseException):
        await task


async def cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
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
