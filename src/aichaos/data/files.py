"""File faults: truncated, empty, missing, byte-corrupted, partially written, unreadable.

Each fault acts on one data file (CSV, Parquet, JSONL -- any bytes) through the one
file swap (:class:`~aichaos.faults.swap.FileSwap`): the original is kept as a hard link
beside the file, the damaged bytes are renamed over it (a reader never sees a missing or
half-written file, except where missing is the fault), and revert renames the original
back and checks its SHA-256. :meth:`undo_actions` hands the same restore to the watchdog.

No numpy / pandas here: these modules load with the ``FAULTS`` registry.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from aichaos.errors import InjectionError, TargetError
from aichaos.eventloop import stop
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.swap import FileSwap, bytes_changed
from aichaos.faults.undo import UndoAction

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

    #: the damaged file's mode (None: the original's)
    damaged_mode: ClassVar[int | None] = None

    path: str = Field(description="the data file to damage")
    backup_dir: str | None = Field(
        None,
        description="where the original waits (default: a hidden name beside it; "
        "another filesystem means a copy instead of a hard link)",
    )

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that damages ``path``."""
        return FileInjection(self, ctx)

    def damage(self, data: bytes, rng: random.Random) -> bytes | None:
        """The damaged version of the original bytes (None: the file disappears)."""
        raise NotImplementedError


class FileInjection(Injection):
    """Swap the file for its damaged version; revert puts the original back, verified."""

    fault: FileFault

    def __init__(self, fault: FileFault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.path = Path(fault.path)
        backup = None
        if fault.backup_dir:
            name = f".{self.path.name}.aichaos-orig-{uuid.uuid4().hex[:8]}"
            backup = Path(fault.backup_dir) / name
        self.swap = FileSwap(self.path, backup)
        self._effect: dict[str, Any] | None = None

    @property
    def backup(self) -> Path:
        """Where the original waits while the fault is on."""
        return self.swap.backup

    async def apply(self) -> None:
        if not self.path.is_file():
            raise TargetError(f"{self.fault.type}: file {str(self.path)!r} does not exist")
        try:
            await asyncio.to_thread(self._apply)
        except OSError as exc:
            await self.revert()
            raise InjectionError(f"{self.fault.type} on {str(self.path)!r} failed: {exc}") from exc

    def _apply(self) -> None:
        original = self.swap.keep_bytes()
        try:
            data = self.fault.damage(original, self.ctx.rng)
            if data is None:
                self.swap.remove()
            else:
                self.swap.put(data, self.fault.damaged_mode)
        except BaseException:
            self.swap.discard()  # nothing was put: the file is the original
            raise
        self._effect = {
            "file": str(self.path),
            "bytes_before": len(original),
            "bytes_after": None if data is None else len(data),
            "changed": data != original or self.fault.damaged_mode is not None,
            "seen": len(original),
            "touched": bytes_changed(original, data),
            "unit": "bytes changed",
        }

    async def revert(self) -> None:
        if self.swap.kept:
            await asyncio.to_thread(self.swap.restore)

    def undo_actions(self) -> list[UndoAction]:
        return [self.swap.undo_action()] if self.swap.kept else []

    def effect(self) -> dict[str, Any] | None:
        """The file's bytes before and after, and whether they differ."""
        return self._effect

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backup": str(self.backup)}


@FAULTS.register("file-truncate")
class FileTruncate(FileFault):
    """Cut a file to its first ``keep_fraction`` of bytes (a writer that died mid-file)."""

    keep_fraction: float = Field(0.5, ge=0.0, lt=1.0, description="share of bytes kept")

    def damage(self, data: bytes, rng: random.Random) -> bytes | None:
        """The first ``keep_fraction`` of the bytes."""
        return data[: int(len(data) * self.keep_fraction)]


@FAULTS.register("file-empty")
class FileEmpty(FileFault):
    """Replace a file by an empty one (zero bytes, same name)."""

    def damage(self, data: bytes, rng: random.Random) -> bytes | None:
        """No bytes."""
        return b""


@FAULTS.register("file-missing")
class FileMissing(FileFault):
    """Make a file disappear (it is kept aside and put back on revert)."""

    def damage(self, data: bytes, rng: random.Random) -> bytes | None:
        """No file at all."""
        return None


@FAULTS.register("file-corrupt-bytes")
class FileCorruptBytes(FileFault):
    """Flip a fraction of a file's bytes (bit rot, a bad disk, a broken transfer)."""

    fraction: float = Field(0.001, gt=0.0, le=1.0, description="share of bytes flipped")
    skip_bytes: int = Field(0, ge=0, description="leave this many leading bytes intact")
    seed: int | None = Field(None, description="byte positions' seed (default: the run's RNG)")

    def damage(self, original: bytes, rng: random.Random) -> bytes | None:
        """The bytes, the picked ones XOR-ed with a random non-zero value."""
        data = bytearray(original)
        span = len(data) - self.skip_bytes
        if span <= 0:
            raise OSError(f"file has {len(data)} bytes, nothing after skip_bytes={self.skip_bytes}")
        pick = random.Random(self.seed) if self.seed is not None else rng
        count = max(1, round(span * self.fraction))
        for pos in pick.sample(range(self.skip_bytes, len(data)), count):
            data[pos] ^= pick.randrange(1, 256)
        return bytes(data)


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

    def damage(self, data: bytes, rng: random.Random) -> bytes | None:
        """The prefix."""
        return data[: int(len(data) * self.keep_fraction)]


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
        # the writer got there in the end: the whole original, swapped in atomically
        await asyncio.to_thread(lambda: self.swap.put(self.backup.read_bytes()))

    async def revert(self) -> None:
        if self.task is not None:
            await stop(self.task)
        await super().revert()


@FAULTS.register("file-permission-denied")
class FilePermissionDenied(FileFault):
    """Make a file unreadable: mode 000 (a reader running as root is not stopped by it)."""

    damaged_mode: ClassVar[int | None] = 0

    def damage(self, data: bytes, rng: random.Random) -> bytes | None:
        """The same bytes (written with no permission bits; the original keeps its mode)."""
        return data
