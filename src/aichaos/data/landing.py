"""Delivery faults on a landing directory: batches that arrive late, twice, out of order.

A landing directory is where upstream drops batch files (``*.parquet``, ``*.jsonl``...)
for a pipeline to pick up. These faults act on the files matching ``pattern`` there:

* ``batch-late`` -- the newest ``count`` files vanish and reappear after ``delay_s``;
* ``batch-duplicate`` -- ``count`` files are delivered a second time under a new name;
* ``batch-out-of-order`` -- the files' modification times are reversed, so a reader that
  goes by arrival time sees the newest batch first.

All reversible through the one file swap (:class:`~aichaos.faults.swap.FileSwap`): held
or restamped originals are kept as hard links beside them and renamed back on revert,
SHA-256 checked; :meth:`undo_actions` gives the watchdog the same restores and deletions.
A restamped file is swapped atomically (a reader never finds it missing).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from aichaos.errors import InjectionError, TargetError
from aichaos.eventloop import stop
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.swap import FileSwap
from aichaos.faults.undo import RemovePath, UndoAction, perform

__all__ = ["BatchDuplicate", "BatchLate", "BatchOutOfOrder", "LandingFault"]


class LandingFault(Fault):
    """Base of the landing-directory faults."""

    directory: str = Field(description="the landing directory")
    pattern: str = Field("*", description="glob of the batch files, e.g. '*.parquet'")
    count: int = Field(1, ge=1, description="how many batch files are hit")

    @field_validator("pattern")
    @classmethod
    def _inside(cls, pattern: str) -> str:
        # a fault on a landing directory must not reach files beside or above it
        if not pattern or pattern.startswith(("/", "~")) or ".." in Path(pattern).parts:
            raise ValueError(
                f"pattern must be a glob relative to the directory, without '..', got {pattern!r}"
            )
        return pattern

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection on ``directory``."""
        return _LandingInjection(self, ctx)

    def batches(self) -> list[Path]:
        """Matching files inside the directory, oldest first (by mtime, then name).

        Files reached through a symlink that leads out of the directory are skipped.
        """
        root = Path(self.directory)
        if not root.is_dir():
            raise TargetError(f"{self.type}: landing directory {self.directory!r} does not exist")
        real = root.resolve()
        files = [
            p
            for p in root.glob(self.pattern)
            if p.is_file() and not p.name.startswith(".") and real in p.resolve().parents
        ]
        if not files:
            raise TargetError(
                f"{self.type}: no file matches {self.pattern!r} in {self.directory!r}"
            )
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


class _LandingInjection(Injection):
    fault: LandingFault

    def __init__(self, fault: LandingFault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.held: list[FileSwap] = []
        self.created: list[Path] = []
        self.task: asyncio.Task[None] | None = None

    def _hold(self, path: Path) -> FileSwap:
        swap = FileSwap(path)
        swap.keep()
        self.held.append(swap)
        return swap

    async def apply(self) -> None:
        files = self.fault.batches()
        try:
            if isinstance(self.fault, BatchLate):
                for path in files[-self.fault.count :]:
                    self._hold(path).remove()
                self.task = asyncio.create_task(self._deliver_late(self.fault.delay_s))
            elif isinstance(self.fault, BatchDuplicate):
                for path in files[-self.fault.count :]:
                    copy = path.with_name(f"{path.stem}{self.fault.suffix}{path.suffix}")
                    self.created.append(copy)
                    shutil.copy2(path, copy)
            else:
                chosen = files[-max(self.fault.count, 2) :]
                stamps = [(p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in chosen]
                for path, stamp in zip(chosen, reversed(stamps), strict=True):
                    swap = self._hold(path)
                    swap.put(swap.backup.read_bytes())
                    os.utime(path, ns=stamp)
        except OSError as exc:
            await self.revert()
            raise InjectionError(f"{self.fault.type} in {self.fault.directory!r}: {exc}") from exc

    async def _deliver_late(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        for swap in self.held:
            swap.restore()
        self.held.clear()

    async def revert(self) -> None:
        if self.task is not None:
            await stop(self.task)
        for action in self.undo_actions():
            perform(action)
        for swap in self.held:
            swap.release_claim()
        self.held.clear()
        self.created.clear()

    def undo_actions(self) -> list[UndoAction]:
        actions: list[UndoAction] = [RemovePath(path=str(p)) for p in self.created]
        actions += [swap.undo_action() for swap in self.held]
        return actions

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "held": [str(swap.path) for swap in self.held],
            "created": [str(p) for p in self.created],
        }


@FAULTS.register("batch-late")
class BatchLate(LandingFault):
    """The newest ``count`` batch files arrive ``delay_s`` late (held back, then delivered)."""

    delay_s: float = Field(ge=0.0, description="how late the batches arrive")


@FAULTS.register("batch-duplicate")
class BatchDuplicate(LandingFault):
    """The newest ``count`` batch files are delivered twice (a copy under a new name)."""

    suffix: str = Field(".dup", min_length=1, description="added to the copy's stem")


@FAULTS.register("batch-out-of-order")
class BatchOutOfOrder(LandingFault):
    """The newest ``count`` (>= 2) batch files get their arrival times reversed."""
