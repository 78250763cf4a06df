"""``json_corrupt``: a model server that answers 200 with broken predictions.

Each op rewrites JSON at a dot path (``predictions.*.score``; ``*`` is every item or
value; integers index lists): ``nan``, ``null``, ``wrong_type`` (number -> string, string
-> number, list <-> object), ``drop`` (remove the key), ``shuffle`` (a list, seeded),
``scale`` (multiply a number by ``factor``), ``set`` (to ``value``). The response is
buffered (up to 8 MiB; larger or non-JSON bodies pass unchanged) and its Content-Length
fixed.
"""

from __future__ import annotations

import math
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import CorruptOp, HttpToxic, Plan

__all__ = ["JsonCorrupt", "apply_ops"]


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(min_length=1)
    action: Literal["nan", "null", "wrong_type", "drop", "shuffle", "scale", "set"]
    factor: float = 1.0
    value: Any = None


@TOXICS.register("json_corrupt")
class JsonCorrupt(HttpToxic):
    """Rewrite fields of JSON responses (NaN, null, wrong type, dropped key, shuffle, scale)."""

    ops: list[_Op] = Field(min_length=1)

    def plan(self, plan: Plan, rng: random.Random) -> None:
        """Queue the rewrites for the response."""
        plan.corrupt.extend(CorruptOp(o.path, o.action, o.factor, o.value) for o in self.ops)
        plan.corrupt_rng = rng


def _wrong_type(value: Any) -> Any:
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


def _apply(node: Any, keys: list[str], op: CorruptOp, rng: random.Random) -> Any:
    if not keys:
        return _act(node, op, rng)
    key, rest = keys[0], keys[1:]
    if isinstance(node, dict):
        targets = list(node) if key == "*" else [key] if key in node else []
        for k in targets:
            if not rest and op.action == "drop":
                del node[k]
            else:
                node[k] = _apply(node[k], rest, op, rng)
    elif isinstance(node, list):
        if key == "*":
            indexes = list(range(len(node)))
        elif key.lstrip("-").isdigit() and -len(node) <= int(key) < len(node):
            indexes = [int(key)]
        else:
            indexes = []
        for i in sorted(indexes, reverse=True):
            if not rest and op.action == "drop":
                del node[i]
            else:
                node[i] = _apply(node[i], rest, op, rng)
    return node


def _act(value: Any, op: CorruptOp, rng: random.Random) -> Any:
    if op.action == "nan":
        return math.nan
    if op.action == "null":
        return None
    if op.action == "wrong_type":
        return _wrong_type(value)
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
        keys = op.path.split(".") if op.path not in ("", "$") else []
        if keys and keys[0] == "$":
            keys = keys[1:]
        doc = _apply(doc, keys, op, rng)
    return doc
