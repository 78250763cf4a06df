"""``data-corrupt`` from YAML on a real landing folder read by a real polling pipeline.

The pipeline (:mod:`tests.data.landing_pipeline`) is its own process: it validates each
batch and trains on the accepted ones. The tests assert what *it* logged and what the
files hold, not what aichaos says it did.
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
from typing import Any

import pytest

from aichaos.engine.journal import read_journal
from aichaos.faults.swap import sha256
from tests.data.landing_pipeline import make_batch

pytestmark = pytest.mark.slow

#: the pipeline's poll and settle seconds, and how long it runs at most
SPEED = ("0.05", "1.0", "60")


def _land(folder: Path, n: int = 3) -> dict[Path, str]:
    out = {}
    for i in range(n):
        p = folder / f"batch-{i}.parquet"
        make_batch(i).to_parquet(p, index=False)
        os.utime(p, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)
        out[p] = sha256(p)
    return out


@pytest.fixture
def landing(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[Path, str]]]:
    """A landing folder with three clean batches and the pipeline polling it."""
    folder, state = tmp_path / "landing", tmp_path / "state"
    folder.mkdir()
    state.mkdir()
    files = _land(folder)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.data.landing_pipeline", str(folder), str(state), *SPEED]
    )
    deadline = time.monotonic() + 20
    while not (state / "status.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield folder, state, files
    finally:
        proc.terminate()
        proc.wait(10)


def _log(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "log.jsonl").read_text().splitlines()]


def _yaml(tmp_path: Path, state: Path, method: str, steady: str, ttl_s: float = 15) -> Path:
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"""
title: corrupted batches are caught before training
seed: 11
probes:
  pipe:
    type: python
    call: tests.data.landing_pipeline:status
    arguments: {{state_dir: "{state}"}}
    every_s: 0.1
steady_state: ["{steady}"]
phases: {{baseline_s: 1, recovery_s: 1.5}}
safety: {{guardrail_interval_s: 0.1, ttl_s: {ttl_s}}}
method:
{method}
"""
    )
    return exp


def _run(exp: Path, journal: Path, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _wait_for(journal: Path, event: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if journal.exists():
            for e in read_journal(journal):
                if e["event"] == event:
                    return e
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} event within {timeout_s}s")


def test_a_batch_landing_corrupted_is_caught_and_restored(
    tmp_path: Path, landing: tuple[Path, Path, dict[Path, str]]
) -> None:
    folder, state, files = landing
    steady = "pipe.accuracy >= 0.85"
    exp = _yaml(
        tmp_path,
        state,
        """
  - name: flipped-arrivals
    fault:
      type: data-corrupt
      path: "FOLDER"
      pattern: "*.parquet"
      files: arriving
      corruptions: [{name: label-flip, fraction: 0.3, columns: [label]}]
    duration_s: 2.5
""".replace("FOLDER", str(folder)),
        steady,
    )
    journal = tmp_path / "run.jsonl"
    proc = _run(exp, journal)
    _wait_for(journal, "fault-applied")
    staged = folder / ".upload"
    make_batch(9).to_parquet(staged, index=False)
    landed = folder / "batch-9.parquet"
    os.replace(staged, landed)  # upstream lands a batch during the step
    clean = sha256(landed)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)  # passed: the model kept its accuracy

    seen = [e for e in _log(state) if e["file"] == "batch-9.parquet"]
    assert not seen[0]["ok"] and "positive rate" in seen[0]["why"]  # read corrupted, caught
    assert seen[0]["sha"] != clean
    assert seen[-1]["ok"] and seen[-1]["sha"] == clean  # the exact batch after the revert
    assert sha256(landed) == clean and {p: sha256(p) for p in files} == files
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]

    events = list(read_journal(journal))
    (reverted,) = [e for e in events if e["event"] == "fault-reverted"]
    (report,) = reverted["effect"]["files"]
    assert report["file"] == "batch-9.parquet"
    assert 2_500 < report["corruptions"][0]["cells_changed"]["label"] < 3_500
    assert events[-1]["status"] == "passed" and steady in json.dumps(events)


def test_a_ramp_finds_where_validation_stops_catching_label_flips(
    tmp_path: Path, landing: tuple[Path, Path, dict[Path, str]]
) -> None:
    folder, state, files = landing
    exp = _yaml(
        tmp_path,
        state,
        """
  - name: flip-ramp
    fault:
      type: data-corrupt
      path: "FOLDER"
      pattern: "*.parquet"
      corruptions: [{name: label-flip, columns: [label]}]
    ramp: {field: fraction, values: [0.02, 0.04, 0.12, 0.25], hold_s: 1.2}
""".replace("FOLDER", str(folder)),
        "pipe.rejected == 0",
    )
    journal = tmp_path / "run.jsonl"
    proc = _run(exp, journal)
    _out, err = proc.communicate(timeout=90)
    assert "Traceback" not in err, err
    events = list(read_journal(journal))
    (point,) = [e for e in events if e["event"] == "breaking-point"]
    # 20 % positives +- 5 %: flips of 4 % give 22.4 % (missed), of 12 % give 27.2 % (caught)
    assert (point["held"], point["broke"]) == (0.04, 0.12)
    log = [e for e in _log(state) if e["file"] == "batch-2.parquet"]
    assert [e["ok"] for e in log if e["sha"] != files[folder / "batch-2.parquet"]] == [
        True,
        True,
        False,
    ]
    assert {p: sha256(p) for p in files} == files

    html = tmp_path / "report.html"
    subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "report", str(journal), "--html", str(html)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    page = html.read_text()
    assert "breaking point: flip-ramp" in page and "held at 0.04, broke at 0.12" in page


def test_the_watchdog_restores_every_file_after_sigkill_of_the_runner(
    tmp_path: Path, landing: tuple[Path, Path, dict[Path, str]]
) -> None:
    folder, state, files = landing
    exp = _yaml(
        tmp_path,
        state,
        """
  - name: holes
    fault:
      type: data-corrupt
      path: "FOLDER"
      files: all
      poll_interval_s: 0.02
      corruptions: [{name: missing-values, fraction: 0.2, columns: [x]}]
    duration_s: 60
""".replace("FOLDER", str(folder)),
        "pipe.accepted >= 0",
        ttl_s=1.5,
    )
    journal = tmp_path / "run.jsonl"
    proc = _run(exp, journal)
    _wait_for(journal, "fault-applied")
    assert all(sha256(p) != h for p, h in files.items())  # every present file corrupted
    landed = folder / "batch-7.parquet"
    make_batch(7).to_parquet(folder / ".up", index=False)
    os.replace(folder / ".up", landed)  # after the lease was written
    clean = sha256(landed)
    deadline = time.monotonic() + 5
    while sha256(landed) == clean and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sha256(landed) != clean
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    killed = time.monotonic()
    files[landed] = clean
    while time.monotonic() - killed < 8:
        hidden = [p for p in folder.iterdir() if p.name.startswith(".")]
        if {p: sha256(p) for p in files} == files and not hidden:
            break
        time.sleep(0.05)
    restored_after = time.monotonic() - killed
    assert {p: sha256(p) for p in files} == files, "the watchdog did not restore every file"
    assert restored_after < 1.5 + 2.5, f"restored {restored_after:.2f}s after SIGKILL (TTL 1.5)"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
