"""``redis_stream``: drop, duplicate, corrupt, reorder or delay Redis Stream entries in flight.

Put on the *downstream* of a proxy in front of Redis, between the broker and a consumer:
the replies of ``XREAD`` / ``XREADGROUP`` (stream name, then entries) and ``XRANGE`` /
``XREVRANGE`` / ``XCLAIM`` (entries) are rewritten entry by entry; every other reply
passes as the bytes that came. The broker keeps every entry (``XLEN`` is unchanged; a
consumer group's entry is pending, as after a real loss in flight), so removing the toxic
leaves nothing to undo: the next read is clean.

* ``drop`` -- share of entries left out of the reply;
* ``duplicate`` -- share of entries delivered twice in a row;
* ``corrupt`` -- share of entries with one byte of one field value changed;
* ``reorder`` -- share of entries moved to the end of their reply (after later ones);
* ``delay`` -- ms a reply carrying entries is held (the consumer reads them late).

``key`` narrows it to stream keys matching a glob (entries of ``XRANGE``, whose reply
names no stream, are hit only with the default ``*``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
from typing import ClassVar

from pydantic import Field

from aichaos.proxy import resp
from aichaos.proxy.timer import now
from aichaos.proxy.toxics.base import TOXICS, Chunk, Out, StageBase, StageEnv, ToxicAttributes

__all__ = ["RedisStream"]

_ID = re.compile(rb"^\d+-\d+$")
#: flushes of held bytes still running (a task nobody holds may be collected mid-way)
_FLUSHING: set[asyncio.Future[None]] = set()
_ARRAY, _MAP, _BULK = ord("*"), ord("%"), ord("$")


def _entry(v: resp.Value) -> bool:
    if v.kind != _ARRAY or len(v.items) != 2:
        return False
    first, fields = v.items
    return (
        first.kind == _BULK
        and first.data is not None
        and bool(_ID.match(first.data))
        and (fields.kind == _ARRAY and len(fields.items) % 2 == 0)
    )


def _entries(v: resp.Value) -> bool:
    return v.kind == _ARRAY and bool(v.items) and all(_entry(e) for e in v.items)


class _StreamStage(StageBase):
    """A stage that reassembles replies and rewrites the entries in them."""

    __slots__ = ("broken", "buf", "out")

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self.buf = b""
        self.out: Out | None = None
        self.broken = False  # not RESP after all: pass everything on untouched

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        self.out = out
        if chunk.eof or self.broken or self.gone:
            held, self.buf = self.buf, b""
            if held:
                await out(Chunk(held, chunk.t))
            await out(chunk)
            return
        self.buf += chunk.data
        pieces: list[bytes] = []
        hit = False
        pos = 0
        while pos < len(self.buf):
            try:
                value = resp.parse(self.buf, pos)
            except (ValueError, IndexError):
                self.broken = True
                pieces.append(self.buf[pos:])
                pos = len(self.buf)
                break
            if value is None:
                break
            new = self._rewrite(value)
            pieces.append(self.buf[pos : value.end] if new is None else new)
            hit = hit or new is not None
            pos = value.end
        self.buf = self.buf[pos:]
        if not pieces:
            return
        attrs = self.attrs(RedisStream)
        if hit and attrs.delay_ms:
            await self.sleep(attrs.delay_ms / 1000.0)
        await out(Chunk(b"".join(pieces), chunk.t))

    def _rewrite(self, reply: resp.Value) -> bytes | None:
        """The rewritten reply, or None when it carries no stream entries."""
        attrs = self.attrs(RedisStream)
        if _entries(reply):  # XRANGE and friends: entries of an unnamed stream
            return self._entry_list(reply) if attrs.key == "*" else None
        streams: list[tuple[resp.Value, resp.Value]] = []
        if reply.kind == _ARRAY and reply.items:
            for s in reply.items:
                if s.kind != _ARRAY or len(s.items) != 2:
                    return None
                streams.append((s.items[0], s.items[1]))
        elif reply.kind == _MAP and reply.items:
            streams = list(zip(reply.items[::2], reply.items[1::2], strict=True))
        else:
            return None
        if not all(n.kind == _BULK and n.data is not None and _entries(e) for n, e in streams):
            return None
        parts = []
        for name, entries in streams:
            assert name.data is not None
            raw = self.buf[name.start : name.end]
            hit = fnmatch.fnmatchcase(name.data.decode("utf-8", "replace"), attrs.key)
            body = self._entry_list(entries) if hit else self.buf[entries.start : entries.end]
            parts.append(raw + body if reply.kind == _MAP else b"*2\r\n" + raw + body)
        head = b"%%%d\r\n" if reply.kind == _MAP else b"*%d\r\n"
        return head % len(streams) + b"".join(parts)

    def _entry_list(self, entries: resp.Value) -> bytes:
        attrs = self.attrs(RedisStream)
        rng = self.env.rng
        kept: list[bytes] = []
        moved: list[bytes] = []
        for e in entries.items:
            if rng.random() < attrs.drop:
                continue
            raw = self.buf[e.start : e.end]
            if rng.random() < attrs.corrupt:
                raw = self._corrupted(e)
            copies = 2 if rng.random() < attrs.duplicate else 1
            (moved if rng.random() < attrs.reorder else kept).extend([raw] * copies)
        if not kept:  # a single moved group has nothing to come after
            kept, moved = moved, []
        out = kept + moved
        return b"*%d\r\n" % len(out) + b"".join(out)

    def _corrupted(self, e: resp.Value) -> bytes:
        ident, fields = e.items
        values = [v for v in fields.items[1::2] if v.data]
        if not values:
            return self.buf[e.start : e.end]
        target = values[self.env.rng.randrange(len(values))]
        assert target.data is not None
        data = bytearray(target.data)
        i = self.env.rng.randrange(len(data))
        data[i] ^= self.env.rng.randrange(1, 256)
        inner = b"".join(
            resp.bulk(bytes(data)) if v is target else self.buf[v.start : v.end]
            for v in fields.items
        )
        return (
            b"*2\r\n" + self.buf[ident.start : ident.end] + b"*%d\r\n" % len(fields.items) + inner
        )

    def interrupt(self) -> None:
        """The toxic left: a reply half-received goes on at once, ahead of what follows."""
        super().interrupt()
        held, self.buf = self.buf, b""
        if held and self.out is not None:
            # scheduled now, before the link can switch to its direct path, so it keeps
            # its place in the byte stream
            task = asyncio.ensure_future(self.out(Chunk(held, now())))
            _FLUSHING.add(task)
            task.add_done_callback(_FLUSHING.discard)


@TOXICS.register("redis_stream")
class RedisStream(ToxicAttributes):
    """Drop / duplicate / corrupt / reorder / delay Redis Stream entries read by a consumer."""

    stage_class: ClassVar[type[StageBase]] = _StreamStage

    drop: float = Field(0.0, ge=0.0, le=1.0, description="share of entries dropped")
    duplicate: float = Field(0.0, ge=0.0, le=1.0, description="share delivered twice")
    corrupt: float = Field(0.0, ge=0.0, le=1.0, description="share with a byte changed")
    reorder: float = Field(0.0, ge=0.0, le=1.0, description="share moved after later ones")
    delay_ms: int = Field(0, alias="delay", ge=0, le=3_600_000, strict=True)
    key: str = Field("*", description="glob of the stream keys hit")
