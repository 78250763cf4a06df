"""Hostile experiment files end in exit 2 with a clear message, fast and in bounded memory.

Each case ran ``aichaos validate`` for seconds to minutes, or into gigabytes, or ended in
a traceback. The loader's own time is measured in-process (the CLI's start-up is not
what is under test); the CLI run checks the exit code, the message and peak memory.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aichaos.errors import ExperimentError
from aichaos.experiment.loader import load_experiment

pytestmark = pytest.mark.slow


def _bomb() -> str:
    text = 'title: t\nmethod: []\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text


def _merge_chain() -> str:
    text = "title: t\nmethod: []\nb0: &b0 {k0: 1}\n"
    for i in range(1, 40):
        text += f"b{i}: &b{i} {{<<: [*b{i - 1}, *b{i - 1}], k{i}: 1}}\n"
    return text


def _deep_slo(depth: int) -> str:
    slo = "{all: [" * (depth - 1) + "'p.ok == 1'" + "]}" * (depth - 1)
    return (
        "title: t\ntargets: {a: {type: http, url: 'http://127.0.0.1:9'}}\n"
        "probes: {p: {type: http, target: a, path: /}}\n"
        f"steady_state: [{slo}]\nmethod: []\n"
    )


CASES = [
    ("alias bomb", _bomb(), "expands to more than"),
    ("merge-key chain", _merge_chain(), "expands to more than"),
    ("nesting 5,000", "title: t\nmethod: " + "[" * 5000 + "]" * 5000 + "\n", "nesting depth"),
    ("nesting 20,000", "title: t\nmethod: " + "[" * 20000 + "]" * 20000 + "\n", "nesting depth"),
    ("block nesting 200", "title: t\nmethod: []\nx:\n" + "".join(
        " " * i + f"k{i}:\n" for i in range(1, 200)) + " " * 200 + "v: 1\n", "deeper than 64"),
    ("SLO nested 900", _deep_slo(900), "deeper than 64"),
    ("5,000-digit integer", "title: t\nseed: " + "7" * 5000 + "\nmethod: []\n", "5000 digits"),
    ("200k-item list", "title: t\nmethod: [" + ",".join(["0"] * 200_000) + "]\n",
     "more than 10000 values"),
    ("duplicate key", "title: t\nsafety: {allowed_environments: [prod]}\nmethod: []\n"
     "safety: {ttl_s: 3}\n", "duplicate key 'safety'"),
    ("secret /dev/zero", 'title: t\nseed: "${file:/dev/zero}"\nmethod: []\n',
     "is not a regular file"),
    ("secret FIFO", 'title: t\nseed: "${file:FIFO}"\nmethod: []\n', "is not a regular file"),
]  # fmt: skip


def _write(tmp_path: Path, name: str, text: str) -> Path:
    fifo = tmp_path / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    exp = tmp_path / f"{''.join(ch if ch.isalnum() else '_' for ch in name)}.yaml"
    exp.write_text(text.replace("FIFO", str(fifo)))
    assert exp.stat().st_size < 1 << 20
    return exp


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_file_is_refused_fast(tmp_path: Path, text: str, message: str) -> None:
    exp = _write(tmp_path, "exp", text)
    started = time.perf_counter()
    with pytest.raises(ExperimentError, match=message.replace("(", r"\(")):
        load_experiment(exp)
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2 * 1024 * 1024


def test_the_cli_refuses_them_all_with_exit_2_in_bounded_memory(tmp_path: Path) -> None:
    files = {name: _write(tmp_path, name, text) for name, text, _ in CASES}
    # one ``aichaos validate`` of every file; its peak RSS measured from a parent
    code = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-m', 'aichaos.cli', 'validate', *sys.argv[1:]],"
        " capture_output=True, text=True, timeout=60)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stderr.write(p.stdout + p.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, files.values())],
        capture_output=True,
        text=True,
        timeout=90,
    )
    returncode, peak_kib = (int(x) for x in proc.stdout.split())
    assert returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ": ok (" not in proc.stderr
    reports = re.split(f"(?m)^{re.escape(str(tmp_path))}", proc.stderr)[1:]
    assert len(reports) == len(CASES), proc.stderr
    for name, _, message in CASES:
        report = next(r for r in reports if r.startswith(f"/{files[name].name}:"))
        assert message in report, (name, report)
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"
