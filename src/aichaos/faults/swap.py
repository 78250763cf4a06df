"""The one way aichaos swaps a file for faulty bytes and puts the exact original back.

Data file faults, the ``data-corrupt`` fault and model-artifact faults all go through
:class:`FileSwap`:

1. :meth:`FileSwap.keep` hard-links the original to a backup path (a copy where a link
   is impossible) and takes its SHA-256. The backup is the original's own inode, so the
   restore brings back its bytes, mode and mtime.
2. :meth:`FileSwap.put` writes the faulty bytes to a temporary file beside the target
   and renames it over the target: a reader opens either the whole original or the whole
   faulty file, never a missing or half-written one. If the target was replaced by
   someone else since :meth:`keep` (a writer landing a new version), nothing is put and
   :class:`SwapConflict` is raised, so aichaos never overwrites a file it did not read.
3. :meth:`FileSwap.restore` renames the backup over the target (atomic again) and checks
   the SHA-256; a mismatch is a :class:`~aichaos.errors.RevertError`.

The watchdog performs the same restore from plain data: :meth:`FileSwap.undo_action`
is a :class:`~aichaos.faults.undo.RestoreFile` carrying the checksum.

>>> swap = FileSwap(Path("day1.parquet"))   # doctest: +SKIP
>>> original = swap.keep().read_bytes()     # doctest: +SKIP
>>> swap.put(damage(original))              # doctest: +SKIP
>>> swap.restore()                          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from aichaos.errors import InjectionError, RevertError
from aichaos.faults.claims import Claim, claiming, file_resource
from aichaos.faults.undo import (
    RemovePath,
    RestoreFile,
    RestoreManifest,
    UndoAction,
    perform,
    sha256,
)

__all__ = ["FileSwap", "SwapConflict", "SwapFolder", "bytes_changed", "sha256"]


class SwapConflict(InjectionError):
    """The target changed between :meth:`FileSwap.keep` and :meth:`FileSwap.put`."""


class FileSwap:
    """One file replaced by faulty bytes, its original kept at ``backup`` for :meth:`restore`.

    ``backup`` defaults to a hidden name beside the file (same filesystem, so the hard
    link works and the name matches no ``*.ext`` glob).
    """

    def __init__(self, path: Path, backup: Path | None = None) -> None:
        self.path = path
        self.backup = backup or path.with_name(f".{path.name}.aichaos-orig-{uuid.uuid4().hex[:8]}")
        self.checksum = ""
        self.kept = False
        #: (device, inode) of what the path holds as far as aichaos knows
        self._placed: tuple[int, int] | None = None
        self._claim: Claim | None = None

    def keep(self) -> Path:
        """Keep the original at :attr:`backup` and take its checksum; returns the backup.

        The file is claimed first (:mod:`aichaos.faults.claims`): a file another fault
        holds swapped is refused with :class:`~aichaos.errors.SafetyError`, since keeping
        its damaged bytes as "the original" would restore the damage last.
        """
        self._link()
        self.checksum = sha256(self.backup)
        return self.backup

    def keep_bytes(self) -> bytes:
        """:meth:`keep`, returning the original's bytes (read once, checksummed from them)."""
        self._link()
        data = self.backup.read_bytes()
        self.checksum = hashlib.sha256(data).hexdigest()
        return data

    def _link(self) -> None:
        with claiming(file_resource(self.path), f"a fault on {self.path}", self.backup) as c:
            try:
                os.link(self.path, self.backup)
                st = os.stat(self.backup)
            except FileNotFoundError:
                raise
            except OSError:  # another filesystem, or one without hard links
                st = os.stat(self.path)
                shutil.copy2(self.path, self.backup)
        self._claim = c
        self._placed = (st.st_dev, st.st_ino)
        self.kept = True

    def put(self, data: bytes, mode: int | None = None, *, keep_mtime: bool = False) -> None:
        """Replace the file by ``data`` atomically (mode: the original's unless given).

        ``keep_mtime``: the new file carries the original's access and modification
        times, so a reader going by arrival time sees the same order as before.
        """
        if not self.kept:
            raise InjectionError(f"{self.path}: put() before keep()")
        tmp = self.path.with_name(f".{self.path.name}.aichaos-tmp-{uuid.uuid4().hex[:8]}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            kept = os.stat(self.backup)
            os.chmod(tmp, kept.st_mode & 0o7777 if mode is None else mode)
            if keep_mtime:
                os.utime(tmp, ns=(kept.st_atime_ns, kept.st_mtime_ns))
            st = os.stat(self.path)
            if (st.st_dev, st.st_ino) != self._placed:
                raise SwapConflict(f"{self.path} was replaced while aichaos prepared its fault")
            new = os.stat(tmp)
            os.replace(tmp, self.path)
            self._placed = (new.st_dev, new.st_ino)
        finally:
            tmp.unlink(missing_ok=True)

    def remove(self) -> None:
        """Make the file disappear (the original stays at :attr:`backup`)."""
        if not self.kept:
            raise InjectionError(f"{self.path}: remove() before keep()")
        self.path.unlink(missing_ok=True)

    def restore(self) -> None:
        """Put the original back and check its SHA-256 (idempotent)."""
        try:
            perform(self.undo_action())
        except OSError as exc:
            raise RevertError(str(exc)) from exc
        self.kept = False
        self.release_claim()

    def discard(self) -> None:
        """Drop the kept original: nothing was put, the file was never changed."""
        self.backup.unlink(missing_ok=True)
        self.kept = False
        self.release_claim()

    def release_claim(self) -> None:
        """Give the file back to other faults (after a restore, or when nothing was put)."""
        held, self._claim = self._claim, None
        if held is not None:
            held.release()

    def undo_action(self) -> RestoreFile:
        """The watchdog's form of :meth:`restore`."""
        return RestoreFile(backup=str(self.backup), path=str(self.path), sha256=self.checksum)


class SwapFolder:
    """Many swaps whose originals wait in one hidden folder, listed in a manifest.

    For a fault that swaps files after its lease was written (files landing during the
    step): the lease holds :meth:`undo_actions` once, and each swap's
    :class:`RestoreFile` line is appended (and synced) to the manifest before its faulty
    bytes go in place, so the watchdog restores every file swapped so far.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "manifest.jsonl"
        self.swaps: list[FileSwap] = []

    def create(self) -> None:
        """Make the folder (it must not exist)."""
        self.root.mkdir(mode=0o700)

    def swap(self, path: Path) -> FileSwap:
        """A swap of ``path`` whose original waits in this folder."""
        return FileSwap(path, self.root / f"{len(self.swaps) + 1}-{uuid.uuid4().hex[:6]}.orig")

    def record(self, swap: FileSwap) -> None:
        """Append ``swap``'s restore to the manifest; call between keep() and put()."""
        line = swap.undo_action().model_dump_json() + "\n"
        fd = os.open(self.manifest, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.swaps.append(swap)

    def restore(self) -> None:
        """Restore every recorded file (newest first), then remove the folder."""
        try:
            for action in self.undo_actions():
                perform(action)
        except OSError as exc:
            raise RevertError(str(exc)) from exc
        for swap in self.swaps:
            swap.release_claim()
        self.swaps.clear()

    def undo_actions(self) -> list[UndoAction]:
        """The watchdog's form of :meth:`restore`."""
        return [RestoreManifest(manifest=str(self.manifest)), RemovePath(path=str(self.root))]


def bytes_changed(before: bytes, after: bytes | None) -> int:
    """Bytes that differ, position by position, plus the bytes cut or added."""
    if after is None:
        return len(before)  # the file is gone
    n = min(len(before), len(after))
    if before[:n] == after[:n]:
        return abs(len(before) - len(after))
    try:
        import numpy as np
    except ImportError:  # without the data extra: the plain loop
        return sum(x != y for x, y in zip(before, after, strict=False)) + abs(
            len(before) - len(after)
        )
    a = np.frombuffer(before, dtype=np.uint8, count=n)
    b = np.frombuffer(after, dtype=np.uint8, count=n)
    return int(np.count_nonzero(a != b)) + abs(len(before) - len(after))
