"""``http_error``: answer matching requests with an error, without contacting the upstream.

``preset`` reproduces an AI provider's failure exactly (``openai_rate_limit``: 429 with
``retry-after`` / ``retry-after-ms``; ``openai_overloaded``: 503; ``openai_server_error``:
500; ``openai_context_length``: 400). Toxicity is the probability *per request*.
"""

from __future__ import annotations

import json
import random
from http import HTTPStatus
from typing import Literal

from pydantic import Field

from aichaos.proxy.presets import error_preset
from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import HttpToxic, Plan

__all__ = ["HttpError", "render_response"]

Preset = Literal[
    "openai_rate_limit", "openai_overloaded", "openai_server_error", "openai_context_length"
]


def render_response(status: int, headers: dict[str, str], body: bytes) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length (the connection stays usable)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lower = {k.lower() for k in headers}
    if "content-type" not in lower:
        lines.append(
            "content-type: application/json"
            if body[:1] in (b"{", b"[")
            else "content-type: text/plain"
        )
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@TOXICS.register("http_error")
class HttpError(HttpToxic):
    """Answer with ``status`` (and ``body``, ``headers``) or an AI-provider ``preset``."""

    status: int = Field(503, ge=100, le=599, strict=True)
    body: str | dict[str, object] = ""
    response_headers: dict[str, str] = Field(default_factory=dict)
    retry_after_s: float = Field(1.0, ge=0)
    preset: Preset | None = None

    def plan(self, plan: Plan, rng: random.Random) -> None:
        """Answer here (the first http_error that wins a request answers it)."""
        if plan.synthetic is not None:
            return
        if self.preset is not None:
            status, headers, text = error_preset(self.preset, self.retry_after_s)
            headers = {**headers, **self.response_headers}
        else:
            status, headers = self.status, dict(self.response_headers)
            text = self.body if isinstance(self.body, str) else json.dumps(self.body)
            if status == 429 and not any(k.lower() == "retry-after" for k in headers):
                headers["retry-after"] = f"{self.retry_after_s:g}"
        plan.synthetic = render_response(status, headers, text.encode())
