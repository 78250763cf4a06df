"""aichaos corruptions as Ray Data ``map_batches`` functions (pyarrow batch format).

::

    import ray.data
    from aichaos.data import make
    from aichaos.integrations.ray_data import corrupt_dataset

    ds = ray.data.read_parquet("s3://bucket/features/")
    bad = corrupt_dataset(ds, make("missing-values", fraction=0.05, columns=["age"], seed=7))

Ray gives a batch function no batch number, and batches run on any worker in any order,
so each batch's seed is derived from the spec's seed and a digest of the batch's shape
and first and last rows: the same dataset with the same block layout is corrupted the
same way on every run, whichever worker gets which batch.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aichaos.errors import ValidationError

__all__ = ["RayBatchFn", "batch_key", "corrupt_dataset"]


def batch_key(batch: Any) -> int:
    """A stable 31-bit number for an Arrow batch: its length, columns, first and last row."""
    rows = batch.num_rows
    edge = batch.slice(0, 1).to_pylist() + (batch.slice(rows - 1, 1).to_pylist() if rows else [])
    text = json.dumps([rows, batch.column_names, edge], default=str, sort_keys=True)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") >> 1


class RayBatchFn:
    """A picklable ``pyarrow.Table -> pyarrow.Table`` applying corruption specs."""

    def __init__(self, *specs: Any) -> None:
        from aichaos.data.inject import batch_fn

        if not specs:
            raise ValidationError("give at least one corruption spec")
        self.inner = batch_fn(*specs)

    def __call__(self, batch: Any) -> Any:
        """Corrupt one batch; its seed comes from :func:`batch_key`."""
        return self.inner.apply(batch, batch_key(batch))


def corrupt_dataset(dataset: Any, *specs: Any, **map_batches_kwargs: Any) -> Any:
    """``dataset.map_batches`` with the specs, in pyarrow batch format (lazy, like Ray)."""
    return dataset.map_batches(RayBatchFn(*specs), batch_format="pyarrow", **map_batches_kwargs)
