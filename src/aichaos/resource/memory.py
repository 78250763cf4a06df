"""``memory-pressure``: hold and touch ``size_mb`` of memory in a leashed child process.

The ballast lives in a child (see :mod:`aichaos.resource.child`), so revert is a clean
exit and a dead or stuck runner cannot leave it behind: it exits when its TTL lapses
without renewal or when the runner goes away. It refuses to start if it would leave
less than ``floor_fraction`` of memory available, and stops allocating early if other
processes take memory meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.resource.child import StressChild
from aichaos.resource.safety import DEFAULT_FLOOR_FRACTION, check_memory_floor

__all__ = ["MemoryPressure"]


@FAULTS.register("memory-pressure")
class MemoryPressure(Fault):
    """Allocate and touch ``size_mb`` of memory; release it on revert or TTL expiry."""

    size_mb: float = Field(gt=0, description="memory to hold, MiB")
    floor_fraction: float = Field(
        DEFAULT_FLOOR_FRACTION, ge=0.0, le=0.9, description="share of memory kept available"
    )

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection (nothing is allocated before apply)."""
        return _MemoryInjection(self, ctx)


class _MemoryInjection(Injection):
    fault: MemoryPressure

    def __init__(self, fault: MemoryPressure, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.child: StressChild | None = None
        self.held: dict[str, object] = {}

    async def apply(self) -> None:
        size = int(self.fault.size_mb * 1024 * 1024)
        floor = check_memory_floor(size, self.fault.floor_fraction)
        args = ["--bytes", str(size), "--floor-bytes", str(floor)]
        self.child = await asyncio.to_thread(StressChild.start, "memory", args, self.ctx.ttl_s)
        self.held = dict(self.child.info)

    async def renew(self, ttl_s: float) -> None:
        if self.child is not None:
            self.child.renew(ttl_s)

    async def revert(self) -> None:
        child, self.child = self.child, None
        if child is not None:
            await asyncio.to_thread(child.stop)

    def effect(self) -> dict[str, Any] | None:
        """The level reached: MiB the ballast really held, of the MiB asked for."""
        held = self.held.get("held_bytes")
        if not isinstance(held, int):
            return None
        return {
            "seen": round(self.fault.size_mb, 3),
            "touched": round(held / (1024 * 1024), 3),
            "unit": "MiB held",
            "stopped_by_floor": bool(self.held.get("stopped_by_floor")),
        }

    def describe(self) -> dict[str, Any]:
        info = dict(self.child.info) if self.child is not None else {}
        return {**super().describe(), **info}
