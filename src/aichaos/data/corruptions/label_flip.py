"""``label-flip``: a fraction of labels replaced by another class (label noise).

By default a flipped label moves to any other class with equal probability. A
``confusion`` table models realistic annotator mistakes: ``{"cat": {"dog": 0.9,
"fox": 0.1}}`` sends flipped cats mostly to dogs. Classes are matched by their string
form, so the table is plain JSON whatever the label type. Classes missing from the table
flip uniformly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import decode, encode, pick
from aichaos.data.frame import Column, Frame
from aichaos.data.views import CatCol, NumCol, num_col
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
    ) -> tuple[Column, np.ndarray]:
        """Flip the picked labels: uniformly to another class, or by the confusion table."""
        kind = frame.kind(name)
        if kind == "numeric":
            col = num_col(frame, name)
            if col.values.dtype.kind == "f":
                raise ValidationError(
                    f"label-flip: column {name!r} is {col.values.dtype}; labels must be int, "
                    "bool, string or categorical"
                )
            classes, code_of = _int_classes(frame, name, col)
            idx = pick(rng, len(col), self.effective_fraction())
            idx = col.valid_rows(idx)
            old = code_of(col.values[idx])
            new = self._flip(
                len(classes), lambda: [str(c) for c in classes.tolist()], name, old, rng
            )
            return col.write(idx, classes[new]), idx
        if CatCol.applies(frame, name):
            cat = CatCol(frame, name)
            idx = pick(rng, len(cat.codes), self.effective_fraction())
            idx = idx[cat.codes[idx] >= 0]
            new = self._flip(
                len(cat.categories),
                lambda: [str(v) for v in cat.categories.to_pylist()],
                name,
                cat.codes[idx].astype(np.int64),
                rng,
            )
            return cat.write(idx, new), idx
        arr = frame.column(name)
        if pa.types.is_floating(arr.type):
            raise ValidationError(
                f"label-flip: column {name!r} is {arr.type}; labels must be int, bool, "
                "string or categorical"
            )
        codes, dictionary, was_dict = encode(arr)
        idx = pick(rng, len(arr), self.effective_fraction())
        idx = idx[codes[idx] >= 0]
        new = self._flip(
            len(dictionary), lambda: [str(v) for v in dictionary.to_pylist()], name, codes[idx], rng
        )
        new_codes = codes.copy()
        new_codes[idx] = new
        out = decode(new_codes, dictionary, arr, was_dict)
        if not was_dict and not pa.types.is_dictionary(arr.type) and out.type != arr.type:
            out = out.cast(arr.type)
        return out, idx

    def _flip(
        self,
        m: int,
        classes: Callable[[], list[str]],
        name: str,
        old: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """New class codes for cells of class codes ``old``; never the same class.

        ``m`` is the number of classes; ``classes`` lists their names, called only when
        a confusion table needs them (a uniform flip never builds the strings). Uniform
        flips are one formula over all cells; only classes named in the confusion table
        draw from their own row (one vectorised search), so the cost is
        O(cells + table), never O(classes^2).
        """
        if m < 2:
            raise ValidationError(f"label-flip: column {name!r} has {m} class; a flip needs >= 2")
        sources, weights = self._table(classes(), name) if self.confusion else _NO_TABLE
        u = rng.random(len(old))
        # uniform over the m - 1 other classes: skip 1 + floor(u * (m - 1)) places, mod m
        new = (old + 1 + np.minimum((u * (m - 1)).astype(np.int64), m - 2)) % m
        if len(sources):
            row_of = np.full(m, -1, dtype=np.int64)
            row_of[sources] = np.arange(len(sources))
            row = row_of[old]
            hit = row >= 0
            if hit.any():
                new[hit] = _draw(weights, row[hit], u[hit])
        return new

    def _table(self, classes: list[str], name: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the confusion table present in the batch: (class codes, weights r x m)."""
        m = len(classes)
        pos = {c: i for i, c in enumerate(classes)}
        sources: list[int] = []
        rows: list[np.ndarray] = []
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
                sources.append(pos[src])
                rows.append(weights / weights.sum())
        if not sources:
            return np.zeros(0, dtype=np.int64), np.zeros((0, m))
        return np.array(sources, dtype=np.int64), np.stack(rows)


_NO_TABLE = (np.zeros(0, dtype=np.int64), np.zeros((0, 0)))


def _int_classes(
    frame: Frame, name: str, col: NumCol
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The distinct valid values of an integer column, sorted, and value -> class code.

    A counting pass when the values span a modest range (the usual label column; codes by
    table lookup), else a hash-based unique (codes by binary search); both give the same
    sorted classes on every backend.
    """
    values = col.values
    if col.valid is None and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 4 * len(values) + 1024:
            base = 0 if lo >= 0 else lo
            seen = np.zeros(hi - base + 1, dtype=bool)
            seen[values - base if base else values] = True  # a scatter: cheaper than bincount
            table = np.cumsum(seen) - 1  # value - lo -> rank among the present values
            classes: np.ndarray = (np.flatnonzero(seen) + base).astype(values.dtype)
            return classes, lambda v: table[v - base if base else v]
    uniq = pc.unique(frame.column(name)).drop_null().to_numpy(zero_copy_only=False)
    classes = np.sort(uniq)
    return classes, lambda v: np.searchsorted(classes, v)


def _draw(weights: np.ndarray, row: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Class drawn from row ``row[j]`` of ``weights`` by uniform ``u[j]``, for all j at once.

    One ``searchsorted`` over the rows' cumulative sums laid end to end (row r shifted by
    r), so memory stays O(table + picked cells), not O(picked cells x classes).
    """
    r, m = weights.shape
    cum = np.cumsum(weights, axis=1)
    cum[:, -1] = 1.0  # guard against rounding: every draw lands on some class
    flat = (cum + np.arange(r)[:, None]).ravel()
    pos = np.searchsorted(flat, row + u, side="right")
    new = pos - row * m
    # zero-weight classes share their left neighbour's edge; side="right" skips them
    out: np.ndarray = np.minimum(new, m - 1)
    return out
