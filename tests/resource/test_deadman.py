"""The runner SIGKILLed mid-fault: every fault is undone by its TTL within TTL + 1 s."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from aichaos.inprocess import ControlServer, Hook, Raise, Switchboard

TTL_S = 2.0
RUNNER = Path(__file__).with_name("runner_kill.py")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.slow
def test_sigkilled_runner_leaves_nothing_past_ttl(tmp_path: Path) -> None:
    board = Switchboard()
    Hook("h", error=Raise(), board=board)
    control = ControlServer(board, token="deadman-token").start()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    cfg = {
        "ttl_s": TTL_S,
        "dir": str(tmp_path),
        "pid": sleeper.pid,
        "url": control.url,
        "token": "deadman-token",
    }
    runner = subprocess.Popen(
        [sys.executable, str(RUNNER), json.dumps(cfg)], stdout=subprocess.PIPE
    )
    try:
        assert runner.stdout is not None
        ready, _, _ = select.select([runner.stdout], [], [], 60)
        assert ready, "runner did not apply its faults in time"
        report = json.loads(runner.stdout.readline())
        ballast = psutil.Process(report["memory-pressure"]["pid"])
        fill = Path(report["disk-fill"]["path"])
        assert ballast.memory_info().rss > 64 * 1024 * 1024
        assert fill.exists() and _state(sleeper.pid) == "T" and board.switch("h") is not None

        time.sleep(TTL_S * 0.6)  # a few renewals: the faults outlive one TTL
        assert fill.exists() and _state(sleeper.pid) == "T" and board.switch("h") is not None

        os.kill(runner.pid, signal.SIGKILL)
        killed = time.monotonic()
        runner.wait()
        undone: dict[str, float] = {}
        checks = {
            "memory": lambda: not ballast.is_running() or ballast.status() == "zombie",
            "disk": lambda: not fill.exists(),
            "pause": lambda: _state(sleeper.pid) != "T",
            "inprocess": lambda: board.switch("h") is None,
        }
        while len(undone) < len(checks) and time.monotonic() - killed < TTL_S + 3:
            for name, check in checks.items():
                if name not in undone and check():
                    undone[name] = time.monotonic() - killed
            time.sleep(0.02)
        print({k: round(v, 3) for k, v in undone.items()})
        assert set(undone) == set(checks), f"not undone: {set(checks) - set(undone)}"
        assert all(v <= TTL_S + 1.0 for v in undone.values()), undone
        # the watchdog left a report for each lease it had to undo
        leases = Path(report["leases"])
        deadline = time.monotonic() + 2
        while len(list(leases.glob("*.expired"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list(leases.glob("*.expired"))) >= 3
    finally:
        runner.kill()
        runner.wait()
        if runner.stdout is not None:
            runner.stdout.close()
        sleeper.kill()
        sleeper.wait()
        control.close()
