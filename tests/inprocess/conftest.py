"""Real servers on 127.0.0.1 for the in-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aichaos.inprocess import ControlServer, Switchboard, UvicornThread


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "method": request.method})


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A real dependency (Starlette under uvicorn) the clients call."""
    app = Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST"])])
    with UvicornThread(app) as server:
        yield server.url


@pytest.fixture
def board() -> Switchboard:
    return Switchboard()


@pytest.fixture
def control(board: Switchboard) -> Iterator[ControlServer]:
    server = ControlServer(board, token="test-token-123").start()
    yield server
    server.close()
