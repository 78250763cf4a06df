"""A signal after the verdict ends the command early; it never raises into it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from aichaos.engine.signals import install_signal_handlers, stop_requested


@pytest.fixture
def default_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop_requested.clear()
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
    stop_requested.clear()


def _wait_for() -> bool:
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not stop_requested.is_set():
        time.sleep(0.01)
    return stop_requested.is_set()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_run_aborts_and_after_it_only_asks_to_stop(
    default_handlers: None, sig: signal.Signals
) -> None:
    seen: list[signal.Signals] = []

    async def run() -> None:
        restore = install_signal_handlers(seen.append)
        try:
            os.kill(os.getpid(), sig)
            for _ in range(100):  # bounded: the loop delivers it within a few turns
                if seen:
                    break
                await asyncio.sleep(0.01)
        finally:
            restore()

    asyncio.run(run())
    assert seen == [sig]  # during the run: the engine's handler, which aborts the run
    assert not stop_requested.is_set()
    # after the verdict: neither KeyboardInterrupt nor death, only a request to stop
    os.kill(os.getpid(), sig)
    assert _wait_for()
