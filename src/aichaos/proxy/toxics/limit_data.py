"""``limit_data``: close the connection once ``bytes`` bytes have passed on this stream."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS, Chunk, Out, StageBase, StageEnv, ToxicAttributes

__all__ = ["LimitData"]


class _LimitStage(StageBase):
    """A stage that counts bytes for its connection."""

    __slots__ = ("_sent",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self._sent = 0

    def start(self) -> None:
        attrs = self.attrs(LimitData)
        if attrs.limit_bytes <= 0:
            self.env.conn.close()

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        attrs = self.attrs(LimitData)
        if chunk.eof or self.gone:
            await out(chunk)
            return
        left = attrs.limit_bytes - self._sent
        if left <= 0:
            return
        data = chunk.data[:left]
        self._sent += len(data)
        await out(Chunk(data, chunk.t))
        if self._sent >= attrs.limit_bytes:
            self.env.conn.close()


@TOXICS.register("limit_data")
class LimitData(ToxicAttributes):
    """Let ``bytes`` bytes through on the stream, then close the connection."""

    stage_class: ClassVar[type[StageBase]] = _LimitStage

    limit_bytes: int = Field(0, alias="bytes", ge=0, strict=True)
