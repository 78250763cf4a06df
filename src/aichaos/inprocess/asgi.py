"""ASGI middleware that injects faults into a running service's own endpoints.

Pure ASGI (no ``BaseHTTPMiddleware``), so it works the same under FastAPI, Starlette or
any ASGI app, and streams untouched responses through without buffering::

    app.add_middleware(ChaosMiddleware, hooks=[
        Hook("predict-503", http=HttpFault(status_code=503, path_prefix="/predict")),
        Hook("predict-nan", replace=lambda body: b'{"predictions": [NaN]}',
             http=HttpFault(path_prefix="/predict")),
    ])

A firing hook may delay the request, raise (the server answers 500), answer with its
``HttpFault.status_code`` without calling the app, or replace the response body
(``replace`` gets and returns ``bytes``; the app's status and headers are kept).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from aichaos.inprocess.clients import pick
from aichaos.inprocess.hooks import Hook, Shot

__all__ = ["ChaosMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ChaosMiddleware:
    """Wraps an ASGI app; for each HTTP request the first firing hook's fault is applied."""

    def __init__(self, app: ASGIApp, hooks: Sequence[Hook]) -> None:
        self.app = app
        self.hooks = list(hooks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hook, shot = pick(self.hooks, scope.get("method", "GET"), scope.get("path", "/"))
        if hook is None:
            await self.app(scope, receive, send)
            return
        if shot.delay_s:
            await hook.async_sleep(shot.delay_s)
        shot.raise_error()
        http = shot.http
        if http is not None and http.status_code is not None:
            headers = [(k.lower().encode(), v.encode()) for k, v in http.headers.items()]
            headers.append((b"content-length", str(len(http.body)).encode()))
            await send(
                {"type": "http.response.start", "status": http.status_code, "headers": headers}
            )
            await send({"type": "http.response.body", "body": http.body})
            return
        if shot.replace is None:
            await self.app(scope, receive, send)
            return
        await self._replaced(shot, scope, receive, send)

    async def _replaced(self, shot: Shot, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, buffer its body, and send ``shot.replace(body)`` instead."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = bytes(shot(b"".join(chunks)))
                    assert start is not None
                    headers = [
                        (k, v)
                        for k, v in start.get("headers", [])
                        if k.lower() != b"content-length"
                    ]
                    headers.append((b"content-length", str(len(body)).encode()))
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
            else:
                await send(message)

        await self.app(scope, receive, buffer)
