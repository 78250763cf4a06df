"""A model registry's promotion lag, as a python probe reports it (``versions.lag``).

The probe also reports eight latency percentiles, more lines than one panel used to
draw. ``stall`` makes the lag grow; ``resume`` brings it back.
"""

from __future__ import annotations

STATE = {"lag": 1.0}
QUANTILES = (10, 20, 30, 40, 50, 60, 70, 80)


def reset() -> None:
    STATE["lag"] = 1.0


async def probe() -> dict[str, float]:
    return {"lag": STATE["lag"], **{f"p{q}_ms": float(q) for q in QUANTILES}}


async def stall() -> None:
    STATE["lag"] = 30.0


async def resume() -> None:
    STATE["lag"] = 1.0
