"""``broken-characters``: vowels replaced by accented look-alikes, as Jenga does.

``a -> á, e -> é, o -> ớ, u -> ú`` (and upper case) in every picked string -- what text
looks like after a wrong-encoding round trip. The replacement is one byte-table lookup
over the picked strings' UTF-8 buffer (an Arrow ``take``, all strings at once); strings
without any of those vowels stay as they are and are not in the mask.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick, valid_mask
from aichaos.data.frame import Frame
from aichaos.data.text import BYTES, buffers, from_buffers, put_text, rewrite

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
        offsets, data = buffers(sub)
        return put_text(arr, idx, from_buffers(sub.type, *_expand(offsets, data)), sub)


def _sequences() -> pa.Array:
    """Per byte value: the bytes it becomes (its replacement's UTF-8, else itself)."""
    out = BYTES.to_pylist()
    for char, repl in REPLACEMENTS.items():
        out[ord(char)] = repl.encode()
    return pa.array(out, type=pa.binary())


_SEQUENCES = _sequences()


def _expand(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every mapped ASCII byte -> its accented UTF-8 sequence, all strings in one pass.

    A :func:`~aichaos.data.text.rewrite` with the bytes themselves as indices into the
    256 per-byte sequences (about 2x faster than a numpy repeat-and-patch, and than one
    ``replace_substring`` pass per vowel).
    """
    return rewrite(offsets, data, _SEQUENCES, 3 * len(data))
