"""``broken-characters``: vowels replaced by accented look-alikes, as Jenga does.

``a -> á, e -> é, o -> ớ, u -> ú`` (and upper case) in every picked string -- what text
looks like after a wrong-encoding round trip. The replacement runs as
``pyarrow.compute.replace_substring`` over the picked strings only; strings without any
of those vowels stay as they are and are not in the mask.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick, valid_mask
from aichaos.data.frame import Frame
from aichaos.data.text import put_text

__all__ = ["BrokenCharacters"]

REPLACEMENTS = {"a": "á", "A": "Á", "e": "é", "E": "É", "o": "ớ", "O": "Ớ", "u": "ú", "U": "Ú"}


@CORRUPTIONS.register("broken-characters")
class BrokenCharacters(CellCorruption):
    """Replace vowels with accented look-alikes in a fraction of strings (Jenga's map)."""

    kinds = ("text",)

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Rewrite the picked strings; the mask is every cell that changed."""
        arr = frame.column(name)
        idx = pick(rng, len(arr), self.effective_fraction(), valid_mask(arr))
        sub = pc.take(arr, pa.array(idx))
        new = sub
        for char, repl in REPLACEMENTS.items():
            new = pc.replace_substring(new, pattern=char, replacement=repl)
        return put_text(arr, idx, new)
