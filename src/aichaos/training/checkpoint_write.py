"""Checkpoint saves that write slowly or fail with ENOSPC mid-write, as a full disk does.

:meth:`CheckpointHook.open` opens a checkpoint file for writing, like ``open(path, "wb")``:
an ordinary :class:`io.BufferedWriter`, over a raw file whose ``write`` behaves as the
kernel's ``write(2)`` does on a slow or full disk. Everything above it -- Python's buffer,
``torch.save``, ``pickle``, ``numpy.save``, the trainer's own error handling -- runs
unchanged, so the trainer sees what a real disk would give it:

* ``slow-write``: each write takes ``bytes / rate_kbps`` (1 KB = 1000 bytes); a disarm
  ends the wait.
* ``enospc``: the first ``after_bytes`` bytes reach the file; the write that crosses
  that point is short (it returns what fit), the next one raises
  ``OSError(ENOSPC, "No space left on device")``, and so does every later write and the
  final flush. The file on disk is exactly those first ``after_bytes`` bytes, as on a
  disk that filled up; a trainer that writes to a temporary name and renames it on
  success is left with the partial temporary file and its last good checkpoint.

:meth:`CheckpointHook.save` wraps a save function (``torch.save`` by default)::

    hook = CheckpointHook("ckpt")
    hook.save(model.state_dict(), "ckpt/step-100.pt")     # torch.save(obj, f)
    with hook.open("ckpt/step-100.npz") as f:
        np.savez(f, **weights)
"""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Callable
from typing import Any, BinaryIO

from aichaos.errors import ValidationError
from aichaos.training.hook import Shot, TrainingHook

__all__ = ["CheckpointHook", "FaultyFile"]

_MODES = {"wb": "w", "xb": "x", "ab": "a", "w+b": "w+", "r+b": "r+"}


class CheckpointHook(TrainingHook):
    """A checkpoint hook: ``slow-write`` and ``enospc`` on the saves opened through it."""

    family = "checkpoint"

    def open(self, path: str | os.PathLike[str], mode: str = "wb") -> BinaryIO:
        """Open ``path`` for writing (binary modes only); one save for the armed fault."""
        raw_mode = _MODES.get(mode)
        if raw_mode is None:
            raise ValidationError(
                f"mode must be one of {', '.join(_MODES)} (a checkpoint is bytes), got {mode!r}"
            )
        shot = self.draw()
        raw = io.FileIO(path, raw_mode) if shot is None else FaultyFile(path, raw_mode, shot)
        # the buffer open() would choose: where an error surfaces depends on it
        size = getattr(raw, "_blksize", 0)
        buffer = size if size > 1 else io.DEFAULT_BUFFER_SIZE
        return io.BufferedWriter(raw, buffer)

    def save(
        self,
        obj: Any,
        path: str | os.PathLike[str],
        save_fn: Callable[[Any, BinaryIO], Any] | None = None,
    ) -> None:
        """``save_fn(obj, file)`` into ``path`` opened by :meth:`open` (default ``torch.save``)."""
        if save_fn is None:
            import torch

            save_fn = torch.save
        with self.open(path) as f:
            save_fn(obj, f)


class FaultyFile(io.FileIO):
    """A raw file whose writes are slowed or run out of space as the shot says."""

    def __init__(self, path: str | os.PathLike[str], mode: str, shot: Shot) -> None:
        super().__init__(path, mode)
        self.shot = shot
        self.written = 0
        self.full = False

    def write(self, b: Any) -> int:
        """Write like ``write(2)`` on a slow or full disk: short, slow, or ENOSPC."""
        data = memoryview(b).cast("B")
        spec = self.shot.spec
        if spec.kind == "slow-write" and spec.rate_kbps and len(data):
            slept = self.shot.sleep(len(data) / (spec.rate_kbps * 1000.0))
            self.shot.count({"writes_slowed": 1, "delay_s": round(slept, 6)})
        if spec.kind == "enospc" and (self.full or self.shot.live()):  # full stays full
            room = (spec.after_bytes or 0) - self.written
            if self.full or room <= 0:
                if not self.full:
                    self.shot.count({"enospc": 1, "bytes_written": self.written})
                self.full = True
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.name)
            data = data[:room]  # a short write: what fit
        n = super().write(data) or 0
        self.written += n
        return n
