"""Property tests: for every corruption and backend, the report is the exact truth.

* the mask marks exactly the cells that differ (row corruptions: the output is the input's
  rows at ``source_rows``);
* the same seed gives the same result, and the same result on every backend;
* the input is never modified.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichaos.data import make
from tests.data._data_helpers import (
    BACKENDS,
    assert_same_batch,
    canon,
    make_frame,
    same,
    snapshot,
    to_backend,
)

CELL_SPECS: list[tuple[str, dict[str, Any]]] = [
    ("missing-values", {"columns": ["x", "s", "t"]}),
    ("missing-values", {"columns": ["x"], "mechanism": "MAR", "depends_on": "i"}),
    ("missing-values", {"columns": ["i"], "mechanism": "MNAR"}),
    ("gaussian-noise", {"columns": ["x", "i"]}),
    ("scaling", {"columns": ["x", "i"]}),
    ("scaling", {"columns": ["i"], "factor": 0.001}),
    ("outliers", {"columns": ["x", "i"]}),
    ("swapped-columns", {"columns": ["i", "y"]}),
    ("categorical-shift", {"columns": ["s"]}),
    ("unseen-categories", {"columns": ["s"], "n_new": 3}),
    ("label-flip", {"columns": ["y"]}),
    ("typos", {"columns": ["s"]}),
    ("broken-characters", {"columns": ["s"]}),
    ("encoding-errors", {"columns": ["s"]}),
    ("encoding-errors", {"columns": ["s"], "mode": "replacement"}),
    ("timestamp-skew", {"columns": ["t"]}),
    # categorical (pandas category / Arrow dictionary) columns take the integer-code path
    ("missing-values", {"columns": ["c"]}),
    ("categorical-shift", {"columns": ["c"]}),
    ("unseen-categories", {"columns": ["c"], "n_new": 2}),
    ("label-flip", {"columns": ["c"]}),
    ("label-flip", {"columns": ["s"]}),
    ("label-flip", {"columns": ["y"], "confusion": {"0": {"1": 1.0}, "2": {"0": 1, "1": 3}}}),
    ("swapped-columns", {"columns": ["x", "x2"]}),
]
ROW_SPECS: list[tuple[str, dict[str, Any]]] = [
    ("duplicate-rows", {}),
    ("duplicate-rows", {"placement": "end"}),
    ("drop-rows", {}),
    ("out-of-order", {}),
]

batches = st.builds(
    make_frame,
    n=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    null_share=st.sampled_from([0.0, 0.2]),
)
fractions = st.sampled_from([0.0, 0.3, 0.7, 1.0])
PROP = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ids(specs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items() if k != 'columns')}" for n, p in specs]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "params"), CELL_SPECS, ids=_ids(CELL_SPECS))
@PROP
@given(df=batches, fraction=fractions, seed=st.integers(0, 2**31))
def test_cell_mask_is_exactly_the_diff(
    backend: str, name: str, params: dict[str, Any], df: Any, fraction: float, seed: int
) -> None:
    if "c" in params.get("columns", []) and backend == "numpy-dict":
        return  # numpy has no categorical column
    if "x2" in params.get("columns", []):
        df = df.assign(x2=df["x"].sample(frac=1.0, random_state=seed % 1000).to_numpy())
    batch = to_backend(df, backend)
    before = snapshot(batch)
    spec = make(name, fraction=fraction, seed=seed, **params)
    first = params["columns"][0]
    needs = 3 if "confusion" in params else 2  # the table names all three classes
    if name in ("label-flip", "categorical-shift") and df[first].nunique() < needs:
        return  # needs two classes; the bad-input tests cover the error
    if any(c in df and df[c].isna().all() for c in params.get("columns", ["x"])):
        return  # an all-null column is refused by design; the bad-input tests cover it
    out, report = spec.apply(batch)
    assert_same_batch(batch, before)  # input untouched
    cin, cout = canon(batch), canon(out)
    assert report.n_rows_out == len(df)
    for col in cin:
        diff = np.array([not same(a, b) for a, b in zip(cin[col], cout[col], strict=True)], bool)
        expected = report.cells.get(col, np.zeros(len(df), bool))
        assert np.array_equal(diff, expected), f"{col}: mask {expected} vs diff {diff}"
    if fraction == 0.0:
        assert report.n_cells_changed == 0
    # same seed, same result; and the same result as the pandas computation
    out2, _ = spec.apply(batch)
    assert_same_batch(out, out2)
    ref, ref_report = spec.apply(to_backend(df, "pandas"))
    for col, mask in report.cells.items():
        assert np.array_equal(mask, ref_report.cells[col])
    ref_canon = canon(ref)
    for col in cout:
        assert all(same(a, b) for a, b in zip(cout[col], ref_canon[col], strict=True)), col


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "params"), ROW_SPECS, ids=_ids(ROW_SPECS))
@PROP
@given(df=batches, fraction=fractions, seed=st.integers(0, 2**31))
def test_row_report_is_exact(
    backend: str, name: str, params: dict[str, Any], df: Any, fraction: float, seed: int
) -> None:
    batch = to_backend(df, backend)
    before = snapshot(batch)
    out, report = make(name, fraction=fraction, seed=seed, **params).apply(batch)
    assert_same_batch(batch, before)
    cin, cout = canon(batch), canon(out)
    src = report.source_rows
    assert src is not None and report.row_mask is not None
    assert len(src) == report.n_rows_out == len(next(iter(cout.values())))
    for col in cin:
        assert all(same(cout[col][i], cin[col][s]) for i, s in enumerate(src)), col
    if name == "drop-rows":
        assert report.dropped_rows is not None
        assert sorted(set(range(len(df))) - set(src.tolist())) == report.dropped_rows.tolist()
    elif name == "out-of-order":
        assert np.array_equal(report.row_mask, src != np.arange(len(src)))
    else:  # each copy is an extra occurrence of a source row
        extra = len(src) - len(df)
        assert int(report.row_mask.sum()) == extra
        assert sorted(src[~report.row_mask].tolist()) == list(range(len(df)))
    same_again = make(name, fraction=fraction, seed=seed, **params).apply(batch)
    assert_same_batch(out, same_again.data)
    ref = make(name, fraction=fraction, seed=seed, **params).apply(to_backend(df, "pandas"))
    assert np.array_equal(ref.report.source_rows, src)


SIGMAS = 4.5


@pytest.mark.parametrize(
    ("name", "params"), CELL_SPECS + ROW_SPECS, ids=_ids(CELL_SPECS + ROW_SPECS)
)
def test_fraction_within_binomial_tolerance(name: str, params: dict[str, Any]) -> None:
    n, p = 3000, 0.2
    df = make_frame(n, seed=5, null_share=0.0)
    df["s"] = df["s"].str.replace(" ", "a") + "a"  # every string has a vowel, none is empty
    df["x2"] = df["x"].to_numpy()[::-1]
    _, report = make(name, fraction=p, seed=11, **params).apply(df)
    if report.cells:
        counts = [int(m.sum()) for m in report.cells.values()]
    elif report.dropped_rows is not None:
        counts = [len(report.dropped_rows)]
    else:
        counts = [int(report.row_mask.sum())] if report.row_mask is not None else []
    tol = SIGMAS * np.sqrt(n * p * (1 - p))
    for count in counts:
        if name == "swapped-columns" or name == "label-flip" or "mechanism" in params:
            # equal values do not count as swapped; MAR/MNAR hit exactly round(p * n)
            assert count <= n * p + tol
            assert count >= n * p * 0.8 - tol
        else:
            assert abs(count - n * p) <= tol, (name, count)


def test_untouched_columns_are_shared_not_copied(frame: Any) -> None:
    import pyarrow as pa

    out, _ = make("gaussian-noise", columns=["x"], fraction=0.5).apply(frame)
    for col in ("i", "y"):
        assert np.shares_memory(out[col].to_numpy(), frame[col].to_numpy())
    table = pa.Table.from_pandas(frame, preserve_index=False)
    tout, _ = make("typos", columns=["s"], fraction=0.5).apply(table)
    for col in ("x", "i", "c", "t", "y"):
        assert (
            tout.column(col) is table.column(col)
            or tout.column(col).chunks[0].buffers()[1].address
            == table.column(col).chunks[0].buffers()[1].address
        )
    arrays = to_backend(frame, "numpy-dict")
    dout, _ = make("scaling", columns=["i"], fraction=0.5).apply(arrays)
    assert dout["x"] is arrays["x"] and dout["s"] is arrays["s"]


def test_numpy_2d_and_1d_arrays() -> None:
    rng = np.random.default_rng(0)
    grid = rng.normal(size=(500, 4))
    before = grid.copy()
    out, report = make("missing-values", fraction=0.25, columns=[1, 3], seed=2).apply(grid)
    assert np.array_equal(grid, before)
    assert np.array_equal(
        np.isnan(out),
        np.column_stack(
            [np.zeros(500, bool), report.cells["1"], np.zeros(500, bool), report.cells["3"]]
        ),
    )
    vec, rep = make("outliers", fraction=0.1, seed=1).apply(grid[:, 0].copy())
    assert np.array_equal(vec != grid[:, 0], rep.cells["0"])


def test_schema_drift_operations_and_report(frame: Any) -> None:
    spec = make(
        "schema-drift",
        rename={"x": "x_renamed"},
        drop=["c"],
        add={"extra": 1.5},
        cast={"i": "string"},
        reorder=True,
        seed=3,
    )
    for backend in ("pandas", "arrow-table", "arrow-batch"):
        out, report = spec.apply(to_backend(frame, backend))
        cols = canon(out)
        assert set(cols) == {"x_renamed", "i", "s", "t", "y", "extra"}
        assert cols["i"][:3] == [str(v) for v in frame["i"][:3]]
        assert cols["extra"] == [1.5] * len(frame)
        ops = [c["op"] for c in report.schema_changes]
        assert ops == ["rename", "cast", "drop", "add", "reorder"]
        assert list(cols) == report.schema_changes[-1]["order"]
    random_drift = make("schema-drift", severity=4, seed=9).apply(frame)
    assert random_drift.report.schema_changes
    assert random_drift.report.changed
