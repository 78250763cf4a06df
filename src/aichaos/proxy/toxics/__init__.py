"""Toxic types, one module each, registered by name in :data:`TOXICS`."""

from aichaos.proxy.toxics.base import TOXICS, ToxicAttributes

__all__ = ["TOXICS", "ToxicAttributes"]
