"""Swap a file for a faulty copy and put the exact original back.

The original is kept as a hard link (a copy where links are not possible) beside the
file, then the faulty bytes are written to a temporary file and renamed over it, so a
reader sees either the old or the new file, never half of one. Restoring renames the kept
original back -- the watchdog does the same through :class:`~aichaos.faults.undo.RestoreFile`
-- and the SHA-256 is compared with the one taken before.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

from aichaos.errors import RevertError, TargetError, ValidationError
from aichaos.faults.base import Injection, InjectionContext
from aichaos.faults.undo import RestoreFile, UndoAction
from aichaos.model.mlflow_registry import MlflowRegistryTarget
from aichaos.model.registry import ModelRegistryTarget

__all__ = ["ArtifactSource", "ArtifactSwapInjection", "FileSwap", "artifact_path", "sha256"]

#: the target kinds whose versions have artifact folders on this machine
ARTIFACT_KINDS = ("model-registry", "mlflow-registry")


class ArtifactSource(Protocol):
    """A registry whose versions are folders on this machine (directory or MLflow)."""

    def current(self) -> str | None:
        """The live version."""

    def path(self, version: str) -> Path:
        """The folder of ``version``; ValidationError if the registry lacks it."""


def open_source(target: Any) -> ArtifactSource:
    """The artifact source of a ``model-registry`` or ``mlflow-registry`` target (blocking)."""
    if isinstance(target, ModelRegistryTarget | MlflowRegistryTarget):
        return target.open()
    raise TargetError("artifact faults need a target of type 'model-registry' or 'mlflow-registry'")


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


def artifact_path(reg: ArtifactSource, version: str | None, file: str | None) -> Path:
    """The file a model fault acts on: ``file`` in ``version`` (default: current, largest)."""
    v = version or reg.current()
    if v is None:
        raise ValidationError("the registry has no current version; give version")
    folder = reg.path(v)
    if file is not None:
        path = (folder / file).resolve()
        if folder.resolve() not in path.parents or not path.is_file():
            raise ValidationError(f"file must be a file inside {folder}, got {file!r}")
        return path
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    if not files:
        raise ValidationError(f"version {v!r} has no artifact file in {folder}")
    return max(files, key=lambda p: p.stat().st_size)


class ArtifactSwapInjection(Injection):
    """Swap a registry artifact for faulty bytes; restore the original exactly on revert.

    Subclasses say which bytes in :meth:`faulty_bytes` (run in a thread). The original
    is moved aside, so the watchdog can move it back (:class:`RestoreFile`).
    """

    fault: Any

    def __init__(self, fault: Any, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.swap: FileSwap | None = None

    def faulty_bytes(self, path: Path) -> bytes:
        """The bytes that replace the artifact at ``path``."""
        raise NotImplementedError

    async def apply(self) -> None:
        fault = self.fault
        path = await asyncio.to_thread(
            lambda: artifact_path(open_source(self.ctx.target), fault.version, fault.file)
        )
        data = await asyncio.to_thread(self.faulty_bytes, path)
        swap = FileSwap(path)
        await asyncio.to_thread(swap.swap, data)
        self.swap = swap

    async def revert(self) -> None:
        swap, self.swap = self.swap, None
        if swap is not None:
            await asyncio.to_thread(swap.restore)

    def undo_actions(self) -> list[UndoAction]:
        if self.swap is None:
            return []
        return [RestoreFile(backup=str(self.swap.backup), path=str(self.swap.path))]

    def describe(self) -> dict[str, Any]:
        path = str(self.swap.path) if self.swap is not None else None
        return {**super().describe(), "path": path}
