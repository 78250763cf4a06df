"""Callables for the stuck-target tests: a revert or rollback that never returns."""

from __future__ import annotations

import asyncio
import time


def nothing() -> None:
    """Apply: does nothing."""


def hang() -> None:
    """A synchronous revert stuck on a dependency that never answers."""
    time.sleep(600)


async def hang_async() -> None:
    """An async rollback that never finishes."""
    await asyncio.sleep(600)
