"""The answer in an LLM response: OpenAI chat completions / completions / Responses and
Anthropic Messages, whole (one JSON document) or streamed (server-sent events).

:func:`read_answer` returns an :class:`Answer` (the text, the tool calls with their
arguments as text, whether the model refused, and every JSON document the response
carried, for fields a gateway adds) or ``None`` when the body is not a complete answer in
either format: not JSON, an unknown shape, an ``error`` event, or a stream that never
ended (no ``[DONE]``, ``finish_reason``, ``message_stop`` or ``response.completed``).

Streams are assembled as the providers' SDKs assemble them: OpenAI ``delta.content``
pieces are concatenated and tool-call ``function.arguments`` fragments joined per call
``index``; Anthropic ``text_delta`` pieces and ``input_json_delta`` fragments are joined
per content block ``index``; a Responses stream is read from the whole response its
``response.completed`` event carries. Only the first choice (index 0) of a chat
completion is read.
The stream is read whole once the response is complete (:func:`aichaos.sse.split_events`),
so an incremental parser can replace that call without changing the assembly.

>>> read_answer(b'{"choices": [{"message": {"content": "Paris"}}]}').text
'Paris'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from aichaos.sse import dicts, index_of, obj, parse_event, split_events

__all__ = ["Answer", "Api", "ToolCall", "read_answer"]

Api = Literal["auto", "openai", "anthropic"]

#: stop reasons that mean the provider refused (Anthropic ``refusal``, OpenAI's filter)
_REFUSAL_STOPS = frozenset({"refusal", "content_filter"})


@dataclass(frozen=True)
class ToolCall:
    """One tool call: the function's name and its arguments as the JSON text sent."""

    name: str
    arguments: str


