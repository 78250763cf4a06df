"""``latency``: delay every chunk by ``latency`` ms (± ``jitter``), from when it was received.

Measuring from the receive time makes latency pipeline: a burst of chunks is delayed by
``latency`` once, not once per chunk.
"""

from __future__ import annotations

from pydantic import Field

from aichaos.jitter import jittered_ms
from aichaos.proxy.toxics.base import (
    TOXICS,
    Chunk,
    Out,
    Stage,
    StageBase,
    StageEnv,
    ToxicAttributes,
)

__all__ = ["LatencyToxic"]


@TOXICS.register("latency")
class LatencyToxic(ToxicAttributes):
    """Add ``latency`` ms (± uniform ``jitter`` ms) to every chunk."""

    latency_ms: int = Field(0, alias="latency", ge=0, strict=True)
    jitter_ms: int = Field(0, alias="jitter", ge=0, strict=True)

    def stage(self, env: StageEnv) -> Stage:
        """A stage that holds each chunk until ``receive time + delay``."""
        return _LatencyStage(env)


class _LatencyStage(StageBase):
    __slots__ = ()

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        attrs = self.env.toxic.attributes
        assert isinstance(attrs, LatencyToxic)
        delay_ms = jittered_ms(attrs.latency_ms, attrs.jitter_ms, self.env.rng)
        await self.sleep_until(chunk.t + delay_ms / 1000.0)
        await out(chunk)
