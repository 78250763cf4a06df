"""One view over every batch backend: pandas, Arrow Table / RecordBatch, numpy.

Every corruption computes on Arrow arrays (text kernels on their buffers) or, for numeric
and categorical columns, on zero-copy numpy views (:mod:`aichaos.data.views`: pandas and
numpy columns are read without an Arrow round trip), and hands the result back through
the :class:`Frame` that wrapped the input, so the same seed gives the same cells and
values on every backend. A frame converts only the columns a corruption touches; the others are
handed back as the very same objects (shared, never copied), and the input is never
modified.

Column names are strings. A 2-D numpy array's columns are ``"0"``, ``"1"``, ...; an int
in a column selection is accepted for numpy and means the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from aichaos.errors import ValidationError

__all__ = ["Column", "Frame", "Native", "as_frame", "column_kind"]


class Native:
    """A new column already in the batch's own form (numpy values, or a pandas Series).

    Fast paths (:mod:`aichaos.data.views`) hand these to :meth:`Frame.replace` to skip the
    Arrow round trip; numpy values for a pandas batch become a Series on the batch's index.
    """

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj


#: a new column: Arrow, or already in the batch's own form
Column = pa.Array | Native


def column_kind(typ: pa.DataType) -> str:
    """Classify an Arrow type: numeric, bool, text, categorical, temporal or other."""
    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return "numeric"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "text"
    if pa.types.is_dictionary(typ):
        return "categorical"
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        return "temporal"
    return "other"


def _single(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            return arr.chunk(0)
        if arr.num_chunks == 0:
            return pa.array([], type=arr.type)
        return arr.combine_chunks()
    return arr


class Frame:
    """A batch seen as named Arrow columns, plus the way back to its own backend."""

    def __init__(self, data: Any, backend: str, names: list[str], n_rows: int) -> None:
        self.data = data
        self.backend = backend
        self.names = names
        self.n_rows = n_rows
        self._cache: dict[str, pa.Array] = {}
        self._series: dict[str, Any] = {}
        self._native: dict[str, np.ndarray | None] = {}
        #: per-batch memo of column views (:mod:`aichaos.data.views`), so statistics such
        #: as "no NaN in this column" are computed once per batch, not once per use
        self.views: dict[str, Any] = {}

    # -- reading -------------------------------------------------------------------------
    def resolve(self, column: str | int) -> str:
        """The canonical name of ``column``, or an error naming the known columns."""
        name = str(column)
        if name not in self.names:
            known = ", ".join(self.names[:20])
            raise ValidationError(f"unknown column {column!r}; the batch has: {known}")
        return name

    def column(self, name: str) -> pa.Array:
        """Column ``name`` as one Arrow array (zero-copy where the backend allows)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        arr = self._read(name)
        self._cache[name] = arr
        return arr

    def _read(self, name: str) -> pa.Array:
        data = self.data
        if self.backend == "pandas":
            series = data[name]
            try:
                return _single(pa.array(series, from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise ValidationError(
                    f"column {name!r} has dtype {series.dtype} that Arrow cannot read: {exc}"
                ) from exc
        if self.backend in ("arrow-table", "arrow-batch"):
            return _single(data.column(name))
        if self.backend == "numpy-dict":
            return _from_numpy(data[name], name)
        if self.backend == "numpy-1d":
            return _from_numpy(data, name)
        return _from_numpy(np.ascontiguousarray(data[:, int(name)]), name)

    def native(self, name: str) -> np.ndarray | None:
        """Column ``name`` as a zero-copy numpy view when the backend holds it as numpy.

        pandas columns of a numpy dtype and numpy batches; None for Arrow input and for
        pandas extension dtypes (categorical, nullable, Arrow-backed), which go via Arrow.
        """
        if name in self._native:
            return self._native[name]
        data = self.data
        out: np.ndarray | None = None
        if self.backend == "pandas":
            series = self.series(name)
            out = series.to_numpy() if isinstance(series.dtype, np.dtype) else None
        elif self.backend == "numpy-dict":
            out = data[name]
        elif self.backend == "numpy-1d":
            out = data
        elif self.backend == "numpy-2d":
            # a contiguous copy, as the Arrow path reads it: same sums, same results
            out = np.ascontiguousarray(data[:, int(name)])
        self._native[name] = out
        return out

    def pandas_categorical(self, name: str) -> Any:
        """Column ``name`` as a pandas Series when it is a pandas categorical, else None."""
        if self.backend != "pandas":
            return None
        import pandas as pd

        series = self.series(name)
        return series if isinstance(series.dtype, pd.CategoricalDtype) else None

    def series(self, name: str) -> Any:
        """pandas column ``name`` (looked up once: ``df[name]`` is not free)."""
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = self.data[name]
        return series

    def object_text(self, name: str) -> np.ndarray | None:
        """A pandas object column of strings (and nulls) as its numpy array, else None.

        Arrow would copy every string: the kind comes from a strided sample of <= 4096
        cells; the cells a corruption reads go through Arrow, which refuses non-strings.
        """
        raw = self.native(name)
        if raw is None or raw.dtype != object or self.backend != "pandas":
            return None
        key = f"\0text:{name}"
        if key not in self._native:
            import pandas as pd

            sample = raw[:: max(1, len(raw) // 4096)]
            strings = pd.api.types.infer_dtype(sample, skipna=True) == "string"
            self._native[key] = raw if strings else None
        return self._native[key]

    def kind(self, name: str) -> str:
        """The kind of column ``name`` (see :func:`column_kind`)."""
        if name not in self._cache:  # avoid an Arrow conversion where the dtype says it all
            raw = self.native(name)
            if raw is not None and raw.dtype.kind in "iufb":
                return "bool" if raw.dtype.kind == "b" else "numeric"
            if self.pandas_categorical(name) is not None:
                return "categorical"
            if self.object_text(name) is not None:
                return "text"
        return column_kind(self.column(name).type)

    def all_null(self, name: str) -> bool:
        """Whether every cell of column ``name`` is null (NaN counts for numpy floats)."""
        if name not in self._cache:
            raw = self.native(name)
            if raw is not None and raw.dtype.kind in "iufb":
                if raw.dtype.kind != "f" or not len(raw) or not np.isnan(raw[0]):
                    return False  # the first cell is valid: O(1) in the usual case
                return bool(np.isnan(raw).all())
            cat = self.pandas_categorical(name)
            if cat is not None:
                return bool(len(cat)) and bool((cat.cat.codes.to_numpy() < 0).all())
            if self.object_text(name) is not None:
                return False  # the sample held a string
        arr = self.column(name)
        return bool(len(arr)) and arr.null_count == len(arr)

    # -- writing -------------------------------------------------------------------------
    def replace(self, new: Mapping[str, pa.Array | Native]) -> Any:
        """A new batch of the input's backend with ``new`` columns swapped in."""
        if not new:
            return self.data
        data = self.data
        if self.backend == "pandas":
            import pandas as pd

            out = data.copy(deep=False)
            for name, arr in new.items():
                like = self.series(name)
                if isinstance(arr, Native):
                    obj = arr.obj
                    if not isinstance(obj, pd.Series):
                        obj = pd.Series(obj, index=data.index, name=like.name, copy=False)
                else:
                    obj = _to_pandas(arr, like, data.index)
                # by position: cheaper than __setitem__'s label checks (names are unique)
                out.isetitem(data.columns.get_loc(name), obj)
            return out
        cols = {n: a.obj if isinstance(a, Native) else a for n, a in new.items()}
        if self.backend in ("arrow-table", "arrow-batch"):
            out = data
            for name, arr in cols.items():
                if not isinstance(arr, pa.Array):
                    raise TypeError(f"column {name!r}: a numpy column cannot go into Arrow")
                i = out.schema.get_field_index(name)
                col = pa.chunked_array([arr]) if self.backend == "arrow-table" else arr
                out = out.set_column(i, pa.field(name, arr.type), col)
            return out
        return self._replace_numpy(cols)

    def _replace_numpy(self, new: Mapping[str, Any]) -> Any:
        """numpy backends; values are Arrow arrays or numpy arrays (from a fast path)."""
        data = self.data
        if self.backend == "numpy-dict":
            out_dict = dict(data)
            for name, arr in new.items():
                out_dict[name] = _to_numpy(arr, data[name].dtype)
            return out_dict
        if self.backend == "numpy-1d":
            return _to_numpy(next(iter(new.values())), data.dtype)
        cols = {int(n): _to_numpy(a, data.dtype) for n, a in new.items()}
        dtype = np.result_type(data.dtype, *(c.dtype for c in cols.values()))
        # A 2-D array cannot share columns: one copy of the whole array is unavoidable.
        out2 = data.astype(dtype, copy=True)
        for j, col in cols.items():
            out2[:, j] = col
        return out2

    def take(self, rows: np.ndarray) -> Any:
        """A new batch holding input rows ``rows`` in that order (all columns)."""
        data = self.data
        if self.backend == "pandas":
            return data.take(rows).reset_index(drop=True) if _plain_index(data) else data.take(rows)
        if self.backend in ("arrow-table", "arrow-batch"):
            return data.take(pa.array(rows))
        if self.backend == "numpy-dict":
            return {k: v[rows] for k, v in data.items()}
        return data[rows]

    def rebuild(self, columns: Sequence[tuple[str, str | pa.Array]]) -> Any:
        """A new batch with exactly ``columns``: (new name, old name or new Arrow array)."""
        data = self.data
        if self.backend == "pandas":
            import pandas as pd

            parts: dict[str, Any] = {}
            for name, src in columns:
                if isinstance(src, str):
                    parts[name] = data[src]
                else:
                    parts[name] = _to_pandas(src, None, data.index)
            return pd.DataFrame(parts, index=data.index, copy=False)
        if self.backend in ("arrow-table", "arrow-batch"):
            arrays = [self.column(s) if isinstance(s, str) else s for _, s in columns]
            names = [n for n, _ in columns]
            if self.backend == "arrow-table":
                return pa.table(arrays, names=names)
            return pa.record_batch(arrays, names=names)
        if self.backend == "numpy-dict":
            return {
                n: data[s] if isinstance(s, str) else s.to_numpy(zero_copy_only=False)
                for n, s in columns
            }
        raise ValidationError(
            f"schema drift needs named columns; a {self.backend} array has none "
            "(use a pandas DataFrame, an Arrow Table or a dict of numpy arrays)"
        )


def _plain_index(df: Any) -> bool:
    import pandas as pd

    idx = df.index
    return isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1


def _from_numpy(values: np.ndarray, name: str) -> pa.Array:
    if values.dtype.kind not in "biufMU" and values.dtype != object:
        raise ValidationError(f"column {name!r} has unsupported numpy dtype {values.dtype}")
    try:
        # NaN means missing in numpy float data, as it does in pandas.
        return pa.array(values, from_pandas=values.dtype.kind == "f" or values.dtype == object)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(
            f"column {name!r} has dtype {values.dtype} Arrow cannot read: {exc}"
        ) from exc


def _to_numpy(arr: pa.Array | np.ndarray, like: np.dtype[Any]) -> np.ndarray:
    if isinstance(arr, np.ndarray):
        return arr
    out: np.ndarray = arr.to_numpy(zero_copy_only=False)
    if like.kind == "U" and out.dtype == object:
        return out.astype(str)
    return out


def _to_pandas(arr: pa.Array, like: Any, index: Any) -> Any:
    """Arrow -> pandas Series, keeping the original dtype wherever the values allow."""
    import pandas as pd

    dtype = getattr(like, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype) and pa.types.is_dictionary(arr.type):
        codes = arr.indices.fill_null(0).to_numpy(zero_copy_only=False)
        if arr.null_count:
            codes = np.where(arr.is_null().to_numpy(zero_copy_only=False), -1, codes)
        cats = arr.dictionary.to_pandas()
        cat = pd.Categorical.from_codes(codes, categories=cats, ordered=dtype.ordered)
        return pd.Series(cat, index=index, name=like.name)
    from_arrow = getattr(dtype, "__from_arrow__", None)
    if from_arrow is not None and not isinstance(dtype, pd.CategoricalDtype):
        try:
            return pd.Series(from_arrow(arr), index=index, name=like.name, copy=False)
        except (TypeError, ValueError, pa.ArrowInvalid, NotImplementedError):
            pass
    name = getattr(like, "name", None)
    if (
        arr.null_count == 0
        and not pa.types.is_dictionary(arr.type)
        and column_kind(arr.type) in ("numeric", "bool", "temporal")
    ):
        values = arr.to_numpy(zero_copy_only=False)
        if dtype is not None and isinstance(dtype, np.dtype) and dtype.kind == values.dtype.kind:
            values = values.astype(dtype, copy=False)
        return pd.Series(values, index=index, name=name, copy=False)
    series = arr.to_pandas()
    series.index = index
    series.name = name
    return series


def as_frame(batch: Any) -> Frame:
    """Wrap a pandas DataFrame, Arrow Table / RecordBatch or numpy array(s) as a Frame."""
    mod = type(batch).__module__
    if isinstance(batch, pa.Table):
        return Frame(batch, "arrow-table", list(batch.column_names), batch.num_rows)
    if isinstance(batch, pa.RecordBatch):
        return Frame(batch, "arrow-batch", list(batch.schema.names), batch.num_rows)
    if isinstance(batch, np.ndarray):
        if batch.ndim == 1:
            return Frame(batch, "numpy-1d", ["0"], batch.shape[0])
        if batch.ndim == 2:
            return Frame(batch, "numpy-2d", [str(i) for i in range(batch.shape[1])], batch.shape[0])
        raise ValidationError(
            f"a numpy batch must be 1-D or 2-D, got {batch.ndim}-D (use aichaos.data.image "
            "for image arrays)"
        )
    if (
        isinstance(batch, Mapping)
        and batch
        and all(isinstance(v, np.ndarray) for v in batch.values())
    ):
        names = [str(k) for k in batch]
        if list(batch) != names:
            raise ValidationError("a dict batch needs string column names")
        lengths = {v.shape[0] for v in batch.values()}
        if len(lengths) != 1 or any(v.ndim != 1 for v in batch.values()):
            raise ValidationError("a dict batch needs 1-D numpy columns of one length")
        return Frame(batch, "numpy-dict", names, lengths.pop())
    if mod.startswith("pandas") and type(batch).__name__ == "DataFrame":
        names = batch.columns.tolist()
        if not all(type(c) is str for c in names):
            if not all(isinstance(c, str) for c in names):  # e.g. numpy str_ is fine
                raise ValidationError("a DataFrame batch needs string column names")
            names = [str(c) for c in names]
        if len(set(names)) != len(names):
            raise ValidationError("a DataFrame batch has duplicate column names")
        return Frame(batch, "pandas", names, len(batch))
    raise ValidationError(
        f"unsupported batch type {type(batch).__module__}.{type(batch).__qualname__}; expected "
        "a pandas DataFrame, a pyarrow Table or RecordBatch, a numpy array or a dict of them"
    )
