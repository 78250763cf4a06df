"""What the LLM-aware toxics read in an answer: OpenAI chat completions and Anthropic
Messages, streamed (server-sent events) or whole (one JSON document).

A *token event* is a streamed event that carries output: an OpenAI chunk whose delta has
``content`` or tool-call ``arguments``, an Anthropic ``content_block_delta``. In a format
not recognised here every ``data:`` event but ``[DONE]`` counts as one, so a generic
token stream is paced and cut the same way. Whole answers are cut into tokens by
:func:`split_tokens` (words with their trailing space: no tokenizer is assumed).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aichaos.sse import SseEvent, dicts, index_of, obj, parse_event

__all__ = [
    "Budget",
    "FinishReason",
    "SseEvent",
    "anthropic_stop",
    "dicts",
    "finish_events",
    "index_of",
    "obj",
    "parse_event",
    "render_event",
    "split_tokens",
]

#: an OpenAI ``finish_reason`` ("length", "content_filter"...)
FinishReason = str

#: OpenAI's finish_reason -> the stop_reason Anthropic sends for the same stop
_ANTHROPIC_STOP = {"length": "max_tokens", "content_filter": "refusal"}

_TOKEN = re.compile(r"\s*\S+\s*|\s+")


def render_event(doc: Any, name: str | None = None) -> bytes:
    """One event, ``event:`` line first when named (Anthropic names every event)."""
    head = f"event: {name}\n" if name is not None else ""
    return f"{head}data: {json.dumps(doc)}\n\n".encode()


def anthropic_stop(finish_reason: FinishReason) -> str:
    """The Anthropic ``stop_reason`` for an OpenAI ``finish_reason``."""
    return _ANTHROPIC_STOP.get(finish_reason, finish_reason)


def finish_events(
    last: SseEvent | None, finish_reason: FinishReason, open_blocks: list[int], tokens: int
) -> list[bytes]:
    """The events a provider sends to end a stream early, well-formed, in ``last``'s format.

    OpenAI: a chunk with an empty delta and ``finish_reason`` for each choice seen, then
    ``data: [DONE]``. Anthropic: ``content_block_stop`` for each open block, then
    ``message_delta`` (stop_reason, output tokens) and ``message_stop``. Another format:
    nothing (the stream just ends).
    """
    if last is not None and last.is_openai:
        doc = last.doc
        choices = [
            {"index": index_of(c), "delta": {}, "finish_reason": finish_reason}
            for c in dicts(doc, "choices") or [{"index": 0}]
        ]
        keep = {k: doc[k] for k in ("id", "object", "created", "model") if k in doc}
        return [render_event({**keep, "choices": choices}), b"data: [DONE]\n\n"]
    if last is not None and last.is_anthropic:
        events = [
            render_event({"type": "content_block_stop", "index": i}, "content_block_stop")
            for i in open_blocks
        ]
        delta = {"stop_reason": anthropic_stop(finish_reason), "stop_sequence": None}
        events.append(
            render_event(
                {"type": "message_delta", "delta": delta, "usage": {"output_tokens": tokens}},
                "message_delta",
            )
        )
        events.append(render_event({"type": "message_stop"}, "message_stop"))
        return events
    return []


def split_tokens(text: str) -> list[str]:
    """Cut text into word tokens that join back to it exactly."""
    return _TOKEN.findall(text)


class Budget:
    """Word tokens a whole answer may keep, spent in document order (see :func:`split_tokens`)."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        #: tokens kept so far
        self.used = 0
        #: whether some text was cut (or a block dropped)
        self.cut = False

    @property
    def spent(self) -> bool:
        """No token left to keep."""
        return self.left <= 0

    def cut_text(self, holder: dict[str, Any], key: str) -> bool:
        """Keep what fits of the string ``holder[key]``; whether it was cut."""
        text = holder.get(key)
        if not isinstance(text, str) or not text:
            return False
        tokens = split_tokens(text)
        if len(tokens) <= self.left:
            self.left -= len(tokens)
            self.used += len(tokens)
            return False
        holder[key] = "".join(tokens[: self.left])
        self.used += self.left
        self.left = 0
        self.cut = True
        return True
