"""``missing-values``: cells turn null, completely at random or depending on values.

Mechanisms (Rubin's taxonomy, as Jenga samples them):

* ``MCAR`` -- each cell independently with probability ``fraction``;
* ``MAR`` -- a contiguous percentile band of *another* column (``depends_on``) decides
  which rows lose the value (e.g. high earners skip the age field);
* ``MNAR`` -- a percentile band of the column's *own* values (e.g. large readings drop).

For MAR / MNAR exactly ``round(fraction * n_valid)`` rows are hit; the band's start is
drawn from the seed. The band is found by selection (linear time, no full sort).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import numeric, pick, valid_mask
from aichaos.data.frame import Column, Frame
from aichaos.data.views import CatCol, num_col
from aichaos.errors import ValidationError

__all__ = ["MissingValues"]


@CORRUPTIONS.register("missing-values")
class MissingValues(CellCorruption):
    """Set a fraction of cells to null (MCAR, MAR on another column, or MNAR)."""

    kinds = ("numeric", "bool", "text", "categorical", "temporal")

    mechanism: Literal["MCAR", "MAR", "MNAR"] = Field("MCAR", description="missingness kind")
    depends_on: str | None = Field(
        None, description="MAR only: the column whose values decide (default: first other)"
    )

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[Column, np.ndarray]:
        """Null the chosen cells; the changed cells are every one that was valid and now is null."""
        kind = frame.kind(name)
        if kind == "numeric":
            col = num_col(frame, name)
            if self.mechanism == "MCAR":
                idx = pick(rng, len(col), self.effective_fraction())
                idx = col.valid_rows(idx)
            else:
                basis = name if self.mechanism == "MNAR" else self._depends_on(frame, name)
                keys = _keys(frame, basis)
                # the band's selection scratch becomes the output: one fresh column, not two
                scratch = np.empty(len(col), np.float64) if col.arrow_type is None else None
                valid = col.valid_all()
                fraction = self.effective_fraction()
                idx = _band(keys, valid, fraction, rng, dense=True, scratch=scratch)
                return col.nullify(idx, out=scratch), idx
            return col.nullify(idx), idx
        if self.mechanism == "MCAR" and CatCol.applies(frame, name):
            cat = CatCol(frame, name)
            idx = pick(rng, len(cat.codes), self.effective_fraction())
            idx = idx[cat.codes[idx] >= 0]
            return cat.write(idx, -1), idx
        arr = frame.column(name)
        valid = valid_mask(arr)
        n = len(arr)
        if self.mechanism == "MCAR":
            idx = pick(rng, n, self.effective_fraction(), valid)
        else:
            basis = name if self.mechanism == "MNAR" else self._depends_on(frame, name)
            idx = _band(_keys(frame, basis), valid, self.effective_fraction(), rng)
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        null = mask if valid is None else (mask | ~valid)
        if pa.types.is_dictionary(arr.type):
            indices = pa.array(arr.indices.fill_null(0).to_numpy(zero_copy_only=False), mask=null)
            out: pa.Array = pa.DictionaryArray.from_arrays(indices, arr.dictionary)
        elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            out = pc.if_else(pa.array(null), pa.scalar(None, type=arr.type), arr)
        else:
            out = pa.array(numeric(arr), type=arr.type, mask=null)
        return out, idx

    def _depends_on(self, frame: Frame, name: str) -> str:
        if self.depends_on is not None:
            other = frame.resolve(self.depends_on)
            if other == name:
                raise ValidationError(
                    f"missing-values: depends_on must name another column than {name!r}"
                )
            return other
        for other in frame.names:
            if other != name and frame.kind(other) in ("numeric", "temporal", "bool"):
                return other
        raise ValidationError(
            f"missing-values: MAR for column {name!r} needs another numeric column (set depends_on)"
        )


def _keys(frame: Frame, basis: str) -> np.ndarray:
    """The ``basis`` column as float64 sort keys; null conditioning values rank last."""
    if frame.kind(basis) == "numeric":
        col = num_col(frame, basis)
        values = col.values
        if col.clean:
            return values.astype(np.float64, copy=False)
        keys = values.astype(np.float64)
        valid = col.valid_all()
        if valid is not None:
            keys[~valid] = np.inf
        return keys
    arr = frame.column(basis)
    if pa.types.is_temporal(arr.type) or pa.types.is_boolean(arr.type):
        keys = numeric(arr.cast(pa.int64()) if pa.types.is_boolean(arr.type) else arr)
        keys = keys.astype(np.float64)
        if arr.null_count:
            keys[~arr.is_valid().to_numpy(zero_copy_only=False)] = np.inf
        return keys
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="first")
    return ranks.to_numpy().astype(np.float64)  # type: ignore[no-any-return]


#: rows above which the band's edges are bracketed from a strided sample first
SAMPLED_ROWS = 1 << 17
#: the sample's size (its rank error is <= sqrt(SAMPLE) / 2 sample ranks, one sd)
SAMPLE = 1 << 14


def _band(
    keys: np.ndarray,
    valid: np.ndarray | None,
    fraction: float,
    rng: np.random.Generator,
    *,
    dense: bool = False,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Rows whose key rank (ties in row order) falls in a random band of ``fraction``.

    Sorted row indices; with ``dense`` a boolean mask over rows may come back instead
    (when every row is eligible and no tie straddles an edge), which spares the caller a
    ``flatnonzero`` pass when it writes with the mask anyway. ``scratch`` (float64, at
    least as long as the eligible keys) holds the selection's working copy instead of a
    fresh array, so a caller can reuse it for its output.

    On a large column the band is first bracketed by two values read off a sorted strided
    sample, six standard deviations of a sample rank outside the band: one pass keeps the
    rows between them (about ``fraction`` plus a few percent of the column) and counts
    the rows below, and the exact edges are selected among those few. When the bracket
    misses (checked exactly, so only speed depends on the sample) or the column is
    small, two partitions of the whole column find the edges in linear time.
    """
    eligible = np.flatnonzero(valid) if valid is not None else None
    if eligible is not None:
        keys = keys[eligible]
    n_ok = len(keys)
    k = round(fraction * n_ok)
    start = int(rng.integers(0, n_ok - k + 1))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    rows = _bracketed(keys, start, k) if n_ok > SAMPLED_ROWS else None
    if rows is None:
        rows = _partitioned(keys, start, k, scratch)
        if dense and eligible is None and rows.dtype == bool:
            return rows
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
    return rows if eligible is None else eligible[rows]


