"""``schema-drift``: the producer changed the schema -- renamed, dropped, added,
reordered columns, or changed a dtype.

Operations are explicit (``rename``, ``drop``, ``add``, ``cast``, ``reorder``); with none
given, ``severity`` picks that many random operations (1..5) from the columns, drawn from
the seed. Untouched columns are passed through as the same objects. The report lists each
change in ``schema_changes``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, Corruption
from aichaos.data.changes import Corrupted
from aichaos.data.frame import Frame
from aichaos.errors import ValidationError

__all__ = ["SchemaDrift"]

_CASTS = {"numeric": "string", "text": "large_string", "bool": "int8", "temporal": "string"}


@CORRUPTIONS.register("schema-drift")
class SchemaDrift(Corruption):
    """Rename, drop, add, cast or reorder columns."""

    rename: dict[str, str] = Field(default_factory=dict, description="old name -> new name")
    drop: list[str] = Field(default_factory=list, description="columns removed")
    add: dict[str, str | float | int | None] = Field(
        default_factory=dict, description="new column -> constant value (None: all null)"
    )
    cast: dict[str, str] = Field(
        default_factory=dict, description="column -> Arrow type name (e.g. 'string', 'float32')"
    )
    reorder: bool = Field(False, description="shuffle the column order")

    def _run(self, frame: Frame, rng: np.random.Generator, history: Any) -> Corrupted:
        rename, drop, add, cast, reorder = (
            dict(self.rename),
            list(self.drop),
            dict(self.add),
            dict(self.cast),
            self.reorder,
        )
        if not (rename or drop or add or cast or reorder):
            rename, drop, cast, reorder = _random_ops(frame, rng, self.level)
        for col in [*rename, *drop, *cast]:
            frame.resolve(col)
        clash = [c for c in add if c in frame.names]
        if clash:
            raise ValidationError(f"schema-drift: add names existing column {clash[0]!r}")
        changes: list[dict[str, Any]] = []
        cols: list[tuple[str, str | pa.Array]] = []
        for name in frame.names:
            if name in drop:
                changes.append({"op": "drop", "column": name})
                continue
            src: str | pa.Array = name
            if name in cast:
                src = _cast(frame.column(name), cast[name], name)
                changes.append(
                    {
                        "op": "cast",
                        "column": name,
                        "from": str(frame.column(name).type),
                        "to": str(src.type),
                    }
                )
            new_name = rename.get(name, name)
            if new_name != name:
                changes.append({"op": "rename", "column": name, "to": new_name})
            cols.append((new_name, src))
        for name, value in add.items():
            cols.append((name, pa.array([value] * frame.n_rows)))
            changes.append({"op": "add", "column": name})
        if reorder and len(cols) > 1:
            perm = rng.permutation(len(cols))
            if (perm == np.arange(len(cols))).all():
                perm = np.roll(perm, 1)
            cols = [cols[i] for i in perm]
            changes.append({"op": "reorder", "order": [c[0] for c in cols]})
        out = frame.rebuild(cols)
        return Corrupted(out, self._report(frame, schema_changes=tuple(changes)))


def _cast(arr: pa.Array, type_name: str, column: str) -> pa.Array:
    try:
        typ = pa.type_for_alias(type_name)
    except ValueError:
        raise ValidationError(
            f"schema-drift: cast[{column!r}] = {type_name!r} is not an Arrow type name"
        ) from None
    try:
        return arr.cast(typ, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(
            f"schema-drift: column {column!r} of type {arr.type} cannot become {typ}: {exc}"
        ) from exc


def _random_ops(
    frame: Frame, rng: np.random.Generator, level: int
) -> tuple[dict[str, str], list[str], dict[str, str], bool]:
    rename: dict[str, str] = {}
    drop: list[str] = []
    cast: dict[str, str] = {}
    reorder = False
    names = list(frame.names)
    for _ in range(level):
        op = int(rng.integers(0, 4))
        free = [n for n in names if n not in rename and n not in drop and n not in cast]
        if op == 3 or not free:
            reorder = True
            continue
        col = free[int(rng.integers(0, len(free)))]
        kind = frame.kind(col)
        if op == 0:
            rename[col] = f"{col}_v2"
        elif op == 1 and len(free) > 1:
            drop.append(col)
        elif kind in _CASTS:
            cast[col] = _CASTS[kind]
        else:
            rename[col] = col.upper() if col.upper() != col else f"{col}_"
    return rename, drop, cast, reorder
