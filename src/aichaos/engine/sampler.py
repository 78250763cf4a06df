"""Runs the probes on their schedules and the workload, feeding the metric store.

Each probe sample runs under an enforced timeout: a hung model call becomes a
``probe-error`` event, never a hung run. After every stored sample the engine's
``on_sample`` hook runs, so a guardrail sees a breach the moment its data arrives.

Every probe sample carries ``error``: 0 for a sample that succeeded, 1 for one that
raised or timed out (a probe may also report ``error: 1`` itself, as the HTTP probe does
for a connection failure). A failed sample is stored as ``ok = 0``, ``latency_ms`` at
least the probe's timeout and ``timeout`` 0 or 1, and SLOs treat it as a failed
observation for every condition over that probe (see :mod:`aichaos.experiment.slo`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from aichaos.engine.journal import Journal
from aichaos.engine.tasks import bounded, failure_text
from aichaos.eventloop import cancel
from aichaos.experiment.metrics import MetricStore
from aichaos.load.base import Workload, WorkloadContext
from aichaos.load.histogram import LatencyHistogram
from aichaos.probes.base import Probe, ProbeContext, StatefulProbe

__all__ = ["Sampler"]

_GRACE_S = 0.25


class Sampler:
    """Owns the probe and workload tasks of one run."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        workload: Workload | None,
        *,
        store: MetricStore,
        journal: Journal,
        probe_ctx: ProbeContext,
        workload_ctx: WorkloadContext,
        default_every_s: float,
        clock: Callable[[], float],
        phase: Callable[[], str],
        on_sample: Callable[[], None],
    ) -> None:
        self.probes = probes
        self.workload = workload
        self.store = store
        self.journal = journal
        self.probe_ctx = probe_ctx
        self.workload_ctx = workload_ctx
        self.default_every_s = default_every_s
        self.clock = clock
        self.phase = phase
        self.on_sample = on_sample
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._opened: list[StatefulProbe] = []

    async def start(self) -> None:
        """Open stateful probes and start every sampling task."""
        for name, probe in self.probes.items():
            if isinstance(probe, StatefulProbe):
                await asyncio.wait_for(probe.open(self.probe_ctx), self.probe_ctx.timeout_s)
                self._opened.append(probe)
            self._tasks.append(asyncio.create_task(self._probe_loop(name, probe)))
        if self.workload is not None:
            self._tasks.append(asyncio.create_task(self._workload(self.workload)))

    async def sample_all(self) -> None:
        """Take one sample of every probe now (used at phase boundaries)."""
        await asyncio.gather(*(self._sample(n, p) for n, p in self.probes.items()))

    def record(
        self, source: str, values: Mapping[str, float | LatencyHistogram], t: float | None = None
    ) -> None:
        """Store and journal one sample, then let the engine check its policies.

        ``t`` is when the measurement began (default: now): a probe request that was
        sent before a ramp level began belongs to the level before, however late it ends.
        Distributions (histogram values) are journaled apart, in encoded HdrHistogram form.
        """
        self.store.add(self.clock() if t is None else t, source, values)
        scalars = {k: v for k, v in values.items() if not isinstance(v, LatencyHistogram)}
        extra: dict[str, Any] = {}
        if len(scalars) < len(values):
            extra["distributions"] = {
                k: v.encode() for k, v in values.items() if isinstance(v, LatencyHistogram)
            }
        self.journal.write("sample", source=source, phase=self.phase(), values=scalars, **extra)
        self.on_sample()

    async def _sample(self, name: str, probe: Probe) -> None:
        # Probes that time out by themselves report it as a measurement; the enforced
        # limit sits a little above theirs and catches the ones that hang regardless.
        own = self.probe_ctx.timeout_for(probe)
        timeout = own + _GRACE_S
        t0 = self.clock()
        try:
            values = await bounded(probe.measure(self.probe_ctx), timeout)
        except Exception as exc:  # a failed sample is journaled and recorded, not fatal
            timed_out = isinstance(exc, TimeoutError)  # the limit, or the probe's own socket
            why = failure_text(exc)
            self.journal.write("probe-error", source=name, error=why)
            latency_ms = max(self.clock() - t0, own) * 1e3
            self.record(
                name,
                {"error": 1.0, "ok": 0.0, "latency_ms": latency_ms, "timeout": float(timed_out)},
                t0,
            )
            return
        self.record(name, {"error": 0.0, **values}, t0)

    async def _probe_loop(self, name: str, probe: Probe) -> None:
        every = probe.every_s or self.default_every_s
        next_at = self.clock()
        while not self._stop.is_set():
            await self._sample(name, probe)
            next_at += every
            delay = next_at - self.clock()
            if delay < 0:  # a slow probe: skip missed ticks instead of bursting
                next_at = self.clock()
                delay = 0
            await self._nap(delay)

    async def _nap(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    async def _workload(self, workload: Workload) -> None:
        def emit(values: Mapping[str, float | LatencyHistogram]) -> None:
            self.record(workload.name, values)

        try:
            await workload.run(self.workload_ctx, emit, self._stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.journal.write(
                "probe-error", source=workload.name, error=f"{type(exc).__name__}: {exc}"
            )

    async def stop(self) -> None:
        """Stop sampling (bounded: tasks get 5 s to finish, then are cancelled)."""
        self._stop.set()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=5.0)
            # together; cancel() cancels again if a wait_for swallowed the first
            await asyncio.gather(*(cancel(t) for t in pending))
        for probe in self._opened:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(probe.close(), self.probe_ctx.timeout_s)
