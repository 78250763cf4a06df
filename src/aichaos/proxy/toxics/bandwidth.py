"""``bandwidth``: limit a stream to ``rate`` KB/s (0 = unlimited)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.proxy.timer import now
from aichaos.proxy.toxics.base import TOXICS, Chunk, Out, StageBase, StageEnv, ToxicAttributes

__all__ = ["Bandwidth"]

#: a chunk is sent in slices of at most this much time at the rate, so a big write does
#: not sit in one long sleep and the stream stays smooth (Toxiproxy uses 100 ms too)
_SLICE_S = 0.1


class _BandwidthStage(StageBase):
    """A stage that paces bytes on a schedule, so sleeps do not add drift."""

    __slots__ = ("_next",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self._next = 0.0

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        attrs = self.attrs(Bandwidth)
        rate = attrs.rate_kbps * 1000.0
        if rate <= 0 or chunk.eof or self.gone:
            await out(chunk)
            return
        data = chunk.data
        step = max(1, int(rate * _SLICE_S))
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            # A schedule (not a sleep per piece) so idle time is not banked as credit
            # beyond now and rounding errors do not accumulate.
            self._next = max(self._next, now()) + len(piece) / rate
            await self.sleep_until(self._next)
            await out(Chunk(piece, chunk.t))


@TOXICS.register("bandwidth")
class Bandwidth(ToxicAttributes):
    """Limit the stream to ``rate`` KB/s (1 KB = 1000 bytes); 0 means no limit."""

    stage_class: ClassVar[type[StageBase]] = _BandwidthStage

    rate_kbps: int = Field(0, alias="rate", ge=0, strict=True)
