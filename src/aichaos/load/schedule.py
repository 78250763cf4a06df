"""Arrival schedules: when each request is *intended* to be sent.

An open-loop generator sends on this schedule whatever the server does, and measures
every latency from the intended time, so a stall shows up in the figures instead of
silently slowing the sender down (coordinated omission).

>>> import random
>>> it = arrivals("constant", 4.0, random.Random(0))
>>> [next(it) for _ in range(3)]
[0.0, 0.25, 0.5]
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal

from aichaos.errors import ValidationError

__all__ = ["Arrival", "arrivals"]

Arrival = Literal["constant", "poisson"]


def arrivals(
    kind: str, rate_rps: float, rng: random.Random, offset_s: float = 0.0
) -> Iterator[float]:
    """Intended send offsets in seconds from the start, ascending, without end.

    ``constant`` spaces requests exactly ``1 / rate_rps`` apart (computed as ``i / rate``
    so rounding never accumulates); ``poisson`` draws exponential gaps from ``rng``.
    ``offset_s`` shifts the whole schedule, so N processes sharing a constant rate can
    interleave their sends evenly.
    """
    if not rate_rps > 0:
        raise ValidationError(f"rate_rps must be > 0, got {rate_rps}")
    if kind == "constant":
        return _constant(rate_rps, offset_s)
    if kind == "poisson":
        return _poisson(rate_rps, rng, offset_s)
    raise ValidationError(f"arrival must be 'constant' or 'poisson', got {kind!r}")


def _constant(rate_rps: float, offset_s: float) -> Iterator[float]:
    i = 0
    while True:
        yield offset_s + i / rate_rps
        i += 1


def _poisson(rate_rps: float, rng: random.Random, offset_s: float) -> Iterator[float]:
    t = offset_s
    expo = rng.expovariate
    while True:
        yield t
        t += expo(rate_rps)
