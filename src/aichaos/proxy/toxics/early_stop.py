"""``early_stop``: a plausible but truncated answer -- the model stops after ``after_tokens``.

A streamed answer passes ``after_tokens`` token events, then ends well-formed as the
provider ends a stream that hit a limit: OpenAI gets a chunk with ``finish_reason``
(``length`` or ``content_filter``) and ``data: [DONE]``; Anthropic gets
``content_block_stop``, ``message_delta`` with ``stop_reason`` (``max_tokens`` or
``refusal``) and ``message_stop``. The upstream's rest is dropped and the connection
closed after it (announced with ``connection: close``). A whole JSON answer keeps its
first ``after_tokens`` word tokens (text, then tool-call arguments, which are then left
unfinished) with the same ``finish_reason`` / ``stop_reason``.

No SDK raises on this: callers must check ``finish_reason`` / ``stop_reason``. An answer
already shorter than the limit passes unchanged (and is not counted as affected).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from aichaos.proxy.llm_events import (
    Budget,
    SseEvent,
    anthropic_stop,
    dicts,
    finish_events,
    index_of,
    obj,
    parse_event,
)
from aichaos.proxy.toxics.base import TOXICS, StageEnv
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic

__all__ = ["EarlyStop"]


class _Stop(HttpHandler):
    __slots__ = ("blocks", "last", "tokens")

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self.tokens = 0
        self.last: SseEvent | None = None
        #: Anthropic content blocks started and not stopped yet
        self.blocks: list[int] = []

    def _attrs(self) -> EarlyStop:
        return self.attrs(EarlyStop)

    async def on_response(self, ex: Exchange) -> None:
        if ex.is_stream:
            # the stream may end before the upstream's: the connection goes with it
            ex.set_response_header("connection", "close")
        else:
            ex.want_body()

    async def on_event(self, ex: Exchange, event: bytes) -> list[bytes]:
        parsed = parse_event(event)
        if not parsed.carries_tokens():
            self._track(parsed)
            return [event]
        attrs = self._attrs()
        if self.tokens < attrs.after_tokens:
            self.tokens += 1
            self._track(parsed)
            return [event]
        self.hit()
        ex.end()
        return finish_events(self.last or parsed, attrs.finish_reason, self.blocks, self.tokens)

    def _track(self, event: SseEvent) -> None:
        if event.doc is None:
            return
        self.last = event
        if event.is_anthropic:
            kind, index = event.doc.get("type"), index_of(event.doc)
            if kind == "content_block_start":
                self.blocks.append(index)
            elif kind == "content_block_stop" and index in self.blocks:
                self.blocks.remove(index)

    async def on_body(self, ex: Exchange, body: bytes) -> bytes:
        attrs = self._attrs()
        return self.rewrite_json(
            ex, body, lambda doc: _stop_whole(doc, attrs.after_tokens, attrs.finish_reason)
        )


def _stop_whole(doc: Any, limit: int, finish_reason: str) -> bool:
    """Cut a whole OpenAI or Anthropic answer in place; whether it was longer than that."""
    if not isinstance(doc, dict):
        return False
    budget = Budget(limit)
    if doc.get("object") == "chat.completion":
        for choice in dicts(doc, "choices"):
            message = obj(choice, "message")
            cut = budget.cut_text(message, "content")
            for call in dicts(message, "tool_calls"):
                cut = budget.cut_text(obj(call, "function"), "arguments") or cut
            if cut:
                choice["finish_reason"] = finish_reason
        _count(doc.get("usage"), "completion_tokens", budget)
    elif doc.get("type") == "message" and isinstance(doc.get("content"), list):
        kept = []
        for block in doc["content"]:
            if isinstance(block, dict) and block.get("type") == "text":
                budget.cut_text(block, "text")
                kept.append(block)
            elif not budget.spent:
                kept.append(block)  # a structured block (tool_use) fits whole or not at all
            else:
                budget.cut = True
        doc["content"] = kept
        if budget.cut:
            doc["stop_reason"] = anthropic_stop(finish_reason)
        _count(doc.get("usage"), "output_tokens", budget)
    return budget.cut


def _count(usage: Any, key: str, budget: Budget) -> None:
    if budget.cut and isinstance(usage, dict) and key in usage:
        usage[key] = budget.used


@TOXICS.register("early_stop")
class EarlyStop(HttpToxic):
    """End an answer after ``after_tokens`` tokens with ``finish_reason``, well-formed."""

    handler_class: ClassVar[type[HttpHandler]] = _Stop

    after_tokens: int = Field(ge=0, le=10**9, strict=True, description="tokens let through")
    finish_reason: Literal["length", "content_filter"] = "length"
