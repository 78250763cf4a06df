"""``cgroup-limit``: cap a process's memory and CPU through cgroups v2, where there are any.

Needs a pure cgroup v2 hierarchy at ``/sys/fs/cgroup`` with the ``memory`` / ``cpu``
controllers delegated, and the right to create a child group. Elsewhere (cgroup v1 or
hybrid hosts, containers without delegation) apply fails with a clear "not available
here" :class:`~aichaos.errors.InjectionError` and touches nothing.

Apply creates ``/sys/fs/cgroup/aichaos-<id>``, writes ``memory.max`` / ``cpu.max`` and
moves the target's pids in; revert moves them back to the groups they came from and
removes the group. Limitation: the watchdog has no undo action for this (it would need
to write cgroup files), so a runner killed mid-fault leaves the limit until reverted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from aichaos.errors import InjectionError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.pids import select_pids
from aichaos.targets import ProcessTarget

__all__ = ["CgroupLimit", "cgroup_v2_controllers"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_v2_controllers(root: Path = CGROUP_ROOT) -> set[str]:
    """Controllers available to child groups of a v2 hierarchy at ``root``; empty if none."""
    try:
        return set((root / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


@FAULTS.register("cgroup-limit")
class CgroupLimit(Fault):
    """Cap a target's memory (``memory_max_mb``) and/or CPU (``cpu_max_fraction``)."""

    target_kinds: ClassVar[tuple[str, ...]] = ("process",)

    memory_max_mb: float | None = Field(None, gt=0, description="memory.max, MiB")
    cpu_max_fraction: float | None = Field(None, gt=0, description="CPUs' worth of time, e.g. 0.5")

    @model_validator(mode="after")
    def _something(self) -> CgroupLimit:
        if self.memory_max_mb is None and self.cpu_max_fraction is None:
            raise ValueError("give memory_max_mb, cpu_max_fraction or both")
        return self

    def preflight(self) -> list[str]:
        """A cgroup v2 hierarchy with the needed controllers delegated to us."""
        need = {"memory"} if self.memory_max_mb is not None else set()
        need |= {"cpu"} if self.cpu_max_fraction is not None else set()
        missing = need - cgroup_v2_controllers()
        if not missing:
            return []
        return [
            f"cgroup-limit cannot work on this host: {CGROUP_ROOT} offers no cgroup v2 "
            f"controller(s) {', '.join(sorted(missing))} (cgroup v1/hybrid host or no "
            "delegation)"
        ]

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection on ``ctx.target``'s processes."""
        self.require_target(ctx, ProcessTarget)
        return _CgroupInjection(self, ctx)


def _own_group(pid: int) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return CGROUP_ROOT / line[3:].lstrip("/")
    raise InjectionError(f"pid {pid} is not in a cgroup v2 group")


class _CgroupInjection(Injection):
    fault: CgroupLimit

    def __init__(self, fault: CgroupLimit, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.target: ProcessTarget = ctx.target
        self.group: Path | None = None
        self.moved: dict[int, Path] = {}

    def _needed(self) -> set[str]:
        need = set()
        if self.fault.memory_max_mb is not None:
            need.add("memory")
        if self.fault.cpu_max_fraction is not None:
            need.add("cpu")
        return need

    async def apply(self) -> None:
        missing = self._needed() - cgroup_v2_controllers()
        if missing:
            raise InjectionError(
                f"cgroup-limit is not available here: {CGROUP_ROOT} offers no cgroup v2 "
                f"controller(s) {', '.join(sorted(missing))} (cgroup v1/hybrid host or no "
                "delegation)"
            )
        pids = (await asyncio.to_thread(select_pids, self.target)).hit
        try:
            await asyncio.to_thread(self._apply, pids)
        except OSError as exc:
            await self.revert()
            raise InjectionError(f"cgroup-limit failed: {exc}") from exc

    def _apply(self, pids: list[int]) -> None:
        group = CGROUP_ROOT / f"aichaos-{uuid.uuid4().hex[:8]}"
        group.mkdir()
        self.group = group
        if self.fault.memory_max_mb is not None:
            (group / "memory.max").write_text(str(int(self.fault.memory_max_mb * 1024 * 1024)))
        if self.fault.cpu_max_fraction is not None:
            period = 100_000
            (group / "cpu.max").write_text(f"{int(self.fault.cpu_max_fraction * period)} {period}")
        for pid in pids:
            origin = _own_group(pid)
            (group / "cgroup.procs").write_text(str(pid))
            self.moved[pid] = origin

    async def revert(self) -> None:
        await asyncio.to_thread(self._revert)

    def _revert(self) -> None:
        moved, self.moved = self.moved, {}
        for pid, origin in moved.items():
            with contextlib.suppress(OSError):  # the process may have exited
                (origin / "cgroup.procs").write_text(str(pid))
        if self.group is not None:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(self.group)
            self.group = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "group": str(self.group), "pids": list(self.moved)}
