"""``categorical-shift``: a fraction of categorical cells take another existing category.

Jenga's ``CategoricalShift``: the picked cells are mapped through a random permutation of
the column's categories. Here the permutation is a single cycle (a derangement), so every
picked cell really changes. Works on dictionary (pandas ``category``) and text columns;
the column keeps its type. For text the categories are those among the picked cells
(every category that is hit, and so on large batches every category but the rarest);
a category column's are its own.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import encode, pick
from aichaos.data.frame import Column, Frame, Native
from aichaos.data.views import CatCol
from aichaos.errors import ValidationError

__all__ = ["CategoricalShift"]


@CORRUPTIONS.register("categorical-shift")
class CategoricalShift(CellCorruption):
    """Move a fraction of cells to a different existing category."""

    kinds = ("categorical", "text")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[Column | None, np.ndarray]:
        """Remap the picked cells through a derangement of the categories."""
        p = self.effective_fraction()
        if CatCol.applies(frame, name):  # integer codes in place: no decode / re-encode
            cat = CatCol(frame, name)
            idx = pick(rng, len(cat.codes), p)
            idx, old = _valid(idx, cat.codes[idx])
            cycle = _cycle(rng, cat.n_categories, name)
            return cat.write(idx, cycle[old]), idx
        # Text: the categories are those of the picked cells, in order of first
        # appearance -- every picked cell moves to another value of the column, and only
        # the picked cells are hashed, not the whole column (pandas object strings are
        # never copied to Arrow). Fewer than two among them: the whole column's.
        strings = frame.object_text(name)
        arr: pa.Array = frame.column(name) if strings is None else None
        n = len(strings) if strings is not None else len(arr)
        idx = pick(rng, n, p)
        # only the picked strings go to Arrow (its hash table beats pandas' on objects);
        # it refuses a non-string among them
        if strings is not None:
            sub, cats, _ = encode(_strings(strings[idx], name))
        else:
            sub, cats, _ = encode(arr.take(pa.array(idx)))
        if len(cats) < 2:  # rare: the whole column's categories decide
            codes, cats, _ = encode(_strings(strings, name) if strings is not None else arr)
            sub = codes[idx]
        idx, old = _valid(idx, sub)
        cycle = _cycle(rng, len(cats), name)
        new = pc.take(cats, pa.array(cycle[old]))
        if strings is not None:
            import pandas as pd

            out = strings.copy()  # references to the same string objects
            out[idx] = new.to_numpy(zero_copy_only=False)
            like = frame.series(name)  # an object Series stays one (pandas 3 would infer str)
            series = pd.Series(out, index=like.index, name=like.name, dtype=object, copy=False)
            return Native(series), idx
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        return pc.replace_with_mask(arr, pa.array(mask), new.cast(arr.type)), idx


def _strings(values: np.ndarray, name: str) -> pa.Array:
    try:
        out = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(
            f"categorical-shift: column {name!r} is not all text: {exc}"
        ) from None
    if not (pa.types.is_string(out.type) or pa.types.is_large_string(out.type)):
        raise ValidationError(f"categorical-shift: column {name!r} is not all text ({out.type})")
    return out


def _valid(idx: np.ndarray, old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Null cells stay null: drop them from the picked ones."""
    keep = old >= 0
    return (idx, old) if keep.all() else (idx[keep], old[keep])


def _cycle(rng: np.random.Generator, used: int, name: str) -> np.ndarray:
    """A random single cycle over ``used`` categories: no category maps to itself."""
    if used < 2:
        raise ValidationError(
            f"categorical-shift: column {name!r} has {used} category; a shift needs >= 2"
        )
    order = rng.permutation(used)
    cycle = np.empty(used, dtype=np.int64)
    cycle[order] = np.roll(order, -1)  # order[i] -> order[i+1]: no fixed point
    return cycle
