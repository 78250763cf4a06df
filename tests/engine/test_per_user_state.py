"""What a run leaves on the machine: no lease directory, a kill switch of its own user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aichaos.experiment.safety import default_kill_switch
from tests.conftest import Server

pytestmark = pytest.mark.slow


def _aichaos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("AICHAOS_KILL_SWITCH", "TMPDIR")}
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **env},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _experiment(tmp_path: Path, server: Server, victim: int) -> Path:
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: pause a bystander
targets:
  api: {{type: http, url: "{server.url}"}}
  victim: {{type: process, pid: {victim}}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1}}
steady_state: ['health.ok == 1']
method:
  - {{name: pause, fault: {{type: process-pause}}, target: victim, duration_s: 0.3}}
phases: {{baseline_s: 0.3, recovery_s: 0.2}}
""")
    return exp


def test_no_lease_directory_is_left_and_the_kill_switch_is_per_user(
    tmp_path: Path, http_server: Server, sleeper: subprocess.Popen[str]
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    mine, theirs = tmp_path / "xdg-mine", tmp_path / "xdg-theirs"
    mine.mkdir(mode=0o700)
    theirs.mkdir(mode=0o700)
    exp = _experiment(tmp_path, http_server, sleeper.pid)

    halt = _aichaos("halt", env={"XDG_RUNTIME_DIR": str(theirs), "TMPDIR": str(tmp)})
    assert halt.returncode == 0 and (theirs / "aichaos.halt").exists(), halt.stdout
    # another user's halt (another runtime directory) does not stop this user's run
    run = _aichaos(
        "run", "-q", str(exp), "--journal", str(tmp_path / "a.jsonl"),
        env={"XDG_RUNTIME_DIR": str(mine), "TMPDIR": str(tmp)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp.iterdir()) == []  # the lease directory went with it

    refused = _aichaos(
        "run", "-q", str(exp), "--journal", str(tmp_path / "b.jsonl"),
        env={"XDG_RUNTIME_DIR": str(theirs), "TMPDIR": str(tmp)},
    )  # fmt: skip
    assert refused.returncode == 3 and str(theirs / "aichaos.halt") in refused.stderr


def test_without_a_runtime_directory_the_kill_switch_names_the_uid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AICHAOS_KILL_SWITCH", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert default_kill_switch() == str(tmp_path / f"aichaos-{os.getuid()}.halt")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/4242")
    assert default_kill_switch() == "/run/user/4242/aichaos.halt"
