"""Shared fixtures: real servers and processes on 127.0.0.1, cleaned up after each test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    """A server subprocess and its base URL."""

    proc: subprocess.Popen[str]
    url: str

    @property
    def pid(self) -> int:
        return self.proc.pid


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)  # a paused process cannot die of SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            stream.close()


@pytest.fixture
def http_server() -> Iterator[Server]:
    """The test HTTP service (aichaos.demo.tinyservice) on 127.0.0.1, port 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.demo.tinyservice"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield Server(proc, f"http://127.0.0.1:{port}")
    _stop(proc)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[str]]:
    """A harmless process to pause and kill."""
    proc = start_sleeper("300")
    yield proc
    _stop(proc)


def process_state(pid: int) -> str:
    """The one-letter state from /proc (R, S, T for stopped, Z...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def start_sleeper(seconds: str) -> subprocess.Popen[str]:
    """``sleep SECONDS``, returned once it has exec'd (its cmdline is readable)."""
    proc = subprocess.Popen(["sleep", seconds], text=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            if f.read().startswith(b"sleep"):
                break
        time.sleep(0.005)
    return proc


def wait_state(pid: int, stopped: bool, timeout_s: float = 2.0) -> bool:
    """Wait until the process is (or is no longer) stopped; signals land asynchronously."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (process_state(pid) == "T") == stopped:
            return True
        time.sleep(0.005)
    return False
