"""A small, documented JSON path subset: ``$.a.b[0].c`` (keys and list indexes).

Enough to name a prediction in a model server's answer; anything else is refused with a
clear error rather than half-supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aichaos.errors import ValidationError

__all__ = ["JsonPath"]

_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; :meth:`get` walks a decoded JSON document."""

    text: str
    parts: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        """Parse ``$.a.b[0]``; :class:`ValidationError` on anything outside the subset."""
        if not text.startswith("$"):
            raise ValidationError(f"JSON path must start with '$', got {text!r}")
        pos, parts = 1, []
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ValidationError(
                    f"cannot parse JSON path {text!r} at position {pos}: "
                    "expected .key, [index] or ['key']"
                )
            key, index, quoted = m.groups()
            parts.append(int(index) if index is not None else (key or quoted))
            pos = m.end()
        return cls(text, tuple(parts))

    def get(self, doc: Any) -> Any:
        """The value at this path; KeyError / IndexError / TypeError when absent."""
        for part in self.parts:
            if isinstance(part, int):
                if not isinstance(doc, list):
                    raise TypeError(f"{self.text}: expected a list before [{part}]")
                doc = doc[part]
            else:
                if not isinstance(doc, dict):
                    raise TypeError(f"{self.text}: expected an object before .{part}")
                doc = doc[part]
        return doc
