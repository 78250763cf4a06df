"""``broken-characters``: vowels replaced by accented look-alikes, as Jenga does.

``a -> á, e -> é, o -> ớ, u -> ú`` (and upper case) in every picked string -- what text
looks like after a wrong-encoding round trip. The replacement is one byte-table lookup
over the picked strings' UTF-8 buffer (numpy, all strings at once); strings without any
of those vowels stay as they are and are not in the mask.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick, valid_mask
from aichaos.data.frame import Frame
from aichaos.data.text import buffers, from_buffers, put_text

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


def _table() -> tuple[np.ndarray, np.ndarray]:
    """Per byte: its replacement's length and UTF-8 bytes (identity for most bytes)."""
    lengths = np.ones(256, dtype=np.uint8)
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:, 0] = np.arange(256)
    for char, repl in REPLACEMENTS.items():
        enc = repl.encode()
        lengths[ord(char)] = len(enc)
        table[ord(char), : len(enc)] = np.frombuffer(enc, dtype=np.uint8)
    return lengths, table


_LENGTHS, _TABLE = _table()
_BYTE = [np.ascontiguousarray(_TABLE[:, j]) for j in range(3)]  # 1-D: fast lookups


def _expand(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every mapped ASCII byte -> its accented UTF-8 sequence, all strings in one pass.

    One table lookup per byte instead of one ``replace_substring`` pass per vowel: each
    byte is repeated to its sequence's length, then the mapped ones are overwritten with
    their sequences. Positions are computed over the mapped bytes only.
    """
    counts = _LENGTHS[data]
    hit = np.flatnonzero(counts > 1)
    if not len(hit):
        return offsets, data
    out = np.repeat(data, counts)
    src = data[hit].astype(np.intp)  # one index conversion for the three lookups
    extra = counts[hit].astype(np.int64) - 1  # bytes each mapped byte adds
    added = np.cumsum(extra)
    at = hit + added - extra  # where each mapped byte's sequence starts in `out`
    out[at] = _BYTE[0][src]
    at += 1
    out[at] = _BYTE[1][src]
    three = extra > 1
    out[at[three] + 1] = _BYTE[2][src[three]]
    # a string boundary moves by the bytes added before it
    before = np.concatenate([[0], added])[np.searchsorted(hit, offsets)]
    return offsets + before, out
