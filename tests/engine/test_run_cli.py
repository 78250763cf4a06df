"""``aichaos run`` end to end: a real HTTP service, a real paused process, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aichaos.engine.journal import read_journal, summary_path
from tests.conftest import Server, process_state, wait_state

pytestmark = pytest.mark.slow


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def experiment(
    server: Server,
    victim_pid: int,
    *,
    guard: str = "",
    path: str = "/health",
    duration_s: float = 2.0,
    steady: str = "health.ok == 1",
) -> str:
    guardrails = f"guardrails: ['{guard}']\n" if guard else ""
    return f"""
title: pause the service
seed: 3
targets:
  api: {{type: http, url: "{server.url}"}}
  victim: {{type: process, pid: {victim_pid}}}
probes:
  health: {{type: http, target: api, path: {path}, every_s: 0.2, timeout_s: 0.4}}
steady_state: ['{steady}']
{guardrails}method:
  - name: pause
    fault: {{type: process-pause}}
    target: victim
    start_s: 0.3
    duration_s: {duration_s}
phases: {{baseline_s: 0.8, recovery_s: 0.8}}
safety: {{guardrail_interval_s: 0.2, ttl_s: 2}}
"""


def run(
    tmp_path: Path, exp: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, list[dict], dict]:
    journal = tmp_path / "run.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    events = list(read_journal(journal))
    summary = json.loads(summary_path(journal).read_text())
    return proc.returncode, events, summary


@pytest.fixture(autouse=True)
def kill_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "halt"
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(path))
    return path


def test_passed(tmp_path: Path, http_server: Server, sleeper: subprocess.Popen[str]) -> None:
    code, events, summary = run(tmp_path, write(tmp_path, experiment(http_server, sleeper.pid)))
    assert (code, summary["status"]) == (0, "passed")
    assert process_state(sleeper.pid) != "T"
    applied = next(e for e in events if e["event"] == "fault-applied")
    assert applied["fault"]["pids"] == [sleeper.pid]


def test_deviated(tmp_path: Path, http_server: Server) -> None:
    code, events, summary = run(tmp_path, write(tmp_path, experiment(http_server, http_server.pid)))
    assert (code, summary["status"]) == (1, "deviated"), summary
    assert process_state(http_server.pid) != "T"
    assert any(e["event"] == "steady-state" and not e["ok"] for e in events)


def test_aborted_by_guardrail(tmp_path: Path, http_server: Server) -> None:
    exp = experiment(
        http_server,
        http_server.pid,
        guard="health.ok == 1",
        duration_s=10,
        steady="health.latency_ms < 1000",
    )
    started = time.monotonic()
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert (code, summary["status"]) == (3, "aborted"), summary
    assert "guardrail breached" in summary["reason"]
    assert time.monotonic() - started < 8, "the 10 s fault was cut short"
    assert process_state(http_server.pid) != "T"
    assert [e["event"] for e in events].count("fault-reverted") == 1


def test_failed_baseline(
    tmp_path: Path, http_server: Server, sleeper: subprocess.Popen[str]
) -> None:
    exp = experiment(http_server, sleeper.pid, path="/fail")
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert (code, summary["status"]) == (4, "failed-baseline")
    assert not any(e["event"] == "fault-applied" for e in events)
    assert process_state(sleeper.pid) != "T"


def test_dry_run_touches_nothing(
    tmp_path: Path, http_server: Server, sleeper: subprocess.Popen[str]
) -> None:
    exp = write(tmp_path, experiment(http_server, sleeper.pid))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aichaos.cli",
            "run",
            str(exp),
            "--dry-run",
            "--journal",
            str(tmp_path / "j.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["steps"][0]["starts_at_s"] == pytest.approx(1.1)
    assert plan["targets"]["victim"] == f"process pid={sleeper.pid}"
    assert not (tmp_path / "j.jsonl").exists()
    assert process_state(sleeper.pid) != "T"


def _start(tmp_path: Path, exp: Path) -> tuple[subprocess.Popen[str], Path]:
    journal = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, journal


def _wait_for_event(journal: Path, kind: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if journal.exists() and any(e["event"] == kind for e in read_journal(journal)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {kind!r} event within {timeout_s}s")


@pytest.mark.parametrize(
    "signals", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]]
)
def test_signal_mid_injection_reverts_and_aborts(
    tmp_path: Path,
    http_server: Server,
    sleeper: subprocess.Popen[str],
    signals: list[signal.Signals],
) -> None:
    exp = write(tmp_path, experiment(http_server, sleeper.pid, duration_s=30))
    proc, journal = _start(tmp_path, exp)
    _wait_for_event(journal, "fault-applied")
    assert wait_state(sleeper.pid, stopped=True)
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.02)
    _out, err = proc.communicate(timeout=20)
    assert "Traceback" not in err, err
    assert proc.returncode == 3
    assert process_state(sleeper.pid) != "T"
    events = list(read_journal(journal))
    assert events[-1]["status"] == "aborted"
    assert f"received {signals[0].name}" in events[-1]["reason"]
    assert "fault-reverted" in [e["event"] for e in events]


def test_halt_command_aborts_a_running_experiment(
    tmp_path: Path, http_server: Server, sleeper: subprocess.Popen[str], kill_switch: Path
) -> None:
    exp = write(tmp_path, experiment(http_server, sleeper.pid, duration_s=30))
    proc, journal = _start(tmp_path, exp)
    _wait_for_event(journal, "fault-applied")
    subprocess.run([sys.executable, "-m", "aichaos.cli", "halt"], check=True, capture_output=True)
    assert kill_switch.exists()
    proc.communicate(timeout=20)
    assert proc.returncode == 3
    assert process_state(sleeper.pid) != "T"
    subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "halt", "--clear"], check=True, capture_output=True
    )
    assert not kill_switch.exists()


def test_sigkill_of_the_runner_is_undone_by_ttl(
    tmp_path: Path, http_server: Server, sleeper: subprocess.Popen[str]
) -> None:
    exp = write(tmp_path, experiment(http_server, sleeper.pid, duration_s=30))
    proc, journal = _start(tmp_path, exp)
    _wait_for_event(journal, "fault-applied")
    assert wait_state(sleeper.pid, stopped=True)
    proc.kill()
    proc.communicate(timeout=5)
    killed = time.monotonic()
    while process_state(sleeper.pid) == "T" and time.monotonic() - killed < 6:
        time.sleep(0.05)
    resumed_after = time.monotonic() - killed
    assert process_state(sleeper.pid) != "T"
    assert resumed_after <= 2 + 1, f"resumed {resumed_after:.2f}s after SIGKILL (ttl 2 s)"
    # the journal is valid JSON lines up to the kill
    events = list(read_journal(journal))
    assert events[0]["event"] == "run-started" and events[-1]["event"] != "run-ended"


def test_workload_runs_through_every_phase(tmp_path: Path, http_server: Server) -> None:
    """The load generator is the experiment's workload: one continuous time series, and
    pausing the service shows up in its p99 (measured from the intended send time)."""
    exp = f"""
title: pause under load
seed: 5
targets:
  api: {{type: http, url: "{http_server.url}"}}
  server: {{type: process, pid: {http_server.pid}}}
workload: {{type: http, target: api, path: /health, rate_rps: 50, timeout_ms: 3000, window_s: 0.5}}
steady_state: ["load.p99_ms < 200", "load.error_rate < 0.01"]
method:
  - fault: {{type: process-pause}}
    target: server
    start_s: 0.5
    duration_s: 1.0
phases: {{baseline_s: 1.5, recovery_s: 1.5}}
safety: {{guardrail_interval_s: 0.25, ttl_s: 3}}
"""
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert (code, summary["status"]) == (1, "deviated"), summary
    samples = [e for e in events if e["event"] == "sample" and e["source"] == "load"]
    phases = {e["phase"] for e in samples}
    assert {"baseline", "injecting", "recovering"} <= phases
    worst = max(e["values"]["p99_ms"] for e in samples if e["phase"] == "injecting")
    assert worst >= 500, f"a 1 s pause must show in p99, got {worst} ms"
    assert sum(e["values"]["sent"] for e in samples) >= 50 * 3.5 * 0.9
    assert process_state(http_server.pid) != "T"
