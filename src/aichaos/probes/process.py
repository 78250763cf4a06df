"""``process`` probe: is the target process alive, how many, how much memory."""

from __future__ import annotations

import asyncio
import os

from pydantic import Field

from aichaos.errors import TargetError
from aichaos.probes.base import PROBES, Probe, ProbeContext
from aichaos.targets import ProcessTarget

__all__ = ["ProcessProbe"]

_PAGE = os.sysconf("SC_PAGE_SIZE")


@PROBES.register("process")
class ProcessProbe(Probe):
    """Report ``alive`` (1/0), ``count`` and ``rss_mb`` (summed) for a process target.

    A paused (SIGSTOP) process counts as alive but also reports ``stopped`` > 0; an
    exited one its parent has not reaped yet (a zombie) does not.
    """

    target: str = Field(description="name of a process target")

    def metric_names(self) -> frozenset[str]:
        """alive, count, rss_mb, stopped."""
        return frozenset({"alive", "count", "rss_mb", "stopped"})

    async def measure(self, ctx: ProbeContext) -> dict[str, float]:
        """Read /proc for the target's processes."""
        target = ctx.target(self.target, "process")
        return await asyncio.to_thread(_read, target)


def _read(target: ProcessTarget) -> dict[str, float]:
    try:
        pids = target.resolve()
    except TargetError:
        return {"alive": 0.0, "count": 0.0, "rss_mb": 0.0, "stopped": 0.0}
    rss = 0.0
    stopped = 0
    live = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                continue  # exited, not yet reaped by its parent: not alive
            with open(f"/proc/{pid}/statm") as f:
                rss += int(f.read().split()[1]) * _PAGE / 2**20
            stopped += state in ("T", "t")
            live += 1
        except (OSError, IndexError, ValueError):
            continue
    return {
        "alive": float(live > 0),
        "count": float(live),
        "rss_mb": rss,
        "stopped": float(stopped),
    }
