"""Model artifacts on this machine, and the injection that swaps one for faulty bytes.

The swap is the project's one file swap (:class:`~aichaos.faults.swap.FileSwap`): the
original kept as a hard link, the faulty bytes renamed over it, the original renamed
back on revert (or by the watchdog) and its SHA-256 checked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from aichaos.errors import TargetError, ValidationError
from aichaos.faults.base import Injection, InjectionContext
from aichaos.faults.swap import FileSwap, bytes_changed
from aichaos.faults.undo import UndoAction
from aichaos.model.directory_registry import ModelRegistryTarget
from aichaos.model.mlflow_registry import MlflowRegistryTarget

__all__ = ["ArtifactSource", "ArtifactSwapInjection", "artifact_path"]

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
    is kept aside, so the watchdog can move it back (:class:`RestoreFile`, checksummed).
    """

    fault: Any

    def __init__(self, fault: Any, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.swap: FileSwap | None = None
        self._effect: dict[str, Any] | None = None

    def faulty_bytes(self, path: Path) -> bytes:
        """The bytes that replace the artifact whose original is at ``path``."""
        raise NotImplementedError

    async def apply(self) -> None:
        fault = self.fault
        path = await asyncio.to_thread(
            lambda: artifact_path(open_source(self.ctx.target), fault.version, fault.file)
        )
        self.swap = FileSwap(path)
        await asyncio.to_thread(self._swap, self.swap)

    def _swap(self, swap: FileSwap) -> None:
        original = swap.keep()
        try:
            swap.put(self.faulty_bytes(original))
        except BaseException:
            swap.discard()  # nothing was put: the file is the original
            raise

    def measure(self, original: Path, live: Path) -> dict[str, Any]:
        """What the fault changed: the artifact's bytes in the directory against the original.

        Read from the files themselves just before the restore, so a swap that a deploy
        undid or that wrote the same bytes reports 0.
        """
        before = original.read_bytes()
        try:
            after: bytes | None = live.read_bytes()
        except FileNotFoundError:
            after = None
        return {
            "seen": len(before),
            "touched": bytes_changed(before, after),
            "unit": "bytes changed",
        }

    def _measure(self, swap: FileSwap) -> None:
        try:
            self._effect = self.measure(swap.backup, swap.path)
        except Exception as exc:  # the proof is lost, never the restore
            self._effect = {"error": f"artifact not measured before revert: {exc}"}

    async def revert(self) -> None:
        swap, self.swap = self.swap, None
        if swap is not None and swap.kept:
            await asyncio.to_thread(self._measure, swap)
            await asyncio.to_thread(swap.restore)

    def effect(self) -> dict[str, Any] | None:
        """What :meth:`measure` found just before the original went back."""
        return self._effect

    def undo_actions(self) -> list[UndoAction]:
        if self.swap is None or not self.swap.kept:
            return []
        return [self.swap.undo_action()]

    def describe(self) -> dict[str, Any]:
        path = str(self.swap.path) if self.swap is not None else None
        return {**super().describe(), "path": path}
