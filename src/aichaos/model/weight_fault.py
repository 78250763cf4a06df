"""``model-weights``: perturb the weights inside a registry's model artifact.

The artifact (a joblib / pickle file of a scikit-learn estimator) is loaded, perturbed
with :func:`~aichaos.model.weights.perturb`, and written back in place of the original,
which is kept and restored exactly like a corrupted artifact. A serving layer that
reloads on change now serves a subtly worse model -- the fault quality probes exist for.
Only load artifacts you trust: unpickling runs code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from aichaos.errors import InjectionError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.model.artifact import ArtifactSwapInjection
from aichaos.model.directory_registry import ModelRegistryTarget
from aichaos.model.weights import parameters, perturb

__all__ = ["WeightPerturbation"]


@FAULTS.register("model-weights")
class WeightPerturbation(Fault):
    """Gaussian noise or bit flips on a share of an artifact's weights; restored exactly."""

    target_kinds: ClassVar[tuple[str, ...]] = ("model-registry",)

    version: str | None = Field(None, description="version to perturb; default current")
    file: str | None = Field(None, description="joblib/pickle file; default the largest")
    mode: Literal["gaussian", "bitflip"] = "gaussian"
    fraction: float = Field(0.1, gt=0.0, le=1.0, description="share of each array perturbed")
    sigma: float = Field(0.5, ge=0.0, description="noise sd relative to each array's sd")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection on ``ctx.target``'s registry."""
        self.require_target(ctx, ModelRegistryTarget)
        return _WeightsInjection(self, ctx)


def _perturbed_bytes(path: Path, fault: WeightPerturbation, seed: int) -> bytes:
    import joblib

    try:
        model = joblib.load(path)
    except Exception as exc:  # any unpickling failure: the artifact is not a model
        raise InjectionError(f"cannot load a model from {path}: {exc}") from exc
    perturb(model, mode=fault.mode, fraction=fault.fraction, sigma=fault.sigma, seed=seed)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    return buf.getvalue()


class _WeightsInjection(ArtifactSwapInjection):
    fault: WeightPerturbation

    def faulty_bytes(self, path: Path) -> bytes:
        return _perturbed_bytes(path, self.fault, self.ctx.rng.getrandbits(63))

    def measure(self, original: Path, live: Path) -> dict[str, Any]:
        """Parameters whose stored value differs between the artifact served and the original.

        Both files are loaded back from the directory and compared bit for bit (a flip to
        NaN counts; noise of ``sigma: 0`` changes nothing and says so).
        """
        import joblib
        import numpy as np

        before = dict(parameters(joblib.load(original)))
        after = dict(parameters(joblib.load(live)))
        changed = 0
        for name, a in before.items():
            b = after.get(name)
            if b is None or b.shape != a.shape or b.dtype != a.dtype:
                changed += int(a.size)
                continue
            ints = f"u{a.dtype.itemsize}"
            changed += int(np.count_nonzero(a.view(ints) != b.view(ints)))
        seen = sum(int(a.size) for a in before.values())
        return {"seen": seen, "touched": changed, "unit": "parameters changed"}
