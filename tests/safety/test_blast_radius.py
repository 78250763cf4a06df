"""A process fault never hits aichaos's own processes, PID 1 or other users' processes.

Driven through the real ``aichaos run`` (and ``--dry-run``): the pattern deliberately
matches the run's own watchdog, which must keep running while the worker is paused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aichaos.engine.journal import read_journal
from tests.conftest import _stop, process_state

pytestmark = pytest.mark.slow


@pytest.fixture
def tag() -> str:
    return f"i19w{uuid.uuid4().hex[:8]}"


def _spawn(*argv: str, **kw: object) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(list(argv), **kw)  # type: ignore[call-overload]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            if argv[-1].encode() in f.read():
                return proc  # type: ignore[no-any-return]
        time.sleep(0.01)
    raise AssertionError("process did not exec")


@pytest.fixture
def worker(tag: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = _spawn(sys.executable, "-c", "import time; time.sleep(120)", f"{tag}-worker")
    yield proc
    _stop(proc)  # type: ignore[arg-type]


def _exp(tmp_path: Path, target: str, duration_s: float = 1.5) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(f"""
title: pause workers
targets:
  w: {target}
probes:
  alive: {{type: process, target: w, every_s: 0.2}}
steady_state: ['alive.count >= 0']
method:
  - name: pause
    fault: {{type: process-pause}}
    target: w
    start_s: 0.2
    duration_s: {duration_s}
phases: {{baseline_s: 0.5, recovery_s: 0.3}}
safety: {{guardrail_interval_s: 0.2, ttl_s: 3}}
""")
    return p


def _aichaos(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_pause_spares_the_runs_own_watchdog(
    tmp_path: Path, tag: str, worker: subprocess.Popen[bytes]
) -> None:
    # the lease directory (in the runner's TMPDIR) carries the tag into the watchdog's
    # command line, so the pattern hits this run's watchdog and nobody else's
    tmpdir = tmp_path / f"{tag}-tmp"
    tmpdir.mkdir()
    exp = _exp(tmp_path, f'{{type: process, match: "{tag}-(worker|tmp/aichaos-leases)"}}')
    journal = tmp_path / "run.jsonl"
    env = {"TMPDIR": str(tmpdir), "AICHAOS_KILL_SWITCH": str(tmp_path / "halt")}
    run = _aichaos("run", str(exp), "--journal", str(journal), "-q", env=env)
    watchdog_states: list[str] = []
    worker_paused = False
    deadline = time.monotonic() + 30
    while run.poll() is None and time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmd = (entry / "cmdline").read_bytes()
                    if b"aichaos.engine.watchdog" in cmd and tag.encode() in cmd:
                        watchdog_states.append(process_state(int(entry.name)))
                except OSError:
                    continue
        worker_paused |= process_state(worker.pid) == "T"
        time.sleep(0.05)
    out, err = run.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert run.returncode == 0, (out, err)
    assert worker_paused, "the worker was never paused"
    assert watchdog_states and "T" not in watchdog_states, watchdog_states
    applied = next(e for e in read_journal(journal) if e["event"] == "fault-applied")
    assert applied["fault"]["pids"] == [worker.pid]
    assert process_state(worker.pid) != "T"


def test_dry_run_lists_hit_and_excluded_pids(
    tmp_path: Path, tag: str, worker: subprocess.Popen[bytes]
) -> None:
    leases = tmp_path / f"{tag}-leases"
    leases.mkdir()
    # another experiment's watchdog (its parent is this test), matched by the pattern
    dog = _spawn(
        sys.executable, "-m", "aichaos.engine.watchdog", str(leases), "--parent", str(os.getpid())
    )
    try:
        exp = _exp(tmp_path, f'{{type: process, match: "{tag}"}}')
        proc = _aichaos("run", str(exp), "--dry-run")
        out, err = proc.communicate(timeout=30)
    finally:
        leases.rmdir()  # the watchdog exits when its directory is gone
        _stop(dog)  # type: ignore[arg-type]
    assert proc.returncode == 0, err
    pids = json.loads(out)["steps"][0]["pids"]
    assert pids["pids"] == [worker.pid]
    assert pids["excluded"] == {str(dog.pid): "aichaos watchdog"}


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("{type: process, pid: 1}", "PID 1 (set allow_pid1: true"),
        ("{type: process, pid: PID_OTHER}", "owned by uid 65534"),
    ],
)
def test_pid1_and_other_users_are_refused(tmp_path: Path, target: str, fragment: str) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to start a process as another user")
    other = _spawn("sleep", "61", user=65534)
    try:
        exp = _exp(tmp_path, target.replace("PID_OTHER", str(other.pid)))
        run = _aichaos(
            "run", str(exp), "--journal", str(tmp_path / "j.jsonl"), "-q",
            env={"AICHAOS_KILL_SWITCH": str(tmp_path / "halt")},
        )  # fmt: skip
        out, err = run.communicate(timeout=30)
        assert "Traceback" not in err, err
        assert run.returncode != 0
        assert fragment in out + err
        assert process_state(other.pid) != "T"
        assert process_state(1) != "T"
        allowed = target.replace("}", ", allow_other_users: true, allow_pid1: true}")
        if "PID_OTHER" in target:
            exp = _exp(tmp_path, allowed.replace("PID_OTHER", str(other.pid)), duration_s=0.5)
            run = _aichaos("run", str(exp), "--journal", str(tmp_path / "k.jsonl"), "-q",
                           env={"AICHAOS_KILL_SWITCH": str(tmp_path / "halt")})  # fmt: skip
            out, err = run.communicate(timeout=30)
            assert run.returncode == 0, (out, err)
    finally:
        _stop(other)  # type: ignore[arg-type]
