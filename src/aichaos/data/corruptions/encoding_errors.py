"""``encoding-errors``: text decoded with the wrong codec, or bytes lost on the way.

* ``mojibake`` -- UTF-8 bytes read as Latin-1 (``café -> cafÃ©``); changes only strings
  with non-ASCII characters;
* ``replacement`` -- one ASCII character becomes U+FFFD (the decoder's "?" box);
* ``auto`` (default) -- mojibake where the string has non-ASCII text, a replacement
  character otherwise, so every picked cell changes.

Vectorised on the Arrow byte buffers (numpy and one Arrow ``take``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick, valid_mask
from aichaos.data.frame import Frame
from aichaos.data.text import buffers, from_buffers, put_text, rewrite, splice

__all__ = ["EncodingErrors"]

_FFFD = np.frombuffer("\ufffd".encode(), dtype=np.uint8)


@CORRUPTIONS.register("encoding-errors")
class EncodingErrors(CellCorruption):
    """Garble a fraction of strings as a wrong codec would (mojibake or U+FFFD)."""

    kinds = ("text",)

    mode: Literal["auto", "mojibake", "replacement"] = Field("auto", description="kind of error")

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Garble the picked strings; the mask is every cell that changed."""
        arr = frame.column(name)
        idx = pick(rng, len(arr), self.effective_fraction(), valid_mask(arr))
        u_pos = rng.random(len(idx))
        sub = pc.take(arr, pa.array(idx))
        offsets, data = buffers(sub)
        # a string has non-ASCII text exactly where it has a byte >= 0x80
        has_high = ~pc.string_is_ascii(sub).to_numpy(zero_copy_only=False)
        if self.mode == "replacement":
            moji = np.zeros(len(idx), dtype=bool)
        else:  # auto and mojibake: every string with non-ASCII text, i.e. every high byte
            moji = has_high
            if moji.any():
                offsets, data = _mojibake(offsets, data)
        if self.mode != "mojibake":
            offsets, data = _replace_one(offsets, data, ~moji, u_pos)
        return put_text(arr, idx, from_buffers(sub.type, offsets, data), sub)


#: per byte value: itself below 0x80, else the UTF-8 of U+00xx (its Latin-1 reading)
_LATIN1 = pa.array([bytes([b]) if b < 0x80 else chr(b).encode() for b in range(256)])


def _mojibake(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each byte >= 0x80 becomes the UTF-8 of U+00xx: two bytes (one Arrow take)."""
    return rewrite(offsets, data, _LATIN1, 2 * len(data))


def _replace_one(
    offsets: np.ndarray, data: np.ndarray, which: np.ndarray, u_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """In strings ``which``, an ASCII byte (or the start of an empty string) -> U+FFFD."""
    lengths = np.diff(offsets)
    pos = np.minimum((u_pos * lengths).astype(np.int64), np.maximum(lengths - 1, 0))
    at = offsets[:-1] + pos
    cur = data[np.minimum(at, max(len(data) - 1, 0))] if len(data) else np.zeros(len(pos), np.uint8)
    ascii_here = (lengths > 0) & (cur < 0x80)
    pos = np.where(ascii_here, pos, 0)
    delete = np.where(which & ascii_here, 1, 0).astype(np.int64)
    ins_len = np.where(which, 3, 0).astype(np.int64)
    insert = np.broadcast_to(_FFFD, (len(pos), 3))
    return splice(offsets, data, pos, delete, insert, ins_len)
