"""A value from ``${env:}`` / ``${file:}`` never appears in any message, errors included.

Driven through the real ``aichaos validate`` and ``aichaos run``: every byte they print
is searched for the secret, and for any 8-character piece of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CANARY = "s3cr3t-CANARY-7f1c2b9a"
#: a long, multi-line secret file: a repr escapes its newlines and a message may cut it
SHADOW = "root:$6$" + CANARY + "abcdefghijklmnop:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


def _pieces(secret: str) -> list[str]:
    return [
        secret[i : i + 8] for i in range(0, len(secret) - 8, 4) if "\n" not in secret[i : i + 8]
    ]


def _aichaos(tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "I19_TOKEN": CANARY, "AICHAOS_KILL_SWITCH": str(tmp_path / "h")},
    )
    return proc.returncode, proc.stdout + proc.stderr


HEAD = "title: t\nmethod:\n  - {fault: {type: process-pause}, target: w, duration_s: 0.3}\n"


#: (name, file) -- each file fails validation on a value that came from a secret
CASES = [
    ("file-in-seed", HEAD + 'seed: "${file:SECRET}"\ntargets: {w: {type: process, pid: 1}}\n'),
    ("env-in-url", HEAD + 'targets: {w: {type: process, pid: 1}, a: {type: http, '
     'url: "${env:I19_TOKEN}"}}\n'),
    ("file-in-url", HEAD + 'targets: {w: {type: process, pid: 1}, a: {type: http, '
     'url: "${file:SECRET}"}}\n'),
    ("env-in-pid", HEAD + 'targets: {w: {type: process, pid: "${env:I19_TOKEN}"}}\n'),
]  # fmt: skip


def test_validate_errors_hold_no_secret(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(SHADOW)
    files = []
    for name, text in CASES:
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(text.replace("SECRET", str(secret)))
    code, out = _aichaos(tmp_path, "validate", *map(str, files))
    assert code == 2, out
    assert "Traceback" not in out
    assert out.count("problem(s)") == len(CASES), out
    for piece in [CANARY, *_pieces(SHADOW.strip())]:
        assert piece not in out, (piece, out)
    assert "${" in out  # the placeholder says which secret was wrong


def test_run_errors_hold_no_secret(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        HEAD
        + 'targets: {w: {type: process, pid_file: "/nonexistent/${env:I19_TOKEN}"}}\n'
        + "phases: {baseline_s: 0.1, recovery_s: 0.1}\n"
    )
    code, out = _aichaos(tmp_path, "run", str(exp), "--journal", str(tmp_path / "j.jsonl"))
    assert code != 0
    assert "Traceback" not in out
    assert "/nonexistent/" in out, out  # the error is shown ...
    assert CANARY not in out, out  # ... without the value
    for written in tmp_path.glob("j*"):
        assert CANARY not in written.read_text()
