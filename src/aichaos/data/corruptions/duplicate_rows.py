"""``duplicate-rows``: a fraction of rows delivered twice (at-least-once delivery).

Each picked row is repeated right after itself (``placement="adjacent"``, a retried
write) or all copies are appended at the end (``placement="end"``, a replayed batch).
The report's ``row_mask`` marks the copies; ``source_rows`` maps every output row back.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, Corruption
from aichaos.data.changes import Corrupted
from aichaos.data.columns import pick
from aichaos.data.frame import Frame

__all__ = ["DuplicateRows"]


@CORRUPTIONS.register("duplicate-rows")
class DuplicateRows(Corruption):
    """Repeat a fraction of rows (next to the original, or at the end)."""

    placement: Literal["adjacent", "end"] = Field("adjacent", description="where copies go")

    def _run(self, frame: Frame, rng: np.random.Generator, history: Any) -> Corrupted:
        n = frame.n_rows
        idx = pick(rng, n, self.effective_fraction())
        if self.placement == "end":
            source = np.concatenate([np.arange(n), idx])
            copy = np.zeros(len(source), dtype=bool)
            copy[n:] = True
        else:
            source = np.sort(np.concatenate([np.arange(n), idx]), kind="stable")
            copy = np.zeros(len(source), dtype=bool)
            copy[1:] = source[1:] == source[:-1]
        out = frame.take(source)
        report = self._report(frame, n_rows_out=len(source), source_rows=source, row_mask=copy)
        return Corrupted(out, report)
