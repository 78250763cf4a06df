"""The outcome of judging an SLO: held, broken, or unknown for lack of samples.

Kept apart from the grammar (:mod:`aichaos.experiment.slo`) because the engine, the
report and the journal read checks without parsing conditions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["NO_DATA", "Check"]

#: how a check without enough samples to judge begins its detail (unknown, not broken)
NO_DATA = "no data"


@dataclass(frozen=True)
class Check:
    """The outcome of evaluating an SLO: ``ok`` is False when breached or unknown."""

    ok: bool
    expr: str
    value: float | None = None
    detail: str = ""
    parts: tuple[Check, ...] = field(default=())

    def leaves(self) -> list[Check]:
        """The leaf checks (the SLO lines), in order."""
        return [self] if not self.parts else [leaf for p in self.parts for leaf in p.leaves()]

    def rows(self) -> list[dict[str, Any]]:
        """Leaf checks as journal rows: slo, ok, value, detail."""
        return [
            {"slo": c.expr, "ok": c.ok, "value": c.value, "detail": c.detail} for c in self.leaves()
        ]

    @property
    def no_data(self) -> bool:
        """True when this check did not hold only for lack of samples (unknown, not
        broken); also True when it held (nothing failed).

        Three-valued logic over the parts: all-of is unknown when no part broke and one
        is unknown; any-of is unknown when no part held and one is unknown (unknown or
        false is unknown: the part without data might have held).
        """
        if self.ok:
            return True
        if not self.parts:
            return self.unknown
        if self.expr == "any":
            return any(p.no_data for p in self.parts)
        return all(p.no_data for p in self.parts if not p.ok)

    @property
    def unknown(self) -> bool:
        """This check had too few samples to judge (none, or fewer than its ``min``)."""
        return self.detail.startswith(NO_DATA)

    def failing(self) -> list[Check]:
        """The leaf checks that did not hold."""
        if self.ok:
            return []
        if not self.parts:
            return [self]
        return [leaf for p in self.parts for leaf in p.failing()]
