"""The ``http`` workload: open-loop load through every phase of an experiment.

::

    workload:
      type: http
      target: api            # an `http` target, or `url: http://...`
      path: /predict
      method: POST
      rate_rps: 200
      body_file: eval.jsonl  # labelled requests: {"features": [...], "expected": 2}
      quality: {json_path: $.prediction, task: classification}
      goodput: {ttft_ms: 800, tpot_ms: 60}   # adds goodput_rps

Each window's figures (``sent``, ``rate_rps``, ``p99_ms``, ``error_rate``,
``errors_5xx``, ``accuracy``, ``silent_failure_rate``, ``incomplete_stream_rate``...)
are emitted for the engine to store as ``load.<key>``, with the per-request
distributions ``ttft_ms``, ``itl_ms``, ``tpot_ms`` and ``e2e_ms`` as histograms; see
:mod:`aichaos.load.stats`, :mod:`aichaos.load.streamstats` and :mod:`aichaos.load.quality`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from aichaos.errors import TargetError, ValidationError
from aichaos.load.base import WORKLOADS, Emit, Workload, WorkloadContext
from aichaos.load.spec import LoadOptions, LoadSpec, validated

__all__ = ["HttpWorkload"]


@WORKLOADS.register("http")
class HttpWorkload(Workload, LoadOptions):
    """Open-loop HTTP/1.1 load (constant or Poisson), with optional model-quality checks."""

    target: str | None = Field(None, description="name of an `http` target")
    url: str | None = Field(None, pattern=r"^http://", description="instead of a target")
    path: str | None = Field(None, description="appended to the target's URL")

    @model_validator(mode="after")
    def _one_destination(self) -> HttpWorkload:
        if (self.target is None) == (self.url is None):
            raise ValueError("give exactly one of target, url")
        return self

    def metric_names(self) -> frozenset[str]:
        """Every figure a window may report; the quality ones only with ``quality``."""
        from aichaos.load.stats import window_metric_names

        llm = getattr(self.quality, "task", None) == "llm"
        return window_metric_names(self.quality is not None, llm, self.goodput is not None)

    def preflight(self) -> list[str]:
        """A ``body_file`` that does not read, or whose expectations do not compile."""
        if self.body_file is None:
            return []
        import random

        from aichaos.load.requests import Endpoint
        from aichaos.load.spec import build_source

        try:
            build_source(self, Endpoint("127.0.0.1", 80), random.Random(0))
        except ValidationError as exc:
            return [str(exc)]
        return []

    def distribution_names(self) -> frozenset[str]:
        """``ttft_ms``, ``itl_ms``, ``tpot_ms``, ``e2e_ms``: SLOs aggregate their requests."""
        from aichaos.load.streamstats import DISTRIBUTIONS

        return frozenset(DISTRIBUTIONS)

    def resolve(self, ctx: WorkloadContext) -> LoadSpec:
        """The concrete run: URL from the target, headers merged, seed from the run."""
        headers = dict(self.headers)
        if self.target is not None:
            try:
                t: Any = ctx.targets[self.target]
            except KeyError:
                raise TargetError(f"workload: unknown target {self.target!r}") from None
            if getattr(t, "type", None) != "http":
                raise TargetError(f"workload: target {self.target!r} is not an http target")
            base = str(t.url)
            headers = {**getattr(t, "headers", {}), **headers}
        else:
            base = str(self.url)
        url = base
        if self.path:
            url = base.rstrip("/") + "/" + self.path.lstrip("/")
        values = self.model_dump(exclude={"target", "url", "path", "name", "window_s"})
        values.update(
            url=url,
            headers=headers,
            window_s=self.window_s,
            seed=self.seed if self.seed is not None else ctx.rng.getrandbits(31),
        )
        return validated(LoadSpec, **values)

    async def run(self, ctx: WorkloadContext, emit: Emit, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set, emitting one metrics dict per window."""
        spec = self.resolve(ctx)
        if spec.processes > 1:
            from aichaos.load.multiproc import run_multiprocess

            await run_multiprocess(
                spec,
                stop=stop,
                on_window=lambda w, b: emit({**w.metrics(b), **w.distributions()}),
                phase=ctx.phase,
            )
            return
        from aichaos.load.requests import parse_url
        from aichaos.load.spec import build_generator

        gen: Any = None

        def on_window(w: Any) -> None:
            emit({**w.metrics(gen.quality_baseline), **w.distributions()})

        gen = build_generator(
            spec,
            parse_url(spec.url),
            seed=spec.seed or 0,
            window_s=spec.window_s,
            phase=ctx.phase,
            on_window=on_window,
        )
        await gen.run(stop=stop)
