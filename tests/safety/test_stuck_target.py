"""A stuck target cannot stop rollback: every revert and rollback has a timeout, the other
faults are still reverted, the run ends, and the journal says what could not be undone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aichaos.engine.journal import read_journal
from tests.conftest import _stop, process_state

pytestmark = pytest.mark.slow

M = "tests.safety.stuck"
IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def test_hanging_revert_and_rollback_do_not_stop_the_rest(tmp_path: Path) -> None:
    stubborn = subprocess.Popen([sys.executable, "-c", IGNORES_TERM])
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"""
title: stuck target
seed: 1
targets:
  stubborn: {{type: process, pid: {stubborn.pid}}}
method:
  - name: stuck-dependency
    fault: {{type: python-callable, apply: "{M}:nothing", revert: "{M}:hang"}}
    duration_s: 0.3
  - name: pause-stubborn
    fault: {{type: process-pause}}
    target: stubborn
    duration_s: 0.3
rollbacks:
  - {{type: python, call: "{M}:hang_async"}}
  - {{type: python, call: "{M}:nothing"}}
phases: {{baseline_s: 0.1, recovery_s: 0.1}}
safety: {{guardrail_interval_s: 0.1, ttl_s: 5, timeouts: {{revert_s: 0.5, rollback_s: 0.5}}}}
"""
    )
    journal = tmp_path / "run.jsonl"
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal), "-q"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        took = time.monotonic() - t0
        assert process_state(stubborn.pid) != "T", "the pause was not reverted"
    finally:
        stubborn.kill()
        _stop(stubborn)
    events = list(read_journal(journal))
    assert proc.returncode == 5, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    # the run ended promptly: nothing waited for the stuck callables
    assert took < 10, f"the run took {took:.1f}s to exit"
    failed = [e for e in events if e["event"] == "fault-revert-failed"]
    assert [e["step"] for e in failed] == ["stuck-dependency"]
    assert failed[0]["error"] == "timed out after 0.5s"
    reverted = [e["step"] for e in events if e["event"] == "fault-reverted"]
    assert reverted == ["pause-stubborn"]
    rollbacks = [e for e in events if e["event"] == "rollback"]
    assert [(r["index"], r["ok"]) for r in rollbacks] == [(0, False), (1, True)]
    assert rollbacks[0]["error"] == "timed out after 0.5s"
    summary = json.loads(journal.with_name("run.summary.json").read_text())
    assert summary["status"] == "error"
    assert summary["revert_failures"] == ["stuck-dependency: timed out after 0.5s"]
    assert "could not be reverted" in summary["reason"]
