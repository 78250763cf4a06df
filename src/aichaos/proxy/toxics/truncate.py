"""``truncate``: cut the response body after ``bytes`` bytes and close the connection
(the client sees a body shorter than announced)."""

from __future__ import annotations

import random

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import HttpToxic, Plan

__all__ = ["Truncate"]


@TOXICS.register("truncate")
class Truncate(HttpToxic):
    """Send only the first ``bytes`` bytes of the body, then close."""

    limit_bytes: int = Field(0, alias="bytes", ge=0, strict=True)

    def plan(self, plan: Plan, rng: random.Random) -> None:
        """Set the truncation point (the smallest of several wins)."""
        if plan.truncate_bytes is None or self.limit_bytes < plan.truncate_bytes:
            plan.truncate_bytes = self.limit_bytes
