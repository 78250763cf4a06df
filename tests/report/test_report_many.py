"""``aichaos report DIR/*.jsonl``: every readable journal rendered, the others marked."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.engine import system
from tests.engine.test_engine import experiment, run


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system.reset()
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "report", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _killed_copy(journal: Path, dest: Path) -> Path:
    """The journal as SIGKILL leaves it: the fault applied, no revert, no run-ended."""
    lines = journal.read_bytes().split(b"\n")
    applied = next(i for i, ln in enumerate(lines) if b'"fault-applied"' in ln)
    dest.write_bytes(b"\n".join(lines[: applied + 2]) + b"\n")
    return dest


@pytest.mark.slow
def test_every_readable_journal_is_rendered_and_the_others_marked(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    assert run(experiment(title="holds"), runs / "a-passed.jsonl")[0].status == "passed"
    _killed_copy(runs / "a-passed.jsonl", runs / "b-killed.jsonl")
    (runs / "c-empty.jsonl").write_bytes(b"")
    (runs / "d-notes.jsonl").write_text("these are my notes\n")
    files = sorted(str(p) for p in runs.glob("*.jsonl"))
    html, md, xml = tmp_path / "r.html", tmp_path / "r.md", tmp_path / "r.xml"

    proc = _report(*files, "--html", str(html), "--markdown", str(md), "--junit", str(xml))

    assert proc.returncode == 0, proc.stderr
    assert "d-notes.jsonl" in proc.stderr and "line 1 is not JSON" in proc.stderr
    page = html.read_text()
    assert page.count('<section class="run"') == 3  # passed, killed, empty
    assert "incomplete journal" in page and "empty journal" in page
    assert "left out (not journals)" in page and "d-notes.jsonl" in page
    text = md.read_text()
    assert "| holds | ✅ passed |" in text and "c-empty.jsonl` (empty)" in text
    assert "b-killed.jsonl`" in text.split("Incomplete journals")[1]
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("errors")) == ("3", "2")


def test_no_journal_holding_a_run_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "notes.jsonl").write_text("notes\n")
    proc = _report(str(tmp_path / "empty.jsonl"), str(tmp_path / "notes.jsonl"))
    assert proc.returncode == 2
    assert "no journal holds a run" in proc.stderr and "is empty" in proc.stderr


@pytest.mark.slow
def test_a_killed_run_never_scores_100(tmp_path: Path, http_server: Server) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: killed mid-injection
targets:
  api: {{type: http, url: "{http_server.url}"}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1}}
steady_state: ['health.ok == 1']
method:
  - {{name: idle, fault: {{type: python-callable, apply: "os:getpid"}}, duration_s: 60}}
phases: {{baseline_s: 0.3, recovery_s: 0.3}}
safety: {{guardrail_interval_s: 0.1}}
""")
    journal = tmp_path / "killed.jsonl"
    runner = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", "-q", str(exp), "--journal", str(journal)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        held = 0
        while time.monotonic() < deadline and held < 3:  # checks that held, then the kill
            time.sleep(0.1)
            if journal.exists():
                held = journal.read_text().count('"phase":"injecting","ok":true')
    finally:
        runner.kill()
        runner.wait(timeout=10)
    assert held >= 3, "the run never got to hold its steady state"

    proc = _report(str(journal))

    assert proc.returncode == 0, proc.stderr
    assert "**Resilience score: 0/100**" in proc.stdout, proc.stdout
    assert "a run without a verdict" in proc.stdout and "scores 0" in proc.stdout
    assert "⏸️ incomplete" in proc.stdout
