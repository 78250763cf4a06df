"""``out-of-order``: a fraction of rows arrive in the wrong position.

The picked rows trade places among themselves along one random cycle, so every picked
row really moves while the rest stay put -- late events in a stream, a shuffled merge.
``row_mask`` marks the moved rows; ``source_rows`` is the permutation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aichaos.data.base import CORRUPTIONS, Corruption
from aichaos.data.changes import Corrupted
from aichaos.data.columns import pick
from aichaos.data.frame import Frame

__all__ = ["OutOfOrder"]


@CORRUPTIONS.register("out-of-order")
class OutOfOrder(Corruption):
    """Move a fraction of rows to other rows' positions (a derangement of the picked rows)."""

    def _run(self, frame: Frame, rng: np.random.Generator, history: Any) -> Corrupted:
        n = frame.n_rows
        idx = pick(rng, n, self.effective_fraction())
        source = np.arange(n)
        moved = np.zeros(n, dtype=bool)
        if len(idx) >= 2:
            order = rng.permutation(idx)
            source[order] = np.roll(order, 1)  # one cycle through all picked rows
            moved[idx] = True
        report = self._report(frame, source_rows=source, row_mask=moved)
        return Corrupted(frame.take(source), report)
