"""``batch_fn`` inside a real local PySpark session: the same cells and values as pandas.

Spark runs the function in its Python workers through ``mapInArrow`` and
``mapInPandas``; the reference applies the same specs with pandas to the same batches
(partition ``p``'s batch ``i`` is batch number ``p * SPARK_STRIDE + i``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aichaos.data import batch_fn, make
from aichaos.data.inject import SPARK_STRIDE, batch_seed

pyspark = pytest.importorskip("pyspark", reason="pyspark is in the 'spark' extra")
pytestmark = pytest.mark.slow  # PySpark's warning about pandas 3: ignored in pyproject.toml
if shutil.which("java") is None:
    pytest.skip(
        "Spark needs Java (.ci/run installs openjdk-17-jre-headless)", allow_module_level=True
    )

SPECS = [
    make("label-flip", fraction=0.2, columns=["label"], seed=3),
    make("missing-values", fraction=0.1, columns=["x"], seed=4),
    make("categorical-shift", fraction=0.3, columns=["city"], seed=5),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # driver and workers on loopback only
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers import aichaos from this venv
    session = (
        SparkSession.builder.master("local[2]")
        .appName("aichaos-test")
        .config("spark.ui.enabled", "false")
        .config("spark.default.parallelism", "3")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "700")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def _frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "rid": np.arange(n, dtype=np.int64),
            "x": rng.normal(size=n),
            "label": rng.integers(0, 3, n),
            "city": np.array(["paris", "lima", "oslo", "pune"])[rng.integers(0, 4, n)],
        }
    )


def _tag(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    # which partition and batch each row is in, as batch_fn numbers them
    from pyspark import TaskContext

    ctx = TaskContext.get()
    p = ctx.partitionId() if ctx is not None else 0
    for i, b in enumerate(batches):
        yield pa.record_batch(
            [b.column("rid"), pa.array([p * SPARK_STRIDE + i] * b.num_rows, pa.int64())],
            names=["rid", "batch"],
        )


def _reference(pdf: pd.DataFrame, batches: pd.DataFrame) -> pd.DataFrame:
    """What pandas gives for the same batches, in the same order, with the same seeds."""
    out = []
    for number, rows in batches.groupby("batch", sort=True):
        batch = pdf.set_index("rid").loc[rows["rid"].to_numpy()].reset_index()
        for spec in SPECS:
            batch, _ = spec.apply(batch, seed=batch_seed(spec.seed, int(number)))
        out.append(batch)
    return pd.concat(out).set_index("rid").sort_index()


@pytest.mark.parametrize("how", ["mapInArrow", "mapInPandas"])
def test_spark_gives_the_pandas_cells_and_values(spark: Any, how: str) -> None:
    pdf = _frame()
    sdf = spark.createDataFrame(pdf)
    batches = sdf.mapInArrow(_tag, "rid long, batch long").toArrow().to_pandas()
    assert batches["batch"].nunique() >= 3  # several partitions, several batches
    fn = batch_fn(*SPECS)
    out = getattr(sdf, how)(fn.over, sdf.schema).toArrow().to_pandas().set_index("rid").sort_index()
    ref = _reference(pdf, batches)
    pd.testing.assert_frame_equal(out, ref, check_dtype=False)
    clean = pdf.set_index("rid").sort_index()
    for column, spec in zip(["label", "x", "city"], SPECS, strict=True):
        changed = (out[column] != clean[column]) & ~(out[column].isna() & clean[column].isna())
        share = changed.mean()
        assert abs(share - spec.effective_fraction()) < 0.05, (column, share)
