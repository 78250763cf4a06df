"""The timeline plots what the conditions judge: the real engine writes, the CLI renders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aichaos.experiment.model import Experiment
from tests.engine.test_engine import run
from tests.report import lag_system

M = "tests.report.lag_system"


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lag_system.reset()
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))


@pytest.mark.slow
def test_every_condition_metric_is_plotted_with_threshold_and_breaches(tmp_path: Path) -> None:
    exp = Experiment.model_validate(
        {
            "title": "registry lag",
            "seed": 1,
            "probes": {
                "versions": {"type": "python", "call": f"{M}:probe", "every_s": 0.5},
                "api": {"type": "python", "call": f"{M}:probe", "every_s": 0.5},
            },
            "steady_state": ["versions.lag < 5"],
            "guardrails": ["versions.lag < 100"],
            "method": [
                {
                    "name": "stall",
                    "fault": {
                        "type": "python-callable",
                        "apply": f"{M}:stall",
                        "revert": f"{M}:resume",
                    },
                    "start_s": 1,
                    "duration_s": 3,
                }
            ],
            "phases": {"baseline_s": 2, "recovery_s": 2},
            "safety": {"guardrail_interval_s": 0.5},
        }
    )
    journal = tmp_path / "lag.jsonl"
    assert run(exp, journal)[0].status == "deviated"
    html = tmp_path / "r.html"
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "report", str(journal), "--html", str(html)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    svg = html.read_text()
    # a python probe's metric that no built-in panel knows, its thresholds, its breaches
    assert ">versions.lag<" in svg
    assert "steady state: versions.lag &lt; 5" in svg and "guardrail: versions.lag &lt; 100" in svg
    assert "condition broke" in svg and "condition held" in svg
    # every series drawn: eight percentiles per source, two sources
    for q in lag_system.QUANTILES:
        assert f"versions.p{q}_ms" in svg and f"api.p{q}_ms" in svg
    # error rates per source, not one mixed panel
    assert "errors: versions" in svg and "errors: api" in svg
