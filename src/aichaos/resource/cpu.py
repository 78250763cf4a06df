"""``cpu-burn``: ``workers`` processes each busy ``load_fraction`` of the time.

Each worker is a leashed child (see :mod:`aichaos.resource.child`) that busy-loops for
``load_fraction`` of every 100 ms and sleeps the rest, so the load is a duty cycle, not
a guess. Workers exit on revert, on TTL expiry without renewal, or when the runner dies.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pydantic import Field, field_validator

from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.resource.child import StressChild

__all__ = ["CpuBurn"]


@FAULTS.register("cpu-burn")
class CpuBurn(Fault):
    """Burn CPU with ``workers`` processes at ``load_fraction`` each."""

    workers: int = Field(1, ge=1, description="number of burner processes")
    load_fraction: float = Field(1.0, gt=0.0, le=1.0, description="busy share of each worker")

    @field_validator("workers")
    @classmethod
    def _at_most_cpus(cls, v: int) -> int:
        cpus = os.cpu_count() or 1
        if v > cpus:
            raise ValueError(f"workers must be <= the {cpus} CPUs of this machine, got {v}")
        return v

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection (no worker runs before apply)."""
        return _CpuInjection(self, ctx)


class _CpuInjection(Injection):
    fault: CpuBurn

    def __init__(self, fault: CpuBurn, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.children: list[StressChild] = []
        self.shares: list[float] | None = None

    async def apply(self) -> None:
        args = ["--load", str(self.fault.load_fraction)]
        try:
            for _ in range(self.fault.workers):
                child = await asyncio.to_thread(StressChild.start, "cpu", args, self.ctx.ttl_s)
                self.children.append(child)
        except BaseException:
            await self.revert()
            raise

    async def renew(self, ttl_s: float) -> None:
        for child in self.children:
            child.renew(ttl_s)

    async def revert(self) -> None:
        children, self.children = self.children, []
        if children:
            # Read from the OS just before the burners stop: what they really got, which a
            # loaded machine can hold below what was asked.
            self.shares = [child.cpu_share() for child in children]
        for child in children:
            await asyncio.to_thread(child.stop)

    def effect(self) -> dict[str, Any] | None:
        """The level reached: CPU share the OS charged to the burners, of the share asked.

        Both are summed over workers (two workers at 0.5 ask for 1.0 CPU); ``touched`` is
        each burner's user + system time over its wall time, read just before it stopped.
        """
        if self.shares is None:
            return None
        return {
            "seen": round(self.fault.workers * self.fault.load_fraction, 3),
            "touched": round(sum(self.shares), 3),
            "unit": "CPU share",
            "per_worker": [round(s, 3) for s in self.shares],
        }

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pids": [c.pid for c in self.children]}
