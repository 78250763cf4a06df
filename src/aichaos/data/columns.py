"""Vectorised building blocks shared by the corruptions: pick cells, read and write columns.

Cell choice draws the gaps between hit rows (geometric skips: a gap ~ Geometric(p) before
each hit is exactly an independent Bernoulli(p) per row), so it costs O(hits), not O(rows),
and the same seed picks the same cells on every backend; values are then drawn for the
picked cells only, in row order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "changed_at",
    "encode",
    "numeric",
    "pick",
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
    """Sorted row indices hit by an independent Bernoulli(fraction) draw per row.

    With ``eligible`` (a boolean mask over rows) only eligible rows are kept, which is the
    same as drawing every row and and-ing with the mask. Cost O(hits): the gap before each
    hit is ``floor(E / -log(1 - p)) + 1`` with E ~ Exp(1), i.e. Geometric(p), so no
    per-row random number is drawn.
    """
    idx = skips(rng, n, fraction)
    if eligible is not None and len(idx):
        idx = idx[eligible[idx]]
    return idx


#: extra gaps drawn per round, in standard deviations of the hit count (a second round is
#: needed with probability ~1e-9; the result does not depend on it being rare)
SLACK_SIGMAS = 6.0


def skips(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Rows (sorted int64) of a Bernoulli(p) process over ``n`` rows, by geometric skips."""
    if n <= 0 or p <= 0.0:
        return np.zeros(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(n, dtype=np.int64)
    inv = -1.0 / math.log1p(-p)  # mean gap is 1/p; E * inv is Exp with rate -log(1-p)
    parts: list[np.ndarray] = []
    start = 0  # the row after the last hit
    while True:
        # enough gaps for all hits with overwhelming probability; else draw another round
        mean = (n - start) * p
        m = max(16, int(mean + SLACK_SIGMAS * math.sqrt(mean) + 16))
        gaps = rng.standard_exponential(m)
        np.multiply(gaps, inv, out=gaps)
        np.minimum(gaps, float(n), out=gaps)  # a huge gap ends the run; no int overflow
        # floor(E * inv) is the number of rows skipped before a hit; an integer cumsum (a
        # float one is latency-bound) turns skips into rows
        rows = gaps.view(np.int64)  # reuse the buffer: an exact-overlap ufunc is safe
        np.floor(gaps, out=rows, casting="unsafe")
        rows += 1
        np.cumsum(rows, out=rows)
        rows += start - 1
        end = int(np.searchsorted(rows, n))
        parts.append(rows[:end])
        if end < m:
            break
        start = int(rows[-1]) + 1
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


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


#: cells in the evenly strided sample the spread is estimated from (at most 2x this)
SPREAD_SAMPLE = 1 << 16


def moments(values: np.ndarray) -> tuple[float, float]:
    """(mean, population std) of ``values``, in float64, from an evenly strided sample.

    Only ever a centre and a scale for noise and outliers: at most ``2 * SPREAD_SAMPLE``
    cells (every cell of a smaller column) give them within about
    ``1 / sqrt(2 * 65536)`` = 0.3 % of the std, for a fixed cost instead of trips
    through a large column. The stride depends only on the length, so every backend
    gets the same figures for the same cells. ``values`` must hold no NaN / infinity
    (see :meth:`aichaos.data.views.NumCol.ok_all`).
    """
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    sample = values[:: max(1, n // SPREAD_SAMPLE)].astype(np.float64)  # a copy: edited below
    mean = float(np.add.reduce(sample)) / len(sample)
    sample -= mean
    np.multiply(sample, sample, out=sample)
    return mean, math.sqrt(float(np.add.reduce(sample)) / len(sample))
