"""A tiny in-memory 'system' the engine unit tests drive through python probes and faults.

These are real user hooks (``module:function``) going through the real fault and probe
types; only the system they act on is in memory, so the engine can run in virtual time.
"""

from __future__ import annotations

import asyncio
from typing import Any

STATE: dict[str, Any] = {}


def reset(**overrides: Any) -> None:
    STATE.clear()
    STATE.update(latency_ms=20.0, accuracy=0.95, applied=0, reverted=0, calls=[])
    STATE.update(overrides)


async def probe() -> dict[str, float]:
    if STATE.get("frozen"):  # a model call that blocks past any timeout
        await asyncio.sleep(3600)
    return {"latency_ms": STATE["latency_ms"], "accuracy": STATE["accuracy"]}


async def freeze() -> None:
    STATE["applied"] += 1
    STATE["frozen"] = True


async def unfreeze() -> None:
    STATE["reverted"] += 1
    STATE["frozen"] = False


async def hung_probe() -> float:
    await asyncio.sleep(3600)
    return 0.0


async def slow_down(latency_ms: float = 500.0) -> str:
    STATE["applied"] += 1
    STATE["calls"].append(("apply", latency_ms))
    STATE["latency_ms"] = latency_ms
    return "token-1"


async def restore(latency_ms: float = 500.0, token: str | None = None) -> None:
    STATE["reverted"] += 1
    STATE["calls"].append(("revert", token))
    STATE["latency_ms"] = 20.0


async def degrade_accuracy(accuracy: float = 0.5) -> None:
    STATE["applied"] += 1
    STATE["accuracy"] = accuracy


async def restore_accuracy(accuracy: float = 0.5) -> None:
    STATE["reverted"] += 1
    STATE["accuracy"] = 0.95


async def hang(**_: Any) -> None:
    await asyncio.sleep(3600)


async def fail(**_: Any) -> None:
    STATE["applied"] += 1
    raise RuntimeError("dependency refused the change")


async def rollback() -> None:
    STATE["calls"].append(("rollback", None))


def touch(path: str) -> None:
    with open(path, "w") as f:
        f.write("halt")


def divide(a: float, b: float) -> float:
    return a / b


async def slow_restore(latency_ms: float = 500.0, token: str | None = None) -> None:
    """A revert that takes 1 s (an HTTP DELETE to a busy proxy, say)."""
    STATE["calls"].append(("revert-started", None))
    await asyncio.sleep(1.0)
    STATE["reverted"] += 1
    STATE["latency_ms"] = 20.0


async def trip_later(latency_ms: float = 5000.0, after_s: float = 0.5) -> None:
    """Apply nothing at first; ``after_s`` later the system breaks (a guardrail sees it)."""
    STATE["applied"] += 1

    async def later() -> None:
        await asyncio.sleep(after_s)
        STATE["latency_ms"] = latency_ms

    STATE["later"] = asyncio.get_running_loop().create_task(later())
