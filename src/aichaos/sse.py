"""Reading server-sent events and LLM provider JSON: the primitives the proxy's LLM toxics
and the load generator's answer checks share.

:func:`split_events` cuts a whole ``text/event-stream`` body into events, and
:func:`parse_event` reads one (its ``event:`` name, its ``data:`` text, that text as
JSON). :func:`obj`, :func:`dicts` and :func:`index_of` walk provider JSON without
trusting it to have the provider's shape.

>>> [parse_event(e).data for e in split_events(b"data: a\\n\\ndata: [DONE]\\n\\n")]
['a', '[DONE]']
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["SseEvent", "dicts", "index_of", "obj", "parse_event", "split_events"]

#: the blank line that ends an event (the SSE spec allows CRLF, LF and CR line ends)
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def obj(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` if ``value`` is an object and that is an object, else ``{}``: an
    upstream's JSON is read, never trusted to have the provider's shape."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def dicts(value: Any, key: str) -> list[dict[str, Any]]:
    """The objects in the list ``value[key]`` (nothing if it is not a list)."""
    found = value.get(key) if isinstance(value, dict) else None
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def index_of(value: dict[str, Any]) -> int:
    """An item's ``index`` (0 when missing or not an integer)."""
    index = value.get("index", 0)
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


@dataclass
class SseEvent:
    """One server-sent event: its ``event:`` name, its ``data:`` text and that text as JSON
    (None when it is not JSON, as ``[DONE]``)."""

    name: str | None
    data: str
    doc: Any

    @property
    def is_anthropic(self) -> bool:
        """An event of the Anthropic Messages stream (its data names its own type)."""
        kind = self.doc.get("type") if isinstance(self.doc, dict) else None
        return isinstance(kind, str) and kind.startswith(
            ("message_", "content_block_", "ping", "error")
        )

    @property
    def is_openai(self) -> bool:
        """A chunk of an OpenAI chat completion stream."""
        return isinstance(self.doc, dict) and self.doc.get("object") == "chat.completion.chunk"

    def carries_tokens(self) -> bool:
        """Whether the event carries output (see the module docstring)."""
        doc = self.doc
        if self.is_anthropic:
            return bool(doc.get("type") == "content_block_delta")
        if self.is_openai:
            for choice in dicts(doc, "choices"):
                delta = obj(choice, "delta")
                if delta.get("content"):
                    return True
                if any(
                    obj(call, "function").get("arguments") for call in dicts(delta, "tool_calls")
                ):
                    return True
            return False
        return bool(self.data) and self.data.strip() != "[DONE]"


def parse_event(raw: bytes) -> SseEvent:
    """Read one event (its lines up to the blank line); comments and ids are ignored."""
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    text = "\n".join(data)
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    return SseEvent(name, text, doc)


def split_events(body: bytes) -> list[bytes]:
    """The events of a whole event-stream body, each without its closing blank line.

    Text after the last blank line (an event the stream never finished) is returned too,
    so a reader can tell a cut stream from a complete one by what the events say.
    """
    events = [e for e in _EVENT_END.split(body) if e.strip()]
    return events
