"""Hooks for the ramp test: latency grows with the blast radius; level 0.5 breaks the SLO."""

from __future__ import annotations

from tests.engine import system


async def apply(fraction: float, ramp_level: float | None = None) -> None:
    system.STATE["applied"] += 1
    system.STATE["calls"].append(("apply", fraction, ramp_level))
    # 20 ms, then 40 ms, then 160 ms: the third level (fraction 0.5) crosses 100 ms
    system.STATE["latency_ms"] = {0.1: 20.0, 0.25: 40.0, 0.5: 160.0}.get(fraction, 400.0)


async def revert(fraction: float) -> None:
    system.STATE["reverted"] += 1
    system.STATE["latency_ms"] = 20.0


def ignores_the_radius() -> None:
    """A fault callable that takes no ``fraction``: ramping it would change nothing."""
    system.STATE["applied"] += 1


async def harmless(fraction: float) -> None:
    """A fault that hurts nothing at any level."""
    system.STATE["applied"] += 1
