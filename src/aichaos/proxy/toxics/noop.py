"""``noop``: a toxic that passes every byte unchanged (measures the toxic chain's cost)."""

from __future__ import annotations

from aichaos.proxy.toxics.base import TOXICS, ToxicAttributes

__all__ = ["Noop"]


@TOXICS.register("noop")
class Noop(ToxicAttributes):
    """Do nothing; the chunk still goes through the stage chain."""
