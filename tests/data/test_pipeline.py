"""A real pipeline on scikit-learn's bundled wine data: validation, training, a curve."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from aichaos.data import make, run_experiment
from aichaos.data.image import dead_pixels, gaussian_noise, salt_and_pepper
from aichaos.errors import ValidationError

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


@pytest.fixture(scope="module")
def wine() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = load_wine(as_frame=True).frame
    data["target"] = data["target"].astype("int64")
    train, test = train_test_split(data, test_size=0.3, random_state=0, stratify=data["target"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _validator(train: pd.DataFrame) -> Any:
    """The user's validation step: schema and ranges learned from clean training data."""
    x = train.drop(columns="target")
    lo, hi = x.min() - 3 * x.std(), x.max() + 3 * x.std()
    features = list(lo.index)

    def validate(batch: pd.DataFrame) -> bool:
        if list(batch.columns) != [*features, "target"] or len(batch) == 0:
            return False
        if batch.isna().any().any() or batch.duplicated().any():
            return False
        x = batch[features]
        return bool(((x >= lo) & (x <= hi)).all().all() and batch["target"].isin([0, 1, 2]).all())

    return validate


def _scorer(test: pd.DataFrame) -> Any:
    """Train on the (possibly corrupted) batch, evaluate on clean held-out data."""

    def score(batch: pd.DataFrame) -> float:
        model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=300))
        model.fit(batch.drop(columns="target"), batch["target"])
        return float(model.score(test.drop(columns="target"), test["target"]))

    return score


@pytest.mark.slow
def test_wine_pipeline_detection_rates_and_metric_drops(wine: Any) -> None:
    train, test = wine
    features = [c for c in train.columns if c != "target"]
    result = run_experiment(
        train,
        ["missing-values", "outliers", "scaling", "label-flip", "gaussian-noise"],
        validate=_validator(train),
        score=_scorer(test),
        severities=[1, 3, 5],
        repeats=2,
        seed=1,
        params={
            "label-flip": {"columns": ["target"]},
            "gaussian-noise": {"columns": features},
            "missing-values": {"columns": features},
            "outliers": {"columns": features},
            "scaling": {"columns": features},
        },
    )
    json.dumps(result)  # plain data, renderable from a journal
    assert result["baseline"]["rejected"] is False  # no false alarm on clean data
    assert result["baseline"]["metric"] > 0.9
    rows = {(r["corruption"], r["severity"]): r for r in result["results"]}
    # the range / null checks catch these whenever they changed anything
    for name in ("missing-values", "outliers", "scaling"):
        assert rows[(name, 5)]["detection_rate"] == 1.0
    # label flips pass a schema check unnoticed, and cost accuracy as severity grows
    assert rows[("label-flip", 5)]["detection_rate"] == 0.0
    curve = result["curves"]["label-flip"]
    assert curve["severity"] == [1, 3, 5]
    assert curve["metric_drop"][-1] > 0.05
    assert curve["metric_drop"][-1] >= curve["metric_drop"][0]
    # mild noise is within range: the validator misses some of it
    assert rows[("gaussian-noise", 1)]["detection_rate"] < 1.0


def test_pandera_schema_as_validation_step(wine: Any) -> None:
    pa_schema = pytest.importorskip("pandera.pandas")
    train, _ = wine
    schema = pa_schema.DataFrameSchema(
        {
            "alcohol": pa_schema.Column(float, pa_schema.Check.in_range(10, 16), nullable=False),
            "target": pa_schema.Column(int, pa_schema.Check.isin([0, 1, 2])),
        }
    )
    result = run_experiment(
        train,
        ["missing-values", "unseen-categories"][:1],
        validate=schema,
        severities=[2, 4],
        repeats=2,
        params={"missing-values": {"columns": ["alcohol"]}},
    )
    assert result["baseline"]["rejected"] is False
    assert [r["detection_rate"] for r in result["results"]] == [1.0, 1.0]


def test_experiment_bad_input() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ValidationError, match="nothing to measure"):
        run_experiment(frame, ["outliers"])
    with pytest.raises(ValidationError, match=r"severities must be 1\.\.5"):
        run_experiment(frame, ["outliers"], score=lambda b: 1.0, severities=[7])
    with pytest.raises(ValidationError, match="stream of batches"):
        run_experiment(frame, ["stale-batch"], score=lambda b: 1.0)


@pytest.mark.parametrize("fn", [gaussian_noise, dead_pixels, salt_and_pepper])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_image_helpers(fn: Any, dtype: Any) -> None:
    rng = np.random.default_rng(0)
    img = (rng.random((32, 48, 3)) * (255 if dtype == np.uint8 else 0.9) + 0.05).astype(dtype)
    before = img.copy()
    mild, mask1 = fn(img, severity=1, seed=3)
    harsh, mask5 = fn(img, severity=5, seed=3)
    assert np.array_equal(img, before)
    assert np.array_equal((mild != img).any(axis=2), mask1)
    assert mask5.sum() >= mask1.sum() > 0
    again, _ = fn(img, severity=5, seed=3)
    assert np.array_equal(again, harsh)
    with pytest.raises(ValidationError, match="severity"):
        fn(img, severity=0)


def test_import_aichaos_does_not_import_heavy_data_libraries() -> None:
    code = (
        "import sys, aichaos, aichaos.data; "
        "from aichaos.faults import FAULTS; FAULTS.names(); "
        "bad = [m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_typo_output_is_valid_utf8_and_differs() -> None:
    words = pd.Series(["naïve", "", "ü", "ab", "zz", "日本語テキスト"] * 50, dtype="str")
    out, report = make("typos", fraction=1.0, seed=1).apply(pd.DataFrame({"w": words}))
    assert report.cells["w"].all()
    assert all(isinstance(v, str) for v in out["w"])
    enc, rep = make("encoding-errors", fraction=1.0).apply(pd.DataFrame({"w": words}))
    assert rep.cells["w"].all()
    assert enc["w"][0] == "naÃ¯ve" and enc["w"][1] == "\ufffd"
