"""File faults: truncated, empty, missing, byte-corrupted, partially written, unreadable.

Each fault acts on one data file (CSV, Parquet, JSONL -- any bytes) and is reversible:
the original is first *moved* (``os.replace``, same inode, mode and mtime) into a hidden
backup folder beside it, then the damaged version is written in its place. Revert moves
the original back; :meth:`undo_actions` hands the same move to the watchdog
(:class:`~aichaos.faults.undo.RestoreFile`, then :class:`~aichaos.faults.undo.RemovePath`
of the backup folder), so a runner that dies cannot leave a file damaged.

No numpy / pandas here: these modules load with the ``FAULTS`` registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

from pydantic import Field

from aichaos.errors import InjectionError, TargetError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.undo import RemovePath, RestoreFile, UndoAction

__all__ = [
    "FileCorruptBytes",
    "FileEmpty",
    "FileFault",
    "FileInjection",
    "FileMissing",
    "FilePartialWrite",
    "FilePermissionDenied",
    "FileTruncate",
]


class FileFault(Fault):
    """Base of the file faults: the file, and where its original is kept meanwhile."""

    path: str = Field(description="the data file to damage")
    backup_dir: str | None = Field(
        None, description="where the original waits (default: a hidden folder beside it)"
    )

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that damages ``path``."""
        return FileInjection(self, ctx)

    def damage(self, original: Path, target: Path, rng: random.Random) -> None:
        """Write the damaged version of ``original`` (the moved-away file) to ``target``."""
        raise NotImplementedError


class FileInjection(Injection):
    """Move the original aside, write the damage; revert moves the original back."""

    fault: FileFault

    def __init__(self, fault: FileFault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.path = Path(fault.path)
        parent = Path(fault.backup_dir) if fault.backup_dir else self.path.parent
        self.backup_root = parent / f".aichaos-backup-{uuid.uuid4().hex[:12]}"
        self.backup = self.backup_root / self.path.name
        self.moved = False

    async def apply(self) -> None:
        if not self.path.is_file():
            raise TargetError(f"{self.fault.type}: file {str(self.path)!r} does not exist")
        try:
            self.backup_root.mkdir(parents=True, exist_ok=False)
            os.replace(self.path, self.backup)
            self.moved = True
            self.fault.damage(self.backup, self.path, self.ctx.rng)
        except OSError as exc:
            await self.revert()
            raise InjectionError(f"{self.fault.type} on {str(self.path)!r} failed: {exc}") from exc

    async def revert(self) -> None:
        for action in self.undo_actions():
            from aichaos.faults.undo import perform

            perform(action)
        self.moved = False

    def undo_actions(self) -> list[UndoAction]:
        actions: list[UndoAction] = []
        if self.moved:
            actions.append(RestoreFile(backup=str(self.backup), path=str(self.path)))
        actions.append(RemovePath(path=str(self.backup_root)))
        return actions

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backup": str(self.backup)}


@FAULTS.register("file-truncate")
class FileTruncate(FileFault):
    """Cut a file to its first ``keep_fraction`` of bytes (a writer that died mid-file)."""

    keep_fraction: float = Field(0.5, ge=0.0, lt=1.0, description="share of bytes kept")

    def damage(self, original: Path, target: Path, rng: random.Random) -> None:
        """Copy the first ``keep_fraction`` of the bytes."""
        size = original.stat().st_size
        keep = int(size * self.keep_fraction)
        with original.open("rb") as src, target.open("wb") as dst:
            dst.write(src.read(keep))


@FAULTS.register("file-empty")
class FileEmpty(FileFault):
    """Replace a file by an empty one (zero bytes, same name)."""

    def damage(self, original: Path, target: Path, rng: random.Random) -> None:
        """Create the empty file."""
        target.touch()


@FAULTS.register("file-missing")
class FileMissing(FileFault):
    """Make a file disappear (it is kept aside and put back on revert)."""

    def damage(self, original: Path, target: Path, rng: random.Random) -> None:
        """Nothing to write: the move already removed it."""


@FAULTS.register("file-corrupt-bytes")
class FileCorruptBytes(FileFault):
    """Flip a fraction of a file's bytes (bit rot, a bad disk, a broken transfer)."""

    fraction: float = Field(0.001, gt=0.0, le=1.0, description="share of bytes flipped")
    skip_bytes: int = Field(0, ge=0, description="leave this many leading bytes intact")
    seed: int | None = Field(None, description="byte positions' seed (default: the run's RNG)")

    def damage(self, original: Path, target: Path, rng: random.Random) -> None:
        """Copy the bytes, XOR-ing the picked ones with a random non-zero value."""
        data = bytearray(original.read_bytes())
        span = len(data) - self.skip_bytes
        if span <= 0:
            raise OSError(f"file has {len(data)} bytes, nothing after skip_bytes={self.skip_bytes}")
        pick = random.Random(self.seed) if self.seed is not None else rng
        count = max(1, round(span * self.fraction))
        for pos in pick.sample(range(self.skip_bytes, len(data)), count):
            data[pos] ^= pick.randrange(1, 256)
        target.write_bytes(bytes(data))


@FAULTS.register("file-partial-write")
class FilePartialWrite(FileFault):
    """A file still being written: a prefix now, the rest after ``complete_after_s``.

    Readers that do not wait for a completion marker see a truncated file. With
    ``complete_after_s`` unset, the file stays partial until revert.
    """

    keep_fraction: float = Field(0.5, ge=0.0, lt=1.0, description="share written at first")
    complete_after_s: float | None = Field(None, gt=0, description="when the rest is written")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection (it may finish the write later)."""
        return _PartialInjection(self, ctx)

    def damage(self, original: Path, target: Path, rng: random.Random) -> None:
        """Write the prefix."""
        size = original.stat().st_size
        with original.open("rb") as src, target.open("wb") as dst:
            dst.write(src.read(int(size * self.keep_fraction)))


class _PartialInjection(FileInjection):
    fault: FilePartialWrite

    def __init__(self, fault: FilePartialWrite, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.task: asyncio.Task[None] | None = None

    async def apply(self) -> None:
        await super().apply()
        if self.fault.complete_after_s is not None:
            self.task = asyncio.create_task(self._finish(self.fault.complete_after_s))

    async def _finish(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        shutil.copyfile(self.backup, self.path)  # the writer got there in the end

    async def revert(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await super().revert()


@FAULTS.register("file-permission-denied")
class FilePermissionDenied(FileFault):
    """Make a file unreadable: mode 000 (a reader running as root is not stopped by it)."""

    def damage(self, original: Path, target: Path, rng: random.Random) -> None:
        """A copy with no permission bits; the original keeps its mode aside."""
        shutil.copyfile(original, target)
        os.chmod(target, 0)
