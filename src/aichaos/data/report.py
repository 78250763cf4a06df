"""What a corruption changed: the ground truth for "did the pipeline notice?".

A :class:`Report` says exactly which cells and rows differ between a corruption's input
and output. Cell corruptions fill :attr:`Report.cells` (one boolean mask per touched
column, over output rows); row corruptions fill :attr:`Report.source_rows` (output row ->
input row) and :attr:`Report.row_mask`; schema drift fills :attr:`Report.schema_changes`.
:meth:`Report.summary` is plain JSON-able data for journals and reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Corrupted", "Report"]


@dataclass(frozen=True, eq=False)
class Report:
    """Exactly what one corruption changed in one batch.

    ``cells[c][i]`` is True when output row ``i`` of column ``c`` differs from its input
    cell. ``source_rows[i]`` is the input row that output row ``i`` came from (None: the
    identity). ``row_mask[i]`` is True for an output row that was inserted, moved or
    replaced. ``dropped_rows`` are the input rows missing from the output.
    """

    corruption: str
    params: dict[str, Any]
    n_rows_in: int
    n_rows_out: int
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    source_rows: np.ndarray | None = None
    row_mask: np.ndarray | None = None
    dropped_rows: np.ndarray | None = None
    schema_changes: tuple[dict[str, Any], ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cells_changed(self) -> int:
        """How many cells differ."""
        return int(sum(int(np.count_nonzero(m)) for m in self.cells.values()))

    @property
    def n_rows_changed(self) -> int:
        """Output rows with any changed cell, or inserted / moved / replaced."""
        return int(np.count_nonzero(self.rows_changed()))

    def rows_changed(self) -> np.ndarray:
        """Boolean mask over output rows: True where anything about the row changed."""
        out = np.zeros(self.n_rows_out, dtype=bool)
        for mask in self.cells.values():
            out |= mask
        if self.row_mask is not None:
            out |= self.row_mask
        return out

    @property
    def changed(self) -> bool:
        """Whether the batch differs from the input at all."""
        return bool(
            self.n_rows_changed
            or self.schema_changes
            or (self.dropped_rows is not None and len(self.dropped_rows))
            or self.extras.get("replaced_by_batch") is not None
        )

    def summary(self) -> dict[str, Any]:
        """Plain data (JSON-able): counts per column, row counts, schema changes."""
        out: dict[str, Any] = {
            "corruption": self.corruption,
            "params": self.params,
            "n_rows_in": self.n_rows_in,
            "n_rows_out": self.n_rows_out,
            "cells_changed": {c: int(np.count_nonzero(m)) for c, m in self.cells.items()},
            "rows_changed": self.n_rows_changed,
        }
        if self.dropped_rows is not None:
            out["rows_dropped"] = len(self.dropped_rows)
        if self.schema_changes:
            out["schema_changes"] = list(self.schema_changes)
        if self.extras:
            out["extras"] = self.extras
        return out


class Corrupted(NamedTuple):
    """The corrupted batch (same backend as the input) and its :class:`Report`."""

    data: Any
    report: Report
