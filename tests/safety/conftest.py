"""Fixtures for the tests that attack aichaos itself: real processes and sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aichaos.proxy.httpserver import Limits
from aichaos.proxy.server import ApiSite, ProxyApp
from tests.conftest import _stop

TOKEN = "safety-token-0123456789"


@dataclass
class ProxyProc:
    """An ``aichaos proxy`` subprocess and its API URL."""

    proc: subprocess.Popen[str]
    url: str


def start_proxy(*args: str, env: dict[str, str] | None = None) -> ProxyProc:
    """Start ``aichaos proxy --port 0 ARGS``; returns once it printed its address."""
    full_env = {k: v for k, v in os.environ.items() if k != "AICHAOS_TOKEN"}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "proxy", "--port", "0", "--seed", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"API on (http://\S+)", line)
    if not m:
        _stop(proc)
        raise AssertionError(
            f"proxy did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return ProxyProc(proc, m.group(1))


@pytest.fixture
def proxy_proc() -> Iterator[ProxyProc]:
    """``aichaos proxy`` on 127.0.0.1 without a token."""
    p = start_proxy()
    yield p
    _stop(p.proc)


@pytest.fixture
def token_proxy() -> Iterator[ProxyProc]:
    """``aichaos proxy`` on 127.0.0.1 with AICHAOS_TOKEN set."""
    p = start_proxy(env={"AICHAOS_TOKEN": TOKEN})
    yield p
    _stop(p.proc)


class ThreadedProxy:
    """A :class:`ProxyApp` and its API served by an event loop on a background thread.

    Lets synchronous clients (hypothesis tests, raw sockets) talk to the real server.
    """

    def __init__(self, limits: Limits | None = None, token: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = ProxyApp(seed=7)
        self.site = ApiSite(self.app, "127.0.0.1", 0, limits=limits, token=token)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self.site.start())

    def call(self, coro: Any, timeout_s: float = 10.0) -> Any:
        """Run ``coro`` on the server's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    @property
    def url(self) -> str:
        return self.site.url

    def close(self) -> None:
        self.call(self.site.stop())
        self.call(self.app.close())

        async def drain() -> None:
            await asyncio.sleep(0.05)  # let closed transports call connection_lost

        self.call(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def threaded_proxy() -> Iterator[ThreadedProxy]:
    """A threaded proxy server with short limits (1 s request timeout, 2 s idle)."""
    server = ThreadedProxy(Limits(request_timeout_s=1.0, idle_timeout_s=2.0, max_connections=64))
    yield server
    server.close()


def raise_nofile(want: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``want`` (within the hard limit); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard) if hard != resource.RLIM_INFINITY else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_fds() -> int:
    """How many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


def fd_targets() -> dict[str, str]:
    """fd number -> what it points to (socket:[inode], anon_inode:[timerfd], a path)."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
    return out


def all_output_files(*roots: Path) -> list[Path]:
    """Every regular file under ``roots``."""
    return [p for root in roots for p in root.rglob("*") if p.is_file()]
