"""SLO parsing, composition and evaluation over windows."""

from __future__ import annotations

import math

import pytest

from aichaos.errors import ValidationError
from aichaos.experiment.slo import AllOf, AnyOf, parse_slo, slo
from tests.experiment.states import make_state


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


def test_unknown_in_a_composite_follows_three_valued_logic() -> None:
    """A condition without data yet beside a false one: any-of is unknown (the missing
    part might hold), all-of is broken. The engine counts only broken checks as a
    deviation, so an any-of like `agent.alive == 1 | train.done == 1` checked before its
    first sample after a fault's apply must not read as broken (it did, in a demo run)."""
    state = make_state({"b.y": [(1, 5.0)]})
    either = (slo("a.x < 1") | slo("b.y < 1")).evaluate(state)
    assert not either.ok and either.no_data
    both = (slo("a.x < 1") & slo("b.y < 1")).evaluate(state)
    assert not both.ok and not both.no_data
    nested = (slo("b.y < 9") & (slo("a.x < 1") | slo("b.y < 1"))).evaluate(state)
    assert not nested.ok and nested.no_data
    assert not (slo("b.y < 1") | slo("b.y < 2")).evaluate(state).no_data


def test_plain_callable_is_an_slo() -> None:
    state = make_state({"a.x": [(1, 5.0)]})
    combined = slo("a.x > 1") & (lambda s: s.elapsed > 50)
    assert combined.evaluate(state).ok


# a probe's samples: t=96 ok, t=98 failed (timed out), t=99 ok; every sample has `error`
_FAILED_AT_98 = {
    "api.error": [(96, 0.0), (98, 1.0), (99, 0.0)],
    "api.ok": [(96, 1.0), (98, 0.0), (99, 1.0)],
    "api.lat": [(96, 10.0), (98, 500.0), (99, 12.0)],
    "api.score": [(96, 0.9), (99, 0.9)],
}


@pytest.mark.parametrize(
    ("text", "now", "ok", "detail"),
    [
        # over ok/error the failed sample counts in (ok = 0)
        ("mean(api.ok) >= 0.6 over 10s", 100, True, ""),
        ("mean(api.ok) >= 0.9 over 10s", 100, False, "0.666667 violates >= 0.9"),
        ("max(api.error) == 0 over 10s", 100, False, "1 violates == 0"),
        # over any other metric it fails the condition, whatever its value would be
        ("max(api.lat) < 1000 over 10s", 100, False, "1 of 3 samples in the window failed"),
        ("mean(api.score) > 0.5 over 10s", 100, False, "1 of 3 samples in the window failed"),
        # the window no longer holds it
        ("max(api.lat) < 1000 over 1.5s", 100, True, ""),
        # the latest sample alone is judged
        ("api.lat < 1000", 100, True, ""),
        # a window with samples but no successful one, whatever the metric
        ("max(api.ok) >= 0 over 1s", 98.5, False, "no successful sample in the window (1 failed)"),
        ("api.lat < 1000", 98.5, False, "no successful sample in the window (1 failed)"),
    ],
)
def test_a_failed_sample_is_a_failed_observation(
    text: str, now: float, ok: bool, detail: str
) -> None:
    samples = {k: [p for p in v if p[0] <= now] for k, v in _FAILED_AT_98.items()}
    check = slo(text).evaluate(make_state(samples, now=now))
    assert (check.ok, check.detail) == (ok, detail)


def test_the_latest_sample_failed_so_ok_is_zero() -> None:
    samples = {k: [p for p in v if p[0] <= 98] for k, v in _FAILED_AT_98.items()}
    assert slo("api.ok == 1").evaluate(make_state(samples, now=98.5)).value == 0


def test_a_sample_that_did_not_report_the_metric_fails() -> None:
    state = make_state({"api.error": [(99, 0.0)], "api.lat": [(98, 5.0)]}, now=100)
    check = slo("api.lat < 1000").evaluate(state)
    assert not check.ok and check.detail == "1 of 1 samples did not report 'lat'"


@pytest.mark.parametrize(
    ("text", "window", "minimum"),
    [
        ("p99(api.lat) < 250 over 10s min 1000", 10.0, 1000),
        ("p99(api.lat) < 250 over 10s min 200 samples", 10.0, 200),
        ("mean(api.ok) >= 0.9 over 1m min 1 sample", 60.0, 1),
        ("p99(api.lat) < 250 over 10s", 10.0, None),
    ],
)
def test_parse_min_samples(text: str, window: float, minimum: int | None) -> None:
    c = parse_slo(text)
    assert (c.window_s, c.min_samples) == (window, minimum)
    again = parse_slo(c.to_data() if not c.text else " ".join(text.split()))
    assert again.min_samples == minimum


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p99(api.lat) < 250 over 10s min 0", "min must be >= 1"),
        ("p99(api.lat) < 250 min 100", "cannot parse SLO"),  # min needs a window
        ("p99(api.lat) < 250 over 10s min -3", "cannot parse SLO"),
    ],
)
def test_bad_min_samples(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_slo(text)


def test_too_few_samples_are_unknown_not_a_breach() -> None:
    # 20 samples at 2 per second, one of them slow: their p99 is their maximum
    samples = [(80 + i * 0.5, 900.0 if i == 7 else 10.0) for i in range(20)]
    state = make_state({"api.lat": samples}, now=90)
    noisy = slo("p99(api.lat) < 500 over 10s").evaluate(state)
    assert not noisy.ok and noisy.value is not None and noisy.value > 500  # one slow request
    judged = slo("p99(api.lat) < 500 over 10s min 100").evaluate(state)
    assert not judged.ok and judged.unknown and judged.detail.startswith("no data: 20 samples")
    many = [(i * 0.05, 900.0 if i == 7 else 10.0) for i in range(200)]
    enough = slo("p99(api.lat) < 500 over 10s min 100").evaluate(
        make_state({"api.lat": many}, now=10)
    )
    assert enough.ok and enough.value == 10.0
