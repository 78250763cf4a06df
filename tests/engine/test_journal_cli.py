"""One run per journal file, and no journal for a run refused before it starts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aichaos.engine.journal import read_journal, summary_path
from tests.conftest import Server

pytestmark = pytest.mark.slow


def _experiment(
    tmp_path: Path, server: Server, *, duration_s: float = 0.3, extra: str = ""
) -> Path:
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: one short step
targets:
  api: {{type: http, url: "{server.url}"}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1}}
steady_state: ['health.ok == 1']
method:
  - {{name: idle, fault: {{type: python-callable, apply: "os:getpid"}}, duration_s: {duration_s}}}
phases: {{baseline_s: 0.3, recovery_s: 0.3}}
{extra}
""")
    return exp


def _run(exp: Path, journal: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aichaos.cli",
            "run",
            "-q",
            str(exp),
            "--journal",
            str(journal),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(autouse=True)
def kill_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "halt"
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(path))
    return path


def test_a_journal_holding_a_run_is_refused_unless_overwrite(
    tmp_path: Path, http_server: Server
) -> None:
    exp = _experiment(tmp_path, http_server)
    journal = tmp_path / "run.jsonl"
    assert _run(exp, journal).returncode == 0
    before, summary_before = journal.read_bytes(), summary_path(journal).read_bytes()

    again = _run(exp, journal)
    assert again.returncode == 2
    assert "already holds a run" in again.stderr and "--overwrite" in again.stderr
    assert journal.read_bytes() == before  # untouched: never two runs in one file
    assert summary_path(journal).read_bytes() == summary_before

    replaced = _run(exp, journal, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    events = list(read_journal(journal))
    assert [e["event"] for e in events].count("run-started") == 1
    assert events[-1]["event"] == "run-ended"


def test_a_journal_being_written_is_refused_even_with_overwrite(
    tmp_path: Path, http_server: Server
) -> None:
    # the first run outlasts the second's start-up however loaded the machine is
    exp = _experiment(tmp_path, http_server, duration_s=60)
    journal = tmp_path / "run.jsonl"
    first = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", "-q", str(exp), "--journal", str(journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (journal.exists() and journal.stat().st_size):
            time.sleep(0.05)
        second = _run(exp, journal, "--overwrite")
        assert first.poll() is None, "the first run ended before the second tried"
        assert second.returncode == 2
        assert "being written by another run" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        _out, err = first.communicate(timeout=30)
    assert first.returncode == 3, err  # aborted by the SIGINT, its journal its own
    events = list(read_journal(journal))
    assert [e["event"] for e in events].count("run-started") == 1
    assert events[-1]["event"] == "run-ended"


def test_a_run_refused_before_it_starts_leaves_no_journal(
    tmp_path: Path, http_server: Server, kill_switch: Path
) -> None:
    journal = tmp_path / "runs" / "refused.jsonl"
    exp = _experiment(tmp_path, http_server, extra="safety: {allowed_environments: [staging]}")
    wrong_env = _run(exp, journal, "--env", "prod")
    assert wrong_env.returncode == 2 and "staging" in wrong_env.stderr
    assert not journal.exists()

    kill_switch.write_text("halt")
    halted = _run(_experiment(tmp_path, http_server), journal)
    assert halted.returncode == 3 and "kill switch" in halted.stderr
    assert not journal.exists()
    assert not (tmp_path / "runs").exists()
