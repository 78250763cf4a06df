"""``tool_args_corrupt``: a model that calls a tool with broken arguments.

``action`` breaks the arguments of each tool call (``tool``: only calls to that function):
``truncate`` (the JSON text cut in half: it no longer parses), ``wrong_type`` (``key``, by
default the first argument, gets another JSON type: ``"Paris"`` -> ``0``, ``3`` ->
``"3"``) or ``drop_key`` (that argument is missing).

OpenAI: ``function.arguments`` (a JSON string) of ``message.tool_calls``, whole or
streamed; a stream's argument fragments are held back and the broken arguments sent as
one fragment before the chunk that finishes the choice. Anthropic: ``tool_use`` blocks'
``input``; streamed, the ``input_json_delta`` fragments are held and sent as one before
``content_block_stop``. A whole Anthropic ``input`` is an object, not text, so
``truncate`` leaves it alone. ``affected`` counts the responses really changed.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import Field

from aichaos.proxy.llm_events import dicts, index_of, obj, parse_event, render_event
from aichaos.proxy.toxics.base import TOXICS, StageEnv
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic
from aichaos.proxy.toxics.json_corrupt import wrong_type

__all__ = ["ToolArgsCorrupt"]


class _Break(HttpHandler):
    __slots__ = ("held", "last", "names")

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        #: argument text held back, per (choice, call) for OpenAI or (block,) for Anthropic
        self.held: dict[tuple[int, ...], list[str]] = {}
        #: the function name of each call seen in the stream
        self.names: dict[tuple[int, ...], str] = {}
        #: the last OpenAI chunk: the shape of the chunk that carries held arguments
        self.last: dict[str, Any] = {}

    def _attrs(self) -> ToolArgsCorrupt:
        return self.attrs(ToolArgsCorrupt)

    async def on_response(self, ex: Exchange) -> None:
        if not ex.is_stream:
            ex.want_body()

    # -- whole answers -----------------------------------------------------------------

    async def on_body(self, ex: Exchange, body: bytes) -> bytes:
        return self.rewrite_json(ex, body, self._break_whole)

    def _break_whole(self, doc: Any) -> bool:
        """Break the tool calls of a whole OpenAI or Anthropic answer; whether it did."""
        attrs, changed = self._attrs(), False
        if isinstance(doc, dict) and doc.get("object") == "chat.completion":
            for choice in dicts(doc, "choices"):
                for call in dicts(obj(choice, "message"), "tool_calls"):
                    function = obj(call, "function")
                    if not function or not attrs.wants(function.get("name")):
                        continue
                    new = attrs.break_text(function.get("arguments"))
                    if new is not None:
                        function["arguments"], changed = new, True
        elif isinstance(doc, dict) and doc.get("type") == "message":
            for block in dicts(doc, "content"):
                if (
                    block.get("type") == "tool_use"
                    and attrs.wants(block.get("name"))
                    and attrs.action != "truncate"
                ):
                    new_input = attrs.break_doc(block.get("input"))
                    if new_input is not None:
                        block["input"], changed = new_input, True
        return changed

    # -- streams -----------------------------------------------------------------------

    async def on_event(self, ex: Exchange, event: bytes) -> list[bytes]:
        parsed = parse_event(event)
        doc = parsed.doc
        if parsed.is_anthropic:
            return self._anthropic(doc, parsed.name, event)
        if not parsed.is_openai:
            # a stream whose choices never finished: held arguments go out before [DONE]
            return [*self._flush_openai(), event] if parsed.data == "[DONE]" else [event]
        self.last = doc
        out: list[bytes] = []
        edited = False
        for choice in dicts(doc, "choices"):
            index = index_of(choice)
            for call in dicts(obj(choice, "delta"), "tool_calls"):
                function = obj(call, "function")
                if not function:
                    continue
                key = (index, index_of(call))
                if isinstance(function.get("name"), str):
                    self.names[key] = function["name"]
                if not self._attrs().wants(self.names.get(key)):
                    continue
                piece = function.get("arguments")
                self.held.setdefault(key, []).append(piece if isinstance(piece, str) else "")
                function["arguments"] = ""
                edited = True
            if choice.get("finish_reason") is not None:
                out += self._flush_openai(index)
        return [*out, render_event(doc) if edited else event]

    def _flush_openai(self, choice: int | None = None) -> list[bytes]:
        out = []
        for key in [k for k in self.held if choice is None or k[0] == choice]:
            text = "".join(self.held.pop(key))
            new = self._attrs().break_text(text)
            if new is None:
                if not text:
                    continue
                new = text  # nothing to break (no such key): the arguments as they came
            else:
                self.hit()
            delta = {"tool_calls": [{"index": key[1], "function": {"arguments": new}}]}
            keep = {k: self.last[k] for k in ("id", "object", "created", "model") if k in self.last}
            out.append(
                render_event(
                    {**keep, "choices": [{"index": key[0], "delta": delta, "finish_reason": None}]}
                )
            )
        return out

    def _anthropic(self, doc: dict[str, Any], name: str | None, event: bytes) -> list[bytes]:
        kind, index = doc.get("type"), index_of(doc)
        if kind == "content_block_start":
            block = obj(doc, "content_block")
            if block.get("type") == "tool_use" and self._attrs().wants(block.get("name")):
                self.held[(index,)] = []
            return [event]
        held = self.held.get((index,))
        if held is None:
            return [event]
        delta = obj(doc, "delta")
        if kind == "content_block_delta" and delta.get("type") == "input_json_delta":
            piece = delta.get("partial_json")
            held.append(piece if isinstance(piece, str) else "")
            return []
        if kind != "content_block_stop":
            return [event]
        text = "".join(self.held.pop((index,)))
        new = self._attrs().break_text(text)
        if new is None:
            new = text
        else:
            self.hit()
        delta = {"type": "input_json_delta", "partial_json": new}
        body = {"type": "content_block_delta", "index": index, "delta": delta}
        return [render_event(body, "content_block_delta"), event]


@TOXICS.register("tool_args_corrupt")
class ToolArgsCorrupt(HttpToxic):
    """Break the arguments of tool calls: truncated JSON, a wrong type, a missing key."""

    handler_class: ClassVar[type[HttpHandler]] = _Break

    action: Literal["truncate", "wrong_type", "drop_key"]
    key: str | None = Field(None, min_length=1, description="argument to break (default: first)")
    tool: str | None = Field(None, min_length=1, description="only calls to this function")

    def wants(self, name: Any) -> bool:
        """Whether a call to ``name`` is one to break."""
        return self.tool is None or name == self.tool

    def break_doc(self, args: Any) -> Any:
        """``args`` (an object) with ``key`` of the wrong type or dropped; None if no such key."""
        if not isinstance(args, dict) or not args:
            return None
        key = self.key if self.key is not None else next(iter(args))
        if key not in args:
            return None
        new = dict(args)
        if self.action == "drop_key":
            del new[key]
        else:
            new[key] = wrong_type(new[key])
        return new

    def break_text(self, text: Any) -> str | None:
        """The arguments' JSON text broken by ``action``; None if there is nothing to break."""
        if not isinstance(text, str) or not text:
            return None
        if self.action == "truncate":
            return text[: len(text) // 2]
        try:
            args = json.loads(text)
        except (ValueError, RecursionError):
            return None
        new = self.break_doc(args)
        return None if new is None else json.dumps(new)