def _bracketed(keys: np.ndarray, start: int, k: int) -> np.ndarray | None:
    """The band's rows via a sample bracket, or None when the bracket misses it."""
    n = len(keys)
    step = n // SAMPLE
    sample = np.sort(keys[step // 2 :: step])
    m = len(sample)
    margin = 3 * math.isqrt(m) + 2  # six sd of a sample rank
    at_lo = start * m // n - margin
    at_hi = (start + k - 1) * m // n + margin
    below_edge = sample[at_lo] if at_lo >= 0 else -np.inf
    above_edge = sample[at_hi] if at_hi < m else np.inf
    near: np.ndarray = np.greater_equal(keys, below_edge)
    below = n - int(np.count_nonzero(near))  # rows ranked before every candidate
    near &= np.less_equal(keys, above_edge, out=np.empty(n, dtype=bool))
    cand_rows = np.flatnonzero(near)
    if below > start or below + len(cand_rows) < start + k:
        return None
    hit = _partitioned(keys.take(cand_rows), start - below, k, None)
    rows: np.ndarray = cand_rows[hit]
    return rows


def _partitioned(keys: np.ndarray, start: int, k: int, scratch: np.ndarray | None) -> np.ndarray:
    """Rows of ``keys`` ranked in ``[start, start + k)``: a boolean mask or sorted indices.

    Two selections find the band's edge values in linear time (a partition at the band's
    start, then one of the upper part at its length); rows strictly inside are taken
    whole, rows tied with an edge in row order until the band holds exactly its size.
    """
    n = len(keys)
    if scratch is not None and len(scratch) >= n and keys.dtype == scratch.dtype:
        part = scratch[:n]
        np.copyto(part, keys)
        part.partition(start)
    else:
        part = np.partition(keys, start)
    lo = part[start]
    upper = part[start:]
    upper.partition(k - 1)
    hi = upper[k - 1]
    end = start + k  # ranks [start, end) are in the band
    inside: np.ndarray = np.greater_equal(keys, lo)
    inside &= np.less_equal(keys, hi, out=np.empty(n, dtype=bool))
    if np.count_nonzero(inside) == k:
        # no tie straddles an edge (the usual case on real-valued keys): the closed band
        # is exactly the k rows, already in row order -- no tie passes, no sort
        return inside
    chosen = [np.flatnonzero((keys > lo) & (keys < hi))] if hi > lo else []
    for edge in (lo, hi) if hi > lo else (lo,):
        tied = np.flatnonzero(keys == edge)
        first = int(np.count_nonzero(keys < edge))  # rank of the first tied row
        rank = first + np.arange(len(tied))
        chosen.append(tied[(rank >= start) & (rank < end)])
    return np.sort(np.concatenate(chosen))
