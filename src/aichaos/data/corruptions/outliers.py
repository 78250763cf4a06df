"""``outliers``: a fraction of numeric cells replaced by values far from the bulk.

Each picked cell becomes ``mean +/- magnitude * std`` of its column (sign drawn per cell),
the classic sensor spike. ``magnitude`` defaults by severity (3, 5, 10, 20, 50 std).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick
from aichaos.data.frame import Column, Frame
from aichaos.data.views import changed_rows, num_col
from aichaos.errors import ValidationError

__all__ = ["Outliers"]

MAGNITUDES = (3.0, 5.0, 10.0, 20.0, 50.0)


@CORRUPTIONS.register("outliers")
class Outliers(CellCorruption):
    """Replace a fraction of numeric cells with mean +/- magnitude * std."""

    kinds = ("numeric",)

    magnitude: float | None = Field(
        None, gt=0, description="distance from the mean in column stds (default: by severity)"
    )

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[Column, np.ndarray]:
        """Write outliers into the picked cells; the mask is every cell that changed."""
        col = num_col(frame, name)
        values = col.values
        center = col.moments()[0]  # one pass: statistics, and whether any cell needs a check
        if not math.isfinite(center):
            raise ValidationError(
                f"{self.type}: column {name!r} has no finite value to place outliers around"
            )
        idx = pick(rng, len(col), self.effective_fraction())
        idx = col.ok_rows(idx)
        mag = self.magnitude if self.magnitude is not None else MAGNITUDES[self.level - 1]
        sign = np.where(rng.random(len(idx)) < 0.5, -1.0, 1.0)
        new = center + sign * mag * col.spread()
        if values.dtype.kind in "iu":
            info = np.iinfo(values.dtype)
            new = np.clip(np.rint(new), info.min, info.max).astype(values.dtype)
        else:
            new = new.astype(values.dtype)
        old = values[idx]
        return col.write(idx, new), changed_rows(idx, old, new)
