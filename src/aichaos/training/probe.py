"""``training`` probe: a training run's SLO metrics, from its reporter's metrics file.

The trainer appends events with :class:`~aichaos.training.reporter.TrainingReporter`;
each sample reads the file and reports (see :mod:`aichaos.training.summary`):

========================  ====================================================
``steps_per_s``           optimisation steps finished in the last ``window_s``
``samples_per_s``         samples in those steps
``step``, ``loss``        the latest step and its loss
``nonfinite``             NaN / Inf losses and gradient values seen so far
``restarts``              resumes after the first start
``lost_steps``            steps redone: the best step before each resume minus
                          the checkpoint step it resumed from, summed
``resume_s``              last gap from a step to the first step after a
                          restart (a restart still loading: the wait so far)
``checkpoint_age_s``      since the latest durable checkpoint
``eval``                  the latest evaluation (higher is better)
``elapsed_s``, ``done``   since the first start; 1 once the run finished
``loss_excess``           with a baseline: mean loss minus the baseline's at
                          the same steps, over the window
``baseline_loss``         with a baseline: its loss at our latest step
``eval_gap``              with a baseline: its evaluation minus ours at the
                          same step (> 0: we are behind)
``delay_s``               with a baseline: projected (or, once done, actual)
                          finish minus the baseline's
========================  ====================================================

A missing or unreadable file is a probe error, never a quiet sample. For jobs that
export Prometheus metrics already, the ``prometheus`` probe reads them instead
(``docs/training.md``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from aichaos.probes.base import PROBES, Probe, ProbeContext
from aichaos.training.summary import METRICS, read_records, summarize

__all__ = ["TrainingProbe"]


@PROBES.register("training")
class TrainingProbe(Probe):
    """Read a trainer's metrics file (and a baseline run's) into training SLO metrics."""

    metrics_file: str = Field(description="the JSON lines a TrainingReporter writes")
    baseline_file: str | None = Field(
        None, description="the metrics file of a fault-free run of the same job"
    )
    window_s: float = Field(5.0, gt=0, le=3600, description="window of the rates")

    def metric_names(self) -> frozenset[str]:
        """Every metric :mod:`aichaos.training.summary` reports."""
        return METRICS

    async def measure(self, ctx: ProbeContext) -> dict[str, float]:
        """Read the files in a thread and compute the metrics at the current wall time."""
        return await asyncio.to_thread(self.read, time.time)

    def read(self, now: Callable[[], float]) -> dict[str, float]:
        """One sample, synchronously (``now``: wall clock, as the reporter's)."""
        records = read_records(Path(self.metrics_file))
        base = read_records(Path(self.baseline_file)) if self.baseline_file else None
        return summarize(records, base, now(), self.window_s)
