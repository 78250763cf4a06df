"""``slow_close``: delay the close of a stream by ``delay`` ms after its data."""

from __future__ import annotations

from pydantic import Field

from aichaos.proxy.toxics.base import (
    TOXICS,
    Chunk,
    Out,
    Stage,
    StageBase,
    StageEnv,
    ToxicAttributes,
)

__all__ = ["SlowClose"]


@TOXICS.register("slow_close")
class SlowClose(ToxicAttributes):
    """Hold the end of the stream (FIN / close) for ``delay`` ms."""

    delay_ms: int = Field(0, alias="delay", ge=0, strict=True)

    def stage(self, env: StageEnv) -> Stage:
        """A stage that passes data and sleeps before passing the end of stream."""
        return _SlowCloseStage(env)


class _SlowCloseStage(StageBase):
    __slots__ = ()

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        if chunk.eof:
            attrs = self.env.toxic.attributes
            assert isinstance(attrs, SlowClose)
            await self.sleep(attrs.delay_ms / 1000.0)
        await out(chunk)
