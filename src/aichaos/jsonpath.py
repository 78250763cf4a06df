"""A small, documented JSON path subset: ``$``, then ``.name``, ``[index]``, ``['name']``
or ``["name"]`` steps, e.g. ``$.predictions[0].label``.

Enough to name a prediction in a model server's answer (probes, the load generator's
quality figures, the proxy's json_corrupt); anything else is refused with a clear error
rather than half-supported. A path that names many places (the proxy's json_corrupt
rewrites every match) is parsed with ``many=True``, which adds ``.*`` / ``[*]`` (every
item of a list or value of an object) and negative indexes (``[-1]``, the last item);
:meth:`JsonPath.slots` then lists every place it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aichaos.errors import ValidationError

__all__ = ["WILDCARD", "JsonPath"]

_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")
_MANY = re.compile(r"\.(\*)|\[(\*)\]|\[(-\d+)\]")


class _Wildcard(str):
    """The ``*`` step: every item of a list, every value of an object."""

    __slots__ = ()


#: the part of :attr:`JsonPath.parts` a ``.*`` / ``[*]`` step parses to
WILDCARD = _Wildcard("*")


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; :meth:`get` walks a decoded JSON document."""

    text: str
    parts: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str, *, many: bool = False) -> JsonPath:
        """Parse ``$.a.b[0]``; :class:`ValidationError` on anything outside the subset.

        ``many`` also accepts ``.*``, ``[*]`` and ``[-1]`` (see :meth:`slots`). Messages
        read after the field's name: ``json_path must start with '$'``.
        """
        if not text.startswith("$"):
            raise ValidationError("must start with '$'")
        supported = "$.name, [index], ['name']" + (", .*, [*], [-index]" if many else "")
        pos = 1
        parts: list[str | int] = []
        while pos < len(text):
            wide = _MANY.match(text, pos) if many else None
            if wide is not None:
                negative = wide.group(3)
                parts.append(int(negative) if negative is not None else WILDCARD)
                pos = wide.end()
                continue
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ValidationError(
                    f"is not understood at {text[pos:]!r} (supported: {supported})"
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

    def slots(self, doc: Any) -> list[tuple[Any, str | int]]:
        """Every ``(container, key)`` this path names in ``doc``, depth first, in order.

        ``container[key]`` is the value; a step that does not match (a missing key, an
        index out of range, a list where an object was expected) names nothing. The root
        itself has no container: a path of ``$`` alone names no slot.
        """
        found: list[tuple[Any, str | int]] = []
        if not self.parts:
            return found
        *walk, last = self.parts
        level = [doc]
        for part in walk:
            level = [node[key] for node in level for key in _keys(node, part)]
        for node in level:
            found.extend((node, key) for key in _keys(node, last))
        return found


def _keys(node: Any, part: str | int) -> list[str | int]:
    """The keys of ``node`` one step ``part`` names (none when the step does not apply)."""
    if isinstance(node, dict):
        if part is WILDCARD:
            return list(node)
        return [part] if isinstance(part, str) and part in node else []
    if isinstance(node, list):
        if part is WILDCARD:
            return list(range(len(node)))
        if isinstance(part, int) and not isinstance(part, bool) and -len(node) <= part < len(node):
            return [part % len(node)]
    return []