@dataclass
class Answer:
    """What a model answered (see the module docstring)."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: the provider itself flagged a refusal (OpenAI ``refusal``, a refusal stop reason)
    refused: bool = False
    #: the JSON documents of the response (one, or one per streamed event), in order
    docs: list[Any] = field(default_factory=list)


def read_answer(body: bytes, api: Api = "auto", stream: bool | None = None) -> Answer | None:
    """The answer in ``body``, or ``None`` when it holds no complete answer.

    ``stream`` says whether the body is an event stream (the response's content type);
    ``None`` tells from the body itself.
    """
    if stream is None:
        head = body.lstrip()[:6]
        stream = head.startswith((b"data:", b"event:", b"id:", b":", b"retry:"))
    if stream:
        return _read_stream(body, api)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    if api != "anthropic" and isinstance(doc.get("choices"), list):
        return _openai_whole(doc)
    if api != "anthropic" and doc.get("object") == "response":
        return _responses_whole(doc)
    if api != "openai" and doc.get("type") == "message":
        return _anthropic_whole(doc)
    return None


def _first_choice(doc: Any) -> dict[str, Any] | None:
    for choice in dicts(doc, "choices"):
        if index_of(choice) == 0:
            return choice
    return None


def _content_text(content: Any) -> str:
    """OpenAI message content: a string, or a list of ``{"type": "text", "text": ...}``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _openai_whole(doc: dict[str, Any]) -> Answer | None:
    choice = _first_choice(doc)
    if choice is None:
        return None
    ans = Answer(docs=[doc])
    if isinstance(choice.get("text"), str):  # the legacy completions API
        ans.text = choice["text"]
    message = obj(choice, "message")
    ans.text += _content_text(message.get("content"))
    for call in dicts(message, "tool_calls"):
        function = obj(call, "function")
        name, args = function.get("name"), function.get("arguments")
        ans.tool_calls.append(
            ToolCall(str(name or ""), args if isinstance(args, str) else json.dumps(args))
        )
    ans.refused = bool(message.get("refusal")) or choice.get("finish_reason") in _REFUSAL_STOPS
    return ans


def _responses_whole(doc: dict[str, Any]) -> Answer | None:
    """OpenAI's Responses API: ``output`` items, ``message`` (``output_text`` and
    ``refusal`` parts) and ``function_call`` (``name``, ``arguments`` text)."""
    if doc.get("status") == "failed" or not isinstance(doc.get("output"), list):
        return None
    ans = Answer(docs=[doc])
    for item in dicts(doc, "output"):
        if item.get("type") == "function_call":
            args = item.get("arguments")
            ans.tool_calls.append(
                ToolCall(str(item.get("name") or ""), args if isinstance(args, str) else "")
            )
            continue
        for part in dicts(item, "content"):
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                ans.text += part["text"]
            elif part.get("type") == "refusal":
                ans.refused = True
    return ans


def _anthropic_whole(doc: dict[str, Any]) -> Answer:
    ans = Answer(docs=[doc], refused=doc.get("stop_reason") in _REFUSAL_STOPS)
    for block in dicts(doc, "content"):
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            ans.text += block["text"]
        elif block.get("type") == "tool_use":
            ans.tool_calls.append(
                ToolCall(str(block.get("name") or ""), json.dumps(block.get("input")))
            )
    return ans


def _read_stream(body: bytes, api: Api) -> Answer | None:
    events = [parse_event(raw) for raw in split_events(body)]
    kinds = [e.doc.get("type") if isinstance(e.doc, dict) else None for e in events]
    if api != "anthropic" and any(isinstance(k, str) and k.startswith("response.") for k in kinds):
        return _responses_stream(events, kinds)
    if api != "openai" and any(e.is_anthropic for e in events):
        return _anthropic_stream(events)
    if api != "anthropic":
        return _openai_stream(events)
    return None


def _responses_stream(events: list[Any], kinds: list[Any]) -> Answer | None:
    # the closing event carries the whole response: the deltas need no assembly
    if "error" in kinds or "response.completed" not in kinds:
        return None
    done = events[kinds.index("response.completed")].doc
    ans = _responses_whole(obj(done, "response"))
    if ans is not None:
        ans.docs = [e.doc for e in events if isinstance(e.doc, dict)]
    return ans


def _openai_stream(events: list[Any]) -> Answer | None:
    ans = Answer()
    text: list[str] = []
    calls: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    ended = finished = False
    for event in events:
        if event.data.strip() == "[DONE]":
            ended = True
            continue
        doc = event.doc
        if not isinstance(doc, dict) or doc.get("error"):
            return None
        ans.docs.append(doc)
        choice = _first_choice(doc)
        if choice is None:
            continue  # e.g. the usage chunk, which has no choices
        if isinstance(choice.get("text"), str):
            text.append(choice["text"])
        delta = obj(choice, "delta")
        text.append(_content_text(delta.get("content")))
        if delta.get("refusal"):
            ans.refused = True
        for call in dicts(delta, "tool_calls"):
            i = index_of(call)
            function = obj(call, "function")
            if isinstance(function.get("name"), str):
                names[i] = names.get(i, "") + function["name"]
            args = function.get("arguments")
            calls.setdefault(i, []).append(args if isinstance(args, str) else "")
        reason = choice.get("finish_reason")
        if reason:
            finished = True
            ans.refused = ans.refused or reason in _REFUSAL_STOPS
    if not (ended or finished):
        return None
    ans.text = "".join(text)
    ans.tool_calls = [ToolCall(names.get(i, ""), "".join(calls[i])) for i in sorted(calls)]
    return ans


def _anthropic_stream(events: list[Any]) -> Answer | None:
    ans = Answer()
    blocks: dict[int, dict[str, Any]] = {}
    parts: dict[int, list[str]] = {}
    stopped = False
    for event in events:
        doc = event.doc
        if not isinstance(doc, dict):
            return None
        ans.docs.append(doc)
        kind = doc.get("type")
        if kind == "error":
            return None
        if kind == "content_block_start":
            blocks[index_of(doc)] = obj(doc, "content_block")
            parts[index_of(doc)] = []
        elif kind == "content_block_delta":
            delta = obj(doc, "delta")
            piece = delta.get("text", delta.get("partial_json"))
            parts.setdefault(index_of(doc), []).append(piece if isinstance(piece, str) else "")
        elif kind == "message_delta":
            ans.refused = obj(doc, "delta").get("stop_reason") in _REFUSAL_STOPS
        elif kind == "message_stop":
            stopped = True
    if not stopped:
        return None
    for i in sorted(parts):
        block, joined = blocks.get(i, {}), "".join(parts[i])
        if block.get("type") == "tool_use":
            # a tool_use block's input streams as JSON text; with no fragment it is {}
            args = joined or json.dumps(block.get("input", {}))
            ans.tool_calls.append(ToolCall(str(block.get("name") or ""), args))
        else:
            ans.text += str(block.get("text") or "") + joined
    return ans
