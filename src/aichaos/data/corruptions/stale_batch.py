"""``stale-batch``: a batch replaced by an earlier one (a stuck upstream, a cache gone stale).

Stateful: it needs the batches seen before, which :class:`aichaos.data.Stream` (and the
loader hooks built on it) keep. Each batch is replaced with probability ``fraction`` by
the batch ``lag`` positions earlier; the first ``lag`` batches pass untouched. The
report's ``extras["replaced_by_batch"]`` is the position of the batch delivered instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, Corruption
from aichaos.data.changes import Corrupted
from aichaos.data.frame import Frame
from aichaos.errors import ValidationError

__all__ = ["StaleBatch"]


@CORRUPTIONS.register("stale-batch")
class StaleBatch(Corruption):
    """Deliver, with probability ``fraction``, the batch from ``lag`` batches ago instead."""

    stateful = True

    lag: int = Field(1, ge=1, le=1000, description="how many batches back the stale one is")

    def _run(self, frame: Frame, rng: np.random.Generator, history: Any) -> Corrupted:
        if history is None:
            raise ValidationError(
                "stale-batch needs the earlier batches: use aichaos.data.Stream(spec) or "
                "the corrupt() hook, or pass history=[...]"
            )
        past: Sequence[Any] = history
        hit = bool(rng.random() < self.effective_fraction())
        if not hit or len(past) < self.lag:
            return Corrupted(frame.data, self._report(frame))
        stale = past[len(past) - self.lag]
        n_out = len(stale)
        report = self._report(
            frame,
            n_rows_out=n_out,
            row_mask=np.ones(n_out, dtype=bool),
            extras={"replaced_by_batch": getattr(past, "start", 0) + len(past) - self.lag},
        )
        return Corrupted(stale, report)
