"""``http_error``: answer matching requests with an error, without contacting the upstream.

``preset`` reproduces an AI provider's failure exactly (``openai_rate_limit``: 429 with
``retry-after`` / ``retry-after-ms``; ``openai_overloaded``: 503; ``openai_server_error``:
500; ``openai_context_length``: 400); the toxic's ``status`` then reads as the preset's.
A 429 carries ``retry-after`` in whole seconds, rounded up (RFC 9110 allows no fraction,
and urllib3 refuses one), and the exact delay in ``retry-after-ms``. Toxicity is the
probability *per request*.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from aichaos.proxy.presets import ERROR_PRESETS, error_preset
from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic

__all__ = ["HttpError", "render_response", "retry_headers"]

Preset = Literal[
    "openai_rate_limit",
    "openai_overloaded",
    "openai_server_error",
    "openai_context_length",
    "anthropic_overloaded",
    "anthropic_rate_limit",
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


def retry_headers(retry_after_s: float) -> dict[str, str]:
    """``retry-after`` in whole seconds (rounded up) and ``retry-after-ms`` exact."""
    return {
        "retry-after": str(math.ceil(retry_after_s)),
        "retry-after-ms": str(round(retry_after_s * 1000)),
    }


class _Answer(HttpHandler):
    __slots__ = ()

    async def on_request(self, ex: Exchange) -> None:
        attrs = self.attrs(HttpError)
        ex.respond(attrs.response())
        self.hit()


@TOXICS.register("http_error")
class HttpError(HttpToxic):
    """Answer with ``status`` (and ``body``, ``headers``) or an AI-provider ``preset``."""

    handler_class: ClassVar[type[HttpHandler]] = _Answer

    status: int = Field(503, ge=100, le=599, strict=True)
    body: str | dict[str, object] = ""
    response_headers: dict[str, str] = Field(default_factory=dict)
    retry_after_s: float = Field(1.0, ge=0, le=86400)
    preset: Preset | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset_status(cls, data: Any) -> Any:
        """A preset decides the status, so the toxic reads back as what it answers."""
        if isinstance(data, dict) and data.get("preset") in ERROR_PRESETS:
            status = ERROR_PRESETS[data["preset"]][0]
            given = data.get("status")
            if given is not None and given != status:
                raise ValueError(
                    f"status {given!r} conflicts with preset {data['preset']!r}, "
                    f"which answers {status}; leave status out"
                )
            data = {**data, "status": status}
        return data

    @field_validator("response_headers")
    @classmethod
    def _no_crlf(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or any(c in name for c in "\r\n:\0 \t") or any(c in text for c in "\r\n\0"):
                raise ValueError(
                    f"response_headers {name!r}: {text!r} must be a header name without "
                    "CR, LF, NUL, space or colon, and a value without CR, LF or NUL"
                )
        return value

    @classmethod
    def merge(cls, current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """An update that names a preset takes the preset's status, not the old one."""
        if "preset" in given and "status" not in given:
            current = {k: v for k, v in current.items() if k != "status"}
        return super().merge(current, given)

    def response(self) -> bytes:
        """The response this toxic answers with."""
        if self.preset is not None:
            status, headers, text = error_preset(self.preset, self.retry_after_s)
            headers = {**headers, **self.response_headers}
        else:
            status, headers = self.status, dict(self.response_headers)
            text = self.body if isinstance(self.body, str) else json.dumps(self.body)
            if status == 429 and not any(k.lower() == "retry-after" for k in headers):
                headers.update(retry_headers(self.retry_after_s))
        return render_response(status, headers, text.encode())
