"""Shared builders for the data tests: one logical batch in every backend, compared as lists."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

BACKENDS = ("pandas", "arrow-table", "arrow-batch", "numpy-dict")

WORDS = ["hello", "wörld", "data", "ca fé", "", "AEIOU", "xyz", "naïve text", "q"]


def make_frame(n: int, seed: int = 0, null_share: float = 0.1) -> pd.DataFrame:
    """A mixed batch: float with NaN, int, text, category, timestamp, int label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    x[rng.random(n) < null_share] = np.nan
    words = np.array(WORDS, dtype=object)
    text = [f"{a} {b}" for a, b in zip(rng.choice(words, n), rng.choice(words, n), strict=True)]
    return pd.DataFrame(
        {
            "x": x,
            "i": rng.integers(1, 50, n),
            "s": pd.Series(text, dtype="str"),
            "c": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
            "y": rng.integers(0, 3, n),
        }
    )


def to_backend(df: pd.DataFrame, backend: str) -> Any:
    """The same batch in ``backend`` (numpy-dict has no categorical column)."""
    if backend == "pandas":
        return df
    if backend == "arrow-table":
        return pa.Table.from_pandas(df, preserve_index=False)
    if backend == "arrow-batch":
        return pa.RecordBatch.from_pandas(df, preserve_index=False)
    out = {}
    for c in df.columns:
        if c == "c":
            continue
        s = df[c]
        out[c] = s.to_numpy(dtype=object) if c == "s" else s.to_numpy()
    return out


def canon(batch: Any) -> dict[str, list[Any]]:
    """Column name -> Python values, nulls as None: comparable across backends."""
    if isinstance(batch, pd.DataFrame):
        return {c: pa.array(batch[c], from_pandas=True).to_pylist() for c in batch.columns}
    if isinstance(batch, pa.Table | pa.RecordBatch):
        return {c: batch.column(c).to_pylist() for c in batch.schema.names}
    return {c: pa.array(v, from_pandas=v.dtype.kind in "fO").to_pylist() for c, v in batch.items()}


def same(a: Any, b: Any) -> bool:
    """Cell equality with None == None and NaN == NaN."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def snapshot(batch: Any) -> Any:
    """A deep copy to prove the input was not modified."""
    if isinstance(batch, pd.DataFrame):
        return batch.copy(deep=True)
    if isinstance(batch, dict):
        return {k: v.copy() for k, v in batch.items()}
    return copy.deepcopy(batch)


def assert_same_batch(a: Any, b: Any) -> None:
    ca, cb = canon(a), canon(b)
    assert list(ca) == list(cb)
    for col in ca:
        assert len(ca[col]) == len(cb[col]), col
        bad = [i for i, (u, v) in enumerate(zip(ca[col], cb[col], strict=True)) if not same(u, v)]
        assert not bad, f"column {col} differs at rows {bad[:5]}"
