"""``model-corrupt-artifact``: a truncated or bit-flipped copy replaces a model file.

The original is kept beside it and put back on revert (or by the watchdog's
:class:`~aichaos.faults.undo.RestoreFile`); its SHA-256 is checked after the restore.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from aichaos.errors import TargetError, ValidationError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.undo import RestoreFile, UndoAction
from aichaos.model.artifact import FileSwap
from aichaos.model.registry import DirectoryRegistry, ModelRegistryTarget

__all__ = ["CorruptArtifact", "artifact_path"]


def artifact_path(reg: DirectoryRegistry, version: str | None, file: str | None) -> Path:
    """The file a model fault acts on: ``file`` in ``version`` (default: current, largest)."""
    v = version or reg.current()
    if v is None:
        raise ValidationError(f"registry {reg.root} has no current version; give version")
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


@FAULTS.register("model-corrupt-artifact")
class CorruptArtifact(Fault):
    """Replace a model artifact with a truncated or bit-flipped copy; restore it exactly."""

    target_kinds: ClassVar[tuple[str, ...]] = ("model-registry",)

    version: str | None = Field(
        None, description="version whose file is corrupted; default current"
    )
    file: str | None = Field(None, description="file inside the version; default the largest")
    mode: Literal["truncate", "bitflip"] = "truncate"
    keep_fraction: float = Field(0.5, ge=0.0, lt=1.0, description="truncate: share of bytes kept")
    flip_fraction: float = Field(
        0.001, gt=0.0, le=1.0, description="bitflip: share of bytes with one bit flipped"
    )

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection on ``ctx.target``'s registry."""
        if not isinstance(ctx.target, ModelRegistryTarget):
            raise TargetError(f"{self.type} needs a target of type 'model-registry'")
        return _CorruptInjection(self, ctx)


def corrupt_bytes(data: bytes, fault: CorruptArtifact, rng: Any) -> bytes:
    """The corrupted copy of ``data`` (``rng`` is a ``random.Random``)."""
    if fault.mode == "truncate":
        return data[: int(len(data) * fault.keep_fraction)]
    buf = bytearray(data)
    count = max(1, round(len(buf) * fault.flip_fraction))
    for i in rng.sample(range(len(buf)), min(count, len(buf))):
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


class _CorruptInjection(Injection):
    fault: CorruptArtifact

    def __init__(self, fault: CorruptArtifact, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.target: ModelRegistryTarget = ctx.target
        self.swap: FileSwap | None = None

    async def apply(self) -> None:
        path = artifact_path(self.target.open(), self.fault.version, self.fault.file)
        data = await asyncio.to_thread(path.read_bytes)
        bad = corrupt_bytes(data, self.fault, self.ctx.rng)
        swap = FileSwap(path)
        await asyncio.to_thread(swap.swap, bad)
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
