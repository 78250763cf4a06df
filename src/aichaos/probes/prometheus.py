"""``prometheus`` probe: one metric from a Prometheus text exposition endpoint."""

from __future__ import annotations

import math

from pydantic import Field

from aichaos.errors import ProbeError
from aichaos.probes.base import PROBES, Probe, ProbeContext

__all__ = ["PrometheusProbe"]


@PROBES.register("prometheus")
class PrometheusProbe(Probe):
    """Read ``metric`` (summed over series whose labels match ``labels``) from ``/metrics``.

    Reports ``up`` (1), ``value`` and ``series`` (how many series matched). Redirects are
    followed (a ``/metrics`` app mounted in FastAPI or Starlette answers 307 to
    ``/metrics/``). A scrape that fails (connection error, timeout, a status other than
    200 after redirects, a body that is not Prometheus text) is a probe error, recorded
    as ``error = 1`` with the reason: it is not a sample with no series.
    """

    target: str = Field(description="name of an http target")
    path: str = Field("/metrics", pattern=r"^/")
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", description="sample name")
    labels: dict[str, str] = Field(default_factory=dict)

    def metric_names(self) -> frozenset[str]:
        """up, series, and value (the sum of the matching samples, when any)."""
        return frozenset({"up", "series", "value"})

    async def measure(self, ctx: ProbeContext) -> dict[str, float]:
        """Scrape once and sum the matching samples."""
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        target = ctx.target(self.target, "http")
        url = target.url.rstrip("/") + self.path
        try:
            resp = await ctx.client().get(
                url,
                headers=target.headers,
                timeout=ctx.timeout_for(self),
                follow_redirects=True,
            )
            text = resp.text
        except httpx.HTTPError as exc:
            raise ProbeError(f"scrape of {url} failed: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise ProbeError(f"scrape of {url} answered {resp.status_code}, expected 200")
        total, series = 0.0, 0
        try:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name != self.metric:
                        continue
                    if all(sample.labels.get(k) == v for k, v in self.labels.items()):
                        total += sample.value
                        series += 1
        except ValueError as exc:
            raise ProbeError(f"{url} is not Prometheus text: {exc}") from exc
        out = {"up": 1.0, "series": float(series)}
        if series:
            out["value"] = total if not math.isnan(total) else math.nan
        return out
