"""Vectorised string edits on Arrow buffers: no per-row Python.

A text corruption takes the picked cells (``pc.take``), edits their UTF-8 bytes on the
Arrow offsets / data buffers (one splice per string, all strings at once), and merges
them back with one ``pc.take`` over [column, new cells]. Edits keep UTF-8 valid: bytes
are replaced or deleted only where they are ASCII, and inserted text is whole characters.

A byte-for-sequence edit is a :func:`rewrite`: every byte becomes a short byte string
(usually itself), which one Arrow ``take`` does for all strings at once -- the taken
array's data buffer is the new text and its offsets at the old string boundaries are the
new boundaries.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["BYTES", "buffers", "from_buffers", "put_text", "rewrite", "splice"]

#: every single byte, as a binary array indexed by the byte value
BYTES = pa.array([bytes([b]) for b in range(256)], type=pa.binary())
#: outputs at least this long use 64-bit offsets
LARGE_BYTES = (1 << 31) - 1


def buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets as int64 starting at 0, data bytes) of a string array without nulls."""
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    start = int(offsets[0]) if len(offsets) else 0
    end = int(offsets[-1]) if len(offsets) else 0
    return offsets.astype(np.int64) - start, data[start:end]


def from_buffers(typ: pa.DataType, offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """A string array of ``typ`` from int64 offsets and bytes (no nulls)."""
    off_type = np.int64 if pa.types.is_large_string(typ) else np.int32
    return pa.Array.from_buffers(
        typ,
        len(offsets) - 1,
        [None, pa.py_buffer(offsets.astype(off_type)), pa.py_buffer(np.ascontiguousarray(data))],
    )


def rewrite(
    offsets: np.ndarray, codes: np.ndarray, entries: pa.Array, out_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every byte ``i`` of the strings becomes ``entries[codes[i]]``; new (offsets, data).

    ``codes`` has one entry index per data byte (the byte value itself indexes
    :data:`BYTES`-style tables); ``out_bytes`` bounds the output's length, so 64-bit
    offsets are used only where 32-bit ones could overflow. A string keeps its bytes'
    outputs, so an empty string stays empty.
    """
    if not len(codes):
        return offsets, np.zeros(0, dtype=np.uint8)
    if out_bytes >= LARGE_BYTES:
        entries = entries.cast(pa.large_binary())
    out = pc.take(entries, pa.array(codes))
    bufs = out.buffers()
    off_type = np.int64 if pa.types.is_large_binary(entries.type) else np.int32
    new_off = np.frombuffer(bufs[1], dtype=off_type)[: len(codes) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8)[: int(new_off[-1])]
    return new_off[offsets].astype(np.int64), data


def splice(
    offsets: np.ndarray,
    data: np.ndarray,
    pos: np.ndarray,
    delete: np.ndarray,
    insert: np.ndarray,
    insert_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per string ``i``: replace bytes ``[pos_i, pos_i + delete_i)`` by ``insert[i, :len_i]``.

    All strings are edited at once: a keep-mask drops the deleted bytes, then the inserted
    bytes go in with one ``np.insert``. Temporaries are byte- or string-sized, never one
    int64 per byte. (A :func:`rewrite` of the same edit measured ~10 % slower: its
    ``take`` over one entry per edit loses what it saves on the keep-mask.)
    """
    lengths = np.diff(offsets)
    new_len = lengths - delete + insert_len
    new_off = np.zeros(len(new_len) + 1, dtype=np.int64)
    np.cumsum(new_len, out=new_off[1:])
    at = offsets[:-1] + pos  # absolute position of each edit in the input bytes
    kept = data
    if delete.any():
        keep = np.ones(len(data), dtype=bool)
        for j in range(int(delete.max())):
            rows = delete > j
            keep[at[rows] + j] = False
        kept = data[keep]
        removed_before = np.cumsum(delete) - delete  # deletions in earlier strings
        at = at - removed_before
    if not insert_len.any():
        return new_off, np.ascontiguousarray(kept)
    width = insert.shape[1]
    take = np.arange(width) < insert_len[:, None]  # row-major: each string's bytes in order
    values = insert[:, :width][take]
    points = np.repeat(at, insert_len)
    return new_off, np.insert(kept, points, values)


def put_text(
    arr: pa.Array, idx: np.ndarray, new_sub: pa.Array, old_sub: pa.Array | None = None
) -> tuple[pa.Array, np.ndarray]:
    """``arr`` with cells ``idx`` replaced by ``new_sub``; the rows that really differ.

    ``old_sub`` is ``arr``'s cells at ``idx`` when the caller has them already. The new
    column is one ``take`` over [arr, new cells] (each row copied once), about 4x faster
    than ``replace_with_mask`` on strings.
    """
    if old_sub is None:
        old_sub = pc.take(arr, pa.array(idx))
    differs = pc.fill_null(pc.not_equal(old_sub, new_sub), False).to_numpy(zero_copy_only=False)
    changed = idx if differs.all() else idx[differs]
    if not len(changed):
        return arr, changed
    sub = new_sub if len(changed) == len(idx) else pc.filter(new_sub, pa.array(differs))
    if sub.type != arr.type:
        sub = sub.cast(arr.type)
    n = len(arr)
    rows = np.arange(n, dtype=np.int64)
    rows[changed] = np.arange(n, n + len(changed), dtype=np.int64)
    out = pc.take(pa.chunked_array([arr, sub]), pa.array(rows))
    return (out.chunk(0) if out.num_chunks == 1 else out.combine_chunks()), changed
