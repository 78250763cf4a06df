"""Real trainer processes for the training fault tests (the numpy loop: no torch needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


class Trainer:
    """A running ``tests.training.numpy_trainer`` and the files it writes."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.dir = root / "ckpt"
        self.metrics = root / "metrics.jsonl"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.training.numpy_trainer",
                "--dir",
                str(self.dir),
                "--metrics",
                str(self.metrics),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The reporter lines so far (of ``kind``)."""
        if not self.metrics.exists():
            return []
        rows = [json.loads(x) for x in self.metrics.read_text().splitlines() if x]
        return [r for r in rows if kind is None or r["kind"] == kind]

    def wait_for(self, kind: str, count: int = 1, timeout_s: float = 20.0) -> None:
        """Until ``count`` records of ``kind`` are written (the process must live)."""
        deadline = time.monotonic() + timeout_s
        while len(self.records(kind)) < count:
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, f"no {count} {kind!r} records"
            time.sleep(0.02)

    def finish(self, timeout_s: float = 20.0) -> tuple[int, str, str]:
        """Wait for the exit: ``(returncode, stdout, stderr)``."""
        out, err = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, out, err

    def stop(self) -> None:
        """Kill it if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def trainers(tmp_path: Path) -> Iterator[list[Trainer]]:
    """Trainers started by a test, stopped after it."""
    started: list[Trainer] = []
    yield started
    for t in started:
        t.stop()


def start(started: list[Trainer], root: Path, *args: str, **kw: Any) -> Trainer:
    """Start a trainer in ``root`` and remember it for the fixture to stop."""
    root.mkdir(parents=True, exist_ok=True)
    t = Trainer(root, *args, **kw)
    started.append(t)
    return t
