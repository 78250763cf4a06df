"""Rollbacks: the user's own undo actions, run after every fault has been reverted.

Each runs under its own timeout and is journaled; one failing does not stop the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aichaos.callables import call_maybe_async, import_callable
from aichaos.engine.journal import Journal
from aichaos.experiment.model import Experiment, HttpRollback, PythonRollback

if TYPE_CHECKING:
    import httpx

__all__ = ["run_rollbacks"]


async def _one(
    rb: PythonRollback | HttpRollback,
    targets: Mapping[str, Any],
    client: Callable[[], httpx.AsyncClient],
) -> None:
    if isinstance(rb, PythonRollback):
        await call_maybe_async(import_callable(rb.call), **rb.arguments)
        return
    target = targets[rb.target]
    resp = await client().request(
        rb.method, target.url.rstrip("/") + rb.path, headers=target.headers
    )
    if resp.status_code != rb.expect_status:
        raise RuntimeError(
            f"{rb.method} {rb.path} answered {resp.status_code}, expected {rb.expect_status}"
        )


async def run_rollbacks(
    exp: Experiment,
    *,
    targets: Mapping[str, Any],
    journal: Journal,
    client: Callable[[], httpx.AsyncClient],
) -> int:
    """Run every rollback; return how many failed. ``client()`` builds httpx on first use."""
    failed = 0
    timeout = exp.safety.timeouts.rollback_s
    for i, rb in enumerate(exp.rollbacks):
        label = rb.call if isinstance(rb, PythonRollback) else f"{rb.method} {rb.target}{rb.path}"
        try:
            await asyncio.shield(asyncio.wait_for(_one(rb, targets, client), timeout))
        except Exception as exc:
            failed += 1
            why = (
                f"timed out after {timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            journal.write("rollback", index=i, action=label, ok=False, error=why)
        else:
            journal.write("rollback", index=i, action=label, ok=True)
    return failed
