"""The preflight: mistakes that would fail mid-run are found by ``--dry-run`` and before
the baseline, through the real CLI, with nothing touched."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aichaos.engine.journal import read_journal
from aichaos.resource.cgroup import cgroup_v2_controllers

pytestmark = pytest.mark.slow


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _experiment(tmp_path: Path) -> Path:
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: mistakes found up front
targets:
  api: {{type: http, url: "http://127.0.0.1:{_dead_port()}"}}
  me: {{type: process, pid: {os.getpid()}}}
  dep: {{type: proxy, api_url: "http://127.0.0.1:{_dead_port()}", proxy: api}}
probes:
  p: {{type: python, call: "os:no_such_probe"}}
steady_state: [p.value > 0]
method:
  - name: mine
    fault: {{type: python-callable, apply: "no_such_module_xyz:apply"}}
    duration_s: 1
  - name: limit
    fault: {{type: cgroup-limit, memory_max_mb: 64}}
    target: me
    duration_s: 1
rollbacks:
  - {{type: python, call: "os:no_such_rollback"}}
phases: {{baseline_s: 0.5, recovery_s: 0.5}}
""")
    return exp


def _expected() -> list[str]:
    out = [
        "method[0] (mine): no_such_module_xyz:apply does not import",
        "probes.p: os:no_such_probe does not import",
        "rollbacks[0]: os:no_such_rollback does not import",
        "targets.api: http://127.0.0.1:",
        "/version does not answer: ",  # the proxy's control API, asked by a run too
    ]
    if "memory" not in cgroup_v2_controllers():  # this host: cgroup v1, or no delegation
        out.append("method[1] (limit): cgroup-limit cannot work on this host")
    return out


def test_the_dry_run_names_every_problem(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "run", str(_experiment(tmp_path)), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AICHAOS_KILL_SWITCH": str(tmp_path / "halt")},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in _expected():
        assert fragment in proc.stderr, (fragment, proc.stderr)


def test_a_run_stops_before_the_baseline(tmp_path: Path) -> None:
    journal = tmp_path / "run.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aichaos.cli",
            "run",
            str(_experiment(tmp_path)),
            "--journal",
            str(journal),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AICHAOS_KILL_SWITCH": str(tmp_path / "halt")},
    )
    assert proc.returncode == 5, proc.stderr
    events = list(read_journal(journal))
    kinds = [e["event"] for e in events]
    assert "phase" not in kinds and "fault-applied" not in kinds and "sample" not in kinds
    ended = events[-1]
    assert ended["event"] == "run-ended" and ended["reason"].startswith("preflight: ")
    for fragment in _expected():
        assert fragment in ended["reason"], (fragment, ended["reason"])
