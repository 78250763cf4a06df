"""``preemption``: reclaim a trainer (or one rank) as a spot machine is reclaimed.

SIGTERM first, then ``grace_s`` seconds for the trainer to save and exit, then SIGKILL
to what is still running, exactly like a cloud's preemption notice. With ``every_s`` the
step preempts again at that interval while it lasts (a preemption *rate*, which a ramp
can raise by lowering ``every_s``); each time the target is resolved afresh, so the
workers an elastic launcher restarted are the next victims.

A preemption cannot be undone, and nothing is left for a watchdog: revert stops the rate
and SIGKILLs whatever is still inside its grace period (the machine is gone when the
step ends), so set ``duration_s`` longer than ``grace_s``. ``grace_s: 0`` is a plain
crash: SIGKILL with no notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any, ClassVar

from pydantic import Field

from aichaos.errors import InjectionError, TargetError
from aichaos.eventloop import stop
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.targets import ProcessTarget
from aichaos.training.ranks import Victim, choose

__all__ = ["Preemption"]

#: how often a process in its grace period is checked for having exited
_POLL_S = 0.05


@FAULTS.register("preemption")
class Preemption(Fault):
    """SIGTERM ``count`` processes (of ``rank``), SIGKILL after ``grace_s`` if still alive."""

    target_kinds: ClassVar[tuple[str, ...]] = ("process",)

    grace_s: float = Field(30.0, ge=0, le=600, description="SIGTERM to SIGKILL, in seconds")
    count: int = Field(1, ge=1, le=1024, description="processes preempted each time")
    rank: int | None = Field(
        None, ge=0, description="only processes with RANK=<rank> in their environment"
    )
    every_s: float | None = Field(
        None, gt=0, le=86400, description="preempt again at this interval; None: once"
    )

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that preempts ``ctx.target``'s processes."""
        self.require_target(ctx, ProcessTarget)
        return _PreemptInjection(self, ctx)


class _PreemptInjection(Injection):
    fault: Preemption

    def __init__(self, fault: Preemption, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.target: ProcessTarget = ctx.target
        self.preempted: list[Victim] = []
        self.exited_in_grace = 0
        self.killed = 0
        self.missed = 0
        self.matched = 0
        self.errors: list[str] = []
        self._graces: set[asyncio.Task[None]] = set()
        self._rate: asyncio.Task[None] | None = None

    async def apply(self) -> None:
        if self.fault.every_s is None:
            await self._preempt()
            return
        try:
            await self._preempt()
        except TargetError:
            self.missed += 1  # a rate: the job may be between restarts right now
        self._rate = asyncio.create_task(self._repeat(self.fault.every_s))

    async def _preempt(self) -> None:
        f = self.fault
        victims, self.matched = await asyncio.to_thread(
            choose, self.target, f.rank, f.count, self.ctx.rng
        )
        for v in victims:
            try:
                os.kill(v.pid, signal.SIGTERM if f.grace_s > 0 else signal.SIGKILL)
            except ProcessLookupError:
                continue
            except PermissionError as exc:
                raise InjectionError(f"not allowed to signal pid {v.pid}: {exc}") from exc
            self.preempted.append(v)
            if f.grace_s > 0:
                task = asyncio.create_task(self._grace(v, f.grace_s))
                self._graces.add(task)
                task.add_done_callback(self._graces.discard)
            else:
                v.settled = True
                self.killed += 1

    async def _repeat(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self._preempt()
            except TargetError:
                self.missed += 1  # the job is between restarts: nobody to preempt now
            except InjectionError as exc:  # not allowed to signal: say so, keep the rate
                self.errors.append(str(exc))

    async def _grace(self, v: Victim, grace_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        # the victim is no child of ours: nothing to wait on but its /proc entry
        while v.alive() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(min(_POLL_S, max(0.0, deadline - loop.time())))
        self._settle(v)

    def _settle(self, v: Victim) -> None:
        """End ``v``'s grace: it exited by itself, or it gets SIGKILL now."""
        if v.settled:
            return
        v.settled = True
        if not v.alive():
            self.exited_in_grace += 1
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(v.pid, signal.SIGKILL)
            self.killed += 1

    async def revert(self) -> None:
        if self._rate is not None:
            await stop(self._rate)
        graces = list(self._graces)
        for task in graces:
            task.cancel()
        await asyncio.gather(*graces, return_exceptions=True)
        # a grace cut short by the step's end (even one whose task never ran): the
        # machine is gone now
        for v in self.preempted:
            self._settle(v)

    def effect(self) -> dict[str, Any]:
        """Processes preempted, how many exited within grace, how many were SIGKILLed."""
        return {
            "seen": self.matched,
            "touched": len(self.preempted),
            "unit": "processes preempted",
            "exited_in_grace": self.exited_in_grace,
            "killed_after_grace": self.killed,
            "missed": self.missed,
            **({"errors": self.errors[:5]} if self.errors else {}),
        }

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "preempted": [v.describe() for v in self.preempted]}
