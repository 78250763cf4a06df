"""``scaling``: a unit error -- a fraction of cells multiplied by a factor (x1000, x0.001).

Models a producer that switched seconds to milliseconds or grams to kilograms for part
of the data. An integer column scaled by a non-integer factor becomes float64 (as it would
in the producer). Cells equal to 0 are not picked: scaling cannot change them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import finite_mask, numeric, pick, put_numeric
from aichaos.data.frame import Frame

__all__ = ["Scaling"]


@CORRUPTIONS.register("scaling")
class Scaling(CellCorruption):
    """Multiply a fraction of numeric cells by ``factor`` (a unit / scale error)."""

    kinds = ("numeric",)

    factor: float = Field(1000.0, description="multiplier, e.g. 1000 (s -> ms) or 0.001")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Scale the picked cells; the mask is every cell whose value changed."""
        if self.factor == 1.0:
            from aichaos.errors import ValidationError

            raise ValidationError("scaling: factor must not be 1 (it would change nothing)")
        arr = frame.column(name)
        values = numeric(arr)
        ok = finite_mask(arr, values)
        ok = (values != 0) if ok is None else ok & (values != 0)
        idx = pick(rng, len(arr), self.effective_fraction(), ok)
        out_type = None
        if values.dtype.kind in "iu" and not float(self.factor).is_integer():
            out_type = pa.float64()
            new = values[idx] * self.factor
        elif values.dtype.kind in "iu":
            new = values[idx] * int(self.factor)
        else:
            new = (values[idx] * self.factor).astype(values.dtype)
        return put_numeric(arr, idx, new, out_type)
