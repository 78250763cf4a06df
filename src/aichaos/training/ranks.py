"""Which processes of a training job a preemption or crash hits: by target, then by rank.

``torchrun`` (and every ``torch.distributed`` launcher) gives each worker ``RANK`` in its
environment; the launcher itself has none, so asking for a rank never hits the agent
that restarts the workers. Pids come from :func:`~aichaos.faults.pids.select_pids`, with
its safety exclusions.
"""

from __future__ import annotations

import random
from pathlib import Path

from aichaos.errors import TargetError
from aichaos.faults.pids import select_pids
from aichaos.targets import ProcessTarget, pid_start_time

__all__ = ["Victim", "choose", "rank_of"]


def rank_of(pid: int) -> int | None:
    """The ``RANK`` in ``pid``'s environment, or None (no such variable, or unreadable)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for item in env.split(b"\0"):
        if item.startswith(b"RANK="):
            try:
                return int(item[5:])
            except ValueError:
                return None
    return None


class Victim:
    """One chosen process: its pid, its start time (so a reused pid is never hit), rank."""

    def __init__(self, pid: int, rank: int | None) -> None:
        self.pid = pid
        self.rank = rank
        self.started = pid_start_time(pid)
        #: its preemption is over: it exited or was killed
        self.settled = False

    def alive(self) -> bool:
        """Still the same running process (a zombie or a reused pid is not)."""
        return self.started is not None and pid_start_time(self.pid) == self.started

    def describe(self) -> dict[str, int | None]:
        """pid and rank, for the journal."""
        return {"pid": self.pid, "rank": self.rank}


def choose(
    target: ProcessTarget, rank: int | None, count: int, rng: random.Random
) -> tuple[list[Victim], int]:
    """``count`` processes of ``target`` (of ``rank`` when given), and how many matched."""
    pids = select_pids(target).hit
    found = [Victim(p, rank_of(p)) for p in pids]
    if rank is not None:
        found = [v for v in found if v.rank == rank]
        if not found:
            raise TargetError(
                f"no process of target ({target.describe()}) has RANK={rank} in its "
                f"environment; ranks found: {sorted({str(rank_of(p)) for p in pids})}"
            )
    picked = sorted(rng.sample(found, min(count, len(found))), key=lambda v: v.pid)
    return picked, len(found)
