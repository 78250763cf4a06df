"""A small model-serving ASGI app (starlette) for the HTTP toxic tests, with an SSE stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Seen:
    """Requests that reached the app, by path."""

    paths: list[str] = field(default_factory=list)


def make_app(seen: Seen) -> Starlette:
    async def models(request: Request) -> Response:
        seen.paths.append(request.url.path)
        return JSONResponse({"data": [{"id": "m1"}]})

    async def predict(request: Request) -> Response:
        seen.paths.append(request.url.path)
        body = await request.json()
        n = int(body.get("n", 3))
        preds = [{"label": f"c{i}", "score": round(0.9 - i / 10, 2)} for i in range(n)]
        return JSONResponse({"model": "m1", "predictions": preds})

    async def stream(request: Request) -> Response:
        seen.paths.append(request.url.path)

        async def events() -> AsyncIterator[bytes]:
            for i in range(5):
                yield f'data: {{"token": "t{i}"}}\n\n'.encode()
                await asyncio.sleep(0.01)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def echo(request: Request) -> Response:
        seen.paths.append(request.url.path)
        return Response(await request.body(), media_type="application/octet-stream")

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/predict", predict, methods=["POST"]),
            Route("/v1/stream", stream),
            Route("/echo", echo, methods=["POST"]),
        ]
    )
