"""Vectorised string edits on Arrow buffers: no per-row Python.

A text corruption takes the picked cells (``pc.take``), edits their UTF-8 bytes on the
Arrow offsets / data buffers (one splice per string, all strings at once: one gather), and merges
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

    Each edit stays inside its string (``pos_i + delete_i <= length_i``). All strings are
    edited at once by one gather: the output is the input's runs between edits
    interleaved with the inserted rows, so a gather index that steps by one inside a
    segment and jumps at each segment's start (one ``cumsum`` over a byte-sized delta
    array) reads it off ``[data, insert]``: one pass, where a keep-mask + ``np.insert`` or
    a :func:`rewrite` make several.
    """
    lengths = np.diff(offsets)
    new_off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths - delete + insert_len, out=new_off[1:])
    n_out = int(new_off[-1])
    if n_out == 0:
        return new_off, np.zeros(0, dtype=np.uint8)
    k, n, width = len(pos), len(data), insert.shape[1]
    at = offsets[:-1] + pos  # absolute position of each edit in the input bytes
    # segments in output order: run 0, insert 0, run 1, ..., insert k-1, run k; a run is
    # the input bytes between two edits, insert i is row i of ``insert`` (at n + i * width)
    seg_src = np.empty(2 * k + 1, dtype=np.int64)
    seg_len = np.empty(2 * k + 1, dtype=np.int64)
    seg_src[0] = 0
    np.add(at, delete, out=seg_src[2::2])
    seg_src[1::2] = np.arange(n, n + k * width, width)
    seg_len[0:-1:2] = at
    seg_len[-1] = n
    seg_len[0::2] -= seg_src[0::2]
    seg_len[1::2] = insert_len
    nonempty = np.flatnonzero(seg_len)  # an empty segment would share its successor's start
    seg_src = seg_src.take(nonempty)
    seg_len = seg_len.take(nonempty)
    source = np.concatenate([data, insert.reshape(-1)])
    index_type = np.int32 if len(source) < (1 << 31) else np.int64
    delta = np.ones(n_out, dtype=index_type)
    delta[np.cumsum(seg_len[:-1])] = seg_src[1:] - (seg_src[:-1] + seg_len[:-1] - 1)
    delta[0] = seg_src[0]
    return new_off, source.take(np.cumsum(delta, dtype=index_type))


def put_text(
    arr: pa.Array, idx: np.ndarray, new_sub: pa.Array, old_sub: pa.Array | None = None
) -> tuple[pa.Array, np.ndarray]:
    """``arr`` with cells ``idx`` replaced by ``new_sub``; the rows that really differ.

    ``old_sub`` is ``arr``'s cells at ``idx`` when the caller has them already. The new
    column is one ``take`` over [arr, new cells] (each row copied once), where
    ``replace_with_mask`` on strings copies more.
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
