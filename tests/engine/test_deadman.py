"""The watchdog undoes expired leases on its own, and leaves renewed ones alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aichaos.engine import deadman
from aichaos.engine.deadman import OWNER, DeadMan, lease_directories, recover
from aichaos.engine.watchdog import sweep
from aichaos.faults.undo import RemovePath, RestoreFile, SendSignal, perform
from tests.conftest import process_state


def test_sweep_performs_due_leases_only(tmp_path: Path) -> None:
    dm = DeadMan(tmp_path, ttl_s=0.2, proc=None)
    junk = tmp_path / "ballast"
    junk.write_text("x" * 100)
    keep = tmp_path / "keep"
    keep.write_text("y")
    dm.lease("fill", [RemovePath(path=str(junk))])
    time.sleep(0.3)
    young = DeadMan(tmp_path, ttl_s=60, proc=None).lease("keep", [RemovePath(path=str(keep))])
    assert sweep(tmp_path, time.time()) == 1
    assert not junk.exists() and keep.exists()
    assert [r["label"] for r in dm.expired()] == ["fill"]
    young.release()
    assert sweep(tmp_path, time.time()) == 0


def test_renewal_keeps_a_lease_alive(tmp_path: Path) -> None:
    dm = DeadMan(tmp_path, ttl_s=0.3, proc=None)
    target = tmp_path / "t"
    target.write_text("x")
    lease = dm.lease("x", [RemovePath(path=str(target))])
    for _ in range(4):
        time.sleep(0.15)
        lease.renew()
        assert sweep(tmp_path, time.time()) == 1
    assert target.exists()


def test_watchdog_process_resumes_a_paused_process(sleeper: subprocess.Popen[str]) -> None:
    os.kill(sleeper.pid, signal.SIGSTOP)
    dm = DeadMan.start(ttl_s=0.3)
    try:
        dm.lease("pause", [SendSignal(pid=sleeper.pid, signal="SIGCONT")])
        deadline = time.monotonic() + 3
        while process_state(sleeper.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process_state(sleeper.pid) != "T"
    finally:
        dm.stop()


def test_watchdog_exits_when_parent_is_gone_and_nothing_is_left(tmp_path: Path) -> None:
    # a runner that starts a watchdog and dies at once
    code = (
        "import sys; from aichaos.engine.deadman import DeadMan; "
        f"dm = DeadMan.start(ttl_s=0.2, directory=__import__('pathlib').Path({str(tmp_path)!r})); "
        "print(dm.proc.pid, flush=True)"
    )
    out = subprocess.run(
        [os.sys.executable, "-c", code], capture_output=True, text=True, timeout=10
    )
    pid = int(out.stdout)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("watchdog outlived its runner with no lease left")


def test_undo_actions_are_idempotent(tmp_path: Path) -> None:
    backup, path = tmp_path / "b", tmp_path / "p"
    backup.write_text("original")
    path.write_text("corrupt")
    action = RestoreFile(backup=str(backup), path=str(path))
    perform(action)
    perform(action)
    assert path.read_text() == "original"
    perform(RemovePath(path=str(tmp_path / "never-existed")))
    perform(SendSignal(pid=2**22 - 5, signal="SIGCONT"))  # gone: fine


def test_python_undo_is_warmed_up_before_it_is_due(tmp_path: Path) -> None:
    """A python action's ``warm`` function runs (once, with the action's arguments) as soon
    as the watchdog sees the lease, long before the undo itself is due."""
    from aichaos.faults.undo import PythonCall

    mark = tmp_path / "mark"
    action = PythonCall(
        function="tests.engine.warm_target:undo",
        arguments={"path": str(mark)},
        warm="tests.engine.warm_target:warm",
    )
    dm = DeadMan(tmp_path, ttl_s=60, proc=None)
    dm.lease("mlflow-like", [action])
    assert sweep(tmp_path, time.time()) == 1  # not due: stays
    deadline = time.monotonic() + 10
    while not mark.with_suffix(".warmed").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mark.with_suffix(".warmed").exists()
    assert not mark.with_suffix(".undone").exists()
    assert sweep(tmp_path, time.time(), force=True) == 0
    assert mark.with_suffix(".undone").exists()


def test_recover_asks_after_the_owners_of_lease_holding_directories_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every run and halt starts with recover(); directories that kept only the reports
    # of what a watchdog undid pile up, and must not each cost two /proc reads
    asked: list[int] = []
    monkeypatch.setattr(deadman, "pid_start_time", lambda pid: asked.append(pid))
    dead_owner = json.dumps({"runner": [11, "1"], "watchdog": [12, "2"]})
    for i in range(20):
        kept = tmp_path / f"aichaos-leases-kept{i:02d}"
        kept.mkdir()
        (kept / OWNER).write_text(dead_owner)
        (kept / "0123.expired").write_text("{}")
    (tmp_path / "aichaos-leases-file").write_text("")
    (tmp_path / "aichaos-leases-link").symlink_to(tmp_path / "aichaos-leases-kept00")
    orphan = tmp_path / "aichaos-leases-orphan"
    orphan.mkdir()
    (orphan / OWNER).write_text(dead_owner)
    junk = tmp_path / "ballast"
    junk.write_text("x")
    DeadMan(orphan, ttl_s=60, proc=None).lease("fill", [RemovePath(path=str(junk))])

    dirs = lease_directories(tmp_path)
    assert [d.name for d in dirs] == sorted(
        [*(f"aichaos-leases-kept{i:02d}" for i in range(20)), "aichaos-leases-orphan"]
    )
    reports = recover(dirs)
    assert [r["label"] for r in reports] == ["fill"] and not junk.exists()
    assert asked == [11, 12], "only the directory holding a lease asks who answers for it"
