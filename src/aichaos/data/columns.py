"""Vectorised building blocks shared by the corruptions: pick cells, read and write columns.

Cell choice is one ``rng.random(n)`` draw per column compared with the fraction, so the
same seed picks the same cells on every backend; values are then drawn for the picked
cells only, in row order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "changed_at",
    "encode",
    "numeric",
    "pick",
    "put_numeric",
    "valid_mask",
]


def valid_mask(arr: pa.Array) -> np.ndarray | None:
    """Boolean validity of ``arr`` as numpy (None when nothing is null)."""
    if arr.null_count == 0:
        return None
    out: np.ndarray = arr.is_valid().to_numpy(zero_copy_only=False)
    return out


def pick(
    rng: np.random.Generator, n: int, fraction: float, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Row indices hit by an independent Bernoulli(fraction) draw, among ``eligible`` rows."""
    hit = rng.random(n) < fraction
    if eligible is not None:
        hit &= eligible
    return np.flatnonzero(hit)


def numeric(arr: pa.Array) -> np.ndarray:
    """The values of a numeric / temporal Arrow array as numpy, nulls filled with 0.

    Zero-copy (read-only) when the array has no nulls.
    """
    if arr.null_count:
        arr = arr.fill_null(
            pa.scalar(0, type=arr.type)
            if not pa.types.is_timestamp(arr.type)
            else pa.scalar(0, type=pa.int64()).cast(arr.type)
        )
    values: np.ndarray = arr.to_numpy(zero_copy_only=False)
    return values


def put_numeric(
    arr: pa.Array, idx: np.ndarray, values: np.ndarray, out_type: pa.DataType | None = None
) -> tuple[pa.Array, np.ndarray]:
    """Copy ``arr``'s values, write ``values`` at ``idx``; return (new array, changed mask).

    Only the touched column is copied; validity is kept. The mask holds exactly the cells
    whose value differs (a write of an equal value is not a change).
    """
    old = numeric(arr)
    target = np.dtype(out_type.to_pandas_dtype()) if out_type is not None else old.dtype
    new = old.astype(target, copy=True)
    new[idx] = values
    mask = changed_at(old, new, idx)
    valid = valid_mask(arr)
    typ = out_type or arr.type
    out = pa.array(new, type=typ, mask=None if valid is None else ~valid)
    return out, mask


def changed_at(old: np.ndarray, new: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mask over all rows, True at the ``idx`` rows where ``new`` differs from ``old``."""
    mask = np.zeros(len(old), dtype=bool)
    a = old[idx]
    b = new[idx]
    diff = a != b
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        diff &= ~(np.isnan(a.astype(np.float64)) & np.isnan(b.astype(np.float64)))
    mask[idx] = diff
    return mask


def encode(arr: pa.Array) -> tuple[np.ndarray, pa.Array, bool]:
    """Integer codes and the value dictionary of a categorical, text, int or bool column.

    Returns (codes with -1 for null, dictionary, was_dictionary). Codes follow first
    appearance order, the same on every backend.
    """
    if pa.types.is_dictionary(arr.type):
        codes = arr.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if arr.null_count:
            codes[~arr.is_valid().to_numpy(zero_copy_only=False)] = -1
        return codes, arr.dictionary, True
    enc = pc.dictionary_encode(arr)
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary, False


def decode(codes: np.ndarray, dictionary: pa.Array, like: pa.Array, was_dict: bool) -> Any:
    """Inverse of :func:`encode`: an array of ``like``'s type from codes (-1 = null)."""
    null = codes < 0
    has_null = bool(null.any())
    indices = pa.array(
        np.where(null, 0, codes) if has_null else codes,
        type=pa.int64(),
        mask=null if has_null else None,
    )
    if was_dict:
        index_type = like.type.index_type
        if len(dictionary) >= 2 ** (index_type.bit_width - 1) - 1:
            index_type = pa.int32()  # new categories may not fit the old index width
        return pa.DictionaryArray.from_arrays(indices.cast(index_type), dictionary)
    return pc.take(dictionary, indices)


def finite_mask(arr: pa.Array, values: np.ndarray) -> np.ndarray | None:
    """Cells that are valid and finite (None: all of them), the ones numeric kernels touch."""
    valid = valid_mask(arr)
    if values.dtype.kind == "f":
        fin = np.isfinite(values)
        if valid is not None:
            fin &= valid
        return None if fin.all() else fin
    return valid


def spread(values: np.ndarray, ok: np.ndarray | None) -> float:
    """The column's standard deviation over ``ok`` cells, or a scale of 1 for constants."""
    sample = values if ok is None else values[ok]
    std = float(np.std(sample, dtype=np.float64)) if len(sample) else 0.0
    if std > 0 and np.isfinite(std):
        return std
    mean = float(np.abs(sample).mean()) if len(sample) else 0.0
    return mean if mean > 0 else 1.0
