"""After ``kill -9`` of the runner *and* its watchdog, the next command undoes the fault.

A real ``aichaos run`` pauses a real process with a long TTL; both aichaos processes are
SIGKILLed together, so nothing would ever resume it. ``aichaos recover``, ``aichaos halt``
and the next ``aichaos run`` each find the orphaned lease and resume the process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _stop, process_state, start_sleeper

pytestmark = pytest.mark.slow


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[str]]:
    proc = start_sleeper("120")
    yield proc
    _stop(proc)


def _exp(tmp_path: Path, pid: int, name: str, duration_s: float) -> Path:
    exp = tmp_path / f"{name}.yaml"
    exp.write_text(f"""
title: {name}
targets:
  w: {{type: process, pid: {pid}}}
method:
  - {{fault: {{type: process-pause}}, target: w, duration_s: {duration_s}}}
phases: {{baseline_s: 0.1, recovery_s: 0.1}}
safety: {{guardrail_interval_s: 0.2, ttl_s: 120}}
""")
    return exp


def _wait(cond: object, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("command", ["recover", "halt", "run"])
def test_the_next_command_undoes_what_a_killed_run_and_watchdog_left(
    tmp_path: Path, sleeper: subprocess.Popen[str], command: str
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    locks = tmp_path / "locks"
    env = {**os.environ, "TMPDIR": str(tmpdir), "AICHAOS_KILL_SWITCH": str(tmp_path / "halt")}
    env["AICHAOS_LOCK_DIR"] = str(locks)
    runner = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", str(_exp(tmp_path, sleeper.pid, "a", 60)),
         "-q", "--journal", str(tmp_path / "a.jsonl")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert _wait(lambda: list(tmpdir.glob("aichaos-leases-*/*.lease")))
        assert process_state(sleeper.pid) == "T"
        owner = json.loads(next(tmpdir.glob("aichaos-leases-*/owner.json")).read_text())
        watchdog = owner["watchdog"][0]
        os.kill(runner.pid, signal.SIGKILL)
        os.kill(watchdog, signal.SIGKILL)
        runner.wait(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
    time.sleep(0.5)
    assert process_state(sleeper.pid) == "T", "nobody is left to resume it"
    assert len(list(locks.glob("*.claim"))) == 1  # the dead run's claim on the process

    args = {
        "recover": ["recover"],
        "halt": ["halt", "--path", str(tmp_path / "halt")],
        "run": ["run", str(_exp(tmp_path, sleeper.pid, "b", 0.3)), "-q",
                "--journal", str(tmp_path / "b.jsonl")],
    }[command]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", *args],
        env={**env, "AICHAOS_KILL_SWITCH": str(tmp_path / "other-halt")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recovered a fault of a dead run ('process-pause'" in proc.stderr, proc.stderr
    assert ": undone" in proc.stderr
    assert process_state(sleeper.pid) != "T"
    assert list(locks.glob("*.claim")) == [], "the dead run's claim is pruned"
    # nothing left to recover
    again = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "recover"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0 and "recovered 0 orphaned fault(s)" in again.stdout
