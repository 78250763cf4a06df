"""The result of a run: its verdict and what led to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aichaos.verdict import Verdict

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """The verdict of a run and what led to it."""

    status: Verdict
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
        return self.status.exit_code
