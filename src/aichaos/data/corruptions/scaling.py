"""``scaling``: a unit error -- a fraction of cells multiplied by a factor (x1000, x0.001).

Models a producer that switched seconds to milliseconds or grams to kilograms for part
of the data. An integer column scaled by a non-integer factor becomes float64 (as it would
in the producer). Cells equal to 0 are not picked: scaling cannot change them.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick
from aichaos.data.frame import Column, Frame
from aichaos.data.views import changed_rows, num_col

__all__ = ["Scaling"]


@CORRUPTIONS.register("scaling")
class Scaling(CellCorruption):
    """Multiply a fraction of numeric cells by ``factor`` (a unit / scale error)."""

    kinds = ("numeric",)

    factor: float = Field(1000.0, description="multiplier, e.g. 1000 (s -> ms) or 0.001")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[Column, np.ndarray]:
        """Scale the picked cells; the mask is every cell whose value changed."""
        if self.factor == 1.0:
            from aichaos.errors import ValidationError

            raise ValidationError("scaling: factor must not be 1 (it would change nothing)")
        col = num_col(frame, name)
        values = col.values
        idx = pick(rng, len(col), self.effective_fraction())
        idx = col.ok_rows(idx)
        idx = idx[values[idx] != 0]
        old = values[idx]
        dtype = None
        if values.dtype.kind in "iu" and not float(self.factor).is_integer():
            dtype = np.dtype(np.float64)
            new = old * self.factor
        elif values.dtype.kind in "iu":
            new = old * int(self.factor)
        else:
            new = (old * self.factor).astype(values.dtype)
        return col.write(idx, new, dtype), changed_rows(idx, old, new)
