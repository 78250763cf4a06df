"""Overlapping faults on one resource: the second is refused, the resource ends intact.

Two real ``aichaos run`` processes on one file and on one process; two disk fills whose
floor checks would both pass before either allocates.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aichaos.errors import SafetyError
from aichaos.faults.base import InjectionContext
from aichaos.resource.disk import DiskFill
from aichaos.resource.safety import disk_usage
from tests.conftest import process_state

pytestmark = pytest.mark.slow


def _exp(tmp_path: Path, name: str, fault: str, target: str = "", duration_s: float = 3) -> Path:
    p = tmp_path / f"{name}.yaml"
    targets = f"targets:\n  w: {target}\n" if target else ""
    p.write_text(f"""
title: {name}
{targets}method:
  - name: {name}
    fault: {fault}
{"    target: w" if target else ""}
    duration_s: {duration_s}
phases: {{baseline_s: 0.1, recovery_s: 0.1}}
safety: {{guardrail_interval_s: 0.2, ttl_s: 3}}
""")
    return p


def _run(tmp_path: Path, exp: Path) -> subprocess.Popen[str]:
    journal = str(tmp_path / f"{exp.stem}.jsonl")
    return subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "-q", "--journal", journal],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AICHAOS_KILL_SWITCH": str(tmp_path / "halt")},
    )


def _wait_for(cond: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_second_file_truncate_is_refused_and_the_file_survives(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x,y\n" + "".join(f"{i},{i * 2}\n" for i in range(2000)))
    original = hashlib.sha256(data.read_bytes()).hexdigest()
    size = data.stat().st_size
    fault = f'{{type: file-truncate, path: "{data}"}}'
    first = _run(tmp_path, _exp(tmp_path, "first", fault))
    _wait_for(lambda: data.exists() and data.stat().st_size < size)
    second = _run(tmp_path, _exp(tmp_path, "second", fault, duration_s=1))
    out2, err2 = second.communicate(timeout=60)
    out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, (out1, err1)
    assert second.returncode != 0, (out2, err2)
    assert "already under a fault" in out2 + err2
    assert "Traceback" not in err2
    assert hashlib.sha256(data.read_bytes()).hexdigest() == original


def test_second_pause_is_refused_and_never_lifts_the_first(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        target = f"{{type: process, pid: {sleeper.pid}}}"
        first = _run(tmp_path, _exp(tmp_path, "first", "{type: process-pause}", target, 4))
        _wait_for(lambda: process_state(sleeper.pid) == "T")
        second = _run(tmp_path, _exp(tmp_path, "second", "{type: process-pause}", target, 1))
        out2, err2 = second.communicate(timeout=60)
        # the first run's pause still holds after the second one ended
        assert first.poll() is None and process_state(sleeper.pid) == "T"
        out1, err1 = first.communicate(timeout=60)
        assert first.returncode == 0, (out1, err1)
        assert second.returncode != 0, (out2, err2)
        assert "already under a fault" in out2 + err2
        assert process_state(sleeper.pid) != "T"
    finally:
        os.kill(sleeper.pid, 18)  # SIGCONT
        sleeper.kill()
        sleeper.wait()


async def test_two_disk_fills_never_breach_the_floor_together(tmp_path: Path) -> None:
    total, free = disk_usage(tmp_path)
    size_mb = 512
    # a floor with room for one fill and a half: each check alone passes, both cannot
    floor_fraction = (free - 1.5 * size_mb * 2**20) / total
    fault = DiskFill(directory=str(tmp_path), size_mb=size_mb, floor_fraction=floor_fraction)
    injections = [
        fault.injection(InjectionContext(target=None, rng=random.Random(i))) for i in range(2)
    ]
    results = await asyncio.gather(*(i.apply() for i in injections), return_exceptions=True)
    try:
        refused = [r for r in results if isinstance(r, SafetyError)]
        assert len(refused) == 1, results
        assert "below the floor" in str(refused[0])
        assert disk_usage(tmp_path)[1] >= total * floor_fraction
    finally:
        for inj in injections:
            await inj.revert()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".aichaos-fill-")]
