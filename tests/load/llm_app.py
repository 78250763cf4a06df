"""A scripted OpenAI- and Anthropic-compatible provider for the LLM quality tests.

Each request says what the model answers, in a field the real APIs do not have::

    {"model": "m", "messages": [...], "stream": true,
     "script": {"text": "Paris.", "tool": ["get_weather", "{\\"city\\": \\"Paris\\"}"],
                "refusal": false, "malformed": false, "cut": false,
                "headers": {"x-aichaos-fallback": "secondary"},
                "retrieved": [{"id": "doc-1", "text": "..."}]}}

so every answer's right or wrong is known to the test. The wire formats are the
providers' (chat.completion / chat.completion.chunk ... ``[DONE]``; Anthropic message /
``message_start`` ... ``message_stop``), text streamed in 4-character pieces and tool
arguments in 5-character fragments, as a provider splits them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def _pieces(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)]


def _sse(doc: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(doc)}\n\n".encode()


def _openai(script: dict[str, Any], stream: bool) -> list[bytes] | dict[str, Any]:
    text, tool = script.get("text", ""), script.get("tool")
    finish = "content_filter" if script.get("refusal") else ("tool_calls" if tool else "stop")
    extra = {"retrieved": script["retrieved"]} if "retrieved" in script else {}
    if not stream:
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if tool:
            fn = {"name": tool[0], "arguments": tool[1]}
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": fn}]
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return {"id": "c1", "object": "chat.completion", "choices": [choice], **extra}

    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        return _sse({"id": "c1", "object": "chat.completion.chunk", "choices": [choice], **extra})

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": p}) for p in _pieces(text, 4)]
    if tool:
        head = {"index": 0, "id": "call_1", "type": "function"}
        events.append(chunk({"tool_calls": [{**head, "function": {"name": tool[0]}}]}))
        events += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
            for p in _pieces(tool[1], 5)
        ]
    if script.get("cut"):
        return events  # the stream ends without a finish_reason or [DONE]
    return [*events, chunk({}, finish), b"data: [DONE]\n\n"]


def _anthropic(script: dict[str, Any], stream: bool) -> list[bytes] | dict[str, Any]:
    text, tool = script.get("text", ""), script.get("tool")
    stop = "refusal" if script.get("refusal") else ("tool_use" if tool else "end_turn")
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    if tool:
        blocks.append({"type": "tool_use", "id": "t1", "name": tool[0], "input": {}})
    if not stream:
        if tool:
            blocks[-1]["input"] = json.loads(tool[1])
        return {"id": "m1", "type": "message", "content": blocks, "stop_reason": stop}
    events = [_sse({"type": "message_start", "message": {"id": "m1", "type": "message"}})]
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            start, deltas = (
                {**block, "text": ""},
                [{"type": "text_delta", "text": p} for p in _pieces(text, 4)],
            )
        else:
            start = block
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in _pieces(tool[1], 5)]
        events.append(_sse({"type": "content_block_start", "index": i, "content_block": start}))
        events += [_sse({"type": "content_block_delta", "index": i, "delta": d}) for d in deltas]
        events.append(_sse({"type": "content_block_stop", "index": i}))
    if script.get("cut"):
        return events
    events.append(_sse({"type": "message_delta", "delta": {"stop_reason": stop}}))
    return [*events, _sse({"type": "message_stop"}, "message_stop")]


def make_scripted_llm() -> Starlette:
    """The provider as an ASGI app: /v1/chat/completions and /v1/messages."""

    async def answer(request: Request, render: Any) -> Response:
        body = await request.json()
        script = body.get("script", {})
        headers = script.get("headers", {})
        if script.get("malformed"):
            return JSONResponse({"result": "not an LLM answer"}, headers=headers)
        out = render(script, bool(body.get("stream")))
        if isinstance(out, dict):
            return JSONResponse(out, headers=headers)

        async def gen() -> AsyncIterator[bytes]:
            for event in out:
                yield event

        return StreamingResponse(gen(), media_type="text/event-stream", headers=headers)

    async def chat(request: Request) -> Response:
        return await answer(request, _openai)

    async def messages(request: Request) -> Response:
        return await answer(request, _anthropic)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
        ]
    )
