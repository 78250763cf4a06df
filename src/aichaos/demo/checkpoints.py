"""The demo trainers' checkpoints: atomic writes, a checksum, resume from the latest good one.

A checkpoint is ``ckpt-<step>.bin``: a header line ``AICK <sha256 of the payload>`` and
the payload (whatever bytes the trainer serialises). It is written to a temporary name,
synced and renamed, so a reader sees a whole file or none. :func:`resume` walks the
checkpoints newest first; with ``verify`` a file whose checksum does not match (truncated,
corrupted) is skipped and the previous one is tried, which is the check the training
demo's "with the check" experiment relies on. Without ``verify`` the newest file's
payload is handed to the trainer as it is, as many trainers do.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["list_checkpoints", "resume", "save"]

T = TypeVar("T")
_NAME = re.compile(r"^ckpt-(\d{6,})\.bin$")
_MAGIC = b"AICK "


def save(directory: Path, step: int, payload: bytes) -> Path:
    """Write the checkpoint of ``step`` atomically; returns its path."""
    path = directory / f"ckpt-{step:06d}.bin"
    tmp = directory / f".ckpt-{step:06d}.tmp-{os.getpid()}"
    header = _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    with open(tmp, "wb") as f:
        f.write(header + payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every checkpoint, newest step first."""
    found = []
    for entry in os.scandir(directory):
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), Path(entry.path)))
    return sorted(found, reverse=True)


def _payload(path: Path, verify: bool) -> bytes | None:
    data = path.read_bytes()
    head, _, payload = data.partition(b"\n")
    if not verify:
        return payload
    if not head.startswith(_MAGIC):
        return None
    return payload if hashlib.sha256(payload).hexdigest().encode() == head[5:] else None


def resume(
    directory: Path, load: Callable[[bytes], T], *, verify: bool = True
) -> tuple[int, Path, T] | None:
    """The newest checkpoint that loads: ``(step, path, loaded state)``, or None.

    With ``verify``, checkpoints failing their checksum are skipped (named on stderr).
    Without it, the newest one is loaded as it is: a damaged file raises in ``load``.
    """
    for step, path in list_checkpoints(directory):
        try:
            payload = _payload(path, verify)
        except FileNotFoundError:
            continue  # removed between the listing and the read
        if payload is None:
            print(
                f"checkpoint {path.name} fails its checksum: trying the previous one",
                file=sys.stderr,
                flush=True,
            )
            continue
        return step, path, load(payload)
    return None
