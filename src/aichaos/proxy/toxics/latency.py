"""``latency``: delay every chunk by ``latency`` ms (± ``jitter``), from when it was received.

Measuring from the receive time makes latency pipeline: a burst of chunks is delayed by
``latency`` once, not once per chunk.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.jitter import jittered_ms
from aichaos.proxy.toxics.base import TOXICS, Chunk, Out, StageBase, ToxicAttributes

__all__ = ["LatencyToxic"]


class _LatencyStage(StageBase):
    """A stage that holds each chunk until ``receive time + delay``."""

    __slots__ = ()

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        attrs = self.attrs(LatencyToxic)
        delay_ms = jittered_ms(attrs.latency_ms, attrs.jitter_ms, self.env.rng)
        await self.sleep_until(chunk.t + delay_ms / 1000.0)
        await out(chunk)


@TOXICS.register("latency")
class LatencyToxic(ToxicAttributes):
    """Add ``latency`` ms (± uniform ``jitter`` ms) to every chunk."""

    stage_class: ClassVar[type[StageBase]] = _LatencyStage

    latency_ms: int = Field(0, alias="latency", ge=0, strict=True)
    jitter_ms: int = Field(0, alias="jitter", ge=0, strict=True)
