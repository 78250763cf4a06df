"""``process-pause``: freeze a process with SIGSTOP; SIGCONT on revert, always.

The watchdog holds a SIGCONT for every paused pid, so a runner killed mid-fault cannot
leave the process frozen past the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any, ClassVar

from aichaos.errors import InjectionError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.claims import Claim, claim, pid_resource
from aichaos.faults.pids import select_pids
from aichaos.faults.undo import SendSignal, UndoAction
from aichaos.targets import ProcessTarget

__all__ = ["ProcessPause"]


@FAULTS.register("process-pause")
class ProcessPause(Fault):
    """Pause a process (SIGSTOP) for the step's duration; resume it (SIGCONT) on revert."""

    target_kinds: ClassVar[tuple[str, ...]] = ("process",)
    radius_fields: ClassVar[frozenset[str]] = frozenset({"fraction"})

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that pauses ``ctx.target``'s processes."""
        self.require_target(ctx, ProcessTarget)
        return _PauseInjection(self, ctx)


class _PauseInjection(Injection):
    def __init__(self, fault: Fault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.target: ProcessTarget = ctx.target
        self.pids: list[int] = []
        self.matched = 0
        self.stopped = 0
        self.claims: list[Claim] = []

    async def apply(self) -> None:
        pids = (await asyncio.to_thread(select_pids, self.target)).hit
        self.matched = len(pids)
        fraction = self.ctx.blast_radius.fraction
        count = max(1, round(len(pids) * fraction)) if fraction > 0 else 0
        chosen = sorted(self.ctx.rng.sample(pids, count))
        # Claim every pid before stopping any: a pid another fault holds paused would be
        # resumed by whichever revert comes first.
        try:
            for pid in chosen:
                self.claims.append(claim(pid_resource(pid), f"process-pause of pid {pid}"))
        except BaseException:
            self._release()
            raise
        # Record before sending, so undo_actions covers a pid even if a later kill fails.
        self.pids = chosen
        for pid in chosen:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            except PermissionError as exc:
                await self.revert()
                raise InjectionError(f"not allowed to pause pid {pid}: {exc}") from exc
            self.stopped += 1

    async def revert(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._release()

    def effect(self) -> dict[str, Any]:
        """Processes matched and paused (a pid that left before its SIGSTOP is not)."""
        return {"seen": self.matched, "touched": self.stopped, "unit": "processes paused"}

    def _release(self) -> None:
        claims, self.claims = self.claims, []
        for c in claims:
            c.release()

    def undo_actions(self) -> list[UndoAction]:
        return [SendSignal(pid=pid, signal="SIGCONT") for pid in self.pids]

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "pids": list(self.pids)}
