"""What the generator sends: prebuilt HTTP/1.1 requests from a template or a JSONL file.

A JSONL file holds one request per line. A line is either

* an object with a ``"body"`` key: the body (a string is sent as is, anything else as
  JSON), plus optional ``"method"``, ``"path"``, ``"headers"`` and the expected label
  under ``expected_key`` (default ``"expected"``); or
* any other JSON value, sent as the JSON body; if it is an object holding
  ``expected_key``, that key is taken out of the body and becomes the expected label
  (so a labelled evaluation set ``{"features": [...], "expected": 2}`` works as is).

Requests are serialized to bytes once, up front, so sending one is a single write.
A template body may contain ``{seq}``, replaced by the request's sequence number.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from aichaos.errors import ValidationError

__all__ = [
    "Endpoint",
    "RequestItem",
    "RequestSource",
    "parse_url",
    "read_jsonl",
    "read_jsonl_numbered",
]

Order = Literal["cycle", "sample"]
_MAX_LINES = 1_000_000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where requests go: host, port and the base path of the URL."""

    host: str
    port: int
    path: str = "/"

    @property
    def host_header(self) -> str:
        """The Host header value (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RequestItem:
    """One request: its bytes on the wire and, for labelled traffic, the expected answer."""

    index: int
    raw: bytes
    expected: Any = None
    labelled: bool = False


def parse_url(url: str, field: str = "url") -> Endpoint:
    """Split an ``http://host[:port][/path]`` URL; a :class:`ValidationError` otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"{field} must be an http:// URL, got {url!r}: {exc}") from None
    if parts.scheme != "http" or not parts.hostname:
        hint = " (https is not supported by the load generator)" if parts.scheme == "https" else ""
        raise ValidationError(f"{field} must be an http://host[:port] URL, got {url!r}{hint}")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Endpoint(parts.hostname, port or 80, path)


def read_jsonl(path: str | Path, field: str = "body_file") -> list[Any]:
    """The JSON values of a JSONL file (blank lines skipped); errors name the line."""
    return [value for _, value in read_jsonl_numbered(path, field)]


def read_jsonl_numbered(path: str | Path, field: str = "body_file") -> list[tuple[int, Any]]:
    """``(line number, value)`` of each JSON line of a JSONL file (see :func:`read_jsonl`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{field}: cannot read {str(p)!r}: {exc}") from None
    out: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"{field}: {str(p)!r} line {lineno} is not valid JSON ({exc.msg}): {line[:60]!r}"
            ) from None
        if len(out) > _MAX_LINES:
            raise ValidationError(f"{field}: {str(p)!r} has more than {_MAX_LINES} requests")
    if not out:
        raise ValidationError(f"{field}: {str(p)!r} holds no requests (expected JSON lines)")
    return out


def build_request(
    ep: Endpoint,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {ep.host_header}"]
    hdrs = {k.lower(): (k, v) for k, v in (headers or {}).items()}
    if body is not None:
        if "content-type" not in hdrs:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in hdrs.values() if k.lower() != "content-length"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def _join(base: str, path: str | None) -> str:
    if not path:
        return base
    if path.startswith("/"):
        return path
    return base.rstrip("/") + "/" + path


def _encode_body(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def items_from_jsonl(
    lines: list[Any],
    ep: Endpoint,
    method: str,
    headers: dict[str, str] | None = None,
    expected_key: str = "expected",
) -> list[RequestItem]:
    """Prebuilt requests for each JSONL value (see the module docstring for the format)."""
    items = []
    for i, value in enumerate(lines):
        m, path, hdrs, labelled, expected = method, ep.path, dict(headers or {}), False, None
        if isinstance(value, dict) and "body" in value:
            body = value["body"]
            m = str(value.get("method", method)).upper()
            path = _join(ep.path, value.get("path"))
            extra = value.get("headers") or {}
            if not isinstance(extra, dict):
                raise ValidationError(f"body_file line {i + 1}: headers must be an object")
            hdrs.update({str(k): str(v) for k, v in extra.items()})
            labelled = expected_key in value
            expected = value.get(expected_key)
        elif isinstance(value, dict) and expected_key in value:
            body = {k: v for k, v in value.items() if k != expected_key}
            labelled, expected = True, value[expected_key]
        else:
            body = value
        raw = build_request(ep, m, path, None if body is None else _encode_body(body), hdrs)
        items.append(RequestItem(i, raw, expected, labelled))
    return items


class RequestSource:
    """Hands out requests in order (``cycle``) or drawn with the run's seed (``sample``).

    >>> ep = parse_url("http://127.0.0.1:8000/predict")
    >>> src = RequestSource.from_template(ep, "POST", '{"n": {seq}}')
    >>> src.next().raw.endswith(b'{"n": 0}')
    True
    """

    def __init__(
        self,
        items: list[RequestItem],
        order: Order = "cycle",
        rng: random.Random | None = None,
        start: int = 0,
    ) -> None:
        if not items:
            raise ValidationError("a request source needs at least one request")
        if order not in ("cycle", "sample"):
            raise ValidationError(f"order must be 'cycle' or 'sample', got {order!r}")
        self.items = items
        self.order = order
        self._rng = rng or random.Random(0)
        self._i = start
        self._template: tuple[Endpoint, str, str, dict[str, str]] | None = None
        self.labelled = any(it.labelled for it in items)

    @classmethod
    def from_template(
        cls,
        ep: Endpoint,
        method: str,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RequestSource:
        """Every request the same, except that ``{seq}`` in the body becomes its number."""
        raw = build_request(ep, method, ep.path, None if body is None else body.encode(), headers)
        src = cls([RequestItem(0, raw)])
        if body is not None and "{seq}" in body:
            src._template = (ep, method, body, dict(headers or {}))
        return src

    def next(self) -> RequestItem:
        """The next request to send."""
        i = self._i
        self._i = i + 1
        if self._template is not None:
            ep, method, body, headers = self._template
            raw = build_request(
                ep, method, ep.path, body.replace("{seq}", str(i)).encode(), headers
            )
            return RequestItem(i, raw)
        items = self.items
        if self.order == "cycle":
            return items[i % len(items)]
        return items[self._rng.randrange(len(items))]
