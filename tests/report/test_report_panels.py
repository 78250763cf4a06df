"""Which panel a series lands in: streamed-answer and LLM-answer figures get their own."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from aichaos.report.model import RunReport
from aichaos.report.plots import panels_for


def _run(series: list[str], steady_state: list[str] | None = None) -> RunReport:
    fake: Any = SimpleNamespace(
        series={key: [(0.0, 1.0)] for key in series},
        steady_state=steady_state or [],
        guardrail_specs=[],
        steady=[],
        guardrail_events=[],
    )
    return cast(RunReport, fake)


def test_streaming_and_llm_answer_series_get_their_own_panels() -> None:
    keys = [
        "load.p99_ms",
        "load.ttft_p50_ms",
        "load.ttft_p99_ms",
        "load.itl_p99_ms",
        "load.tpot_p90_ms",
        "load.goodput_rps",
        "load.rate_rps",
        "load.groundedness",
        "load.fallback_rate",
        "load.answer_accuracy",
        "load.tool_call_valid_rate",
        "load.error_rate",
    ]
    panels = {p.title: p.keys for p in panels_for(_run(keys))}
    assert panels["time to first token (ms)"] == ["load.ttft_p50_ms", "load.ttft_p99_ms"]
    assert panels["between tokens (ms)"] == ["load.itl_p99_ms", "load.tpot_p90_ms"]
    assert panels["latency (ms)"] == ["load.p99_ms"]
    assert panels["throughput (req/s)"] == ["load.goodput_rps", "load.rate_rps"]
    assert panels["LLM answers"] == [
        "load.answer_accuracy",
        "load.fallback_rate",
        "load.groundedness",
        "load.tool_call_valid_rate",
    ]
    assert panels["errors: load"] == ["load.error_rate"]


def test_a_series_a_condition_names_is_not_drawn_twice() -> None:
    panels = panels_for(
        _run(["load.groundedness", "load.fallback_rate"], ["load.groundedness >= 0.9"])
    )
    assert [(p.title, p.keys) for p in panels] == [
        ("load.groundedness", ["load.groundedness"]),
        ("LLM answers", ["load.fallback_rate"]),
    ]
