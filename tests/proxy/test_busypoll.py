"""Busy polling after I/O, and the timer's learned wake-up lead, on real loops and sockets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest

from aichaos.errors import ValidationError
from aichaos.proxy.busypoll import MAX_WINDOW_S, BusyPoll
from aichaos.proxy.server import ApiSite, ProxyApp
from aichaos.proxy.timer import MARGIN_S, MAX_LEAD_S, PreciseTimer
from tests.proxy.conftest import Echo, read_exactly


@pytest.mark.parametrize("window", [-1e-6, MAX_WINDOW_S * 2])
def test_window_out_of_range_is_refused(window: float) -> None:
    with pytest.raises(ValueError, match="busy-poll window"):
        BusyPoll(window)
    with pytest.raises(ValidationError, match="busy-poll window"):
        ProxyApp(seed=1, busy_poll_s=window)


def test_cli_refuses_a_negative_window() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "proxy", "--port", "0", "--busy-poll-us", "-5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--busy-poll-us" in proc.stderr and "Traceback" not in proc.stderr


async def test_polls_for_the_window_then_sleeps() -> None:
    """After a poke the loop keeps polling; once the window passes it sleeps (no CPU)."""
    loop = asyncio.get_running_loop()
    poller = BusyPoll(MAX_WINDOW_S)  # the widest: a briefly descheduled test still sees it
    poller.attach(loop)
    poller.poke()
    assert poller.polling
    await asyncio.sleep(0.002)
    # the loop went round without sleeping (how often depends on who else wants the
    # core: each spin yields it first)
    assert poller.polling and poller.spins >= 1
    await asyncio.sleep(0.15)
    assert not poller.polling
    spins = poller.spins
    cpu0 = time.process_time()
    await asyncio.sleep(0.3)
    assert poller.spins == spins
    assert time.process_time() - cpu0 < 0.05  # idle: no polling, no CPU
    poller.poke()  # a new burst starts polling again
    assert poller.polling
    await asyncio.sleep(0.15)
    assert not poller.polling and poller.spins > spins


async def test_off_by_default_and_zero_never_polls() -> None:
    loop = asyncio.get_running_loop()
    assert ProxyApp(seed=1).store.poller.window_s == 0.0
    poller = BusyPoll(0.0)
    poller.attach(loop)
    poller.poke()
    await asyncio.sleep(0.01)
    assert not poller.polling and poller.spins == 0


async def test_a_polling_proxy_forwards_exactly_and_goes_quiet(echo_server: Echo) -> None:
    """With polling on, bytes pass unchanged; when the traffic stops, so does the polling."""
    app = ProxyApp(seed=3, busy_poll_s=0.002)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    try:
        async with httpx.AsyncClient(base_url=site.url, timeout=10) as client:
            body = {"name": "p", "upstream": echo_server.addr, "listen": "127.0.0.1:0"}
            r = await client.post("/proxies", json=body)
            assert r.status_code == 201, r.text
        host, port = r.json()["listen"].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        for i in range(50):
            payload = os.urandom(1 + i * 97)
            writer.write(payload)
            assert await read_exactly(reader, len(payload)) == payload
        poller = app.store.poller
        assert poller.spins > 0
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
        assert not poller.polling
    finally:
        await site.stop()
        await app.close()


async def test_timer_lead_follows_late_wakeups_within_bounds() -> None:
    """The lead jumps towards late wake-ups, is capped, and decays when they are prompt."""
    timer = PreciseTimer(asyncio.get_running_loop())
    try:
        start = timer.lead
        timer.observe(0.0004)
        assert timer.lead > start
        for _ in range(20):
            timer.observe(0.05)  # a descheduled sleeper: capped, not learned
        assert timer.lead == pytest.approx(MAX_LEAD_S)
        for _ in range(2000):
            timer.observe(0.00002)
        assert timer.lead == pytest.approx(0.00002 + MARGIN_S, abs=2e-5)
    finally:
        timer.close()


async def test_toxic_sleeps_end_on_time_after_calibration() -> None:
    """A stage's sleeps from idle -- timer, learned lead, yield, spin: the real
    ``StageBase.sleep_until`` -- end at their deadline (the median within 30 us; the
    fixed 0.1 ms lead this replaced measured ~125 us on this VM)."""
    import random

    from aichaos.proxy.timer import now
    from aichaos.proxy.toxics.base import StageBase, StageEnv

    env = StageEnv(asyncio.get_running_loop(), random.Random(0), None, None)  # type: ignore[arg-type]
    stage = StageBase(env)
    late: list[float] = []
    for _ in range(30):
        deadline = now() + 0.010  # long enough for the core to go idle
        await stage.sleep_until(deadline)
        late.append(now() - deadline)
    late.sort()
    assert late[0] >= 0.0  # never early
    assert late[len(late) // 2] < 0.00003
