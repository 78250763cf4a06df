"""Fixtures of the integration tests: a real HTTP service on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def tinyservice() -> Iterator[str]:
    """`python -m aichaos.demo.tinyservice` on a free port; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.demo.tinyservice", "--slow-ms", "50"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()
