"""A small, documented JSON path subset: ``$``, then ``.name``, ``[index]``, ``['name']``
or ``["name"]`` steps, e.g. ``$.predictions[0].label``.

Enough to name a prediction in a model server's answer (probes, the load generator's
quality figures, the proxy's json_corrupt); anything else is refused with a clear error
rather than half-supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aichaos.errors import ValidationError

__all__ = ["JsonPath"]

_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; :meth:`get` walks a decoded JSON document."""

    text: str
    parts: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        """Parse ``$.a.b[0]``; :class:`ValidationError` on anything outside the subset.

        Messages read after the field's name: ``json_path must start with '$'``.
        """
        if not text.startswith("$"):
            raise ValidationError("must start with '$'")
        pos = 1
        parts: list[str | int] = []
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ValidationError(
                    f"is not understood at {text[pos:]!r} (supported: $.name, [index], ['name'])"
                )
            key, index, q1, q2 = m.groups()
            if index is not None:
                parts.append(int(index))
            else:
                parts.append(key if key is not None else (q1 if q1 is not None else q2))
            pos = m.end()
        return cls(text, tuple(parts))

    def find(self, doc: Any, default: Any = None) -> Any:
        """The value at this path, or ``default`` when the document has no such value."""
        for part in self.parts:
            if isinstance(part, int):
                if not isinstance(doc, list) or part >= len(doc):
                    return default
            elif not isinstance(doc, dict) or part not in doc:
                return default
            doc = doc[part]
        return doc

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
