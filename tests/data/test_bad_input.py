"""Bad input gets a clear aichaos ValidationError naming the column and the problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aichaos.data import make
from aichaos.errors import RegistryError, ValidationError

BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("gaussian-noise", {"fraction": 1.5}, "fraction"),
    ("gaussian-noise", {"fraction": -0.1}, "fraction"),
    ("missing-values", {"severity": 6}, "severity"),
    ("missing-values", {"fraction": 0.1, "severity": 2}, "not both"),
    ("gaussian-noise", {"scale": -1}, "scale"),
    ("missing-values", {"mechanism": "SOMETIMES"}, "mechanism"),
    ("typos", {"unknown_field": 1}, "unknown_field"),
]


@pytest.mark.parametrize(("name", "params", "needle"), BAD_SPECS)
def test_bad_spec_names_the_field(name: str, params: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle) as info:
        make(name, **params)
    assert name in str(info.value)


def test_unknown_corruption_lists_known_ones() -> None:
    with pytest.raises(RegistryError, match=r"known: .*gaussian-noise"):
        make("gaussian-nosie")


BAD_BATCHES: list[tuple[str, dict[str, Any], Any, str]] = [
    ("gaussian-noise", {}, pd.DataFrame({"x": pd.Series([], dtype=float)}), "empty"),
    ("gaussian-noise", {"columns": ["nope"]}, pd.DataFrame({"x": [1.0]}), "unknown column 'nope'"),
    (
        "gaussian-noise",
        {"columns": ["x"]},
        pd.DataFrame({"x": [np.nan, np.nan]}),
        "column 'x' is all null",
    ),
    (
        "typos",
        {"columns": ["x"]},
        pd.DataFrame({"x": [1.0, 2.0]}),
        r"column 'x' has type double \(numeric\); expected a text column",
    ),
    (
        "gaussian-noise",
        {"columns": ["s"]},
        pa.table({"s": ["a", "b"]}),
        "column 's' has type string",
    ),
    (
        "missing-values",
        {},
        {"v": np.array([b"x", b"y"], dtype="V1")},
        "column 'v' has unsupported numpy dtype",
    ),
    ("label-flip", {"columns": ["y"]}, pd.DataFrame({"y": [0.5, 1.5]}), "labels must be int"),
    ("label-flip", {"columns": ["y"]}, pd.DataFrame({"y": [1, 1, 1]}), "column 'y' has 1 class"),
    (
        "swapped-columns",
        {"columns": ["a", "b"]},
        pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        "column 'a' is int64 but column 'b' is",
    ),
    ("swapped-columns", {"columns": ["a"]}, pd.DataFrame({"a": [1]}), "exactly two"),
    ("gaussian-noise", {}, pd.DataFrame({"s": ["a"]}), "no column of kind numeric"),
    ("gaussian-noise", {}, [1, 2, 3], "unsupported batch type builtins.list"),
    ("gaussian-noise", {}, np.zeros((2, 2, 2)), "1-D or 2-D"),
    ("stale-batch", {}, pd.DataFrame({"a": [1]}), "needs the earlier batches"),
    (
        "missing-values",
        {"mechanism": "MAR", "columns": ["a"]},
        pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]}),
        "needs another numeric column",
    ),
    ("schema-drift", {"cast": {"a": "nonsense"}}, pd.DataFrame({"a": [1]}), "not an Arrow type"),
    ("schema-drift", {"drop": ["zz"]}, pd.DataFrame({"a": [1]}), "unknown column 'zz'"),
    ("scaling", {"factor": 1.0}, pd.DataFrame({"a": [1.0]}), "factor must not be 1"),
]


@pytest.mark.parametrize(("name", "params", "batch", "needle"), BAD_BATCHES)
def test_bad_batch_names_column_and_problem(
    name: str, params: dict[str, Any], batch: Any, needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle):
        make(name, **params).apply(batch)
