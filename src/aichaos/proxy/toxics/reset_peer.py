"""``reset_peer``: reset the connection (a real TCP RST) ``timeout`` ms after it joins.

Unlike Toxiproxy, the RST is real on connections that were already open when the toxic
was added (SO_LINGER 0 is set at reset time, not at accept), and toxicity 0 never resets.
Data flows normally until the reset.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS, StageBase, StageEnv, ToxicAttributes

__all__ = ["ResetPeer"]


class _ResetStage(StageBase):
    """A pass-through stage that owns the reset timer."""

    __slots__ = ("_timer",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        attrs = self.attrs(ResetPeer)
        self._timer = self.env.loop.call_later(attrs.timeout_ms / 1000.0, self.env.conn.reset)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@TOXICS.register("reset_peer")
class ResetPeer(ToxicAttributes):
    """Abort both sides with TCP RST ``timeout`` ms after the toxic joins the connection."""

    stage_class: ClassVar[type[StageBase]] = _ResetStage

    timeout_ms: int = Field(0, alias="timeout", ge=0, strict=True)
