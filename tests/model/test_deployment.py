"""A deployment under a fault: while traffic runs, promote a new version whose artifact is
corrupt, and watch what the serving layer does (keep the old model, or fail)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from aichaos.faults import FAULTS
from aichaos.faults.base import InjectionContext
from aichaos.inprocess import Switchboard, UvicornThread
from aichaos.model.directory_registry import DirectoryRegistry, ModelRegistryTarget
from tests.model.conftest import Data, make_service, quality


class Traffic:
    """Quality checks in a loop on a thread, bounded in time, recording every answer."""

    def __init__(self, url: str, data: Data) -> None:
        self.url, self.data = url, data
        self.seen: list[dict[str, object]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 30
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.seen.append(quality(self.url, self.data))
            time.sleep(0.03)


@pytest.fixture(params=[True, False], ids=["keeps-old-model", "fails"])
def deployed(
    request: pytest.FixtureRequest, registry: DirectoryRegistry, data: Data
) -> Iterator[tuple[bool, Traffic]]:
    app = make_service(registry, Switchboard(), keep_old=request.param)
    with UvicornThread(app) as server:
        traffic = Traffic(server.url, data)
        traffic.thread.start()
        yield request.param, traffic
        traffic.stop.set()
        traffic.thread.join(timeout=10)


async def _until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait (bounded) until the traffic thread has seen enough answers; a busy machine
    may answer slower, but the verdict on each answer must not change."""
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:  # noqa: ASYNC110 - another thread fills it
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_promotion_of_a_corrupt_version(
    deployed: tuple[bool, Traffic], registry: DirectoryRegistry
) -> None:
    keeps_old, traffic = deployed
    target = ModelRegistryTarget(path=str(registry.root))
    fault = FAULTS.get("model-corrupt-artifact").model_validate({"version": "v4"})
    ctx = InjectionContext(target=target, rng=random.Random(0), ttl_s=30)
    await asyncio.sleep(0.3)
    async with fault.injection(ctx):
        n = len(traffic.seen)
        registry.promote("v4")  # the deploy happens while the artifact is broken
        await _until(lambda: len(traffic.seen) >= n + 4)
        during = traffic.seen[n + 1 :]  # the first may have been asked before the promotion
    m = len(traffic.seen)
    await _until(lambda: len(traffic.seen) >= m + 4)
    after = traffic.seen[-3:]
    assert during
    if keeps_old:
        assert all(q["ok"] and q["version"] == "v2" for q in during)
        assert all(q["accuracy"] >= 0.97 for q in during)  # type: ignore[operator]
    else:
        assert all(q["status"] == 503 for q in during)
    assert all(q["ok"] and q["version"] == "v4" for q in after)  # fixed artifact: v4 serves
