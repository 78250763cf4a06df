"""What a corruption changed: the ground truth for "did the pipeline notice?".

A :class:`ChangeReport` says exactly which cells and rows differ between a corruption's
input and output. Cell corruptions fill :attr:`ChangeReport.cells` (one boolean mask per
touched column, over output rows); row corruptions fill :attr:`ChangeReport.source_rows`
(output row -> input row) and :attr:`ChangeReport.row_mask`; schema drift fills
:attr:`ChangeReport.schema_changes`. :meth:`ChangeReport.summary` is plain JSON-able data
for journals and reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Cells", "ChangeReport", "Corrupted"]


class Cells(Mapping[str, np.ndarray]):
    """Changed cells per column: a read-only mapping column -> boolean mask over rows.

    Corruptions hand in the changed row indices; the dense mask of a column is built on
    first access (and cached), so a caller that only counts pays O(changed), not O(rows).
    A boolean mask may be handed in as well.
    """

    def __init__(self, n_rows: int, changed: Mapping[str, np.ndarray]) -> None:
        self.n_rows = n_rows
        self._rows: dict[str, np.ndarray] = {}
        self._masks: dict[str, np.ndarray] = {}
        for name, arr in changed.items():
            if arr.dtype == bool:
                self._masks[name] = arr
            else:
                self._rows[name] = arr

    def __getitem__(self, name: str) -> np.ndarray:
        mask = self._masks.get(name)
        if mask is None:
            rows = self._rows[name]
            mask = np.zeros(self.n_rows, dtype=bool)
            mask[rows] = True
            self._masks[name] = mask
        return mask

    def __iter__(self) -> Iterator[str]:
        yield from self._rows
        yield from (n for n in self._masks if n not in self._rows)

    def __len__(self) -> int:
        return len(self._rows.keys() | self._masks.keys())

    def rows(self, name: str) -> np.ndarray:
        """Sorted indices of the changed rows of column ``name``."""
        rows = self._rows.get(name)
        return np.flatnonzero(self._masks[name]) if rows is None else rows

    def count(self, name: str) -> int:
        """How many cells of column ``name`` changed."""
        rows = self._rows.get(name)
        return int(np.count_nonzero(self._masks[name])) if rows is None else len(rows)


@dataclass(frozen=True, eq=False)
class ChangeReport:
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
    cells: Mapping[str, np.ndarray] = field(default_factory=dict)
    source_rows: np.ndarray | None = None
    row_mask: np.ndarray | None = None
    dropped_rows: np.ndarray | None = None
    schema_changes: tuple[dict[str, Any], ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cells_changed(self) -> int:
        """How many cells differ."""
        return sum(_count(self.cells, c) for c in self.cells)

    @property
    def n_rows_changed(self) -> int:
        """Output rows with any changed cell, or inserted / moved / replaced."""
        return int(np.count_nonzero(self.rows_changed()))

    def rows_changed(self) -> np.ndarray:
        """Boolean mask over output rows: True where anything about the row changed."""
        out = np.zeros(self.n_rows_out, dtype=bool)
        for name in self.cells:
            if isinstance(self.cells, Cells):
                out[self.cells.rows(name)] = True
            else:
                out |= self.cells[name]
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
            "cells_changed": {c: _count(self.cells, c) for c in self.cells},
            "rows_changed": self.n_rows_changed,
        }
        if self.dropped_rows is not None:
            out["rows_dropped"] = len(self.dropped_rows)
        if self.schema_changes:
            out["schema_changes"] = list(self.schema_changes)
        if self.extras:
            out["extras"] = self.extras
        return out


def _count(cells: Mapping[str, np.ndarray], name: str) -> int:
    if isinstance(cells, Cells):
        return cells.count(name)
    return int(np.count_nonzero(cells[name]))


class Corrupted(NamedTuple):
    """The corrupted batch (same backend as the input) and its :class:`ChangeReport`."""

    data: Any
    report: ChangeReport
