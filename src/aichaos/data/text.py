"""Vectorised string edits on Arrow buffers: no per-row Python.

A text corruption takes the picked cells (``pc.take``), edits their UTF-8 bytes with numpy
on the Arrow offsets / data buffers (one splice per string, all strings at once), and
writes them back with ``pc.replace_with_mask``. Edits keep UTF-8 valid: bytes are
replaced or deleted only where they are ASCII, and inserted text is whole characters.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["buffers", "from_buffers", "put_text", "splice"]


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


def splice(
    offsets: np.ndarray,
    data: np.ndarray,
    pos: np.ndarray,
    delete: np.ndarray,
    insert: np.ndarray,
    insert_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per string ``i``: replace bytes ``[pos_i, pos_i + delete_i)`` by ``insert[i, :len_i]``.

    All strings are edited at once; the cost is linear in the total bytes.
    """
    lengths = np.diff(offsets)
    new_len = lengths - delete + insert_len
    new_off = np.zeros(len(new_len) + 1, dtype=np.int64)
    np.cumsum(new_len, out=new_off[1:])
    total = int(new_off[-1])
    row = np.repeat(np.arange(len(new_len)), new_len)
    t = np.arange(total, dtype=np.int64) - new_off[:-1][row]
    p = pos[row]
    ilen = insert_len[row]
    in_prefix = t < p
    in_insert = ~in_prefix & (t < p + ilen)
    src = offsets[:-1][row] + np.where(in_prefix, t, t - ilen + delete[row])
    out = np.empty(total, dtype=np.uint8)
    keep = ~in_insert
    out[keep] = data[src[keep]]
    ins_rows = row[in_insert]
    out[in_insert] = insert[ins_rows, (t - p)[in_insert]]
    return new_off, out


def put_text(arr: pa.Array, idx: np.ndarray, new_sub: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``arr`` with cells ``idx`` replaced by ``new_sub``; mask of cells that differ."""
    old_sub = pc.take(arr, pa.array(idx))
    differs = pc.fill_null(pc.not_equal(old_sub, new_sub), False).to_numpy(zero_copy_only=False)
    changed = idx[differs]
    mask = np.zeros(len(arr), dtype=bool)
    mask[changed] = True
    if not len(changed):
        return arr, mask
    sub = new_sub if differs.all() else pc.filter(new_sub, pa.array(differs))
    if sub.type != arr.type:
        sub = sub.cast(arr.type)
    return pc.replace_with_mask(arr, pa.array(mask), sub), mask
