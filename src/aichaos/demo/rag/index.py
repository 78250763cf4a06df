"""The RAG demo's embedder and its embedded vector index (sqlite-vec on APSW).

Embedder: the hashing trick in a few lines of Python (words hashed into
:data:`DIMENSIONS` buckets, stop words dropped, L2-normed), as scikit-learn's
``HashingVectorizer`` does it but without importing scikit-learn into every service.
It is a bag of words, not a neural model: nothing is downloaded and the same text always
gets the same vector, which is what a demo needs and what the docs say plainly.

Index: one SQLite file per index version holding a ``vec0`` virtual table (cosine
distance) and the passages. Python's own ``sqlite3`` cannot load extensions when the
interpreter was built without ``--enable-loadable-sqlite-extensions`` (as the
``python:3.11``-like build here is), so the file is opened with APSW, which bundles a
SQLite that can; sqlite-vec ships its extension as a wheel. Versions live in a
:class:`~aichaos.model.directory_registry.DirectoryRegistry` (``v1/index.db``,
``v2/index.db``, ``current``), so a stale index is the registry's stale-version fault.
"""

from __future__ import annotations

import json
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichaos.demo.rag.corpus import passages

__all__ = ["DIMENSIONS", "Hit", "Index", "build_registry", "embed"]

#: length of every embedding (hash buckets); the index files are built with it
DIMENSIONS = 1024
_WORD = re.compile(r"\b\w\w+\b")
_STOP = """a an and are as at be by can do does for from has have how in is it its many much
of on or that the their there this to was what when where which who why will with after
ahead before every each get go into more most than then they"""
#: words too common to tell passages apart (a short English stop list)
STOP_WORDS = frozenset(_STOP.split())


def embed(text: str) -> list[float]:
    """The query or passage ``text`` as a unit vector of :data:`DIMENSIONS` floats.

    The hashing trick (what scikit-learn's ``HashingVectorizer`` does): lower-cased
    words of two or more characters, stop words dropped, each counted in bucket
    ``crc32(word) % DIMENSIONS``, the counts scaled to length 1.
    """
    out = [0.0] * DIMENSIONS
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS:
            out[zlib.crc32(word.encode()) % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in out))
    return [v / norm for v in out] if norm else out


def _connect(path: Path) -> Any:
    import apsw
    import sqlite_vec

    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.enable_load_extension(False)
    return conn


def _build(path: Path, version: str) -> None:
    import sqlite_vec

    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    conn = _connect(tmp)
    with conn:
        conn.execute(
            f"create virtual table vec using vec0(embedding float[{DIMENSIONS}] "
            "distance_metric=cosine)"
        )
        conn.execute("create table passage(rowid integer primary key, doc text, body text)")
        conn.execute("create table meta(key text primary key, value text)")
        for i, (doc, text) in enumerate(passages(version), start=1):
            conn.execute("insert into passage values (?, ?, ?)", (i, doc, text))
            vec = sqlite_vec.serialize_float32(embed(text))
            conn.execute("insert into vec(rowid, embedding) values (?, ?)", (i, vec))
        conn.execute("insert into meta values ('version', ?)", (version,))
    conn.close()
    os.replace(tmp, path)  # readers see a whole index or none


def build_registry(root: Path) -> Path:
    """Build index versions ``v1`` and ``v2`` under ``root``; promote ``v2``; return root."""
    from aichaos.model.directory_registry import DirectoryRegistry

    root.mkdir(parents=True, exist_ok=True)
    reg = DirectoryRegistry(root)
    for version in ("v1", "v2"):
        (root / version).mkdir(exist_ok=True)
        if not (root / version / "index.db").exists():
            _build(root / version / "index.db", version)
    if reg.current() is None:
        reg.promote("v2")
    return root


@dataclass(frozen=True)
class Hit:
    """One passage found for a query: its id, cosine similarity and text."""

    doc: str
    score: float
    text: str

    def payload(self) -> dict[str, Any]:
        """The hit as a Qdrant-style search result."""
        return {"id": self.doc, "score": self.score, "payload": {"text": self.text}}


class Index:
    """A read-only index file: ``search(vector, k)`` returns the ``k`` nearest passages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = _connect(path)
        row = self.conn.execute("select value from meta where key = 'version'").fetchone()
        self.version = str(row[0])
        self.size = int(self.conn.execute("select count(*) from passage").fetchone()[0])

    def search(self, vector: list[float], k: int) -> list[Hit]:
        """The ``k`` passages nearest to ``vector`` (cosine), nearest first."""
        import sqlite_vec

        if len(vector) != DIMENSIONS:
            raise ValueError(f"vector must have {DIMENSIONS} dimensions, got {len(vector)}")
        rows = self.conn.execute(
            "select p.doc, v.distance, p.body from vec v join passage p on p.rowid = v.rowid "
            "where v.embedding match ? and k = ? order by v.distance",
            (sqlite_vec.serialize_float32(vector), k),
        ).fetchall()
        return [Hit(doc, round(1.0 - float(dist), 6), body) for doc, dist, body in rows]

    def close(self) -> None:
        """Close the file."""
        self.conn.close()


if __name__ == "__main__":  # manual: build an index registry and print one search
    import sys

    where = build_registry(Path(sys.argv[1] if len(sys.argv) > 1 else "rag-index"))
    idx = Index(where / "v2" / "index.db")
    print(json.dumps([h.payload() for h in idx.search(embed("Kestrel actuators"), 3)]))
