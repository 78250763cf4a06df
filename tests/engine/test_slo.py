"""SLO parsing, composition and evaluation over windows."""

from __future__ import annotations

import math

import pytest

from aichaos.engine.slo import AllOf, AnyOf, parse_slo, slo
from aichaos.engine.state import make_state
from aichaos.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold", "agg", "window"),
    [
        ("api.p99_ms < 250", "api.p99_ms", "<", 250, "last", None),
        ("load.error_rate<0.01", "load.error_rate", "<", 0.01, "last", None),
        ("quality.accuracy >= 0.9", "quality.accuracy", ">=", 0.9, "last", None),
        ("p99(load.latency_ms) < 250 over 10s", "load.latency_ms", "<", 250, "p99", 10.0),
        ("mean(q.acc) >= 0.9 over 500ms", "q.acc", ">=", 0.9, "mean", 0.5),
        ("max(x.y) != 3 over 2m", "x.y", "!=", 3, "max", 120.0),
        ("count(x.y) > 1e2", "x.y", ">", 100, "count", None),
        ("a.silent_failure_rate == 0", "a.silent_failure_rate", "==", 0, "last", None),
    ],
)
def test_parse(
    text: str, metric: str, op: str, threshold: float, agg: str, window: float | None
) -> None:
    c = parse_slo(text)
    assert (c.metric, c.op, c.threshold, c.agg, c.window_s) == (metric, op, threshold, agg, window)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "latency < 3",
        "api.x << 3",
        "api.x < ",
        "p99(api.x < 3",
        "api.x < 3 over",
        "avg(a.b) < 1",
        "api.x < 3 over 0s",
        "api.x < abc",
        42,
        None,
    ],
)
def test_bad_slo_names_the_problem(text: object) -> None:
    with pytest.raises(ValidationError, match="SLO"):
        slo(text)


def test_composition_flattens() -> None:
    a, b, c = slo("a.x < 1"), slo("b.y < 2"), slo("c.z < 3")
    both = a & b & c
    assert isinstance(both, AllOf) and len(both.parts) == 3
    either = a | b | c
    assert isinstance(either, AnyOf) and len(either.parts) == 3
    assert slo({"all": ["a.x < 1", {"any": ["b.y < 2", "c.z < 3"]}]}).to_data() == {
        "all": ["a.x < 1", {"any": ["b.y < 2", "c.z < 3"]}]
    }


def test_evaluate_last_and_windows() -> None:
    state = make_state({"api.lat": [(90, 100.0), (95, 400.0), (99, 120.0)]}, now=100)
    assert slo("api.lat < 200").evaluate(state).ok  # last = 120
    assert not slo("max(api.lat) < 200 over 10s").evaluate(state).ok  # 400 in window
    assert slo("max(api.lat) < 200 over 3s").evaluate(state).ok  # only 120
    check = slo("p50(api.lat) < 150 over 20s").evaluate(state)
    assert check.value == 120.0 and check.ok


def test_no_data_does_not_hold() -> None:
    check = slo("api.lat < 200").evaluate(make_state({}))
    assert not check.ok and check.detail == "no data"


def test_nan_does_not_hold() -> None:
    check = slo("api.lat < 200").evaluate(make_state({"api.lat": [(1, math.nan)]}))
    assert not check.ok


def test_any_and_all_evaluate() -> None:
    state = make_state({"a.x": [(1, 5.0)], "b.y": [(1, 1.0)]})
    assert not (slo("a.x < 1") & slo("b.y < 2")).evaluate(state).ok
    assert (slo("a.x < 1") | slo("b.y < 2")).evaluate(state).ok
    failing = (slo("a.x < 1") & slo("b.y < 0")).evaluate(state).failing()
    assert [f.expr for f in failing] == ["a.x < 1", "b.y < 0"]


def test_plain_callable_is_an_slo() -> None:
    state = make_state({"a.x": [(1, 5.0)]})
    combined = slo("a.x > 1") & (lambda s: s.elapsed > 50)
    assert combined.evaluate(state).ok
