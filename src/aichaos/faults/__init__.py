"""Fault specs and their registry. Each fault type is one module that registers itself."""

from aichaos.faults.base import FAULTS, BlastRadius, Fault, Injection, InjectionContext, Updatable

__all__ = ["FAULTS", "BlastRadius", "Fault", "Injection", "InjectionContext", "Updatable"]
