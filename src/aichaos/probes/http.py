"""``http`` probe: status, latency and optionally one JSON field of an HTTP endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from pydantic import Field

from aichaos.errors import ValidationError
from aichaos.jsonpath import JsonPath
from aichaos.probes.base import PROBES, Probe, ProbeContext

__all__ = ["HttpProbe"]


@PROBES.register("http")
class HttpProbe(Probe):
    """Request ``path`` on an ``http`` target; report ok, status, latency_ms [, value].

    ``ok`` is 1 when the status is in ``expect_status`` (and the JSON field, if named,
    is a number). Connection failures and timeouts are failed samples (``error = 1``,
    ``ok = 0``, ``status = 0``, ``latency_ms`` at least the timeout): an unreachable
    service is exactly what chaos shows, and it fails every condition over this probe.
    The timeout is one deadline for the whole exchange, connect to last byte: a server
    that trickles its answer cannot stretch it read by read.
    """

    target: str = Field(description="name of an http target")
    path: str = Field("/", pattern=r"^/")
    method: str = Field("GET", pattern=r"^(GET|POST|PUT|PATCH|DELETE|HEAD)$")
    json_body: Any = Field(None, description="JSON sent with the request")
    expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1)
    json_field: str | None = Field(None, description="JSON path of a number, e.g. $.score")

    def model_post_init(self, _ctx: Any) -> None:
        """Check the JSON path once, at load time."""
        if self.json_field is not None:
            try:
                JsonPath.parse(self.json_field)
            except ValidationError as exc:
                raise ValueError(f"json_field {exc}, got {self.json_field!r}") from None

    def metric_names(self) -> frozenset[str]:
        """ok, status, latency_ms, timeout, error, and value when a JSON field is named."""
        names = {"ok", "status", "latency_ms", "timeout", "error"}
        return frozenset(names | ({"value"} if self.json_field is not None else set()))

    async def measure(self, ctx: ProbeContext) -> dict[str, float]:
        """One request under one deadline; latency measured around the whole exchange."""
        import httpx

        target = ctx.target(self.target, "http")
        url = target.url.rstrip("/") + self.path
        client = ctx.client()
        timeout_s = ctx.timeout_for(self)
        t0 = time.perf_counter()
        try:
            # httpx's timeout applies per read; the deadline bounds the whole exchange
            async with asyncio.timeout(timeout_s):
                resp = await client.request(
                    self.method,
                    url,
                    headers=target.headers,
                    json=self.json_body,
                    timeout=timeout_s,
                )
            body = resp.content
        except (httpx.HTTPError, TimeoutError) as exc:
            timed_out = isinstance(exc, (httpx.TimeoutException, TimeoutError))
            return {
                "ok": 0.0,
                "status": 0.0,
                "latency_ms": max(time.perf_counter() - t0, timeout_s) * 1e3,
                "timeout": 1.0 if timed_out else 0.0,
                "error": 1.0,
            }
        latency_ms = (time.perf_counter() - t0) * 1e3
        out = {
            "ok": 1.0 if resp.status_code in self.expect_status else 0.0,
            "status": float(resp.status_code),
            "latency_ms": latency_ms,
            "timeout": 0.0,
        }
        if self.json_field is not None:
            value = _number(body, self.json_field)
            if value is None:
                out["ok"] = 0.0
            else:
                out["value"] = value
        return out


def _number(body: bytes, path: str) -> float | None:
    try:
        found = JsonPath.parse(path).get(json.loads(body))
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if isinstance(found, bool):
        return float(found)
    if isinstance(found, (int, float)):
        return float(found)
    return None
