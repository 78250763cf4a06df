"""``typos``: one keyboard typo per picked string, vectorised over Arrow buffers.

Each picked string gets one edit at a random position: a QWERTY-neighbour substitution,
a deleted character, a doubled character, or two adjacent characters transposed. Where
the drawn edit cannot apply (empty string, non-ASCII character there, transposing equal
characters) a random lowercase letter is inserted at the start instead, so every picked
cell changes and UTF-8 stays valid.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aichaos.data.base import CORRUPTIONS, CellCorruption
from aichaos.data.columns import pick, valid_mask
from aichaos.data.frame import Frame
from aichaos.data.text import buffers, from_buffers, put_text, splice

__all__ = ["Typos"]

_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> np.ndarray:
    """256 x 4 table: for each ASCII byte, 4 keyboard neighbours (letters keep their case)."""
    table = np.zeros((256, 4), dtype=np.uint8)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    for b in range(128):
        # non-keys get four distinct letters, none equal to b
        table[b] = [c for c in letters if c != b][b % 20 : b % 20 + 4]
    for r, row in enumerate(_ROWS):
        for c, ch in enumerate(row):
            near = [row[c - 1] if c > 0 else None, row[c + 1] if c + 1 < len(row) else None]
            for rr in (r - 1, r + 1):
                if 0 <= rr < len(_ROWS) and c < len(_ROWS[rr]):
                    near.append(_ROWS[rr][c])
            cands = [x for x in near if x is not None][:4]
            while len(cands) < 4:
                cands.append(cands[len(cands) % max(1, len(cands))])
            table[ord(ch)] = [ord(x) for x in cands]
            if ch.isalpha():
                table[ord(ch.upper())] = [ord(x.upper()) for x in cands]
    return table


NEIGHBOURS = _neighbours()
#: bytes deleted / inserted at the edit position, per op (table lookups, not np.select)
_DELETE = np.array([1, 1, 0, 2, 0], dtype=np.int64)
_INSERT_LEN = np.array([1, 0, 1, 2, 1], dtype=np.int64)


@CORRUPTIONS.register("typos")
class Typos(CellCorruption):
    """Give a fraction of strings one keyboard typo each."""

    kinds = ("text",)

    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array, np.ndarray]:
        """Edit the picked strings; the mask is every cell that changed."""
        arr = frame.column(name)
        idx = pick(rng, len(arr), self.effective_fraction(), valid_mask(arr))
        k = len(idx)
        u_pos, op = rng.random(k), rng.integers(0, 4, size=k)
        u_near, letter = rng.integers(0, 4, size=k), rng.integers(97, 123, size=k)
        sub = pc.take(arr, pa.array(idx))
        offsets, data = buffers(sub)
        lengths = np.diff(offsets)
        pos = np.minimum((u_pos * lengths).astype(np.int64), np.maximum(lengths - 1, 0))
        has = lengths > 0
        at = np.where(has, offsets[:-1] + pos, 0)
        cur = data[at] if len(data) else np.zeros(k, np.uint8)
        nxt_ok = has & (pos + 1 < lengths)
        nxt = np.where(
            nxt_ok, data[np.minimum(at + 1, max(len(data) - 1, 0))] if len(data) else 0, 0
        )
        ascii_ok = has & (cur < 0x80)
        swap_ok = ascii_ok & nxt_ok & (nxt < 0x80) & (nxt != cur)
        valid = np.where(op == 3, swap_ok, ascii_ok)
        op = np.where(valid, op, 4)  # 4: fallback, insert a letter at the start
        insert = np.zeros((k, 2), dtype=np.uint8)
        # per op: substitute a neighbour / delete / double / transpose / insert a letter
        insert[:, 0] = np.choose(op, [NEIGHBOURS[cur, u_near], letter, cur, nxt, letter])
        insert[:, 1] = cur
        delete = _DELETE[op]
        ins_len = _INSERT_LEN[op]
        pos = np.where(op == 4, 0, pos)
        new_off, new_data = splice(offsets, data, pos, delete, insert, ins_len)
        return put_text(arr, idx, from_buffers(sub.type, new_off, new_data), sub)
