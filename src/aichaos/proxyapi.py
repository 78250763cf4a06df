"""The one client of the Toxiproxy-compatible control API: paths, token, errors.

The engine's proxy faults (async, on the run's :class:`~aichaos.faults.clients.ControlClients`),
the preflight, the synchronous :class:`~aichaos.integrations.proxyproc.ProxyHandle` (pytest
plugin, Chaos Toolkit) and the watchdog's undo all speak to that API. They share one
:class:`ProxyApi` for URLs (every name quoted: a toxic named ``a/b`` is one path segment),
the bearer header, and :func:`api_error` for what a refusal means, so each caller sees the
same error for the same answer. The synchronous form uses :mod:`urllib` so that the
watchdog sends its DELETE without importing httpx.

>>> ProxyApi("http://127.0.0.1:8474").toxic_url("db", "lat/1")
'http://127.0.0.1:8474/proxies/db/toxics/lat%2F1'
"""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aichaos.errors import (
    AichaosError,
    Conflict,
    InjectionError,
    NotFound,
    SafetyError,
    TargetError,
    ValidationError,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["ProxyApi", "api_error", "expect", "send", "send_sync"]


@dataclass(frozen=True)
class ProxyApi:
    """One control API: its base URL and the bearer token it wants (if any)."""

    api_url: str
    token: str | None = None

    def url(self, *segments: str) -> str:
        """The URL of ``segments`` below the API, each one quoted as one path segment."""
        return "/".join([self.api_url.rstrip("/"), *(quote(s, safe="") for s in segments)])

    def proxy_url(self, proxy: str) -> str:
        """URL of one proxy."""
        return self.url("proxies", proxy)

    def toxics_url(self, proxy: str) -> str:
        """URL of a proxy's toxic list."""
        return self.url("proxies", proxy, "toxics")

    def toxic_url(self, proxy: str, toxic: str) -> str:
        """URL of one toxic."""
        return self.url("proxies", proxy, "toxics", toxic)

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header when the API has a token."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _message(text: str) -> str:
    """The API's ``error`` field, or the whole body when it is not the API's JSON."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    return str(body.get("error", text)) if isinstance(body, dict) else text


def api_error(status: int, text: str, doing: str) -> AichaosError:
    """The error for an API answer ``status`` (body ``text``) to the call ``doing``.

    The mirror of :func:`aichaos.errors.http_status`: a 400 is the caller's bad input, a
    404 something missing, a 409 a name taken, 401/403 a refusal; anything else means the
    fault could not be applied or reverted.
    """
    why = f"{doing}: {status} {_message(text)}"
    if status == 400:
        return ValidationError(why)
    if status == 404:
        return NotFound(why)
    if status == 409:
        return Conflict(why)
    if status in (401, 403):
        return SafetyError(why)
    return InjectionError(why)


def expect(status: int, text: str, ok: Container[int], doing: str) -> None:
    """Raise :func:`api_error` for an answer whose ``status`` is not one of ``ok``."""
    if status not in ok:
        raise api_error(status, text, doing)


def unreachable(api_url: str, exc: BaseException) -> TargetError:
    """The error for an API that cannot be reached at all."""
    return TargetError(f"proxy API {api_url} unreachable: {exc}")


async def send(
    client: httpx.AsyncClient, api: ProxyApi, method: str, url: str, body: Any = None
) -> httpx.Response:
    """Send one request on ``client``; an unreachable API is a :class:`TargetError`."""
    import httpx

    try:
        return await client.request(method, url, json=body, headers=api.headers())
    except httpx.HTTPError as exc:
        raise unreachable(api.api_url, exc) from exc


def send_sync(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
    timeout_s: float = 5.0,
) -> tuple[int, str]:
    """Send one request and return ``(status, body text)``; unreachable: :class:`TargetError`."""
    # imported here: only the watchdog and the synchronous handle send these
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    all_headers = dict(headers or {})
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        raise unreachable(url, exc) from exc
