"""aichaos: chaos engineering for AI pipelines and model-serving layers.

The public names below load lazily (PEP 562), so ``import aichaos`` has no side effects
and stays fast; heavy libraries load only where they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aichaos._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AichaosError": "aichaos.errors",
    "BlastRadius": "aichaos.faults.base",
    "FAULTS": "aichaos.faults.base",
    "Fault": "aichaos.faults.base",
    "Injection": "aichaos.faults.base",
    "InjectionContext": "aichaos.faults.base",
    "PROBES": "aichaos.probes.base",
    "Probe": "aichaos.probes.base",
    "ProbeContext": "aichaos.probes.base",
    "TARGETS": "aichaos.targets",
    "Target": "aichaos.targets",
    "ValidationError": "aichaos.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:
    from aichaos.errors import AichaosError as AichaosError
    from aichaos.errors import ValidationError as ValidationError
    from aichaos.faults.base import FAULTS as FAULTS
    from aichaos.faults.base import BlastRadius as BlastRadius
    from aichaos.faults.base import Fault as Fault
    from aichaos.faults.base import Injection as Injection
    from aichaos.faults.base import InjectionContext as InjectionContext
    from aichaos.probes.base import PROBES as PROBES
    from aichaos.probes.base import Probe as Probe
    from aichaos.probes.base import ProbeContext as ProbeContext
    from aichaos.targets import TARGETS as TARGETS
    from aichaos.targets import Target as Target


__getattr__, __dir__ = lazy_exports("aichaos", _EXPORTS, globals())
