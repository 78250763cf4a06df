"""``slicer``: cut chunks into small pieces (``average_size`` ± ``size_variation`` bytes),
with ``delay`` microseconds between them: exercises a peer's reassembly of partial reads.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS, Chunk, Out, StageBase, ToxicAttributes

__all__ = ["Slicer"]


class _SlicerStage(StageBase):
    """A stage that re-chunks data."""

    __slots__ = ()

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        attrs = self.attrs(Slicer)
        if chunk.eof or attrs.average_size_bytes <= 0 or self.gone:
            await out(chunk)
            return
        data, pos, rng = chunk.data, 0, self.env.rng
        var = min(attrs.size_variation_bytes, attrs.average_size_bytes - 1)
        while pos < len(data):
            size = attrs.average_size_bytes + (rng.randint(-var, var) if var > 0 else 0)
            await out(Chunk(data[pos : pos + size], chunk.t))
            pos += size
            if pos < len(data) and not self.gone:
                await self.sleep(attrs.delay_us / 1e6)


@TOXICS.register("slicer")
class Slicer(ToxicAttributes):
    """Slice data into pieces of ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

    stage_class: ClassVar[type[StageBase]] = _SlicerStage

    average_size_bytes: int = Field(0, alias="average_size", ge=0, strict=True)
    size_variation_bytes: int = Field(0, alias="size_variation", ge=0, strict=True)
    delay_us: int = Field(0, alias="delay", ge=0, strict=True)
