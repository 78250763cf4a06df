"""``drop-rows``: a fraction of rows lost in transit (a partition that never arrived).

The report lists the lost input rows in ``dropped_rows``; ``source_rows`` maps the
surviving output rows back to their input rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aichaos.data.base import CORRUPTIONS, Corruption
from aichaos.data.changes import Corrupted
from aichaos.data.columns import pick
from aichaos.data.frame import Frame

__all__ = ["DropRows"]


@CORRUPTIONS.register("drop-rows")
class DropRows(Corruption):
    """Drop a fraction of rows."""

    def _run(self, frame: Frame, rng: np.random.Generator, history: Any) -> Corrupted:
        n = frame.n_rows
        dropped = pick(rng, n, self.effective_fraction())
        keep = np.ones(n, dtype=bool)
        keep[dropped] = False
        source = np.flatnonzero(keep)
        report = self._report(
            frame,
            n_rows_out=len(source),
            source_rows=source,
            row_mask=np.zeros(len(source), dtype=bool),
            dropped_rows=dropped,
        )
        return Corrupted(frame.take(source), report)
