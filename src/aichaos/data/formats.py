"""Data files as Arrow tables: Parquet, CSV, JSON lines, Arrow IPC (Feather v2).

:func:`read` turns a file's bytes into a :class:`pyarrow.Table`; :func:`write` turns a
(corrupted) table back into bytes of the same format, keeping what the original says
about how it was written where Arrow can (Parquet compression and row-group size, IPC
file vs stream). Untouched values keep their values; a CSV written by Arrow may spell
them differently (quoting, float digits).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Literal

import pyarrow as pa

from aichaos.errors import ValidationError

__all__ = ["FORMATS", "Format", "complete", "infer", "read", "self_delimiting", "write"]

Format = Literal["parquet", "csv", "jsonl", "arrow"]

#: file name suffix -> format
FORMATS: dict[str, Format] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}

_IPC_MAGIC = b"ARROW1"


def infer(path: Path) -> Format:
    """The format of ``path`` from its suffix; a ValidationError names the known ones."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise ValidationError(
            f"format of {path.name!r} is unknown from its suffix {path.suffix!r}; "
            f"give format (parquet, csv, jsonl, arrow) or use one of {known}"
        )
    return fmt


def self_delimiting(fmt: Format) -> bool:
    """Whether a complete file of ``fmt`` can be told from a half-written one."""
    return fmt in ("parquet", "arrow")


def complete(data: bytes, fmt: Format) -> bool:
    """Whether ``data`` ends the way a whole file of a self-delimiting ``fmt`` does."""
    if fmt == "parquet":
        return len(data) > 12 and data[:4] == b"PAR1" and data[-4:] == b"PAR1"
    if fmt == "arrow" and data[:6] == _IPC_MAGIC:
        return len(data) > 12 and data[-6:] == _IPC_MAGIC
    return fmt == "arrow" and len(data) >= 8 and data[-8:] == b"\xff\xff\xff\xff\x00\x00\x00\x00"


def read(data: bytes, fmt: Format) -> pa.Table:
    """The table in a file's bytes (a half-written file raises ``pyarrow.ArrowInvalid``)."""
    buf = pa.BufferReader(data)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(buf)
    if fmt == "csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(buf)
    if fmt == "jsonl":
        import pyarrow.json as pjson

        return pjson.read_json(buf)
    if data[:6] == _IPC_MAGIC:
        return pa.ipc.open_file(buf).read_all()
    return pa.ipc.open_stream(buf).read_all()


def write(table: pa.Table, fmt: Format, original: bytes) -> bytes:
    """``table`` as bytes of ``fmt``, written the way ``original`` was where Arrow can."""
    sink = io.BytesIO()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(pa.BufferReader(original)).metadata
        compression = "snappy"
        row_group_size = None
        if meta.num_row_groups and meta.num_columns:
            compression = meta.row_group(0).column(0).compression.lower()
            row_group_size = max(meta.row_group(0).num_rows, 1)
        if compression == "uncompressed":
            compression = "none"
        pq.write_table(table, sink, compression=compression, row_group_size=row_group_size)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, sink)
    elif fmt == "jsonl":
        return _jsonl(table)
    else:
        opener = pa.ipc.new_file if original[:6] == _IPC_MAGIC else pa.ipc.new_stream
        with opener(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.getvalue()


def _jsonl(table: pa.Table) -> bytes:
    # Arrow has no JSON writer; one row per line, nulls (and NaN, which JSON lacks) as null
    lines = []
    for row in table.to_pylist():
        for key, value in row.items():
            if isinstance(value, float) and value != value:
                row[key] = None
        lines.append(json.dumps(row, default=str, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()
