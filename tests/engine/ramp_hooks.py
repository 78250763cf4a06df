"""Hooks for the ramp test: each applied level adds latency; level 0.5 breaks the SLO."""

from __future__ import annotations

from tests.engine import system


async def apply() -> None:
    system.STATE["applied"] += 1
    # 20 ms, then 40 ms, then 160 ms: the third level (fraction 0.5) crosses 100 ms
    system.STATE["latency_ms"] = {1: 20.0, 2: 40.0, 3: 160.0}.get(system.STATE["applied"], 400.0)


async def revert() -> None:
    system.STATE["reverted"] += 1
    system.STATE["latency_ms"] = 20.0
