"""Swap a file for a faulty copy and put the exact original back.

The original is kept as a hard link (a copy where links are not possible) beside the
file, then the faulty bytes are written to a temporary file and renamed over it, so a
reader sees either the old or the new file, never half of one. Restoring renames the kept
original back -- the watchdog does the same through :class:`~aichaos.faults.undo.RestoreFile`
-- and the SHA-256 is compared with the one taken before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from aichaos.errors import RevertError

__all__ = ["FileSwap", "sha256"]


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FileSwap:
    """One file replaced by faulty bytes, with its original kept for :meth:`restore`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup = path.with_name(f".{path.name}.aichaos-orig-{uuid.uuid4().hex[:8]}")
        self.checksum = ""

    def swap(self, data: bytes) -> None:
        """Keep the original, then put ``data`` in its place atomically."""
        self.checksum = sha256(self.path)
        try:
            os.link(self.path, self.backup)
        except OSError:
            shutil.copy2(self.path, self.backup)
        tmp = self.path.with_name(f".{self.path.name}.aichaos-tmp-{uuid.uuid4().hex[:8]}")
        try:
            tmp.write_bytes(data)
            shutil.copymode(self.backup, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            self.restore()
            raise

    def restore(self) -> None:
        """Put the original back and check it is byte-for-byte the same."""
        if self.backup.exists():
            os.replace(self.backup, self.path)
        if self.checksum and sha256(self.path) != self.checksum:
            raise RevertError(f"{self.path} differs from its original after restore")
