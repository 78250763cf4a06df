"""Workloads: traffic that runs through baseline, injection and recovery.

A workload is plain data plus an async :meth:`Workload.run` that sends traffic until
``stop`` is set and calls ``emit`` once per window with that window's metrics
(``sent``, ``rate``, ``p99_ms``, ``error_rate``, quality figures...). The engine stores
them as ``<workload name>.<metric>`` (default name ``load``), so SLOs can name them.
A value may be a :class:`~aichaos.load.histogram.LatencyHistogram` (a per-request
distribution such as ``ttft_ms``): an SLO's ``p99(load.ttft_ms)`` then merges the
histograms of its window and reads the percentile of the requests, not of windows.
"""

from __future__ import annotations

import asyncio
import random
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from aichaos.load.histogram import LatencyHistogram
from aichaos.registry import Registry
from aichaos.spec import Spec

__all__ = ["WORKLOADS", "Workload", "WorkloadContext"]

Emit = Callable[[Mapping[str, float | LatencyHistogram]], None]


@dataclass
class WorkloadContext:
    """What a workload gets from the engine."""

    targets: Mapping[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    #: the engine's phase, for workloads that treat baseline traffic specially
    phase: Callable[[], str] = lambda: "baseline"


class Workload(Spec):
    """Base of every workload type."""

    type: ClassVar[str] = ""

    name: str = Field("load", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    window_s: float = Field(1.0, gt=0, description="metrics are emitted once per window")

    @abstractmethod
    async def run(self, ctx: WorkloadContext, emit: Emit, stop: asyncio.Event) -> None:
        """Send traffic until ``stop`` is set, emitting one metrics dict per window."""

    def metric_names(self) -> frozenset[str] | None:
        """The metrics its windows may report, or ``None`` when only a run can tell."""
        return None

    def preflight(self) -> list[str]:
        """Mistakes in what it would send (its files), found before the run starts."""
        return []

    def distribution_names(self) -> frozenset[str]:
        """Those of :meth:`metric_names` that are per-request distributions."""
        return frozenset()


WORKLOADS: Registry[Workload] = Registry(
    "workload", "aichaos.workloads", builtin_modules=("aichaos.load.workload",)
)
