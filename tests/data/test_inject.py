"""Loader hooks, streams, and a corruption running for real inside Dask."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aichaos.data import Stream, batch_fn, corrupt, make
from aichaos.data.inject import batch_seed
from tests.data._data_helpers import assert_same_batch, canon, make_frame


def test_decorator_switches_on_and_off(frame: pd.DataFrame) -> None:
    hook = corrupt(make("missing-values", columns=["x"], fraction=0.5), enabled=False)

    @hook
    def load() -> pd.DataFrame:
        return frame

    assert load() is frame and not hook.reports  # off: untouched, nothing recorded
    with hook:
        corrupted = load()
    assert load() is frame  # off again after the block
    assert len(hook.reports) == 1
    report = hook.reports[0][0]
    assert corrupted["x"].isna().sum() == frame["x"].isna().sum() + report.n_cells_changed
    assert load.chaos is hook  # type: ignore[attr-defined]
    hook.enable()
    assert load() is not frame


def test_stream_gives_each_batch_its_own_seed_and_replays() -> None:
    batches = [make_frame(100, seed=i) for i in range(4)]
    spec = make("typos", columns=["s"], fraction=0.3, seed=1)
    first = [Stream(spec).apply(b) for b in batches[:1]]
    s1, s2 = Stream(spec), Stream(spec)
    outs1 = [s1.apply(b) for b in batches]
    outs2 = [s2.apply(b) for b in batches]
    for (a, ra), (b, rb) in zip(outs1, outs2, strict=True):
        assert_same_batch(a, b)
        assert np.array_equal(ra[0].cells["s"], rb[0].cells["s"])
    assert_same_batch(first[0][0], outs1[0][0])
    # different positions -> different cells
    assert not np.array_equal(outs1[0][1][0].cells["s"][:100], outs1[1][1][0].cells["s"][:100])


def test_stale_batch_replays_an_earlier_batch() -> None:
    batches = [pd.DataFrame({"v": [i] * 3}) for i in range(30)]
    stream = Stream(make("stale-batch", fraction=0.5, lag=2, seed=4))
    stale = 0
    for i, batch in enumerate(batches):
        out, (report,) = stream.apply(batch)
        src = report.extras.get("replaced_by_batch")
        if src is None:
            assert out is batch
        else:
            stale += 1
            assert src == i - 2 and out is batches[i - 2]
            assert report.changed and report.rows_changed().all()
    assert 5 <= stale <= 25


def test_compose_two_corruptions_in_one_stream(frame: pd.DataFrame) -> None:
    stream = Stream(
        make("gaussian-noise", columns=["x"], fraction=0.3),
        make("drop-rows", fraction=0.1),
    )
    out, (noise, drop) = stream.apply(frame)
    assert len(out) == len(frame) - len(drop.dropped_rows)
    assert noise.n_cells_changed > 0


def _dask_frame() -> Any:
    dd = pytest.importorskip("dask.dataframe")
    df = make_frame(1200, seed=3)
    df["s"] = df["s"].astype(object)
    return df, dd.from_pandas(df, npartitions=4)


def test_batch_fn_runs_inside_dask_map_partitions() -> None:
    import dask

    df, ddf = _dask_frame()
    spec = make("missing-values", columns=["x", "s"], fraction=0.2, seed=8)
    fn = batch_fn(spec)
    with dask.config.set(scheduler="threads"):
        result = ddf.map_partitions(fn, meta=ddf._meta).compute()
    assert len(result) == len(df)
    nulls_added = int(result["x"].isna().sum() - df["x"].isna().sum())
    assert 0.1 * len(df) < nulls_added < 0.3 * len(df)
    # Each partition is seeded by its number: recomputing gives the same batch.
    with dask.config.set(scheduler="threads"):
        again = ddf.map_partitions(batch_fn(spec), meta=ddf._meta).compute()
    assert_same_batch(result, again)
    # and it equals applying the corruption to each partition ourselves
    parts = [p.compute() for p in ddf.to_delayed()]
    expected = pd.concat(
        [spec.apply(p, seed=batch_seed(spec.seed, i)).data for i, p in enumerate(parts)]
    )
    assert_same_batch(result, expected)


def test_batch_fn_over_arrow_record_batches_like_spark_map_in_arrow(frame: Any) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    batches = table.to_batches(max_chunksize=50)
    fn = batch_fn(make("typos", columns=["s"], fraction=0.5, seed=2))
    out = list(fn.over(iter(batches)))
    assert all(isinstance(b, pa.RecordBatch) for b in out)
    changed = sum(
        sum(a != b for a, b in zip(canon(x)["s"], canon(y)["s"], strict=True))
        for x, y in zip(batches, out, strict=True)
    )
    assert 0.3 * len(frame) < changed < 0.7 * len(frame)
