"""``gaussian-noise``: add zero-mean Gaussian noise to numeric cells.

The noise's standard deviation is ``scale`` times the column's own standard deviation
(Jenga's convention), so one setting means the same on every column. On integer columns
the noise is rounded and never rounds to zero, so every picked cell really changes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import finite_mask, numeric, pick, put_numeric, spread
from aichaos.data.frame import Frame

__all__ = ["GaussianNoise"]

#: noise std as a multiple of the column std, per severity 1..5
SCALES = (0.1, 0.25, 0.5, 1.0, 2.0)


@CORRUPTIONS.register("gaussian-noise")
class GaussianNoise(CellCorruption):
    """Add N(0, (scale * column std)^2) noise to a fraction of numeric cells."""

    kinds = ("numeric",)

    scale: float | None = Field(
        None, gt=0, description="noise std / column std (default: set by severity)"
    )

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Noise the picked cells; the mask is every cell whose value changed."""
        arr = frame.column(name)
        values = numeric(arr)
        ok = finite_mask(arr, values)
        idx = pick(rng, len(arr), self.effective_fraction(), ok)
        scale = self.scale if self.scale is not None else SCALES[self.level - 1]
        noise = rng.normal(0.0, scale * spread(values, ok), size=len(idx))
        old = values[idx]
        if values.dtype.kind in "iu":
            step = np.rint(noise)
            step[step == 0] = np.where(noise[step == 0] < 0, -1.0, 1.0)
            info = np.iinfo(values.dtype)
            new = np.clip(old + step, info.min, info.max).astype(values.dtype)
        else:
            new = (old + noise).astype(values.dtype)
        return put_numeric(arr, idx, new)
