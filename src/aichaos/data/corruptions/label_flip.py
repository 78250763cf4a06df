"""``label-flip``: a fraction of labels replaced by another class (label noise).

By default a flipped label moves to any other class with equal probability. A
``confusion`` table models realistic annotator mistakes: ``{"cat": {"dog": 0.9,
"fox": 0.1}}`` sends flipped cats mostly to dogs. Classes are matched by their string
form, so the table is plain JSON whatever the label type. Classes missing from the table
flip uniformly.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import decode, encode, pick
from aichaos.data.frame import Frame
from aichaos.errors import ValidationError

__all__ = ["LabelFlip"]


@CORRUPTIONS.register("label-flip")
class LabelFlip(CellCorruption):
    """Flip a fraction of class labels to other classes (uniform or by a confusion table)."""

    kinds = ("categorical", "text", "numeric", "bool")

    confusion: dict[str, dict[str, float]] | None = Field(
        None, description="class -> {other class: weight}; rows are normalised"
    )

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Flip the picked labels by the transition matrix."""
        arr = frame.column(name)
        if pa.types.is_floating(arr.type):
            raise ValidationError(
                f"label-flip: column {name!r} is {arr.type}; labels must be int, bool, "
                "string or categorical"
            )
        codes, dictionary, was_dict = encode(arr)
        classes = [str(v) for v in dictionary.to_pylist()]
        m = len(classes)
        if m < 2:
            raise ValidationError(f"label-flip: column {name!r} has {m} class; a flip needs >= 2")
        trans = self._matrix(classes, name)
        idx = pick(rng, len(arr), self.effective_fraction(), codes >= 0)
        u = rng.random(len(idx))
        old = codes[idx]
        new = _draw(trans, old, u)
        new_codes = codes.copy()
        new_codes[idx] = new
        mask = np.zeros(len(arr), dtype=bool)
        mask[idx] = True
        out = decode(new_codes, dictionary, arr, was_dict)
        if not was_dict and not pa.types.is_dictionary(arr.type) and out.type != arr.type:
            out = out.cast(arr.type)
        return out, mask

    def _matrix(self, classes: list[str], name: str) -> np.ndarray:
        m = len(classes)
        trans = np.full((m, m), 1.0 / (m - 1))
        np.fill_diagonal(trans, 0.0)
        pos = {c: i for i, c in enumerate(classes)}
        for src, row in (self.confusion or {}).items():
            if src not in pos:
                continue  # a class absent from this batch
            weights = np.zeros(m)
            for dst, w in row.items():
                if dst not in pos and w > 0:
                    raise ValidationError(
                        f"label-flip: confusion[{src!r}] names class {dst!r}, "
                        f"not in column {name!r}"
                    )
                if w < 0:
                    raise ValidationError(f"label-flip: confusion[{src!r}][{dst!r}] must be >= 0")
                if dst == src and w > 0:
                    raise ValidationError(
                        f"label-flip: confusion[{src!r}] must not map a class to itself"
                    )
                if dst in pos:
                    weights[pos[dst]] = w
            if weights.sum() > 0:
                trans[pos[src]] = weights / weights.sum()
        return trans


def _draw(trans: np.ndarray, old: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Class drawn from row ``old[j]`` of ``trans`` by uniform ``u[j]``, for all j at once.

    One ``searchsorted`` over the rows' cumulative sums laid end to end (row r shifted by
    r), so memory stays O(classes^2 + picked cells), not O(picked cells x classes).
    """
    m = trans.shape[0]
    cum = np.cumsum(trans, axis=1)
    cum[:, -1] = 1.0  # guard against rounding: every draw lands on some class
    flat = (cum + np.arange(m)[:, None]).ravel()
    pos = np.searchsorted(flat, old + u, side="right")
    new = pos - old * m
    # zero-weight classes share their left neighbour's edge; side="right" skips them
    out: np.ndarray = np.minimum(new, m - 1)
    return out
