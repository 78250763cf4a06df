"""``batch-late`` over a tree: same-named files each come back; nothing outside is touched.

Through the real ``aichaos run``: while the step holds two ``x.csv`` from two
subdirectories, both are gone; after it, each is back with its own bytes. A pattern
reaching out of the directory is refused at validation.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _aichaos(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AICHAOS_KILL_SWITCH": str(tmp_path / "halt")},
    )


def _exp(tmp_path: Path, landing: Path, pattern: str) -> Path:
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""
title: late batches
method:
  - fault: {{type: batch-late, directory: "{landing}", pattern: "{pattern}", count: 2,
             delay_s: 60}}
    duration_s: 1.5
phases: {{baseline_s: 0.1, recovery_s: 0.1}}
""")
    return exp


def test_same_named_files_in_subdirectories_both_come_back(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    files = {landing / "a" / "x.csv": b"a,1\n", landing / "b" / "x.csv": b"b,2\n" * 50}
    for path, data in files.items():
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    run = _aichaos(tmp_path, "run", str(_exp(tmp_path, landing, "**/*.csv")), "-q",
                   "--journal", str(tmp_path / "j.jsonl"))  # fmt: skip
    deadline = time.monotonic() + 30
    both_gone = False
    while run.poll() is None and time.monotonic() < deadline:
        both_gone |= not any(p.exists() for p in files)
        time.sleep(0.02)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, (out, err)
    assert both_gone, "the step never held both files"
    for path, data in files.items():
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest(), path
    leftovers = [p for p in landing.rglob("*") if p.is_file() and p not in files]
    assert leftovers == []


def test_a_pattern_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text("precious\n")
    patterns = ["../*.csv", "sub/../../*.csv", "/etc/*", "~/x"]
    files = []
    for i, pattern in enumerate(patterns):
        files.append(_exp(tmp_path, landing, pattern).rename(tmp_path / f"p{i}.yaml"))
    proc = _aichaos(tmp_path, "validate", *map(str, files))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, out + err
    assert err.count("pattern must be a glob relative to the directory") == len(patterns), err
    assert outside.read_text() == "precious\n"


def test_a_symlink_out_of_the_directory_is_not_followed(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "in").mkdir(parents=True)
    (landing / "in" / "mine.csv").write_text("mine\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "theirs.csv").write_text("theirs\n")
    (landing / "link").symlink_to(elsewhere)
    run = _aichaos(tmp_path, "run", str(_exp(tmp_path, landing, "**/*.csv")), "-q",
                   "--journal", str(tmp_path / "j.jsonl"))  # fmt: skip
    deadline = time.monotonic() + 30
    while run.poll() is None and time.monotonic() < deadline:
        assert (elsewhere / "theirs.csv").exists()
        time.sleep(0.02)
    run.communicate(timeout=30)
    assert (elsewhere / "theirs.csv").read_text() == "theirs\n"
    assert (landing / "in" / "mine.csv").read_text() == "mine\n"
