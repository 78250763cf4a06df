"""``unseen-categories``: a fraction of categorical cells take values never seen before.

The classic production failure of a one-hot encoder or an embedding lookup: a new product
code, a new country. New values are ``"<prefix><i>"`` for ``i < n_new``; a dictionary
(pandas ``category``) column gets them appended to its categories.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import decode, encode, pick
from aichaos.data.frame import Column, Frame
from aichaos.data.views import CatCol
from aichaos.errors import ValidationError

__all__ = ["UnseenCategories"]


@CORRUPTIONS.register("unseen-categories")
class UnseenCategories(CellCorruption):
    """Replace a fraction of cells with categories absent from the column."""

    kinds = ("categorical", "text")

    n_new: int = Field(1, ge=1, le=1000, description="how many distinct new categories")
    prefix: str = Field("__unseen_", min_length=1, description="prefix of the new values")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[Column, np.ndarray]:
        """Write new categories into the picked cells."""
        fast = CatCol.applies(frame, name)
        if fast:  # integer codes in place: no decode / re-encode
            cat = CatCol(frame, name)
            codes, dictionary = cat.codes, cat.categories
        else:
            arr = frame.column(name)
            codes, dictionary, was_dict = encode(arr)
        if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
            raise ValidationError(
                f"unseen-categories: column {name!r} has {dictionary.type} categories; "
                "expected string categories"
            )
        fresh = [f"{self.prefix}{i}" for i in range(self.n_new)]
        existing = set(dictionary.to_pylist())
        clash = [v for v in fresh if v in existing]
        if clash:
            raise ValidationError(
                f"unseen-categories: column {name!r} already has {clash[0]!r}; pick another prefix"
            )
        idx = pick(rng, len(codes), self.effective_fraction())
        idx = idx[codes[idx] >= 0]
        new = len(dictionary) + rng.integers(0, self.n_new, size=len(idx))
        if fast:
            return cat.write(idx, new, fresh), idx
        new_codes = codes.copy()
        new_codes[idx] = new
        merged = pa.concat_arrays([dictionary, pa.array(fresh, type=dictionary.type)])
        return decode(new_codes, merged, arr, was_dict), idx
