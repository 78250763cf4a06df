"""Fast column views: numeric and categorical columns as numpy, without an Arrow detour.

The Arrow-canonical path (:meth:`Frame.column`) costs O(rows) per column for pandas input
(a NaN scan to build a validity bitmap, then a conversion back). For the two column shapes
that dominate real batches -- numpy-backed numbers and dictionary-encoded categories -- a
view reads the backend's own buffers zero-copy (pandas, numpy and Arrow alike) and writes
the result straight back in the backend's own form, so a corruption copies exactly the
touched column once.

Results are identical to the Arrow path on every backend: a pandas / numpy float NaN is a
null there (``from_pandas``), so it is a null here; statistics see the same valid cells.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from aichaos.data.columns import moments, numeric, valid_mask
from aichaos.data.frame import Frame, Native, column_kind

__all__ = ["CatCol", "NumCol", "changed_rows", "num_col"]


class NumCol:
    """A numeric column as numpy ``values`` (read-only) plus its nulls.

    Null cells hold NaN when ``nan_null`` (pandas / numpy float input, where NaN *is* the
    null) or an arbitrary fill with ``valid`` False (Arrow input).
    """

    def __init__(
        self,
        frame: Frame,
        name: str,
        values: np.ndarray,
        valid: np.ndarray | None,
        arrow_type: pa.DataType | None,
    ) -> None:
        self.frame = frame
        self.name = name
        self.values = values
        self.valid = valid
        #: None for a backend-native (pandas / numpy) column; NaN marks its nulls
        self.arrow_type = arrow_type
        self._clean: bool | None = None
        self._moments: tuple[float, float] | None = None

    @property
    def nan_null(self) -> bool:
        """Whether NaN marks a null (pandas / numpy float input)."""
        return self.arrow_type is None and self.values.dtype.kind == "f"

    def __len__(self) -> int:
        return len(self.values)

    @property
    def clean(self) -> bool:
        """True when no cell is null, NaN or infinite: then every cell is eligible.

        One dot-product pass, no temporary (a finite x.x means no NaN or infinity); the
        usual case then skips all per-cell checks.
        """
        if self._clean is None:
            if self.valid is not None:
                self._clean = False
            elif self.values.dtype.kind == "f":
                # x.x is finite iff no NaN / infinity (or, conservatively, |x| > 1e154:
                # then the checked paths run, same result); BLAS dot: half a sum's time
                self._clean = math.isfinite(float(np.dot(self.values, self.values)))
            else:
                self._clean = True
        return self._clean

    def ok_rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows of ``idx`` that are valid and finite (the cells numeric kernels touch)."""
        if self.clean:
            return idx
        vals = self.values[idx]
        ok = np.isfinite(vals) if vals.dtype.kind == "f" else np.ones(len(idx), dtype=bool)
        if self.valid is not None:
            ok &= self.valid[idx]
        out: np.ndarray = idx[ok]
        return out

    def valid_rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows of ``idx`` that are not null.

        Checks the picked cells only (O(picked)) unless :attr:`clean` is already known.
        """
        if self._clean or (self.valid is None and self.values.dtype.kind != "f"):
            return idx
        ok = self.valid_at(idx)
        out: np.ndarray = idx if ok.all() else idx[ok]
        return out

    def valid_at(self, idx: np.ndarray) -> np.ndarray:
        """Whether cells ``idx`` are not null."""
        out: np.ndarray
        if self.nan_null:
            out = ~np.isnan(self.values[idx])
        elif self.valid is None:
            out = np.ones(len(idx), dtype=bool)
        else:
            out = self.valid[idx]
        return out

    def valid_all(self) -> np.ndarray | None:
        """Dense mask of the non-null cells; None when nothing is null."""
        if self.clean:
            return None
        if self.nan_null:
            out: np.ndarray = ~np.isnan(self.values)
            return out
        return self.valid

    def moments(self) -> tuple[float, float]:
        """(mean, std) over the valid, finite cells (see :func:`columns.moments`)."""
        if self._moments is None:
            ok = self.ok_all()  # settles clean: one dot-product pass, once per batch
            self._moments = moments(self.values if ok is None else self.values[ok])
        return self._moments

    def spread(self) -> float:
        """The std over valid, finite cells; mean |x| (or 1) for a constant column."""
        std = self.moments()[1]
        if std > 0 and math.isfinite(std):
            return std
        ok = self.ok_all()
        sample = self.values if ok is None else self.values[ok]
        mean_abs = float(np.abs(sample).mean()) if len(sample) else 0.0
        return mean_abs if mean_abs > 0 else 1.0

    def ok_all(self) -> np.ndarray | None:
        """Dense mask of valid, finite cells; None when every cell is (see :attr:`clean`)."""
        if self.clean:
            return None
        vals = self.values
        if vals.dtype.kind == "f":
            ok = np.isfinite(vals)
            if self.valid is not None:
                ok &= self.valid
            return None if ok.all() else ok
        return self.valid

    def write(self, idx: np.ndarray, new: Any, dtype: np.dtype[Any] | None = None) -> Any:
        """A copy of the column (as ``dtype``) with ``new`` written at ``idx``; nulls kept."""
        out = self.values.astype(dtype or self.values.dtype, copy=True)
        out[idx] = new
        return self._wrap(out, self.valid)

    def copy(self) -> np.ndarray:
        """A writable copy of the values, to edit and hand to :meth:`wrap`."""
        return self.values.copy()

    def wrap(self, out: np.ndarray) -> Any:
        """Edited values (from :meth:`copy`) as a new column; nulls kept."""
        return self._wrap(out, self.valid)

    def nullify(self, idx: np.ndarray, out: np.ndarray | None = None) -> Any:
        """A copy of the column with cells ``idx`` (row indices or a boolean mask) null.

        ``out`` is a buffer the caller no longer needs (e.g. a selection's scratch): a
        pandas / numpy column is written into it when it has the result's dtype and
        length, which spares a fresh allocation (and its page faults).
        """
        if self.arrow_type is not None:  # Arrow: same values, new validity bitmap
            if idx.dtype == bool:  # vectorised, not a branchy masked write
                valid = ~idx if self.valid is None else self.valid & ~idx
            else:
                valid = np.ones(len(self), dtype=bool) if self.valid is None else self.valid.copy()
                valid[idx] = False
            return self._wrap(self.values, valid)
        # pandas / numpy: NaN is the null; an int column becomes float64 (as Arrow -> pandas)
        values = self.values
        dtype = np.dtype(np.float64) if values.dtype.kind in "iu" else values.dtype
        if out is not None and out.dtype == dtype and len(out) == len(values):
            np.copyto(out, values)
        else:
            out = values.astype(dtype)  # always a copy: astype copies by default
        # a scattered mask is written through its indices: numpy's masked writes branch
        # per cell, flatnonzero + scatter does not
        out[np.flatnonzero(idx) if idx.dtype == bool else idx] = np.nan
        return self._wrap(out, None)

    def _wrap(self, out: np.ndarray, valid: np.ndarray | None) -> Any:
        if self.arrow_type is not None:
            typ = self.arrow_type if out.dtype == self.values.dtype else None
            return pa.array(out, type=typ, mask=None if valid is None else ~valid)
        return Native(out)


def num_col(frame: Frame, name: str) -> NumCol:
    """The numeric column ``name`` of ``frame`` as a :class:`NumCol` (zero-copy read).

    One view per column and batch (memoised on the frame), so its statistics are shared.
    """
    view = frame.views.get(name)
    if isinstance(view, NumCol):
        return view
    raw = frame.native(name)
    if raw is not None and raw.dtype.kind in "iuf":
        view = NumCol(frame, name, raw, None, None)
    else:
        arr = frame.column(name)
        view = NumCol(frame, name, numeric(arr), valid_mask(arr), arr.type)
    frame.views[name] = view
    return view


class CatCol:
    """A dictionary-encoded column as integer ``codes`` (-1: null) and its ``categories``."""

    def __init__(self, frame: Frame, name: str) -> None:
        self.frame = frame
        self.name = name
        series = frame.pandas_categorical(name)
        self.series = series
        if series is not None:
            self.codes: np.ndarray = series.cat.codes.to_numpy()
            self.categories: pa.Array = pa.array(series.cat.categories, from_pandas=True)
            self.n_categories = len(series.cat.categories)
            self.type: pa.DataType | None = None
        else:
            arr = frame.column(name)
            if not pa.types.is_dictionary(arr.type):
                raise TypeError(f"column {name!r} is not dictionary-encoded")
            indices = arr.indices
            codes = numeric(indices)
            valid = valid_mask(indices)
            if valid is not None:
                codes = codes.astype(np.int64)
                codes[~valid] = -1
            self.codes = codes
            self.categories = arr.dictionary
            self.n_categories = len(arr.dictionary)
            self.type = arr.type

    @staticmethod
    def applies(frame: Frame, name: str) -> bool:
        """Whether ``name`` is a pandas categorical or an Arrow dictionary column."""
        if frame.pandas_categorical(name) is not None:
            return True
        return frame.backend != "pandas" and column_kind(frame.column(name).type) == "categorical"

    def write(self, idx: np.ndarray, new_codes: Any, extra: list[str] | None = None) -> Any:
        """A copy of the column with codes ``new_codes`` at ``idx``; ``extra`` new categories."""
        n_cat = self.n_categories + len(extra or ())
        dtype = np.result_type(self.codes.dtype, np.min_scalar_type(-n_cat))
        codes = self.codes.astype(dtype, copy=True)
        codes[idx] = new_codes
        if self.series is not None:
            import pandas as pd

            dt = self.series.dtype
            if extra:
                dt = pd.CategoricalDtype([*dt.categories, *extra], ordered=dt.ordered)
            cat = pd.Categorical.from_codes(codes, dtype=dt, validate=False)
            return Native(pd.Series(cat, index=self.series.index, name=self.series.name))
        assert self.type is not None
        dictionary = self.categories
        if extra:
            dictionary = pa.concat_arrays([dictionary, pa.array(extra, type=dictionary.type)])
        index_type = self.type.index_type
        if len(dictionary) >= 2 ** (index_type.bit_width - 1) - 1:
            index_type = pa.int32()  # new categories may not fit the old index width
        null = codes < 0
        has_null = bool(null.any())
        if has_null:
            codes[null] = 0
        indices = pa.array(
            codes.astype(index_type.to_pandas_dtype(), copy=False),
            type=index_type,
            mask=null if has_null else None,
        )
        return pa.DictionaryArray.from_arrays(indices, dictionary)


def changed_rows(idx: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The rows of ``idx`` whose value differs between ``old`` and ``new`` (NaN == NaN)."""
    diff = old != new
    if (old.dtype.kind == "f" or new.dtype.kind == "f") and not (
        # NaN != NaN is the only false positive; a finite sum rules out any NaN for free
        np.isfinite(np.add.reduce(old, dtype=np.float64))
        or np.isfinite(np.add.reduce(new, dtype=np.float64))
    ):
        diff &= ~(np.isnan(old.astype(np.float64)) & np.isnan(new.astype(np.float64)))
    out: np.ndarray = idx if diff.all() else idx[diff]
    return out
