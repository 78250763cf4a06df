"""HTTP content codings a toxic must see through to rewrite a body: gzip, deflate, br, zstd.

A JSON answer from a server asked with ``Accept-Encoding: gzip`` (the openai SDK asks) is
gzip on the wire; a toxic that rewrites JSON decodes it, rewrites it and encodes it again
the same way. ``br`` and ``zstd`` need ``brotli`` and ``zstandard`` (in the ``proxy``
extra); without them such bodies pass unchanged.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from typing import Any

__all__ = ["decode", "encode"]

_Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error:  # some servers send raw deflate without the zlib wrapper
        return zlib.decompress(data, -zlib.MAX_WBITS)


def _codec(name: str) -> _Codec | None:
    if name in ("gzip", "x-gzip"):
        return gzip.decompress, gzip.compress
    if name == "deflate":
        return _inflate, zlib.compress
    if name == "br":
        try:
            import brotli
        except ImportError:
            return None
        return brotli.decompress, brotli.compress
    if name == "zstd":
        try:
            import zstandard
        except ImportError:
            return None
        return zstandard.ZstdDecompressor().decompressobj().decompress, zstandard.compress
    return None


def _codings(content_encoding: str | None) -> list[str]:
    if not content_encoding:
        return []
    return [c.strip().lower() for c in content_encoding.split(",") if c.strip()]


def decode(body: bytes, content_encoding: str | None) -> bytes | None:
    """The body with its content codings undone, or None if one is unknown or broken."""
    for name in reversed(_codings(content_encoding)):
        if name == "identity":
            continue
        codec = _codec(name)
        if codec is None:
            return None
        try:
            body = codec[0](body)
        except Exception:  # a corrupt or truncated stream: leave the body alone
            return None
    return body


def encode(body: bytes, content_encoding: str | None) -> bytes:
    """The body encoded again with the codings :func:`decode` undid."""
    for name in _codings(content_encoding):
        if name == "identity":
            continue
        codec = _codec(name)
        assert codec is not None  # decode() succeeded with the same codings
        body = codec[1](body)
    return body


def decode_json(body: bytes, content_encoding: str | None) -> Any | None:
    """The JSON document in an encoded body, or None if it is not one (left alone)."""
    plain = decode(body, content_encoding)
    if plain is None:
        return None
    try:
        return json.loads(plain)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def encode_json(doc: Any, content_encoding: str | None) -> bytes:
    """``doc`` as a body with the codings :func:`decode_json` undid."""
    return encode(json.dumps(doc).encode(), content_encoding)
