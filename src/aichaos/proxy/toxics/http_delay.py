"""``http_delay``: delay matching requests before they reach the upstream, and/or the first
byte of their response (time to first byte), each with uniform jitter."""

from __future__ import annotations

import random

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import HttpToxic, Plan

__all__ = ["HttpDelay"]


@TOXICS.register("http_delay")
class HttpDelay(HttpToxic):
    """Hold the request ``request_ms`` and the response's first byte ``first_byte_ms``."""

    request_ms: int = Field(0, ge=0, strict=True)
    first_byte_ms: int = Field(0, ge=0, strict=True)
    jitter_ms: int = Field(0, ge=0, strict=True)

    def plan(self, plan: Plan, rng: random.Random) -> None:
        """Add the delays (with jitter drawn from the connection's seeded RNG)."""

        def jittered(ms: int) -> float:
            if ms <= 0:
                return 0.0
            return max(0.0, ms + rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000.0

        plan.request_delay_s += jittered(self.request_ms)
        plan.first_byte_delay_s += jittered(self.first_byte_ms)
