"""Every file in examples/ validates, and the quick demo runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aichaos.experiment.loader import load_experiment

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "example-token")
    assert load_experiment(path).experiment.title


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "demo", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # each bundled experiment states its predicted verdict; the run must match it
    assert "A paused API trips the guardrail" in proc.stderr
    summaries = sorted(tmp_path.glob("*.summary.json"))
    import json

    verdicts = {
        json.loads(p.read_text())["title"]: json.loads(p.read_text())["status"] for p in summaries
    }
    assert verdicts == {
        "A paused API trips the guardrail": "aborted",
        "A paused background worker does not hurt the API": "passed",
    }
