"""``disk-fill``: fill a directory's filesystem with one file, removed on revert.

Give either ``size_mb`` or ``leave_free_fraction`` (fill until only that share of the
disk is free). Either way the fault refuses to go below ``floor_fraction`` free. The file
is named before it is written, so the watchdog's :class:`RemovePath` covers a runner that
dies mid-write.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import uuid
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from aichaos.errors import InjectionError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.claims import exclusive
from aichaos.faults.undo import RemovePath, UndoAction
from aichaos.resource.safety import DEFAULT_FLOOR_FRACTION, check_disk_floor, disk_usage

__all__ = ["DiskFill"]

_CHUNK = 8 * 1024 * 1024


@FAULTS.register("disk-fill")
class DiskFill(Fault):
    """Write one file in ``directory`` of ``size_mb`` (or until ``leave_free_fraction``)."""

    directory: str = Field(description="an existing directory on the filesystem to fill")
    size_mb: float | None = Field(None, gt=0, description="bytes to write, MiB")
    leave_free_fraction: float | None = Field(
        None, gt=0.0, lt=1.0, description="fill until this share of the disk is free"
    )
    floor_fraction: float = Field(
        DEFAULT_FLOOR_FRACTION, ge=0.0, le=0.9, description="share of the disk kept free"
    )

    @model_validator(mode="after")
    def _one_size(self) -> DiskFill:
        if (self.size_mb is None) == (self.leave_free_fraction is None):
            raise ValueError("give exactly one of size_mb, leave_free_fraction")
        return self

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection (nothing is written before apply)."""
        return _DiskInjection(self, ctx)


def _fill(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            # Reserves real blocks at once: fast, and free space drops like a write would.
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
        block = b"\0" * _CHUNK
        left = size
        while left > 0:
            left -= os.write(fd, block[: min(left, _CHUNK)])
        os.fsync(fd)
    finally:
        os.close(fd)


class _DiskInjection(Injection):
    fault: DiskFill

    def __init__(self, fault: DiskFill, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.path: Path | None = None
        self.size = 0
        self.allocated: int | None = None

    def _size(self, directory: Path) -> int:
        if self.fault.size_mb is not None:
            return int(self.fault.size_mb * 1024 * 1024)
        total, free = disk_usage(directory)
        return max(0, free - int(total * (self.fault.leave_free_fraction or 0.0)))

    async def apply(self) -> None:
        directory = Path(self.fault.directory)
        try:
            await asyncio.to_thread(self._check_and_fill, directory)
        except OSError as exc:
            await self.revert()
            raise InjectionError(f"disk fill in {directory} failed: {exc}") from exc

    def _check_and_fill(self, directory: Path) -> None:
        # Two fills checking the free space before either allocates would both pass the
        # floor check and together breach it: check and allocate under one machine-wide
        # lock per filesystem, so the second check sees the first's file.
        disk_usage(directory)  # a missing directory is a validation error, not an OSError
        with exclusive(f"disk:{os.stat(directory).st_dev}"):
            size = self._size(directory)
            check_disk_floor(directory, size, self.fault.floor_fraction)
            self.size = size
            self.path = directory / f".aichaos-fill-{uuid.uuid4().hex[:12]}"
            _fill(self.path, size)

    async def revert(self) -> None:
        path, self.path = self.path, None
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(self._measure_and_remove, path)

    def _measure_and_remove(self, path: Path) -> None:
        # The blocks the filesystem really gave the file (a sparse or compressed one
        # would hold fewer than its size), read just before it goes.
        self.allocated = os.stat(path).st_blocks * 512
        os.remove(path)

    def effect(self) -> dict[str, Any] | None:
        """The level reached: MiB the filesystem allocated to the fill file, of the MiB asked."""
        if self.allocated is None:
            return None
        return {
            "seen": round(self.size / (1024 * 1024), 3),
            "touched": round(self.allocated / (1024 * 1024), 3),
            "unit": "MiB allocated",
        }

    def undo_actions(self) -> list[UndoAction]:
        return [RemovePath(path=str(self.path))] if self.path is not None else []

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path), "bytes": self.size}
