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

    Reports ``value`` and ``series`` (how many series matched); ``up`` is 0 when the
    endpoint cannot be scraped.
    """

    target: str = Field(description="name of an http target")
    path: str = Field("/metrics", pattern=r"^/")
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", description="sample name")
    labels: dict[str, str] = Field(default_factory=dict)

    async def measure(self, ctx: ProbeContext) -> dict[str, float]:
        """Scrape once and sum the matching samples."""
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        target = ctx.target(self.target, "http")
        try:
            resp = await ctx.client().get(
                target.url.rstrip("/") + self.path,
                headers=target.headers,
                timeout=ctx.timeout_for(self),
            )
            text = resp.text
        except httpx.HTTPError:
            return {"up": 0.0, "series": 0.0}
        if resp.status_code != 200:
            return {"up": 0.0, "series": 0.0}
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
            raise ProbeError(f"{target.url}{self.path} is not Prometheus text: {exc}") from exc
        out = {"up": 1.0, "series": float(series)}
        if series:
            out["value"] = total if not math.isnan(total) else math.nan
        return out
