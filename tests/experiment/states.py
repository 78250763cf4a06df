"""A helper that builds the one state object for policy tests."""

from __future__ import annotations

from aichaos.experiment.metrics import MetricStore
from aichaos.experiment.state import ExperimentState, Phase


def make_state(
    samples: dict[str, list[tuple[float, float]]] | None = None,
    *,
    now: float = 100.0,
    phase: str = Phase.INJECTING,
    phase_started: float = 0.0,
) -> ExperimentState:
    """Build a state for tests: ``samples`` maps ``source.metric`` to ``[(t, value)]``."""
    store = MetricStore()
    for name, pairs in (samples or {}).items():
        source, _, metric = name.partition(".")
        for t, v in pairs:
            store.add(t, source, {metric: v})
    return ExperimentState(
        phase=phase, now=now, started=0.0, phase_started=phase_started, store=store
    )
