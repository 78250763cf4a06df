"""``process-kill``: send SIGTERM / SIGKILL to a share of a target's processes.

Like Ray's chaos killers, ``keep_alive`` keeps at least that many of the matched
processes running, so a fault on "all workers" never takes the whole service down unless
asked to. A kill is not undone: recovering from it is what the experiment observes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any, ClassVar, Literal

from pydantic import Field

from aichaos.errors import InjectionError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.pids import select_pids
from aichaos.targets import ProcessTarget

__all__ = ["ProcessKill"]


@FAULTS.register("process-kill")
class ProcessKill(Fault):
    """Kill a share (blast radius) of a target's processes, keeping ``keep_alive`` alive."""

    target_kinds: ClassVar[tuple[str, ...]] = ("process",)
    radius_fields: ClassVar[frozenset[str]] = frozenset({"fraction"})
    lasts: ClassVar[bool] = False

    signal: Literal["SIGTERM", "SIGKILL", "SIGINT", "SIGHUP"] = Field(
        "SIGTERM", description="signal sent to each chosen process"
    )
    keep_alive: int = Field(0, ge=0, description="matched processes that are never killed")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that kills some of ``ctx.target``'s processes."""
        self.require_target(ctx, ProcessTarget)
        return _KillInjection(self, ctx)


class _KillInjection(Injection):
    fault: ProcessKill

    def __init__(self, fault: ProcessKill, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.target: ProcessTarget = ctx.target
        self.matched: list[int] = []
        self.killed: list[int] = []

    async def apply(self) -> None:
        pids = (await asyncio.to_thread(select_pids, self.target)).hit
        self.matched = pids
        fraction = self.ctx.blast_radius.fraction
        count = max(1, round(len(pids) * fraction)) if fraction > 0 else 0
        count = min(count, max(0, len(pids) - self.fault.keep_alive))
        chosen = sorted(self.ctx.rng.sample(pids, count))
        sig = getattr(signal, self.fault.signal)
        for pid in chosen:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue  # it left on its own: nothing to kill
            except PermissionError as exc:
                raise InjectionError(f"not allowed to signal pid {pid}: {exc}") from exc
            self.killed.append(pid)

    def effect(self) -> dict[str, Any]:
        """Processes matched and killed."""
        return {"seen": len(self.matched), "touched": len(self.killed), "unit": "processes killed"}

    async def revert(self) -> None:
        """A kill cannot be undone; the system under test has to recover by itself."""

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "matched": self.matched, "killed": self.killed}
