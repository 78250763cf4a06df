"""``stream_stall``: pause a server-sent-event / chunked stream for ``stall_ms`` after
``after_events`` events (once, or after every ``after_events`` with ``repeat``)."""

from __future__ import annotations

import random

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import HttpToxic, Plan

__all__ = ["StreamStall"]


@TOXICS.register("stream_stall")
class StreamStall(HttpToxic):
    """Stall a token stream: N events, then ``stall_ms`` of silence."""

    after_events: int = Field(1, ge=0, strict=True)
    stall_ms: int = Field(1000, ge=0, strict=True)
    repeat: bool = False

    def plan(self, plan: Plan, rng: random.Random) -> None:
        """Set the stall point."""
        plan.stall_after_events = self.after_events
        plan.stall_s = self.stall_ms / 1000.0
        plan.stall_every = self.repeat
