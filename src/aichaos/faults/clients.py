"""One HTTP client per control API for a whole run.

Faults that act through a control API (a chaos proxy's toxics, an in-process control
endpoint) apply, renew and revert with HTTP calls. Building a client and opening a
connection cost milliseconds of the event loop's time (loading the CA bundle, tens of
them, before :mod:`aichaos.httpclient`); paid on every revert and renewal, that sat
between a guardrail breach and the fault's removal.
The engine gives every injection of a run one :class:`ControlClients`; each control API
gets one client (and its kept-alive connection) for the run, closed when the run ends.
Outside the engine (no ``ControlClients``), :func:`control_client` builds one per call.

>>> async with control_client(ctx.clients, "http://127.0.0.1:8474") as http:  # doctest: +SKIP
...     await http.delete(url)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aichaos.httpclient import async_client

if TYPE_CHECKING:
    import httpx

__all__ = ["ControlClients", "control_client"]

#: seconds for one control-API exchange (connect to last byte)
CONTROL_TIMEOUT_S = 5.0


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ControlClients:
    """The clients of one run, one per control API origin (scheme, host and port)."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, url: str) -> httpx.AsyncClient:
        """The run's client for the API ``url`` belongs to (created on first use)."""
        origin = _origin(url)
        client = self._clients.get(origin)
        if client is None:
            client = async_client(timeout=CONTROL_TIMEOUT_S)
            self._clients[origin] = client
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client (the run is over)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


@asynccontextmanager
async def control_client(
    clients: ControlClients | None, url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The run's client for ``url``'s API, or a client for this one call."""
    if clients is not None:
        yield clients.client(url)
        return
    async with async_client(timeout=CONTROL_TIMEOUT_S) as client:
        yield client
