"""``timeout``: stop all data, and close the connection after ``timeout`` ms (0 = never).

Data is dropped while the toxic is on the link, as in Toxiproxy. The timer starts when
the toxic joins the connection (at accept, or when it is added to a live connection).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS, Chunk, Out, StageBase, TimerStage, ToxicAttributes

__all__ = ["Timeout"]


class _TimeoutStage(TimerStage):
    """A stage that drops data and owns a close timer."""

    __slots__ = ()

    def start(self) -> None:
        timeout_ms = self.attrs(Timeout).timeout_ms
        if timeout_ms > 0:
            self.after(timeout_ms, self.env.conn.close)

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        if self.gone or chunk.eof:
            await out(chunk)
        # else: data dropped on the floor while the toxic is active (Toxiproxy's meaning)


@TOXICS.register("timeout")
class Timeout(ToxicAttributes):
    """Drop all data; close the connection after ``timeout`` ms (0: keep it open, silent)."""

    stage_class: ClassVar[type[StageBase]] = _TimeoutStage

    timeout_ms: int = Field(0, alias="timeout", ge=0, strict=True)
