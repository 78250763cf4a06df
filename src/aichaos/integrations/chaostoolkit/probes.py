"""Chaos Toolkit probes: load and model-quality figures, proxy and fault state.

Probes return dicts of numbers, so tolerances pick a key::

    "tolerance": {"type": "range", "range": [0, 0.01], "target": "error_rate"}
"""

from __future__ import annotations

import asyncio
from typing import Any

from aichaos.integrations.chaostoolkit._state import state
from aichaos.integrations.chaostoolkit.actions import proxy_handle

__all__ = ["active_faults", "load", "model_quality", "proxy_toxics"]


def load(
    url: str | None = None,
    rate_rps: float = 20.0,
    duration_s: float = 2.0,
    method: str = "GET",
    body: str | None = None,
    body_file: str | None = None,
    headers: dict[str, str] | None = None,
    timeout_ms: float = 5000.0,
    quality: dict[str, Any] | None = None,
    seed: int = 0,
    proxy: str | None = None,
    path: str = "/",
) -> dict[str, float]:
    """Run the open-loop generator against ``url`` for ``duration_s``; return its totals
    (``sent``, ``completed``, ``error_rate``, ``p50_ms``, ``p99_ms``, ``errors_5xx``,
    quality figures when ``quality`` is given).

    ``proxy`` (a proxy started by ``start_proxy``) and ``path`` replace ``url``: the
    traffic then goes through that proxy, whose port is only known once it runs.
    """
    from aichaos.errors import ValidationError
    from aichaos.load.spec import LoadSpec, run_load, validated

    if (url is None) == (proxy is None):
        raise ValidationError("give exactly one of url, proxy")
    if proxy is not None:
        url = proxy_handle(proxy, None).url + "/" + path.lstrip("/")

    spec = validated(
        LoadSpec,
        url=url,
        rate_rps=rate_rps,
        method=method,
        body=body,
        body_file=body_file,
        headers=headers or {},
        timeout_ms=timeout_ms,
        quality=quality,
        seed=seed,
        window_s=max(duration_s, 0.1),
    )
    if not 0 < duration_s <= 600:
        raise ValidationError(f"duration_s must be in (0, 600], got {duration_s}")

    async def go() -> dict[str, float]:
        gen = await run_load(spec, duration_s=duration_s)
        baseline = gen.quality_baseline
        out: dict[str, float] = gen.total.metrics(None if baseline.empty else baseline)
        return out

    return asyncio.run(go())


def model_quality(
    body_file: str,
    json_path: str,
    url: str | None = None,
    task: str = "classification",
    rate_rps: float = 20.0,
    duration_s: float = 2.0,
    method: str = "POST",
    seed: int = 0,
    proxy: str | None = None,
    path: str = "/",
) -> dict[str, float]:
    """Labelled traffic from ``body_file`` (JSONL): ``accuracy`` / ``mae``,
    ``silent_failure_rate``, ``error_rate`` and latency over ``duration_s``."""
    return load(
        url,
        rate_rps=rate_rps,
        duration_s=duration_s,
        method=method,
        body_file=body_file,
        quality={"json_path": json_path, "task": task},
        seed=seed,
        proxy=proxy,
        path=path,
    )


def proxy_toxics(proxy: str, api_url: str | None = None) -> list[dict[str, Any]]:
    """The toxics on ``proxy`` now, with their ``seen`` / ``affected`` counters."""
    return proxy_handle(proxy, api_url).toxics()


def active_faults() -> list[str]:
    """Names of the faults applied by ``apply_fault`` and not reverted yet."""
    return sorted(state.faults)
