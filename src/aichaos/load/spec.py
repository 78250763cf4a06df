"""Load settings as plain data, and running them in one process.

:class:`LoadOptions` holds what every way of generating load shares (the ``http``
workload, ``aichaos load``, the benchmark); :class:`LoadSpec` adds the URL. Pydantic's
errors are translated into one :class:`~aichaos.errors.ValidationError` naming field,
value and expectation.

>>> spec = LoadSpec(url="http://127.0.0.1:8000/predict", rate_rps=500)
>>> spec.timeout_ms
10000.0
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator

from aichaos.errors import ValidationError
from aichaos.load.llm_quality import (
    LlmQualitySettings,
    LlmQualityTracker,
    compile_prompts,
    expect_key,
)
from aichaos.load.quality import QualitySettings, QualityTracker, Tracker
from aichaos.load.requests import (
    Endpoint,
    RequestSource,
    items_from_jsonl,
    parse_url,
    read_jsonl_numbered,
)
from aichaos.load.schedule import Arrival
from aichaos.load.streamstats import GoodputSettings
from aichaos.spec import Spec

__all__ = [
    "LoadOptions",
    "LoadSpec",
    "build_generator",
    "freeze_gc",
    "run_load",
    "tracker",
    "validated",
]

S = TypeVar("S", bound=Spec)

#: requests per second above which a single run is surely a typo
MAX_RATE_RPS = 1_000_000.0


class LoadOptions(Spec):
    """What to send, how fast, and how to judge the answers."""

    method: str = Field("GET", pattern=r"^[A-Z]+$", description="HTTP method")
    rate_rps: float = Field(gt=0, le=MAX_RATE_RPS, description="intended requests per second")
    arrival: Arrival = Field("constant", description="constant spacing or Poisson arrivals")
    body: str | None = Field(None, description="body template; {seq} becomes the request number")
    body_file: str | None = Field(None, description="JSONL file of requests (see docs/load.md)")
    order: Literal["cycle", "sample"] = Field("cycle", description="how body_file lines are used")
    expected_key: str = Field("expected", description="JSONL key holding the expected label")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request")
    timeout_ms: float = Field(10_000.0, gt=0, le=3_600_000, description="per-request timeout")
    max_concurrency: int = Field(256, ge=1, le=100_000, description="requests in flight at most")
    seed: int | None = Field(None, description="for Poisson gaps and sampling; default: run seed")
    quality: QualitySettings | LlmQualitySettings | None = Field(
        None, description="read and judge predictions, or LLM answers (task: llm)"
    )
    goodput: GoodputSettings | None = Field(
        None, description="per-request bounds (ttft_ms, tpot_ms, e2e_ms) for goodput_rps"
    )
    processes: int = Field(1, ge=1, le=64, description="generator processes sharing the rate")

    @field_validator("quality", mode="before")
    @classmethod
    def _one_kind(cls, v: Any) -> Any:
        # by task, so a mistake is reported against the settings of that task only
        if not isinstance(v, dict):
            return v
        kind = LlmQualitySettings if v.get("task") == "llm" else QualitySettings
        return kind.parse(v)  # a SpecError: its problems stay structured under quality


class LoadSpec(LoadOptions):
    """A complete load run: options plus where to send them."""

    url: str = Field(description="http://host[:port]/path")
    window_s: float = Field(1.0, gt=0, le=3600, description="metrics window")


def validated(cls: type[S], **values: Any) -> S:
    """``cls`` validated from ``values``; one :class:`~aichaos.validation.SpecError` otherwise."""
    return cls.parse(values)


def build_source(
    opts: LoadOptions, endpoint: Endpoint, rng: random.Random, start: int = 0
) -> RequestSource:
    """The request source the options describe (template or JSONL file)."""
    if opts.body is not None and opts.body_file is not None:
        raise ValidationError("give body or body_file, not both")
    if opts.body_file is not None:
        lines = read_jsonl_numbered(opts.body_file)
        llm = opts.quality if isinstance(opts.quality, LlmQualitySettings) else None
        key = opts.expected_key if llm is None else expect_key(opts.expected_key)
        values = [value for _, value in lines]
        items = items_from_jsonl(values, endpoint, opts.method, opts.headers, key)
        if llm is not None:
            where = f"body_file {opts.body_file!r}"
            items = compile_prompts(items, lines, llm, key, where)
        return RequestSource(items, opts.order, rng, start)
    return RequestSource.from_template(endpoint, opts.method, opts.body, opts.headers)


def tracker(settings: QualitySettings | LlmQualitySettings | None) -> Tracker | None:
    """The quality tracker the settings ask for, if any."""
    if settings is None:
        return None
    if isinstance(settings, LlmQualitySettings):
        return LlmQualityTracker(settings)
    return QualityTracker(settings)


def build_generator(
    opts: LoadOptions,
    endpoint: Endpoint,
    *,
    seed: int,
    window_s: float = 1.0,
    process_index: int = 0,
    processes: int = 1,
    phase: Callable[[], str] = lambda: "",
    on_window: Any = None,
) -> Any:
    """A :class:`~aichaos.load.generator.Generator` for one of ``processes`` shares."""
    from aichaos.load.generator import Generator

    rng = random.Random(seed + process_index)
    rate = opts.rate_rps / processes
    return Generator(
        endpoint,
        build_source(opts, endpoint, rng, start=process_index),
        rate_rps=rate,
        arrival=opts.arrival,
        timeout_s=opts.timeout_ms / 1000.0,
        max_concurrency=max(1, opts.max_concurrency // processes),
        window_s=window_s,
        rng=rng,
        quality=tracker(opts.quality),
        goodput=opts.goodput,
        phase=phase,
        on_window=on_window,
        # interleave constant schedules: process i sends at i/rate, i/rate + N/rate...
        offset_s=process_index / opts.rate_rps if opts.arrival == "constant" else 0.0,
    )


async def run_load(
    spec: LoadSpec,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    on_window: Any = None,
    phase: Callable[[], str] = lambda: "",
) -> Any:
    """Run ``spec`` in this event loop (``processes`` ignored); returns the generator,
    whose ``total``, ``windows`` and ``quality_baseline`` hold the figures."""
    endpoint = parse_url(spec.url)
    gen = build_generator(
        spec,
        endpoint,
        seed=spec.seed or 0,
        window_s=spec.window_s,
        phase=phase,
        on_window=on_window,
    )
    await gen.run(duration_s=duration_s, stop=stop)
    return gen


def freeze_gc() -> None:
    """Move every object alive now out of the garbage collector's reach.

    For processes that exist to generate load (the CLI, a generator child, the
    benchmark): full collections over the imported libraries' objects otherwise stall
    the loop for tens of milliseconds and show up as send lag. Not done by the library
    itself, since it changes the host process.
    """
    import gc

    gc.collect()
    gc.freeze()
