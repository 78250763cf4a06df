"""Quality judgement of single responses: JSON paths, silent failures, drift maths."""

from __future__ import annotations

import json
import math

import pytest

from aichaos.errors import ValidationError
from aichaos.load.quality import (
    QualityBaseline,
    QualitySettings,
    QualityTracker,
    QualityWindow,
    compile_json_path,
    quality_metrics,
)
from aichaos.load.spec import LoadSpec, validated


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", ()),
        ("$.prediction", ("prediction",)),
        ("$.out[2].label", ("out", 2, "label")),
        ("$[\"a b\"]['c']", ("a b", "c")),
    ],
)
def test_json_paths(path: str, steps: tuple[object, ...]) -> None:
    assert compile_json_path(path).parts == steps


@pytest.mark.parametrize("path", ["prediction", "$.a..b", "$[x]", "$.a[-1]", "$.a b"])
def test_bad_json_paths(path: str) -> None:
    with pytest.raises(ValidationError, match=r"must start with|is not understood"):
        compile_json_path(path)


def test_bad_json_path_in_a_spec_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match=r"quality.json_path is not understood at '\.\.x'"):
        validated(LoadSpec, url="http://x", rate_rps=1, quality={"json_path": "$..x"})


CLASSIFY = [
    (b'{"prediction": 2}', True),
    (b'{"prediction": "cat"}', True),
    (b'{"prediction": NaN}', False),
    (b'{"prediction": Infinity}', False),
    (b'{"prediction": null}', False),
    (b'{"prediction": [2]}', False),
    (b'{"prediction": {"label": 2}}', False),
    (b'{"label": 2}', False),
    (b"<html>oops</html>", False),
    (b"\xff\xfe", False),
]


@pytest.mark.parametrize(("body", "valid"), CLASSIFY)
def test_classification_validity(body: bytes, valid: bool) -> None:
    t = QualityTracker(QualitySettings())
    assert t.prediction(body)[0] is valid


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        (b'{"y": 1.5}', True),
        (b'{"y": 3}', True),
        (b'{"y": "1.5"}', False),
        (b'{"y": true}', False),
        (b'{"y": NaN}', False),
        (b'{"y": -Infinity}', False),
        (b'{"y": [1.5]}', False),
    ],
)
def test_regression_validity(body: bytes, valid: bool) -> None:
    t = QualityTracker(QualitySettings(json_path="$.y", task="regression"))
    assert t.prediction(body)[0] is valid


def test_accuracy_agreement_and_silent_rate() -> None:
    t = QualityTracker(QualitySettings())
    for i in range(4):  # baseline: predictions 0, 1, 0, 1
        t.observe(i, i % 2, True, json.dumps({"prediction": i % 2}).encode(), baseline=True)
    base = QualityBaseline()
    w0 = t.take()
    base.add(w0)
    assert quality_metrics(w0, base, "baseline")["accuracy"] == 1.0
    assert "agreement" not in quality_metrics(w0, base, "baseline")
    # later: rows 0-2 answered 0 (row 1 and its label disagree), row 3 NaN
    for i in range(3):
        t.observe(i, i % 2, True, b'{"prediction": 0}', baseline=False)
    t.observe(3, 1, True, b'{"prediction": NaN}', baseline=False)
    # a bool answer is not the label 1
    t.observe(1, 1, True, b'{"prediction": true}', baseline=False)
    m = quality_metrics(t.take(), base, "injecting")
    assert m["silent_failures"] == 1 and m["silent_failure_rate"] == pytest.approx(1 / 5)
    assert m["accuracy"] == pytest.approx(2 / 4)
    assert m["agreement"] == pytest.approx(2 / 4)
    assert m["drift_js"] > 0.1 and m["drift_psi"] > 0.1


def test_drift_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    base = QualityBaseline(values=[float(v) for v in range(1000)])
    same = QualityWindow(regression=True, values=[float(v) for v in range(0, 1000, 2)])
    shifted = QualityWindow(regression=True, values=[float(v) + 500 for v in range(0, 1000, 2)])
    m_same = quality_metrics(same, base, "run")
    m_shift = quality_metrics(shifted, base, "run")
    assert m_same["drift_psi"] < 0.01 and m_same["drift_js"] < 0.01
    assert m_shift["drift_psi"] > 1.0 and 0.3 < m_shift["drift_js"] <= 1.0


def test_mae_and_unlabelled_windows() -> None:
    t = QualityTracker(QualitySettings(json_path="$.y", task="regression"))
    t.observe(0, 1.0, True, b'{"y": 1.5}', baseline=False)
    t.observe(1, 3.0, True, b'{"y": 2.0}', baseline=False)
    t.observe(2, None, False, b'{"y": 9.0}', baseline=False)
    m = quality_metrics(t.take(), None)
    assert m["mae"] == pytest.approx(0.75)
    assert "accuracy" not in m and "drift_js" not in m
    empty = quality_metrics(t.take(), None)
    # no response in the window: no silent-failure rate (unknown), not 0
    assert "silent_failure_rate" not in empty and "mae" not in empty


def test_windows_merge_and_round_trip() -> None:
    a = QualityWindow(responses=3, silent=1, labelled=2, correct=1, categories={"1": 2})  # type: ignore[arg-type]
    b = QualityWindow(responses=2, labelled=2, correct=2, compared=2, agreed=1)
    a = QualityWindow.from_json(json.loads(json.dumps(a.to_json())))
    a.merge(b)
    assert (a.responses, a.silent, a.labelled, a.correct, a.agreed) == (5, 1, 4, 3, 1)
    assert math.isclose(quality_metrics(a, None)["accuracy"], 0.75)
