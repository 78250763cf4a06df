"""The one state object every policy (SLO, guardrail, stop condition) receives."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from aichaos.experiment.metrics import MetricStore

__all__ = ["ExperimentState", "Phase"]


class Phase:
    """The engine's phases and terminal statuses, as plain strings for the journal."""

    PLANNED = "planned"
    BASELINE = "baseline"
    INJECTING = "injecting"
    RECOVERING = "recovering"
    DONE = "done"


@dataclass
class ExperimentState:
    """What a policy may look at.

    Attributes:
        phase: current phase (``baseline``, ``injecting``, ``recovering``).
        now: the engine clock's current reading (monotonic seconds).
        started: clock reading when the run started.
        phase_started: clock reading when the current phase started; SLOs without an
            explicit window look only at samples taken since then.
        store: every metric sample so far.
        step: name of the running method step, if any.
        level: the running step's current ramp level, if any.
        seed: the run's seed.
        rng: the run's random generator (seeded).
        window_floor: no window reaches back before this clock reading (the start of
            the current ramp level when the steady state is judged during injection);
            ``None``: windows are bounded by their own length only.
    """

    phase: str
    now: float
    started: float
    phase_started: float
    store: MetricStore
    step: str | None = None
    level: float | None = None
    seed: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    window_floor: float | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self.now - self.started
