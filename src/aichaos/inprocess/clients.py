"""Fault injection into outgoing HTTP calls: an httpx transport and a requests adapter.

For services that call feature stores, vector stores or LLM providers: wrap the client's
transport and the named hooks decide which calls are delayed, answered with an error
status, aborted (connect error, timeout, reset), or have their response replaced.

>>> import httpx
>>> hook = Hook("llm", http=HttpFault(status_code=429, headers={"Retry-After": "1"}))
>>> client = httpx.Client(transport=ChaosTransport([hook]))

requests: ``session.mount("http://", ChaosAdapter([hook]))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from aichaos.inprocess.hooks import Hook, Shot

if TYPE_CHECKING:
    import requests

__all__ = ["AsyncChaosTransport", "ChaosTransport", "pick", "requests_adapter"]


def pick(hooks: Sequence[Hook], method: str, path: str) -> tuple[Hook | None, Shot]:
    """The first hook that fires for this request, and its shot."""
    for hook in hooks:
        shot = hook.shot(method, path)
        if shot.fired:
            return hook, shot
    return None, Shot()


def _answer(shot: Shot, request: httpx.Request) -> httpx.Response | None:
    shot.raise_error()
    http = shot.http
    if http is None:
        return None
    if http.abort == "connect":
        raise httpx.ConnectError("connection refused (injected by aichaos)", request=request)
    if http.abort == "timeout":
        raise httpx.ReadTimeout("read timed out (injected by aichaos)", request=request)
    if http.abort == "reset":
        raise httpx.ReadError("connection reset by peer (injected by aichaos)", request=request)
    if http.status_code is not None:
        return httpx.Response(
            http.status_code, headers=dict(http.headers), content=http.body, request=request
        )
    return None


class ChaosTransport(httpx.BaseTransport):
    """A sync httpx transport that injects the hooks' faults, then calls ``transport``."""

    def __init__(self, hooks: Sequence[Hook], transport: httpx.BaseTransport | None = None):
        self.hooks = list(hooks)
        self.transport = transport if transport is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Delay, fail or answer ``request`` when a hook fires; forward it otherwise."""
        hook, shot = pick(self.hooks, request.method, request.url.path)
        if hook is None:
            return self.transport.handle_request(request)
        if shot.delay_s:
            hook.sleep(shot.delay_s)
        response = _answer(shot, request)
        if response is None:
            response = self.transport.handle_request(request)
        return shot(response)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the wrapped transport."""
        self.transport.close()


class AsyncChaosTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of :class:`ChaosTransport` for ``httpx.AsyncClient``."""

    def __init__(
        self, hooks: Sequence[Hook], transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.hooks = list(hooks)
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Delay, fail or answer ``request`` when a hook fires; forward it otherwise."""
        hook, shot = pick(self.hooks, request.method, request.url.path)
        if hook is None:
            return await self.transport.handle_async_request(request)
        if shot.delay_s:
            await hook.async_sleep(shot.delay_s)
        response = _answer(shot, request)
        if response is None:
            response = await self.transport.handle_async_request(request)
        return shot(response)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.transport.aclose()


def requests_adapter(hooks: Sequence[Hook], **kwargs: Any) -> requests.adapters.HTTPAdapter:
    """A ``requests`` adapter that injects the hooks' faults; mount it on a session.

    ``kwargs`` go to :class:`requests.adapters.HTTPAdapter` (pool sizes, retries).
    """
    from aichaos.inprocess.requests_adapter import ChaosAdapter

    return ChaosAdapter(hooks, **kwargs)
