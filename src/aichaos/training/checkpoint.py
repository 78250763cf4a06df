"""``checkpoint-corrupt``: the latest checkpoint in a directory truncated, corrupted or gone.

"Latest" is the newest file matching ``pattern`` in ``directory`` (by modification time,
then name) when the step starts: the one a resuming trainer reaches for first. The
damage goes through the file faults of :mod:`aichaos.data.files`, so through the one
atomic, verified file swap: the original waits as a hard link, revert renames it back
and checks its SHA-256, and the watchdog holds the same restore. Checkpoints the trainer
writes while the fault is on are new files; they are not touched.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from aichaos.data.files import (
    FileCorruptBytes,
    FileFault,
    FileInjection,
    FileMissing,
    FileTruncate,
)
from aichaos.errors import TargetError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.undo import UndoAction

__all__ = ["CheckpointCorrupt", "latest_checkpoint"]


def latest_checkpoint(directory: Path, pattern: str) -> Path:
    """The newest regular file matching ``pattern``; hidden names (a trainer's temporary
    file mid-write, aichaos's own backups) only when the pattern starts with a dot."""
    if not directory.is_dir():
        raise TargetError(f"checkpoint directory {str(directory)!r} does not exist")
    found: list[tuple[int, str, Path]] = []
    for entry in os.scandir(directory):
        if ".aichaos-" in entry.name or not fnmatch.fnmatch(entry.name, pattern):
            continue
        if entry.name.startswith(".") and not pattern.startswith("."):
            continue  # as a shell glob: hidden names (a writer's temporary file) only by name
        if entry.is_file(follow_symlinks=False):
            found.append((entry.stat().st_mtime_ns, entry.name, Path(entry.path)))
    if not found:
        raise TargetError(f"no checkpoint matching {pattern!r} in {str(directory)!r}")
    return max(found)[2]


@FAULTS.register("checkpoint-corrupt")
class CheckpointCorrupt(Fault):
    """Damage the latest checkpoint: ``truncate`` it, ``corrupt`` its bytes, or hide it."""

    directory: str = Field(description="the directory the trainer writes checkpoints to")
    pattern: str = Field("*", min_length=1, description="glob of checkpoint file names")
    mode: Literal["truncate", "corrupt", "missing"] = Field(
        "corrupt", description="truncate (a writer cut short), corrupt (flipped bytes), missing"
    )
    keep_fraction: float = Field(0.5, ge=0.0, lt=1.0, description="truncate: share kept")
    flip_fraction: float = Field(
        0.01, gt=0.0, le=1.0, description="corrupt: share of bytes flipped"
    )
    backup_dir: str | None = Field(None, description="where the original waits (default: beside)")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection; the latest checkpoint is picked when it applies."""
        return _CheckpointInjection(self, ctx)

    def file_fault(self, path: Path) -> FileFault:
        """The file fault that does this damage to ``path``."""
        common: dict[str, Any] = {"path": str(path), "backup_dir": self.backup_dir}
        if self.mode == "truncate":
            return FileTruncate(keep_fraction=self.keep_fraction, **common)
        if self.mode == "missing":
            return FileMissing(**common)
        return FileCorruptBytes(fraction=self.flip_fraction, **common)


class _CheckpointInjection(Injection):
    fault: CheckpointCorrupt

    def __init__(self, fault: CheckpointCorrupt, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.inner: FileInjection | None = None

    async def apply(self) -> None:
        path = latest_checkpoint(Path(self.fault.directory), self.fault.pattern)
        inner = self.fault.file_fault(path).injection(self.ctx)
        assert isinstance(inner, FileInjection)
        self.inner = inner
        await inner.apply()

    async def revert(self) -> None:
        if self.inner is not None:
            await self.inner.revert()

    def undo_actions(self) -> list[UndoAction]:
        return self.inner.undo_actions() if self.inner is not None else []

    def effect(self) -> dict[str, Any] | None:
        """The damaged checkpoint and its bytes changed (see the file faults)."""
        return self.inner.effect() if self.inner is not None else None

    def describe(self) -> dict[str, Any]:
        out = {**super().describe()}
        if self.inner is not None:
            out.update(checkpoint=str(self.inner.path), backup=str(self.inner.backup))
        return out
