"""A local LLM provider for the proxy tests: OpenAI chat completions and Anthropic messages.

Both APIs answer streamed (server-sent events, one token per event, ``interval_s`` apart)
and non-streamed (one JSON document), with a text answer or, when the request offers
``tools``, one tool call to ``get_weather`` with :data:`TOOL_ARGS`. The wire formats are
the providers' (``data: {...chat.completion.chunk...}`` ... ``data: [DONE]`` for OpenAI;
``event: message_start`` / ``content_block_delta`` / ``message_stop`` for Anthropic), so the
official ``openai`` and ``anthropic`` SDKs parse them as they parse the real services.

Every request is recorded with its arrival time (``time.perf_counter``) and headers, so a
test measures retries and their spacing where they land: at the upstream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

#: the answer, one token per stream event
TOKENS = ["Hello", ",", " world", " from", " the", " local", " model", "."]
TEXT = "".join(TOKENS)
#: the arguments of the tool call, and how a stream splits their JSON text
TOOL_ARGS = {"city": "Paris", "unit": "celsius", "days": 3}
TOOL_ARGS_TEXT = json.dumps(TOOL_ARGS)
TOOL_ARG_PIECES = ['{"city": ', '"Paris", ', '"unit": "celsius"', ', "days": 3}']
assert "".join(TOOL_ARG_PIECES) == TOOL_ARGS_TEXT


@dataclass
class Arrival:
    """One request as the upstream saw it."""

    path: str
    t: float
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class LlmUpstream:
    """The provider's state: what arrived, and how fast it streams."""

    #: seconds between two streamed tokens (the decoder's time per output token)
    interval_s: float = 0.01
    arrivals: list[Arrival] = field(default_factory=list)
    #: ``host:port`` once served
    addr: str = ""

    @property
    def paths(self) -> list[str]:
        """Paths of the requests that arrived, in order."""
        return [a.path for a in self.arrivals]


def _sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {text}\n\n".encode()


# -- OpenAI ----------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-local",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _openai_tool_call(args: str | None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": 0, "function": {"arguments": args or ""}}
    if args is None:
        call.update(id="call_local1", type="function", function={"name": "get_weather"})
        call["function"]["arguments"] = ""
    return call


def openai_events(tools: bool) -> list[bytes]:
    """The events of a streamed chat completion (a text answer, or one tool call)."""
    events = [_sse(_chunk({"role": "assistant", "content": ""}))]
    if tools:
        events.append(_sse(_chunk({"tool_calls": [_openai_tool_call(None)]})))
        events += [_sse(_chunk({"tool_calls": [_openai_tool_call(p)]})) for p in TOOL_ARG_PIECES]
        events.append(_sse(_chunk({}, "tool_calls")))
    else:
        events += [_sse(_chunk({"content": t})) for t in TOKENS]
        events.append(_sse(_chunk({}, "stop")))
    return [*events, b"data: [DONE]\n\n"]


def _openai_json(tools: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if tools else TEXT}
    if tools:
        message["tool_calls"] = [
            {
                "id": "call_local1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": TOOL_ARGS_TEXT},
            }
        ]
    return {
        "id": "chatcmpl-local1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-local",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tools else "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": len(TOKENS), "total_tokens": 13},
    }


# -- Anthropic -------------------------------------------------------------------------


def anthropic_events(tools: bool) -> list[bytes]:
    """The events of a streamed Messages answer (a text answer, or one tool_use block)."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_local1",
            "type": "message",
            "role": "assistant",
            "model": "claude-local",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    }
    if tools:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_local1",
            "name": "get_weather",
            "input": {},
        }
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in TOOL_ARG_PIECES]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": t} for t in TOKENS]
    events = [
        _sse(start, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    events += [
        _sse({"type": "content_block_delta", "index": 0, "delta": d}, "content_block_delta")
        for d in deltas
    ]
    stop = "tool_use" if tools else "end_turn"
    events += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": len(deltas)},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return events


def _anthropic_json(tools: bool) -> dict[str, Any]:
    content: list[dict[str, Any]] = (
        [{"type": "tool_use", "id": "toolu_local1", "name": "get_weather", "input": TOOL_ARGS}]
        if tools
        else [{"type": "text", "text": TEXT}]
    )
    return {
        "id": "msg_local1",
        "type": "message",
        "role": "assistant",
        "model": "claude-local",
        "content": content,
        "stop_reason": "tool_use" if tools else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": len(TOKENS)},
    }


# -- the app ---------------------------------------------------------------------------


def make_llm_app(state: LlmUpstream) -> Starlette:
    """The provider as an ASGI app (serve it with uvicorn, plain or TLS)."""

    async def record(request: Request) -> dict[str, Any]:
        body = await request.json() if request.method == "POST" else {}
        state.arrivals.append(
            Arrival(request.url.path, time.perf_counter(), dict(request.headers), body)
        )
        return body  # type: ignore[no-any-return]

    def stream(events: list[bytes]) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for i, event in enumerate(events):
                if i:
                    await asyncio.sleep(state.interval_s)
                yield event

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def chat(request: Request) -> Response:
        body = await record(request)
        tools = bool(body.get("tools"))
        if body.get("stream"):
            return stream(openai_events(tools))
        return JSONResponse(_openai_json(tools))

    async def messages(request: Request) -> Response:
        body = await record(request)
        tools = bool(body.get("tools"))
        if body.get("stream"):
            return stream(anthropic_events(tools))
        return JSONResponse(_anthropic_json(tools), headers={"request-id": "req_local1"})

    async def models(request: Request) -> Response:
        await record(request)
        return JSONResponse({"object": "list", "data": [{"id": "gpt-local", "object": "model"}]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models", models),
        ]
    )
