"""``gaussian-noise``: add zero-mean Gaussian noise to numeric cells.

The noise's standard deviation is ``scale`` times the column's own standard deviation
(Jenga's convention; estimated from an evenly strided sample of at most 2^17 cells, see
:func:`aichaos.data.columns.moments`), so one setting means the same on every column.
On integer columns the noise is rounded and never rounds to zero, so every picked cell
really changes.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick
from aichaos.data.frame import Column, Frame
from aichaos.data.views import changed_rows, num_col

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
    ) -> tuple[Column, np.ndarray]:
        """Noise the picked cells; the changed cells are every one whose value moved."""
        col = num_col(frame, name)
        values = col.values
        col.moments()  # one pass: statistics, and whether any cell needs a check
        idx = pick(rng, len(col), self.effective_fraction())
        idx = col.ok_rows(idx)
        scale = self.scale if self.scale is not None else SCALES[self.level - 1]
        noise = rng.standard_normal(len(idx))
        noise *= scale * col.spread()
        old = values[idx]
        if values.dtype.kind in "iu":
            step = np.rint(noise)
            zero = step == 0
            step[zero] = np.where(noise[zero] < 0, -1.0, 1.0)
            info = np.iinfo(values.dtype)
            new = np.clip(old + step, info.min, info.max).astype(values.dtype)
        else:
            noise += old
            new = noise.astype(values.dtype, copy=False)
        return col.write(idx, new), changed_rows(idx, old, new)
