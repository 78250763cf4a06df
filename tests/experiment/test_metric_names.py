"""``validate`` checks SLO metric names and aggregates before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aichaos.errors import ValidationError
from aichaos.experiment.loader import parse_experiment
from aichaos.experiment.slo import parse_slo
from aichaos.load.quality import QualityWindow
from aichaos.load.stats import WindowStats, window_metric_names

HEAD = """\
title: typos in metric names
targets:
  api: {type: http, url: "http://127.0.0.1:8000"}
workload: {type: http, target: api, rate_rps: 5,
           quality: {json_path: $.prediction, task: classification}}
probes:
  health: {type: http, target: api}
  pid: {type: process, target: me}
  own: {type: python, call: "os:getpid", metrics: [value]}
  free: {type: python, call: "os:getpid"}
method:
  - {fault: {type: python-callable, apply: "os:getpid"}, duration_s: 1}
"""


def _cli(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "aichaos.cli", *args, str(exp)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_names_every_unknown_metric(tmp_path: Path) -> None:
    text = HEAD.replace("  api:", "  me: {type: process, pid: 1}\n  api:") + (
        "steady_state:\n"
        '  - "mean(load.acuracy) >= 0.9 over 5s"\n'
        "  - health.latncy_ms < 200\n"
        "  - helth.ok == 1\n"
        "  - own.valeu > 0\n"
        "  - free.anything > 0\n"  # a python probe that declares nothing: only a run can tell
        "guardrails:\n"
        "  - pid.rss > 0\n"
    )
    proc = _cli(tmp_path, text, "validate")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out, out
    assert "5 problem(s)" in out, out
    expected = {
        "steady_state[0]": "workload 'load' (http) reports no metric 'acuracy' "
        "(did you mean 'accuracy'?)",
        "steady_state[1]": "probe 'health' (http) reports no metric 'latncy_ms' "
        "(did you mean 'latency_ms'?); it reports error, latency_ms, ok, status, timeout",
        "steady_state[2]": "names source 'helth' (did you mean 'health'?), which is no probe",
        "steady_state[3]": "probe 'own' (python) reports no metric 'valeu' (did you mean 'value'?)",
        "guardrails[0]": "probe 'pid' (process) reports no metric 'rss' (did you mean 'rss_mb'?)",
    }
    for where, fragment in expected.items():
        line = next(ln for ln in out.splitlines() if f"- {where} " in ln)
        assert fragment in line, line


def test_metrics_the_probes_do_report_validate() -> None:
    parse_experiment(
        HEAD.replace("  api:", "  me: {type: process, pid: 1}\n  api:")
        + "steady_state: [health.ok == 1, health.error == 0, own.value > 0, pid.alive == 1,"
        " 'p99(load.p99_ms) < 9 over 2s', load.errors_5xx == 0, load.accuracy > 0.5]\n"
    )


def test_every_window_figure_is_a_known_name() -> None:
    w = WindowStats(
        duration_s=1.0,
        sent=3,
        completed=3,
        quality=QualityWindow(responses=3, labelled=3, correct=2, compared=3, agreed=2),
        inflight_us=[1000],
    )
    assert set(w.metrics()) <= window_metric_names(quality=True)
    w.quality = QualityWindow(regression=True, responses=1, labelled=1, abs_error_sum=0.5)
    assert set(w.metrics()) <= window_metric_names(quality=True)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "avg(api.latency_ms) < 3",
            "unknown aggregate 'avg' in SLO 'avg(api.latency_ms) < 3' "
            "(did you mean 'mean'?); accepted: last, mean, min, max, sum, count, pNN",
        ),
        (
            "median(api.latency_ms) < 3",
            "unknown aggregate 'median' in SLO 'median(api.latency_ms) < 3' (did you mean 'p50'?)",
        ),
        ("mena(api.latency_ms) < 3", "(did you mean 'mean'?)"),
        ("api.latency_ms <", "aggregates: last, mean, min, max, sum, count, pNN"),
    ],
)
def test_an_unknown_aggregate_lists_the_accepted_ones(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_slo(text)
    assert fragment in str(info.value)


def test_schema_lists_the_aggregates(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "schema"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    described = json.loads(proc.stdout)["$defs"]["SLO"]["description"]
    assert "aggregates: last, mean, min, max, sum, count, pNN (p50, p90, p99, p99.9)" in described
    assert parse_slo("p99.9(api.latency_ms) < 3").agg == "p99.9"
