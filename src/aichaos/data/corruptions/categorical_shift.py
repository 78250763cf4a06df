"""``categorical-shift``: a fraction of categorical cells take another existing category.

Jenga's ``CategoricalShift``: the picked cells are mapped through a random permutation of
the column's categories. Here the permutation is a single cycle (a derangement), so every
picked cell really changes. Works on dictionary (pandas ``category``), text, and integer
code columns; the column keeps its type.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import decode, encode, pick
from aichaos.data.frame import Frame
from aichaos.errors import ValidationError

__all__ = ["CategoricalShift"]


@CORRUPTIONS.register("categorical-shift")
class CategoricalShift(CellCorruption):
    """Move a fraction of cells to a different existing category."""

    kinds = ("categorical", "text")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Remap the picked cells through a derangement of the categories."""
        arr = frame.column(name)
        codes, dictionary, was_dict = encode(arr)
        used = len(dictionary)
        if used < 2:
            raise ValidationError(
                f"categorical-shift: column {name!r} has {used} category; a shift needs >= 2"
            )
        idx = pick(rng, len(arr), self.effective_fraction(), codes >= 0)
        order = rng.permutation(used)
        cycle = np.empty(used, dtype=np.int64)
        cycle[order] = np.roll(order, -1)  # order[i] -> order[i+1]: no fixed point
        new_codes = codes.copy()
        new_codes[idx] = cycle[codes[idx]]
        mask = np.zeros(len(arr), dtype=bool)
        mask[idx] = True
        return decode(new_codes, dictionary, arr, was_dict), mask
