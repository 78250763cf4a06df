"""The httpx transports and the requests adapter against a real upstream server."""

from __future__ import annotations

import time

import httpx
import pytest
import requests

from aichaos.inprocess import (
    AsyncChaosTransport,
    ChaosTransport,
    Hook,
    HttpFault,
    Latency,
    Switchboard,
    requests_adapter,
)


def test_httpx_transport_status_abort_and_passthrough(upstream: str, board: Switchboard) -> None:
    limited = Hook(
        "llm-429",
        http=HttpFault(
            status_code=429, headers={"Retry-After": "1"}, body=b"slow down", path_prefix="/v1/chat"
        ),
        board=board,
    )
    down = Hook("fs-down", http=HttpFault(abort="connect", path_prefix="/features"), board=board)
    with httpx.Client(transport=ChaosTransport([limited, down]), base_url=upstream) as client:
        assert client.get("/v1/chat").json() == {"path": "/v1/chat", "method": "GET"}
        board.arm("*", ttl_s=30)
        r = client.get("/v1/chat")
        assert (r.status_code, r.headers["retry-after"], r.text) == (429, "1", "slow down")
        with pytest.raises(httpx.ConnectError, match="injected"):
            client.get("/features/42")
        assert client.get("/other").status_code == 200  # out of both hooks' scope
        board.disarm("*")
        assert client.get("/v1/chat").status_code == 200


def test_httpx_transport_latency_and_response_replacement(upstream: str) -> None:
    board = Switchboard()
    hook = Hook(
        "slow-empty",
        latency=Latency(mean_ms=150),
        replace=lambda r: httpx.Response(200, json={"embedding": []}),
        board=board,
        armed=True,
    )
    with httpx.Client(transport=ChaosTransport([hook]), base_url=upstream) as client:
        t0 = time.perf_counter()
        r = client.post("/embed")
        assert time.perf_counter() - t0 >= 0.15
        assert r.json() == {"embedding": []}


async def test_async_transport_timeout_and_reset(upstream: str) -> None:
    board = Switchboard()
    t = Hook("t", http=HttpFault(abort="timeout", method="POST"), board=board, armed=True)
    transport = AsyncChaosTransport([t])
    async with httpx.AsyncClient(transport=transport, base_url=upstream) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/predict")
        assert (await client.get("/predict")).status_code == 200  # method does not match


def test_requests_adapter(upstream: str, board: Switchboard) -> None:
    hooks = [
        Hook(
            "503",
            http=HttpFault(status_code=503, body=b'{"error":"x"}', path_prefix="/a"),
            board=board,
        ),
        Hook("timeout", http=HttpFault(abort="timeout", path_prefix="/b"), board=board),
        Hook("reset", http=HttpFault(abort="reset", path_prefix="/c"), board=board),
    ]
    with requests.Session() as s:
        s.mount("http://", requests_adapter(hooks))
        assert s.get(upstream + "/a").json()["path"] == "/a"
        board.arm("*", ttl_s=30)
        r = s.get(upstream + "/a")
        assert r.status_code == 503 and r.json() == {"error": "x"}
        with pytest.raises(requests.exceptions.ReadTimeout):
            s.get(upstream + "/b")
        with pytest.raises(requests.exceptions.ConnectionError):
            s.get(upstream + "/c")
        assert s.get(upstream + "/d").status_code == 200
