"""Probes: observations of the system, returning ``dict[str, float]`` measurements.

A probe is plain data (its settings) plus an async :meth:`Probe.measure`. The engine
calls it every ``every_s`` seconds under an enforced timeout and stores each metric as
``<probe name>.<metric>``, which SLOs then name (``api.latency_ms < 250``).

Optional capability: :class:`StatefulProbe` probes get ``open`` before the run and ``close``
after it (a connection pool, a baseline recording).
"""

from __future__ import annotations

import random
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field

from aichaos.errors import TargetError
from aichaos.registry import Registry
from aichaos.spec import Spec

if TYPE_CHECKING:
    import httpx

    from aichaos.load.client import Pool

__all__ = ["PROBES", "Probe", "ProbeContext", "StatefulProbe"]


@dataclass
class ProbeContext:
    """What a probe gets from the engine: resolved targets, shared HTTP clients, RNG.

    Both clients are built on first use and closed by :meth:`aclose`: ``wire()`` for
    plain ``http://`` exchanges, ``client()`` (httpx) for what needs more (HTTPS...).
    """

    targets: Mapping[str, Any] = field(default_factory=dict)
    http: httpx.AsyncClient | None = None
    pool: Pool | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    clock: Callable[[], float] = time.monotonic
    #: default per-sample timeout for probes that set none (safety.timeouts.probe_s)
    timeout_s: float = 5.0

    def timeout_for(self, probe: Probe) -> float:
        """The probe's own timeout, or the run's default."""
        return probe.timeout_s or self.timeout_s

    def target(self, name: str | None, kind: str) -> Any:
        """The target called ``name``, checked to be of ``kind``."""
        if name is None:
            raise TargetError(f"this probe needs a target of type {kind!r}")
        try:
            t = self.targets[name]
        except KeyError:
            raise TargetError(f"unknown target {name!r}") from None
        if t.type != kind:
            raise TargetError(f"target {name!r} is {t.type!r}, expected {kind!r}")
        return t

    def client(self) -> httpx.AsyncClient:
        """The shared HTTP client (created lazily outside the engine, e.g. in tests)."""
        if self.http is None:
            from aichaos.httpclient import async_client

            self.http = async_client()
        return self.http

    def wire(self) -> Pool:
        """The shared keep-alive pool for plain-HTTP exchanges (built on first use)."""
        if self.pool is None:
            from aichaos.load.client import Pool

            self.pool = Pool()
        return self.pool

    async def aclose(self) -> None:
        """Close the clients that were built."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.http is not None:
            await self.http.aclose()
            self.http = None


class Probe(Spec):
    """Base of every probe type: settings as plain data, ``measure`` does the work."""

    type: ClassVar[str] = ""

    every_s: float | None = Field(
        None, gt=0, description="sampling interval; default: safety.probe_interval_s"
    )
    timeout_s: float | None = Field(
        None, gt=0, description="enforced timeout per sample; default: safety.timeouts.probe_s"
    )

    @abstractmethod
    async def measure(self, ctx: ProbeContext) -> dict[str, float]:
        """Take one sample. Failures to reach the system are measurements, not errors."""

    def metric_names(self) -> frozenset[str] | None:
        """The metrics a successful sample reports, or ``None`` when only a run can tell.

        ``aichaos validate`` checks every SLO's metric against these (the engine adds
        ``error`` to every sample), so a typo fails before the baseline, not after it.
        """
        return None


@runtime_checkable
class StatefulProbe(Protocol):
    """Optional capability: set up before the first sample, tear down after the run."""

    async def open(self, ctx: ProbeContext) -> None:
        """Prepare (connect, record a baseline...)."""

    async def close(self) -> None:
        """Release what ``open`` took."""


PROBES: Registry[Probe] = Registry(
    "probe",
    "aichaos.probes",
    builtin_modules=(
        "aichaos.probes.http",
        "aichaos.probes.prometheus",
        "aichaos.probes.process",
        "aichaos.probes.callable",
        "aichaos.training.probe",
    ),
)
