"""``json_corrupt``: a model server that answers 200 with broken predictions.

Each op rewrites JSON at a path of :mod:`aichaos.jsonpath` with its ``many`` steps
(``$.predictions[*].score``), or at the older dot path, converted at validation
(``predictions.*.score``; ``*`` is every item or value; an integer step indexes a list,
``-1`` the last item): ``nan``, ``null``, ``wrong_type`` (number -> string, string
-> number, list <-> object), ``drop`` (remove the key), ``shuffle`` (a list, seeded),
``scale`` (multiply a number by ``factor``), ``set`` (to ``value``).

A JSON answer is buffered (up to 8 MiB; larger ones pass unchanged), decoded if it is
gzip / deflate / br / zstd, rewritten, encoded again, and its Content-Length fixed. A
streamed answer is never held back: each server-sent event's ``data:`` JSON (or each
NDJSON line) is rewritten as it passes (``choices.*.delta.content``). ``affected``
counts the responses really changed.
"""

from __future__ import annotations

import json
import math
import random
import re
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from aichaos.errors import ValidationError
from aichaos.jsonpath import WILDCARD, JsonPath
from aichaos.proxy import codings
from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic, stream_kind
from aichaos.spec import Spec

__all__ = ["CorruptOp", "JsonCorrupt", "apply_ops", "compile_path", "corrupt_json", "wrong_type"]

_INDEX = re.compile(r"-?\d+")


@lru_cache(maxsize=256)
def compile_path(path: str) -> JsonPath:
    """``path`` as a :class:`JsonPath` (``many`` steps); a dot path is converted.

    ``$.a[*].b`` is parsed as it is; ``a.*.b`` (and ``$.a.0.b``, which the JSON path
    grammar does not take) step by dot: ``*`` every item, ``-?digits`` a list index,
    anything else (but brackets and quotes) an object key. :class:`ValidationError`
    names the problem.
    """
    if path.startswith("$"):
        try:
            return JsonPath.parse(path, many=True)
        except ValidationError:
            if not path.startswith("$."):
                raise
        rest = path[2:]
    else:
        rest = path
    parts: list[str | int] = []
    for step in rest.split("."):
        # a bracket or quote in a dot step is a mistyped JSON path, not a key to look for
        if not step or any(c in step for c in "[]'\""):
            raise ValidationError(f"is not understood at {step!r} in {path!r} (a.*.b or $.a[*].b)")
        parts.append(WILDCARD if step == "*" else int(step) if _INDEX.fullmatch(step) else step)
    return JsonPath(path, tuple(parts))


class CorruptOp(Spec):
    """One JSON rewrite: at ``path`` (dot-separated, ``*`` for every item), do ``action``."""

    path: str = Field(min_length=1)
    action: Literal["nan", "null", "wrong_type", "drop", "shuffle", "scale", "set"]
    factor: float = 1.0
    value: Any = None

    @field_validator("path")
    @classmethod
    def _path_parses(cls, path: str) -> str:
        try:
            compile_path(path)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None
        return path


def corrupt_json(text: bytes, ops: list[CorruptOp], rng: random.Random) -> bytes | None:
    """``text`` (JSON) with the ops applied, or None if it is not JSON or nothing changed."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    before = json.dumps(doc, allow_nan=True)
    after = json.dumps(apply_ops(doc, ops, rng), allow_nan=True)
    return after.encode() if after != before else None


class _Corrupt(HttpHandler):
    __slots__ = ()

    def _ops(self) -> list[CorruptOp]:
        attrs = self.attrs(JsonCorrupt)
        return attrs.ops

    async def on_response(self, ex: Exchange) -> None:
        head = ex.response
        assert head is not None
        if stream_kind(head) is None:
            ctype = (head.get("content-type") or "").lower()
            if not ctype or "json" in ctype:
                ex.want_body()

    async def on_body(self, ex: Exchange, body: bytes) -> bytes:
        assert ex.response is not None
        coding = ex.response.get("content-encoding")
        plain = codings.decode(body, coding)
        if plain is None:
            return body  # an encoding we cannot undo: unchanged, not counted
        new = corrupt_json(plain, self._ops(), self.env.rng)
        if new is None:
            return body
        self.hit()
        return codings.encode(new, coding)

    async def on_event(self, ex: Exchange, event: bytes) -> list[bytes]:
        assert ex.response is not None
        if ex.response.get("content-encoding") not in (None, "identity"):
            return [event]  # a compressed stream is not split into events here
        ops, rng = self._ops(), self.env.rng
        if stream_kind(ex.response) == "lines":
            body = event.rstrip(b"\r\n")
            new = corrupt_json(body, ops, rng)
            if new is None:
                return [event]
            self.hit()
            return [new + event[len(body) :]]
        lines = event.splitlines(keepends=True)
        changed = False
        for i, line in enumerate(lines):
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].rstrip(b"\r\n")
            new = corrupt_json(payload.removeprefix(b" "), ops, rng)
            if new is not None:
                lines[i] = b"data: " + new + line[5 + len(payload) :]
                changed = True
        if not changed:
            return [event]
        self.hit()
        return [b"".join(lines)]


@TOXICS.register("json_corrupt")
class JsonCorrupt(HttpToxic):
    """Rewrite fields of JSON responses (NaN, null, wrong type, dropped key, shuffle, scale)."""

    handler_class: ClassVar[type[HttpHandler]] = _Corrupt

    ops: list[CorruptOp] = Field(min_length=1)


def wrong_type(value: Any) -> Any:
    """The value as another JSON type (number <-> string, list <-> object, bool -> string)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 0
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return "null"


def _act(value: Any, op: CorruptOp, rng: random.Random) -> Any:
    if op.action == "nan":
        return math.nan
    if op.action == "null":
        return None
    if op.action == "wrong_type":
        return wrong_type(value)
    if op.action == "shuffle" and isinstance(value, list):
        rng.shuffle(value)
        return value
    if op.action == "scale" and isinstance(value, int | float) and not isinstance(value, bool):
        return value * op.factor
    if op.action == "set":
        return op.value
    return value


def apply_ops(doc: Any, ops: list[CorruptOp], rng: random.Random) -> Any:
    """Apply every op to a parsed JSON document (in place where possible); returns it."""
    for op in ops:
        path = compile_path(op.path)
        if not path.parts:  # the root: there is nothing to drop it from
            doc = _act(doc, op, rng)
            continue
        slots = path.slots(doc)
        if op.action == "drop":
            # last first: a later index of the same list stays valid while earlier go
            for container, key in reversed(slots):
                del container[key]
        else:
            for container, key in slots:
                container[key] = _act(container[key], op, rng)
    return doc
