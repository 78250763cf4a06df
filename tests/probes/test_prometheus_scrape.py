"""The prometheus probe against a real FastAPI app, driven by the real ``aichaos run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aichaos.engine.journal import read_journal
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def fastapi_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.probes.fastapi_metrics"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        yield json.loads(proc.stdout.readline())["url"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stdin):
            if pipe is not None:
                pipe.close()


def test_mounted_metrics_are_scraped_and_a_failed_scrape_is_an_error(
    tmp_path: Path, fastapi_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: scrape a FastAPI app
targets:
  api: {{type: http, url: "{fastapi_url}"}}
probes:
  acc: {{type: prometheus, target: api, metric: model_accuracy, every_s: 0.2}}
  down: {{type: prometheus, target: api, path: /broken/, metric: x, every_s: 0.2}}
steady_state: ['acc.value >= 0.9']
method:
  - {{name: idle, fault: {{type: python-callable, apply: "os:getpid"}},
      duration_s: 0.2}}
phases: {{baseline_s: 0.3, recovery_s: 0.3}}
""")
    journal = tmp_path / "run.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    events = list(read_journal(journal))
    acc = [e["values"] for e in events if e["event"] == "sample" and e["source"] == "acc"]
    # the 307 of the mounted app was followed: every scrape found the gauge
    assert acc and all(v["value"] == pytest.approx(0.93) and v["error"] == 0 for v in acc)
    down = [e["values"] for e in events if e["event"] == "sample" and e["source"] == "down"]
    assert down and all(v["error"] == 1 for v in down), down
    reasons = [e["error"] for e in events if e["event"] == "probe-error"]
    assert reasons and all("answered 500" in r for r in reasons), reasons
    assert (proc.returncode, events[-1]["status"]) == (0, "passed"), proc.stderr
