"""SLOs over per-request distributions (``p99(load.ttft_ms)``): percentiles of requests."""

from __future__ import annotations

import pytest

from aichaos.errors import ValidationError
from aichaos.experiment.loader import parse_experiment
from aichaos.experiment.metrics import MetricStore
from aichaos.experiment.slo import parse_slo
from aichaos.experiment.state import ExperimentState, Phase
from aichaos.load.histogram import LatencyHistogram


def _hist(*ms: float) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in ms:
        h.record_s(v / 1000)
    return h


def _state(samples: list[tuple[float, LatencyHistogram]], now: float = 10.0) -> ExperimentState:
    store = MetricStore()
    for t, h in samples:
        store.add(t, "load", {"ttft_ms": h, "sent": 1.0})
    return ExperimentState(
        phase=Phase.INJECTING, now=now, started=0.0, phase_started=0.0, store=store
    )


def test_a_percentile_is_over_the_requests_of_the_window_not_over_windows() -> None:
    # 98 fast requests in one window, 2 slow ones in another: p99 of windows' values
    # would be dominated by the slow window; over requests it is the 99th request
    state = _state([(8.0, _hist(*[100.0] * 98)), (9.0, _hist(900.0, 900.0))])
    check = parse_slo("p99(load.ttft_ms) < 800 over 5s").evaluate(state)
    assert not check.ok and check.value == pytest.approx(900, rel=0.002), check
    assert "(100 requests)" in check.detail
    check = parse_slo("p97(load.ttft_ms) < 800 over 5s").evaluate(state)
    assert check.ok and check.value == pytest.approx(100, rel=0.002)
    assert parse_slo("count(load.ttft_ms) == 100 over 5s").evaluate(state).ok
    assert parse_slo("max(load.ttft_ms) > 899 over 5s").evaluate(state).ok
    assert parse_slo("min(load.ttft_ms) < 101 over 5s").evaluate(state).ok
    assert parse_slo("mean(load.ttft_ms) < 117 over 5s").evaluate(state).ok
    # the window is the SLO's: the slow requests 1 s ago only
    assert parse_slo("p50(load.ttft_ms) > 800 over 1.5s").evaluate(state).ok


def test_min_counts_requests_and_an_empty_window_is_no_data() -> None:
    state = _state([(9.0, _hist(10.0, 10.0, 10.0))])
    check = parse_slo("p99(load.ttft_ms) < 800 over 5s min 4").evaluate(state)
    assert not check.ok and check.unknown and "3 requests in the window, min 4" in check.detail
    assert parse_slo("p99(load.ttft_ms) < 800 over 5s min 3").evaluate(state).ok
    check = parse_slo("p99(load.ttft_ms) < 800 over 5s").evaluate(_state([(9.0, _hist())]))
    assert not check.ok and check.unknown
    check = parse_slo("p99(load.ttft_ms) < 800 over 0.5s").evaluate(state)
    assert not check.ok and check.unknown  # the samples are older than the window


def test_observed_needs_enough_requests_in_one_window() -> None:
    cond = parse_slo("p99(load.ttft_ms) < 800 over 2s min 5")
    state = _state([(1.0, _hist(1, 1, 1)), (5.0, _hist(1, 1)), (6.0, _hist(1, 1, 1))])
    assert cond.observed(state.store, 0.0, 10.0)  # t=5 and t=6 hold 5 within 2 s
    assert not cond.observed(state.store, 0.0, 5.5)


def test_last_and_sum_do_not_apply_to_a_distribution() -> None:
    state = _state([(9.0, _hist(10.0))])
    check = parse_slo("load.ttft_ms < 800").evaluate(state)
    assert not check.ok and "per-request distribution: 'last' does not apply" in check.detail


HEAD = """\
title: streaming SLOs
targets:
  api: {type: http, url: "http://127.0.0.1:8000"}
method:
  - {fault: {type: python-callable, apply: "os:getpid"}, duration_s: 1}
"""


def _exp(workload: str, *slos: str) -> str:
    lines = "".join(f"  - {s!r}\n" for s in slos)
    return (
        HEAD
        + f"workload: {{type: http, target: api, rate_rps: 5{workload}}}\n"
        + (f"steady_state:\n{lines}")
    )


def test_streaming_slos_validate() -> None:
    parse_experiment(
        _exp(
            ", goodput: {ttft_ms: 800, tpot_ms: 60}",
            "p99(load.ttft_ms) < 800 over 10s min 100",
            "p90(load.itl_ms) < 60",
            "mean(load.tpot_ms) < 50",
            "p99(load.e2e_ms) < 5000",
            "load.incomplete_stream_rate < 0.01",
            "sum(load.output_tokens) > 100 over 10s",
            "load.goodput_rps > 10",
        )
    )


@pytest.mark.parametrize(
    ("workload", "slo", "fragment"),
    [
        ("", "load.goodput_rps > 1", "goodput is reported only with a goodput setting"),
        ("", "load.ttft_ms < 800", "per-request distribution: 'last' does not apply"),
        ("", "sum(load.itl_ms) < 800", "'sum' does not apply; use mean, min, max, count, pNN"),
        (", goodput: {ttft_ms: 800, tpot_msec: 5}", "", "tpot_msec"),
        (", goodput: {ttft_ms: -5}", "", "workload.goodput.ttft_ms (line 6): must be > 0, got -5"),
        (", goodput: {ttft_ms: 0}", "", "workload.goodput.ttft_ms (line 6): must be > 0, got 0"),
        (", goodput: {}", "", "give at least one of ttft_ms, tpot_ms, e2e_ms"),
        (", goodput: {e2e_ms: fast}", "", "e2e_ms"),
        (", goodput: 800", "", "goodput"),
    ],
)
def test_bad_streaming_settings_are_named(workload: str, slo: str, fragment: str) -> None:
    slos = (slo,) if slo else ("load.error_rate < 0.01",)
    with pytest.raises(ValidationError) as info:
        parse_experiment(_exp(workload, *slos))
    assert fragment in str(info.value), str(info.value)
