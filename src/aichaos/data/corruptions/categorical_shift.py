"""``categorical-shift``: a fraction of categorical cells take another existing category.

Jenga's ``CategoricalShift``: the picked cells are mapped through a random permutation of
the column's categories. Here the permutation is a single cycle (a derangement), so every
picked cell really changes. Works on dictionary (pandas ``category``), text, and integer
code columns; the column keeps its type.
"""

from __future__ import annotations

import numpy as np

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import decode, encode, pick
from aichaos.data.frame import Column, Frame
from aichaos.data.views import CatCol
from aichaos.errors import ValidationError

__all__ = ["CategoricalShift"]


@CORRUPTIONS.register("categorical-shift")
class CategoricalShift(CellCorruption):
    """Move a fraction of cells to a different existing category."""

    kinds = ("categorical", "text")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[Column, np.ndarray]:
        """Remap the picked cells through a derangement of the categories."""
        p = self.effective_fraction()
        fast = CatCol.applies(frame, name)
        if fast:  # integer codes in place: no decode / re-encode
            cat = CatCol(frame, name)
            codes, used = cat.codes, cat.n_categories
        else:
            arr = frame.column(name)
            codes, dictionary, was_dict = encode(arr)
            used = len(dictionary)
        if used < 2:
            raise ValidationError(
                f"categorical-shift: column {name!r} has {used} category; a shift needs >= 2"
            )
        idx = pick(rng, len(codes), p)
        old = codes[idx]
        keep = old >= 0
        if not keep.all():  # null cells stay null
            idx, old = idx[keep], old[keep]
        order = rng.permutation(used)
        cycle = np.empty(used, dtype=np.int64)
        cycle[order] = np.roll(order, -1)  # order[i] -> order[i+1]: no fixed point
        if fast:
            return cat.write(idx, cycle[old]), idx
        new_codes = codes.copy()
        new_codes[idx] = cycle[old]
        return decode(new_codes, dictionary, arr, was_dict), idx
