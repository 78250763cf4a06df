"""The RAG demo's LLM stand-in: an OpenAI-compatible chat model without a GPU.

It is a stand-in, said plainly: it does not understand language. It answers
deterministically from the passages its prompt carries (lines ``[doc-07] text`` in a
system message, as the gateway writes them): ``According to [doc-07], <that passage>``,
citing the first one; with no passage it refuses (:data:`REFUSAL`, which the ``llm``
quality task's default refusal patterns recognise). Given ``tools``, it calls the first
one with arguments filled from the tool's JSON schema (``doc_id`` from the first
passage, integers 40, other strings the question). Its timing is what serving
benchmarks measure: the first token after ``ttft_ms``, each later token ``tpot_ms``
after the one before (on an absolute schedule, so gaps do not accumulate drift).

``POST /v1/chat/completions`` answers whole or streamed (``"stream": true``: SSE
``chat.completion.chunk`` events, a last chunk with ``finish_reason``, the usage chunk
when ``stream_options.include_usage`` is set, then ``data: [DONE]``); ``GET /health``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["REFUSAL", "answer_tokens", "build_app", "main", "tool_arguments"]

#: the answer when the prompt carries no passage
REFUSAL = "I cannot answer that from the documents I was given."
_PASSAGE = re.compile(r"^\[(doc-\d+)\] (.+)$", re.M)
_FRAGMENT = 8  # characters of tool-call arguments per streamed chunk


def _passages(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for m in messages:
        if m.get("role") == "system" and isinstance(m.get("content"), str):
            found.extend(_PASSAGE.findall(m["content"]))
    return found


def _question(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            return str(m["content"])
    return ""


def answer_tokens(messages: list[dict[str, Any]]) -> list[str]:
    """The answer to ``messages`` as the tokens it streams (words with their spaces)."""
    found = _passages(messages)
    text = f"According to [{found[0][0]}], {found[0][1]}" if found else REFUSAL
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])]


def tool_arguments(tool: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Arguments for a call of ``tool``, filled from its parameter schema."""
    found = _passages(messages)
    props = tool.get("function", {}).get("parameters", {}).get("properties", {})
    args: dict[str, Any] = {}
    for name, schema in props.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        if "doc" in name:
            args[name] = found[0][0] if found else ""
        elif kind == "integer":
            args[name] = 40
        else:
            args[name] = _question(messages)
    return args


def build_app(name: str, ttft_ms: float, tpot_ms: float) -> Any:
    """The Starlette app of a stand-in called ``name`` with the given timing."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    ids = itertools.count(1)

    def usage(messages: list[dict[str, Any]], completion: int) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    async def complete(request: Request) -> Response:
        try:
            body = await request.json()
            messages = body["messages"]
            assert isinstance(messages, list) and messages
        except (ValueError, KeyError, TypeError, AssertionError):
            return JSONResponse(
                {"error": {"message": "body needs messages", "type": "invalid_request_error"}},
                status_code=400,
            )
        t0 = time.monotonic()
        cid, created = f"chatcmpl-{name}-{next(ids)}", int(time.time())
        tools = body.get("tools") or []
        if tools:
            call: dict[str, Any] = {
                "id": f"call_{cid}",
                "type": "function",
                "function": {
                    "name": tools[0]["function"]["name"],
                    "arguments": json.dumps(tool_arguments(tools[0], messages)),
                },
            }
            text = call["function"]["arguments"]
            pieces = [text[i : i + _FRAGMENT] for i in range(0, len(text), _FRAGMENT)]
            finish = "tool_calls"
        else:
            pieces = answer_tokens(messages)
            finish = "stop"
        head = {"id": cid, "created": created, "model": name}

        async def at(i: int) -> None:  # token i is due at ttft + i * tpot after arrival
            delay = t0 + (ttft_ms + i * tpot_ms) / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

        if not body.get("stream"):
            await at(len(pieces) - 1)
            message: dict[str, Any] = {"role": "assistant", "content": None}
            if tools:
                message["tool_calls"] = [call]
            else:
                message["content"] = "".join(pieces)
            return JSONResponse(
                {
                    **head,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage(messages, len(pieces)),
                }
            )

        def event(delta: dict[str, Any], reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": reason}
            chunk = {**head, "object": "chat.completion.chunk", "choices": [choice]}
            return f"data: {json.dumps(chunk)}\n\n".encode()

        async def stream() -> AsyncIterator[bytes]:
            for i, piece in enumerate(pieces):
                await at(i)
                if tools:
                    fn = {"arguments": piece}
                    if i == 0:
                        fn["name"] = call["function"]["name"]
                    tc: dict[str, Any] = {"index": 0, "function": fn}
                    if i == 0:
                        tc.update(id=call["id"], type="function")
                    delta: dict[str, Any] = {"tool_calls": [tc]}
                else:
                    delta = {"content": piece}
                if i == 0:
                    delta["role"] = "assistant"
                yield event(delta)
            yield event({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                chunk = {**head, "object": "chat.completion.chunk", "choices": []}
                chunk["usage"] = usage(messages, len(pieces))
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "model": name, "ttft_ms": ttft_ms, "tpot_ms": tpot_ms})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", complete, methods=["POST"]),
            Route("/health", health),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Serve one stand-in; print the ready line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="standin")
    ap.add_argument("--ttft-ms", type=float, default=120.0)
    ap.add_argument("--tpot-ms", type=float, default=15.0)
    args = ap.parse_args(argv)
    from aichaos.demo.lifecycle import run_uvicorn

    run_uvicorn(build_app(args.name, args.ttft_ms, args.tpot_ms), {"model": args.name})


if __name__ == "__main__":
    main()
