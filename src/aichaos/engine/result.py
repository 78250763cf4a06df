"""The result of a run: its verdict and what led to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aichaos.experiment.metrics import MetricStore
from aichaos.experiment.model import Experiment
from aichaos.experiment.slo import NO_SUCCESS, Check, Condition
from aichaos.verdict import Verdict

__all__ = ["RunResult", "judge", "unobserved"]


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


def judge(
    *,
    revert_failures: Sequence[str],
    unobserved: Sequence[str],
    recovery: Check | None,
    deviations: int,
    idle_steps: Sequence[str],
) -> tuple[Verdict, str]:
    """The verdict of a run that reached the end of recovery, and why.

    The order is the order of trust: a fault left behind is an ``error`` whatever the
    steady state did; a condition no successful sample informed is not "held"; a steady
    state that broke or did not recover is ``deviated``; and ``passed`` needs every
    step to have provably touched something (else ``inconclusive``).
    """
    if revert_failures:
        return Verdict.ERROR, "some faults could not be reverted: " + "; ".join(revert_failures)
    if unobserved:
        return Verdict.DEVIATED, "; ".join(unobserved)
    if recovery is not None and not recovery.ok:
        failing = "; ".join(f"{c.expr} ({c.detail})" for c in recovery.failing())
        return Verdict.DEVIATED, f"steady state did not recover: {failing}"
    if deviations:
        return Verdict.DEVIATED, f"steady state broke during injection ({deviations} check(s))"
    if idle_steps:
        return Verdict.INCONCLUSIVE, (
            "the steady state held, but not under the fault: step " + "; step ".join(idle_steps)
        )
    return Verdict.PASSED, "steady state held during injection and after recovery"


def unobserved(
    experiment: Experiment, store: MetricStore, since: float, now: float
) -> list[tuple[str, Condition, str]]:
    """``(section, condition, why)`` for every condition no successful sample informed.

    Unknown is not healthy: such a condition was never shown to hold between ``since``
    and ``now``, so the run cannot pass on it.
    """
    missed = []
    for section, slos in (
        ("steady state", experiment.steady_state),
        ("guardrail", experiment.guardrails),
    ):
        for cond in (c for s in slos for c in s.conditions()):
            if not cond.observed(store, since, now):
                why = (
                    f"never {cond.min_samples} successful samples in one window"
                    if cond.min_samples is not None
                    else NO_SUCCESS
                )
                missed.append((section, cond, why))
    return missed
