"""``stream_cut``: cut a server-sent-event stream after ``after_events`` events.

``mode: close`` drops the connection mid-stream; ``mode: end`` ends the HTTP response
cleanly there (a 200 that simply stops). ``error_event`` (or ``preset:
openai_midstream_error``) is sent as the last event: the in-band error chunk of an
OpenAI-compatible stream. ``drop_done`` lets the whole stream through except the final
``data: [DONE]`` (``preset: openai_no_done``).
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from aichaos.proxy.presets import STREAM_ERROR_EVENT
from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import HttpToxic, Plan

__all__ = ["StreamCut"]


@TOXICS.register("stream_cut")
class StreamCut(HttpToxic):
    """Cut a token stream after N events (close, or end cleanly), optionally with an error event."""

    after_events: int = Field(1, ge=0, strict=True)
    mode: Literal["close", "end"] = "close"
    error_event: str | None = None
    drop_done: bool = False
    preset: Literal["openai_midstream_error", "openai_no_done"] | None = None

    def plan(self, plan: Plan, rng: random.Random) -> None:
        """Set the cut point (or the [DONE] drop)."""
        if self.preset == "openai_no_done" or self.drop_done:
            plan.drop_done = True
            return
        plan.cut_after_events = self.after_events
        plan.cut_mode = self.mode
        event = STREAM_ERROR_EVENT if self.preset == "openai_midstream_error" else self.error_event
        if self.preset == "openai_midstream_error":
            plan.cut_mode = "end"
        if event is not None:
            plan.cut_error_event = (
                event.encode() if event.endswith("\n\n") else (event + "\n\n").encode()
            )
