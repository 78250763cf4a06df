"""The verdict of a run and the exit code for each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXIT_CODES", "RunResult"]

#: process exit code of ``aichaos run`` for each verdict (2 is bad input / refused)
EXIT_CODES = {
    "passed": 0,
    "deviated": 1,
    "aborted": 3,
    "failed-baseline": 4,
    "error": 5,
    # the steady state held, but a fault provably touched nothing: no proof either way
    "inconclusive": 6,
}


@dataclass
class RunResult:
    """The verdict of a run and what led to it."""

    status: str
    reason: str
    seed: int
    breaking_points: list[dict[str, Any]] = field(default_factory=list)
    revert_failures: list[str] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)
    journal: Path | None = None
    summary: Path | None = None

    @property
    def exit_code(self) -> int:
        """The documented exit code for :attr:`status`."""
        return EXIT_CODES[self.status]
