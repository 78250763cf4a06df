"""``timestamp-skew``: a fraction of timestamps shifted by a clock or timezone error.

Picked cells move by ``offset_s`` seconds (default by severity: 1 min, 10 min, 1 h,
1 day, 1 week), forward, backward, or either (drawn per cell). Works on Arrow
timestamps, pandas / numpy ``datetime64`` and dates (offsets round to whole days there).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import changed_at, pick, valid_mask
from aichaos.data.frame import Frame
from aichaos.errors import ValidationError

__all__ = ["TimestampSkew"]

OFFSETS_S = (60.0, 600.0, 3600.0, 86400.0, 7 * 86400.0)
_PER_S = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


@CORRUPTIONS.register("timestamp-skew")
class TimestampSkew(CellCorruption):
    """Shift a fraction of timestamps by ``offset_s`` seconds."""

    kinds = ("temporal",)

    offset_s: float | None = Field(None, description="shift in seconds (default: by severity)")
    direction: Literal["forward", "backward", "both"] = Field("both", description="shift sign")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Shift the picked cells; the mask is every cell that changed."""
        arr = frame.column(name)
        offset = self.offset_s if self.offset_s is not None else OFFSETS_S[self.level - 1]
        if offset == 0:
            raise ValidationError("timestamp-skew: offset_s must not be 0")
        if pa.types.is_timestamp(arr.type):
            step = round(offset * _PER_S[arr.type.unit])
            storage = pa.int64()
        elif pa.types.is_date32(arr.type):
            step, storage = max(1, round(offset / 86400)), pa.int32()
        else:  # date64 counts milliseconds
            step, storage = round(offset * 1000), pa.int64()
        ints = arr.cast(storage)
        valid = valid_mask(arr)
        values = ints.fill_null(0).to_numpy(zero_copy_only=False)
        idx = pick(rng, len(arr), self.effective_fraction(), valid)
        sign = np.ones(len(idx), dtype=np.int64)
        if self.direction == "backward":
            sign[:] = -1
        elif self.direction == "both":
            sign = np.where(rng.random(len(idx)) < 0.5, -1, 1)
        new = values.copy()
        new[idx] = values[idx] + sign * step
        mask = changed_at(values, new, idx)
        out = pa.array(new, type=storage, mask=None if valid is None else ~valid).cast(arr.type)
        return out, mask
