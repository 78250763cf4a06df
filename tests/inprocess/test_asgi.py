"""The ASGI middleware in FastAPI and Starlette apps under real uvicorn."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aichaos.inprocess import ChaosMiddleware, Hook, HttpFault, Latency, Switchboard, UvicornThread


def _fastapi(hooks: list[Hook]) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    def predict() -> dict[str, list[float]]:
        return {"predictions": [0.25, 0.75]}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(ChaosMiddleware, hooks=hooks)
    return app


def _starlette(hooks: list[Hook]) -> Starlette:
    async def predict(request: Request) -> JSONResponse:
        return JSONResponse({"predictions": [0.25, 0.75]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)])
    app.add_middleware(ChaosMiddleware, hooks=hooks)
    return app


def _nan(body: bytes) -> bytes:
    data = json.loads(body)
    data["predictions"] = [float("nan")] * len(data["predictions"])
    return json.dumps(data).encode()


@pytest.fixture(params=[_fastapi, _starlette], ids=["fastapi", "starlette"])
def service(request: pytest.FixtureRequest) -> Iterator[tuple[str, Switchboard]]:
    board = Switchboard()
    hooks = [
        Hook("unavailable", http=HttpFault(status_code=503, path_prefix="/predict"), board=board),
        Hook("nan", replace=_nan, http=HttpFault(path_prefix="/predict"), board=board),
        Hook(
            "slow", latency=Latency(mean_ms=200), http=HttpFault(path_prefix="/health"), board=board
        ),
    ]
    make: Callable[[list[Hook]], object] = request.param
    with UvicornThread(make(hooks)) as server:
        yield server.url, board


def test_middleware_status_replacement_and_latency(service: tuple[str, Switchboard]) -> None:
    url, board = service
    with httpx.Client(base_url=url) as client:
        assert client.post("/predict").json() == {"predictions": [0.25, 0.75]}
        board.arm("unavailable", ttl_s=30)
        assert client.post("/predict").status_code == 503
        board.disarm("unavailable")
        board.arm("nan", ttl_s=30)
        r = client.post("/predict")
        assert r.status_code == 200 and "NaN" in r.text
        assert int(r.headers["content-length"]) == len(r.content)
        board.arm("slow", ttl_s=30)
        t0 = time.perf_counter()
        assert client.get("/health").json() == {"status": "ok"}
        assert time.perf_counter() - t0 >= 0.2
        board.disarm("*")
        assert client.post("/predict").json() == {"predictions": [0.25, 0.75]}
