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
        target = ctx.target(self.target, "http")
        url = target.url.rstrip("/") + self.path
        timeout_s = ctx.timeout_for(self)
        t0 = time.perf_counter()
        try:
            # one deadline for the whole exchange, connect to last byte
            async with asyncio.timeout(timeout_s):
                status, body = await self._exchange(ctx, url, target.headers, timeout_s)
        except (_Failed, TimeoutError) as exc:
            return {
                "ok": 0.0,
                "status": 0.0,
                "latency_ms": max(time.perf_counter() - t0, timeout_s) * 1e3,
                "timeout": 1.0 if isinstance(exc, TimeoutError) or exc.timed_out else 0.0,
                "error": 1.0,
            }
        latency_ms = (time.perf_counter() - t0) * 1e3
        out = {
            "ok": 1.0 if status in self.expect_status else 0.0,
            "status": float(status),
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

    async def _exchange(
        self, ctx: ProbeContext, url: str, headers: dict[str, str], timeout_s: float
    ) -> tuple[int, bytes]:
        """Status and body; :class:`_Failed` when the exchange broke."""
        # plain HTTP goes over the load generator's raw connection, sparing a run
        # httpx's import; httptools cannot tell a HEAD answer has no body, httpx can
        if url.startswith("http://") and self.method != "HEAD":
            from aichaos.load.client import ExchangeError
            from aichaos.load.requests import build_request, parse_url

            try:
                ep = parse_url(url)
            except ValidationError as exc:
                raise _Failed(False) from exc
            body = None if self.json_body is None else json.dumps(self.json_body).encode()
            if body is None and self.method in ("POST", "PUT", "PATCH"):
                body = b""  # Content-Length: 0, as httpx sends
            raw = build_request(ep, self.method, ep.path, body, headers)
            try:
                return await ctx.wire().request(ep.host, ep.port, raw)
            except (OSError, ExchangeError) as exc:
                raise _Failed(False) from exc
        import httpx

        try:
            resp = await ctx.client().request(
                self.method, url, headers=headers, json=self.json_body, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise _Failed(isinstance(exc, httpx.TimeoutException)) from exc
        return resp.status_code, resp.content


class _Failed(Exception):
    """The exchange failed before a full answer (``timed_out`` when httpx timed out)."""

    def __init__(self, timed_out: bool) -> None:
        super().__init__()
        self.timed_out = timed_out


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
