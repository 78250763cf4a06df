"""Just enough of Redis's wire protocol (RESP2 and RESP3) to rewrite stream replies.

:func:`parse` reads one value from a buffer and says where it ends, or returns None when
the buffer holds only part of it (more bytes are coming). Values keep their place in the
buffer, so a reply the proxy leaves alone is passed on as the very bytes that came in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Value", "bulk", "parse"]

_AGGREGATES = {ord("*"), ord("%"), ord("~"), ord(">"), ord("|")}
_BLOBS = {ord("$"), ord("="), ord("!")}


@dataclass(slots=True)
class Value:
    """One RESP value: its type byte, its bytes span, its payload or its children."""

    kind: int
    start: int
    end: int
    data: bytes | None = None  # bulk / simple payload (None: null)
    items: list[Value] = field(default_factory=list)


def parse(buf: bytes, pos: int = 0) -> Value | None:
    """The value starting at ``pos``, or None if ``buf`` ends before it does."""
    line_end = buf.find(b"\r\n", pos)
    if line_end < 0:
        return None
    kind = buf[pos]
    head = buf[pos + 1 : line_end]
    after = line_end + 2
    if kind in _BLOBS:
        n = int(head)
        if n < 0:
            return Value(kind, pos, after)
        if len(buf) < after + n + 2:
            return None
        return Value(kind, pos, after + n + 2, buf[after : after + n])
    if kind in _AGGREGATES:
        n = int(head)
        if n < 0:
            return Value(kind, pos, after)
        count = 2 * n if kind in (ord("%"), ord("|")) else n
        items = []
        cur = after
        for _ in range(count):
            item = parse(buf, cur)
            if item is None:
                return None
            items.append(item)
            cur = item.end
        if kind == ord("|"):  # an attribute: the value it annotates follows
            value = parse(buf, cur)
            return None if value is None else Value(kind, pos, value.end, None, [*items, value])
        return Value(kind, pos, cur, None, items)
    return Value(kind, pos, after, head)  # + - : _ , # ( : one line


def bulk(data: bytes) -> bytes:
    """``data`` as a RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(data), data)
