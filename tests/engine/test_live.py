"""LiveFaults: faults held outside a run (pytest marker, CTK actions), leased and renewed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest

from aichaos.engine.live import LiveFaults
from aichaos.faults.base import Fault, Injection, InjectionContext
from aichaos.faults.process_pause import ProcessPause
from aichaos.targets import ProcessTarget
from tests.conftest import _stop, start_sleeper, wait_state


def test_hold_leases_renews_and_releases() -> None:
    victim = start_sleeper("60")
    live = LiveFaults()
    try:
        ctx = InjectionContext(target=ProcessTarget(pid=victim.pid), ttl_s=0.8)
        held = live.hold("pause", ProcessPause().injection(ctx), ttl_s=0.8)
        assert wait_state(victim.pid, stopped=True)
        assert held.lease is not None and held.lease.path.exists()
        first = held.lease.path.stat().st_mtime
        time.sleep(0.5)  # two renewal periods (ttl / 4)
        assert held.lease.path.stat().st_mtime > first
        live.release("pause")
        assert wait_state(victim.pid, stopped=False)
        assert not held.lease.path.exists() and live.faults == {}
    finally:
        live.close()
        _stop(victim)


class _Slow(Injection):
    """Applies in 2 s; records whether its apply ever finished."""

    finished = False

    async def apply(self) -> None:
        await asyncio.sleep(2)
        _Slow.finished = True

    async def revert(self) -> None:
        pass


class _SlowFault(Fault):
    def injection(self, ctx: InjectionContext) -> Injection:
        return _Slow(self, ctx)


def test_an_apply_that_times_out_is_cancelled_not_left_running() -> None:
    live = LiveFaults()
    try:
        with pytest.raises(concurrent.futures.TimeoutError):
            live.hold("slow", _SlowFault().injection(InjectionContext()), 5.0, apply_s=0.2)
        time.sleep(2.3)
        assert not _Slow.finished  # cancelled: it did not apply behind its caller's back
        assert live.faults == {}
    finally:
        live.close()
