"""Hooks as decorators and context managers: latency, exceptions, outcomes, rate, when."""

from __future__ import annotations

import asyncio
import contextvars
import random
import time

import pytest

from aichaos.errors import RegistryError, ValidationError
from aichaos.inprocess import Hook, Latency, Raise, Switchboard
from aichaos.inprocess.hooks import HttpFault


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_sync_decorator_latency_error_and_outcome() -> None:
    board = Switchboard()
    slept: list[float] = []
    slow = Hook("a", latency=Latency(mean_ms=250), board=board, armed=True, sleep=slept.append)
    boom = Hook("b", error=Raise(ConnectionError, "feature store down"), board=board, armed=True)
    nan = Hook("c", replace=lambda ys: [float("nan")] * len(ys), board=board, armed=True)

    @slow
    def f(x: int) -> int:
        return x + 1

    @boom
    def g() -> int:
        return 1

    @nan
    def h() -> list[float]:
        return [1.0, 2.0]

    assert f(1) == 2 and slept == [0.25]
    with pytest.raises(ConnectionError, match="feature store down"):
        g()
    out = h()
    assert len(out) == 2 and all(v != v for v in out)


async def test_async_decorator_really_waits_and_replaces() -> None:
    board = Switchboard()
    hook = Hook("emb", latency=Latency(mean_ms=120), replace=lambda v: [], board=board, armed=True)

    @hook
    async def embed(text: str) -> list[float]:
        await asyncio.sleep(0)
        return [0.1, 0.2]

    t0 = time.perf_counter()
    assert await embed("x") == []
    elapsed = time.perf_counter() - t0
    assert 0.11 <= elapsed < 0.5
    board.disarm("emb")
    assert await embed("x") == [0.1, 0.2]


def test_unarmed_hook_is_transparent_and_ttl_disarms_itself() -> None:
    clock = FakeClock()
    board = Switchboard(clock=clock)
    hook = Hook("x", error=Raise(), board=board)

    @hook
    def f() -> str:
        return "ok"

    assert f() == "ok"
    board.arm("x", ttl_s=5)
    with pytest.raises(RuntimeError):
        f()
    clock.t += 4
    assert board.renew("x", ttl_s=5)
    clock.t += 4.9
    with pytest.raises(RuntimeError):
        f()
    clock.t += 0.2  # 5.1 s after the last renewal
    assert f() == "ok"
    assert board.status()["armed"] == {}
    assert not board.renew("x", ttl_s=5)


def test_rate_is_respected_with_a_seeded_rng() -> None:
    board = Switchboard()
    hook = Hook("r", error=Raise(), rate=0.3, board=board, armed=True, rng=random.Random(42))
    hits = sum(hook.shot().fired for _ in range(2000))
    assert 500 <= hits <= 700  # binomial(2000, 0.3): mean 600, sd 20.5
    board.arm("r", rate=1.0)  # a remote override wins over the hook's own rate
    assert all(hook.shot().fired for _ in range(50))


def test_contextvar_selects_marked_requests_only() -> None:
    board = Switchboard()
    tenant = contextvars.ContextVar("chaos_tenant", default=False)
    hook = Hook("t", error=Raise(PermissionError, "x"), when=tenant, board=board, armed=True)

    @hook
    def f() -> int:
        return 1

    assert f() == 1
    ctx = contextvars.copy_context()
    ctx.run(tenant.set, True)
    with pytest.raises(PermissionError):
        ctx.run(f)
    assert f() == 1  # the mark stayed in its own context


def test_context_manager_sync_and_async() -> None:
    board = Switchboard()
    slept: list[float] = []
    hook = Hook(
        "cm", latency=Latency(mean_ms=10), replace=lambda v: v * 2, board=board, sleep=slept.append
    )
    with hook as shot:
        assert shot(3) == 3  # not armed: identity
    board.arm("cm")
    with hook as shot:
        assert shot(3) == 6
    assert slept == [0.01]

    async def run() -> int:
        async with hook as s:
            return int(s(5))

    assert asyncio.run(run()) == 10


def test_latency_distributions_stay_in_range() -> None:
    rng = random.Random(1)
    uni = [Latency(100, 20, "uniform").sample_s(rng) for _ in range(500)]
    assert min(uni) >= 0.08 and max(uni) <= 0.12
    norm = [Latency(100, 10, "normal").sample_s(rng) for _ in range(500)]
    assert 0.095 < sum(norm) / len(norm) < 0.105
    expo = [Latency(50, 0, "exponential").sample_s(rng) for _ in range(2000)]
    assert 0.045 < sum(expo) / len(expo) < 0.055 and min(expo) >= 0
    assert Latency(5, 100, "normal").sample_s(random.Random(3)) >= 0  # clamped, never negative


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Latency(mean_ms=-5), "mean_ms must be >= 0, got -5"),
        (lambda: Latency(mean_ms=1, jitter_ms=-1), "jitter_ms must be >= 0"),
        (lambda: Latency(1, 0, "zipf"), "distribution must be one of"),  # type: ignore[arg-type]
        (lambda: Raise(exc_type=int), "exc_type must be an exception class"),  # type: ignore[arg-type]
        (lambda: HttpFault(status_code=700), "status_code must be in 100..599, got 700"),
        (lambda: HttpFault(abort="explode"), "abort must be one of"),  # type: ignore[arg-type]
        (lambda: Hook("h", rate=1.5, board=Switchboard()), "rate must be in [0, 1], got 1.5"),
        (lambda: Hook("*", board=Switchboard()), "hook name must be"),
        (lambda: Switchboard().arm("*", ttl_s=0), "ttl_s must be > 0, got 0"),
        (lambda: Switchboard().arm("*", rate=2), "rate must be in [0.0, 1.0], got 2"),
    ],
)
def test_bad_input_is_named(build: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()  # type: ignore[operator]
    assert message in str(info.value)


def test_unknown_hook_name_is_a_registry_error() -> None:
    board = Switchboard()
    Hook("known", board=board)
    with pytest.raises(RegistryError, match="unknown hook 'nope'; known: known"):
        board.arm("nope", ttl_s=1)
