"""``reset_peer``: reset the connection (a real TCP RST) ``timeout`` ms after it joins.

Unlike Toxiproxy, the RST is real on connections that were already open when the toxic
was added (SO_LINGER 0 is set at reset time, not at accept), and toxicity 0 never resets.
Data flows normally until the reset.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS, StageBase, TimerStage, ToxicAttributes

__all__ = ["ResetPeer"]


class _ResetStage(TimerStage):
    """A pass-through stage that owns the reset timer."""

    __slots__ = ()

    def start(self) -> None:
        self.after(self.attrs(ResetPeer).timeout_ms, self.env.conn.reset)


@TOXICS.register("reset_peer")
class ResetPeer(ToxicAttributes):
    """Abort both sides with TCP RST ``timeout`` ms after the toxic joins the connection."""

    stage_class: ClassVar[type[StageBase]] = _ResetStage

    timeout_ms: int = Field(0, alias="timeout", ge=0, strict=True)
