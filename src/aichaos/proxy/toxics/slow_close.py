"""``slow_close``: delay the close of a stream by ``delay`` ms after its data."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS, Chunk, Out, StageBase, ToxicAttributes

__all__ = ["SlowClose"]


class _SlowCloseStage(StageBase):
    """A stage that passes data and sleeps before passing the end of stream."""

    __slots__ = ()

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        if chunk.eof:
            attrs = self.attrs(SlowClose)
            await self.sleep(attrs.delay_ms / 1000.0)
        await out(chunk)


@TOXICS.register("slow_close")
class SlowClose(ToxicAttributes):
    """Hold the end of the stream (FIN / close) for ``delay`` ms."""

    stage_class: ClassVar[type[StageBase]] = _SlowCloseStage

    delay_ms: int = Field(0, alias="delay", ge=0, strict=True)
