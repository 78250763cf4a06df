"""aichaos.data: corrupted, dropped and late data, at the speed of the data.

Corruptions over pandas, Arrow and numpy batches (:func:`make`, ``CORRUPTIONS``), loader
hooks (:class:`corrupt`, :class:`Stream`, :func:`batch_fn`), file and delivery faults
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
    "Corrupted": "aichaos.data.report",
    "Corruption": "aichaos.data.base",
    "DataExperiment": "aichaos.data.experiment",
    "Report": "aichaos.data.report",
    "Stream": "aichaos.data.hooks",
    "batch_fn": "aichaos.data.hooks",
    "corrupt": "aichaos.data.hooks",
    "make": "aichaos.data.base",
    "run_experiment": "aichaos.data.experiment",
}

__all__ = [
    "CORRUPTIONS",
    "CellCorruption",
    "Corrupted",
    "Corruption",
    "DataExperiment",
    "Report",
    "Stream",
    "batch_fn",
    "corrupt",
    "make",
    "run_experiment",
]

if TYPE_CHECKING:
    from aichaos.data.base import CORRUPTIONS, CellCorruption, Corruption, make
    from aichaos.data.experiment import DataExperiment, run_experiment
    from aichaos.data.hooks import Stream, batch_fn, corrupt
    from aichaos.data.report import Corrupted, Report


__getattr__, __dir__ = lazy_exports("aichaos.data", _EXPORTS, globals())
