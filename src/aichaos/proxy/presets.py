"""What real AI providers send when they fail, reproduced exactly.

``openai_*``: OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.
``anthropic_*``: Anthropic's ``{"type": "error", "error": {"type", "message"}, "request_id"}``
with its headers (``request-id``; on a 429 a whole-second ``retry-after`` and the
``anthropic-ratelimit-*`` family, as the Messages API sends them).
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["ANTHROPIC_STREAM_ERROR_EVENT", "ERROR_PRESETS", "STREAM_ERROR_EVENT", "error_preset"]


def _body(message: str, type_: str, param: str | None, code: str | None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def _anthropic(type_: str, message: str) -> str:
    error = {"type": type_, "message": message}
    return json.dumps({"type": "error", "error": error, "request_id": _REQUEST_ID})


_REQUEST_ID = "req_011CAichaosChaosProxy0001"

#: name -> (status, headers, body); ``{retry_s}`` / ``{retry_ms}`` / ``{reset}`` (the
#: RFC 3339 time the limit resets) are filled in
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
    "anthropic_overloaded": (
        529,
        {"request-id": _REQUEST_ID},
        _anthropic("overloaded_error", "Overloaded"),
    ),
    "anthropic_rate_limit": (
        429,
        {
            "request-id": _REQUEST_ID,
            "retry-after": "{retry_s}",
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "{reset}",
            "anthropic-ratelimit-input-tokens-limit": "30000",
            "anthropic-ratelimit-input-tokens-remaining": "30000",
            "anthropic-ratelimit-input-tokens-reset": "{reset}",
            "anthropic-ratelimit-output-tokens-limit": "8000",
            "anthropic-ratelimit-output-tokens-remaining": "8000",
            "anthropic-ratelimit-output-tokens-reset": "{reset}",
        },
        _anthropic(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests "
            "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
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

#: the in-band error event of an Anthropic Messages stream (the SDK raises on it)
ANTHROPIC_STREAM_ERROR_EVENT = (
    "event: error\ndata: "
    + json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    + "\n\n"
)


def error_preset(name: str, retry_after_s: float) -> tuple[int, dict[str, str], str]:
    """A preset's (status, headers, body) with the retry delay filled in."""
    status, headers, body = ERROR_PRESETS[name]
    reset = datetime.fromtimestamp(time.time() + retry_after_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fill: dict[str, Any] = {
        # whole seconds, rounded up (RFC 9110); the exact delay goes in retry-after-ms
        "retry_s": str(math.ceil(retry_after_s)),
        "retry_ms": str(round(retry_after_s * 1000)),
    }
    return (
        status,
        {k: v.format(**fill, reset=reset) for k, v in headers.items()},
        body.replace("{retry_s}", fill["retry_s"]),
    )
