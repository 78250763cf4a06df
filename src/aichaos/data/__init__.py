"""aichaos.data: corrupted, dropped and late data, at the speed of the data.

Corruptions over pandas, Arrow and numpy batches (:func:`make`, ``CORRUPTIONS``), loader
hooks (:func:`corrupt`, :class:`Stream`, :func:`batch_fn`), file and delivery faults
(:mod:`aichaos.data.files`, registered in ``FAULTS``), image helpers
(:mod:`aichaos.data.image`) and the data experiment runner (:func:`run_experiment`).

Names load lazily (PEP 562): importing this package does not import numpy, pandas or
pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aichaos._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "CORRUPTIONS": "aichaos.data.base",
    "CellCorruption": "aichaos.data.base",
    "ChangeReport": "aichaos.data.changes",
    "CorruptHook": "aichaos.data.inject",
    "Corrupted": "aichaos.data.changes",
    "Corruption": "aichaos.data.base",
    "DataExperiment": "aichaos.data.robustness",
    "Stream": "aichaos.data.inject",
    "batch_fn": "aichaos.data.inject",
    "corrupt": "aichaos.data.inject",
    "make": "aichaos.data.base",
    "run_experiment": "aichaos.data.robustness",
}

__all__ = [
    "CORRUPTIONS",
    "CellCorruption",
    "ChangeReport",
    "CorruptHook",
    "Corrupted",
    "Corruption",
    "DataExperiment",
    "Stream",
    "batch_fn",
    "corrupt",
    "make",
    "run_experiment",
]

if TYPE_CHECKING:
    from aichaos.data.base import CORRUPTIONS, CellCorruption, Corruption, make
    from aichaos.data.changes import ChangeReport, Corrupted
    from aichaos.data.inject import CorruptHook, Stream, batch_fn, corrupt
    from aichaos.data.robustness import DataExperiment, run_experiment


__getattr__, __dir__ = lazy_exports("aichaos.data", _EXPORTS, globals())
