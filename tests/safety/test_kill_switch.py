"""The kill switch and the run's own listeners: planted links and busy ports.

``aichaos halt`` never writes through a symlink planted at the kill-switch path (the
default lives in a shared temporary directory); ``--clear`` on a directory and a busy
``--metrics-port`` are exit 2 with a message, never a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def _aichaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichaos.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "AICHAOS_KILL_SWITCH"},
    )


def test_halt_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    switch = tmp_path / "aichaos.halt"
    switch.symlink_to(victim)
    proc = _aichaos("halt", "--path", str(switch))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"
    assert not switch.is_symlink() and "halted by pid" in switch.read_text()
    proc = _aichaos("halt", "--clear", "--path", str(switch))
    assert proc.returncode == 0 and not switch.exists() and victim.exists()
    # a dangling link (to where a file could be created) is replaced as well
    switch.symlink_to(tmp_path / "created-through-the-link")
    assert _aichaos("halt", "--path", str(switch)).returncode == 0
    assert not (tmp_path / "created-through-the-link").exists()


def test_halt_on_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    d = tmp_path / "dir.halt"
    d.mkdir()
    for args in (["halt", "--clear", "--path", str(d)], ["halt", "--path", str(d)]):
        proc = _aichaos(*args)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert str(d) in proc.stderr and "directory" in proc.stderr
    assert d.is_dir()


def test_run_on_a_busy_metrics_port_is_exit_2(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "title: t\nmethod: [{fault: {type: python-callable, apply: 'os:getpid'},"
        " duration_s: 0.1}]\nphases: {baseline_s: 0.1, recovery_s: 0.1}\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _aichaos("run", str(exp), "--metrics-port", str(port), "-q",
                        "--journal", str(tmp_path / "j.jsonl"))  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"--metrics-port: cannot listen on 127.0.0.1:{port}" in proc.stderr
