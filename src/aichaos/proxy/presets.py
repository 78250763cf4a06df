"""What real AI providers send when they fail, reproduced exactly (OpenAI-compatible).

Error bodies have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["ERROR_PRESETS", "STREAM_ERROR_EVENT", "error_preset"]


def _body(message: str, type_: str, param: str | None, code: str | None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


#: name -> (status, headers, body); ``{retry_s}`` / ``{retry_ms}`` are filled in
ERROR_PRESETS: dict[str, tuple[int, dict[str, str], str]] = {
    "openai_rate_limit": (
        429,
        {
            "retry-after": "{retry_s}",
            "retry-after-ms": "{retry_ms}",
            "x-ratelimit-remaining-requests": "0",
        },
        _body(
            "Rate limit reached for requests per min (RPM). Please try again in {retry_s}s.",
            "requests",
            None,
            "rate_limit_exceeded",
        ),
    ),
    "openai_overloaded": (
        503,
        {},
        _body(
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
            None,
        ),
    ),
    "openai_server_error": (
        500,
        {},
        _body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
    ),
    "openai_context_length": (
        400,
        {},
        _body(
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "messages",
            "context_length_exceeded",
        ),
    ),
}

#: the in-band error event OpenAI-compatible servers send inside a 200 SSE stream
STREAM_ERROR_EVENT = (
    "data: "
    + _body(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
        None,
    )
    + "\n\n"
)


def error_preset(name: str, retry_after_s: float) -> tuple[int, dict[str, str], str]:
    """A preset's (status, headers, body) with the retry delay filled in."""
    status, headers, body = ERROR_PRESETS[name]
    fill: dict[str, Any] = {
        # whole seconds, rounded up (RFC 9110); the exact delay goes in retry-after-ms
        "retry_s": str(math.ceil(retry_after_s)),
        "retry_ms": str(round(retry_after_s * 1000)),
    }
    return (
        status,
        {k: v.format(**fill) for k, v in headers.items()},
        body.replace("{retry_s}", fill["retry_s"]),
    )
