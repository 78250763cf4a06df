"""``model-corrupt-artifact``: a truncated or bit-flipped copy replaces a model file.

The original is kept beside it and put back on revert (or by the watchdog's
:class:`~aichaos.faults.undo.RestoreFile`); its SHA-256 is checked after the restore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.model.artifact import ARTIFACT_KINDS, ArtifactSwapInjection, artifact_path
from aichaos.model.directory_registry import ModelRegistryTarget
from aichaos.model.mlflow_registry import MlflowRegistryTarget

__all__ = ["CorruptArtifact", "artifact_path"]


@FAULTS.register("model-corrupt-artifact")
class CorruptArtifact(Fault):
    """Replace a model artifact with a truncated or bit-flipped copy; restore it exactly."""

    # MLflow versions are numbers: accept version: 3 as well as "3"
    model_config = ConfigDict(coerce_numbers_to_str=True)
    target_kinds: ClassVar[tuple[str, ...]] = ARTIFACT_KINDS

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
        self.require_target(ctx, ModelRegistryTarget, MlflowRegistryTarget)
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


class _CorruptInjection(ArtifactSwapInjection):
    fault: CorruptArtifact

    def faulty_bytes(self, path: Path) -> bytes:
        return corrupt_bytes(path.read_bytes(), self.fault, self.ctx.rng)
