"""``swapped-columns``: two columns trade values in a fraction of rows.

Models form-entry mistakes and a producer that wrote fields in the wrong order (Jenga's
``SwappedValues``). Both columns must have the same Arrow type, so the swap cannot
silently change a dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.changes import Cells, Corrupted
from aichaos.data.columns import pick
from aichaos.data.frame import Frame
from aichaos.data.views import num_col
from aichaos.errors import ValidationError

__all__ = ["SwappedColumns"]


@CORRUPTIONS.register("swapped-columns")
class SwappedColumns(CellCorruption):
    """Swap the values of two same-typed columns in a fraction of rows."""

    kinds = ("numeric", "bool", "text", "categorical", "temporal")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array | None, np.ndarray]:
        """Unused: a swap touches two columns at once (see ``_run``)."""
        raise NotImplementedError

    def _run(self, frame: Frame, rng: np.random.Generator, history: object) -> Corrupted:
        if self.columns is None or len(self.columns) != 2:
            raise ValidationError(
                f"swapped-columns: columns must name exactly two columns, got {self.columns!r}"
            )
        a, b = self.select_columns(frame)
        if a == b:
            raise ValidationError(f"swapped-columns: the two columns are both {a!r}")
        raw_a, raw_b = frame.native(a), frame.native(b)
        if raw_a is not None and raw_b is not None:
            type_a, type_b = str(raw_a.dtype), str(raw_b.dtype)
        else:
            type_a, type_b = str(frame.column(a).type), str(frame.column(b).type)
        if type_a != type_b:
            raise ValidationError(
                f"swapped-columns: column {a!r} is {type_a} but column {b!r} is "
                f"{type_b}; a swap needs one type"
            )
        n = frame.n_rows
        idx = pick(rng, n, self.effective_fraction())
        if frame.kind(a) == "numeric":
            fast = _swap_numeric(frame, a, b, idx)
            if fast is not None:
                return Corrupted(fast[0], self._report(frame, cells=fast[1]))
        col_a, col_b = frame.column(a), frame.column(b)
        hit = np.zeros(n, dtype=bool)
        hit[idx] = True
        if pa.types.is_dictionary(col_a.type):
            col_a, col_b = col_a.dictionary_decode(), col_b.dictionary_decode()
        sel = pa.array(hit)
        new_a = pc.if_else(sel, col_b, col_a)
        new_b = pc.if_else(sel, col_a, col_b)
        # A swap of equal values (or two nulls) changes nothing: not in the mask.
        same = pc.fill_null(pc.equal(col_a, col_b), False)
        both_null = pc.and_(pc.is_null(col_a), pc.is_null(col_b))
        unchanged = pc.or_(same, both_null).to_numpy(zero_copy_only=False)
        mask = hit & ~unchanged
        if pa.types.is_dictionary(frame.column(a).type):
            new_a, new_b = new_a.dictionary_encode(), new_b.dictionary_encode()
        out = frame.replace({a: new_a, b: new_b})
        cells = Cells(n, {a: mask, b: mask.copy()})
        return Corrupted(out, self._report(frame, cells=cells))


def _swap_numeric(frame: Frame, a: str, b: str, idx: np.ndarray) -> tuple[Any, Cells] | None:
    """Swap two numeric columns on numpy (None: nulls in Arrow input, use the Arrow path)."""
    col_a, col_b = num_col(frame, a), num_col(frame, b)
    if col_a.valid is not None or col_b.valid is not None:
        return None
    # copy first, then gather from the fresh copies while they are still in cache
    new_a, new_b = col_a.copy(), col_b.copy()
    xa, xb = new_a[idx], new_b[idx]
    new_a[idx] = xb
    new_b[idx] = xa
    same = xa == xb
    if xa.dtype.kind == "f":  # NaN (pandas' null) swapped with NaN changes nothing
        same |= np.isnan(xa) & np.isnan(xb)
    changed = idx if not same.any() else idx[~same]
    new = {a: col_a.wrap(new_a), b: col_b.wrap(new_b)}
    return frame.replace(new), Cells(frame.n_rows, {a: changed, b: changed.copy()})
