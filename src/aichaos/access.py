"""Who may talk to a control server, and how much it reads: one rule for every server.

aichaos serves three control surfaces -- the proxy's API (:mod:`aichaos.proxy.httpserver`),
the in-process hooks' endpoint (:mod:`aichaos.inprocess.control`) and the Prometheus
metrics endpoint (:mod:`aichaos.integrations.prometheus`). Anyone who reaches one can cut
traffic, arm faults or read a run's figures, so all of them apply the rules here rather
than each its own copy:

* **exposure** -- a server binds loopback, or it has a bearer token (or the user said
  ``insecure``); a token shorter than :data:`MIN_TOKEN_CHARS` is refused.
* **authentication** -- :func:`bearer_ok` compares ``Authorization: Bearer <token>`` in
  constant time; a server answers 401 (:data:`UNAUTHORIZED`) before it routes, parses a
  body or looks at the method, so every method needs the token.
* **bodies** -- :func:`content_length` accepts ASCII digits only, bounded in length (so a
  hostile header cannot reach ``int()``'s digit limit), and refuses a body over the
  server's limit before reading it; :func:`check_body_size` does the same for a body
  counted as it streams in. Every server answers such a body with the same status,
  :data:`BODY_REFUSED_STATUS`.

>>> check_exposure("127.0.0.1", None, insecure=False)        # loopback: no token needed
>>> bearer_ok(b"Bearer s3cret-token", "s3cret-token")
True
>>> content_length("12", max_bytes=64)
12
"""

from __future__ import annotations

import hmac
import ipaddress

from aichaos.errors import ValidationError

__all__ = [
    "BODY_REFUSED_STATUS",
    "MIN_TOKEN_CHARS",
    "UNAUTHORIZED",
    "BodyRefused",
    "bearer_ok",
    "check_body_size",
    "check_exposure",
    "check_token",
    "content_length",
    "is_loopback",
    "require_loopback",
]

#: tokens shorter than this are refused (a guessable token is no token)
MIN_TOKEN_CHARS = 8

#: the error text of every 401
UNAUTHORIZED = "missing or wrong bearer token"

#: the status of a body a server will not read, too large or with a bad length: 400, as
#: Toxiproxy answers every body it will not take. Not 413: Toxiproxy clients tell only
#: 400, 404 and 409 apart (toxiproxy-python raises on those and returns anything else as
#: an answer), so a 413 would read as a toxic added
BODY_REFUSED_STATUS = 400

# longer Content-Length values are refused before int() sees them: no server here takes
# bodies anywhere near 10**18 bytes, and int() of thousands of digits raises (or is slow)
_MAX_LENGTH_DIGITS = 18


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (``127.0.0.0/8``, ``::1``, ``[::1]``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(token: str | None) -> None:
    """Refuse a token shorter than :data:`MIN_TOKEN_CHARS` (``None``: no token, allowed)."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ValidationError(
            f"token must be at least {MIN_TOKEN_CHARS} characters, got {len(token)}"
        )


def require_loopback(host: str, unless: str) -> None:
    """Refuse a non-loopback ``host``; ``unless`` names the user's way to opt in."""
    if not is_loopback(host):
        raise ValidationError(f"host {host!r} is not a loopback address: {unless}")


def check_exposure(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to serve a control API beyond loopback without a token (unless ``insecure``).

    Anyone who reaches the control API can cut or slow every proxied connection, so an
    address other than loopback needs ``Authorization: Bearer <token>`` on every request.
    """
    check_token(token)
    if token is None and not insecure:
        require_loopback(
            host,
            "give a token (--token or AICHAOS_TOKEN) or pass --insecure to serve the "
            "control API unauthenticated",
        )


def bearer_ok(header: str | bytes | None, token: str | None) -> bool:
    """Constant-time check of an ``Authorization`` header; always true without a token."""
    if token is None:
        return True
    got = header.encode("latin-1", "replace") if isinstance(header, str) else header or b""
    return hmac.compare_digest(got, f"Bearer {token}".encode())


class BodyRefused(ValidationError):
    """A request body a server will not read (too large, or a bad ``Content-Length``).

    Every server answers it with ``status`` (:data:`BODY_REFUSED_STATUS`) and ``message``.
    """

    status = BODY_REFUSED_STATUS

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_body_size(size: int, max_bytes: int) -> None:
    """Raise :class:`BodyRefused` when ``size`` bytes is over ``max_bytes``."""
    if size > max_bytes:
        raise BodyRefused(f"body larger than {max_bytes} bytes")


def content_length(raw: str | bytes | None, max_bytes: int) -> int:
    """The body length a ``Content-Length`` header announces, checked against ``max_bytes``.

    A missing header is 0. Anything but ASCII digits (a sign, an exponent, ``"²"`` which
    ``str.isdigit()`` accepts and ``int()`` refuses) or a length over the limit is
    :class:`BodyRefused`.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw or "0"
    text = text.strip() or "0"
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_LENGTH_DIGITS:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise BodyRefused(f"Content-Length must be a number >= 0, got {shown!r}")
    length = int(text)
    check_body_size(length, max_bytes)
    return length
