"""HTTP toxics against a real ASGI app served by uvicorn, through the proxy, per request."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.proxy.asgi_app import Seen
from tests.proxy.conftest import Api


@pytest.fixture
async def client(api: Api, upstream: tuple[str, Seen]) -> AsyncIterator[httpx.AsyncClient]:
    host, port = await api.proxy(upstream[0], http=True)
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as c:
        yield c


async def test_passthrough_keeps_bodies_and_keep_alive(
    api: Api, client: httpx.AsyncClient, upstream: tuple[str, Seen]
) -> None:
    payload = bytes(range(256)) * 300
    for _ in range(20):
        r = await client.post("/echo", content=payload)
        assert r.status_code == 200 and r.content == payload
    r = await client.post("/v1/predict", json={"n": 2})
    assert [p["label"] for p in r.json()["predictions"]] == ["c0", "c1"]
    proxy = api.app.store.get("p")
    assert proxy.connections_total == 1  # one keep-alive connection carried all of them
    assert proxy.requests_upstream == 21


async def test_openai_rate_limit_hits_only_the_matching_route(
    api: Api, client: httpx.AsyncClient, upstream: tuple[str, Seen]
) -> None:
    await api.toxic(
        type="http_error",
        attributes={
            "preset": "openai_rate_limit",
            "retry_after_s": 2,
            "method": "POST",
            "path": "/v1/predict",
        },
    )
    r = await client.post("/v1/predict", json={})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2" and r.headers["retry-after-ms"] == "2000"
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "rate_limit_exceeded"
    assert (await client.get("/v1/models")).status_code == 200
    assert upstream[1].paths == ["/v1/models"]  # the 429 never reached the upstream
    # the same keep-alive connection still works after a synthetic answer
    assert (await client.post("/echo", content=b"ok")).content == b"ok"


@pytest.mark.parametrize(
    ("preset", "status", "code"),
    [
        ("openai_overloaded", 503, None),
        ("openai_server_error", 500, None),
        ("openai_context_length", 400, "context_length_exceeded"),
    ],
)
async def test_openai_error_presets(
    api: Api, client: httpx.AsyncClient, preset: str, status: int, code: str | None
) -> None:
    await api.toxic(type="http_error", attributes={"preset": preset})
    r = await client.get("/v1/models")
    assert r.status_code == status and r.json()["error"]["code"] == code


async def test_probability_per_request_is_seeded_and_binomial(
    api: Api, client: httpx.AsyncClient, upstream: tuple[str, Seen]
) -> None:
    await api.toxic(type="http_error", toxicity=0.3, attributes={"status": 500})
    codes = [(await client.get("/v1/models")).status_code for _ in range(300)]
    hits = codes.count(500)
    # 300 draws at p=0.3: mean 90, sd ~7.9; +-4 sd
    assert 58 <= hits <= 122
    toxic = (await api.client.get("/proxies/p/toxics/http_error_downstream")).json()
    assert toxic["stats"] == {"seen": 300, "affected": hits}
    assert len(upstream[1].paths) == 300 - hits
    metrics = (await api.client.get("/metrics")).text
    assert f'aichaos_proxy_http_requests_upstream_total{{proxy="p"}} {300 - hits}' in metrics

    # same seed, same connection order -> the same requests are hit
    from aichaos.proxy.server import ApiSite, ProxyApp

    app2 = ProxyApp(seed=1234)
    site2 = ApiSite(app2, "127.0.0.1", 0)
    await site2.start()
    try:
        p2 = await app2.store.create({"name": "p", "upstream": upstream[0], "http": True})
        app2.store.add_toxic(
            "p", {"type": "http_error", "toxicity": 0.3, "attributes": {"status": 500}}
        )
        async with httpx.AsyncClient(base_url=f"http://{p2.listen}") as c2:
            codes2 = [(await c2.get("/v1/models")).status_code for _ in range(300)]
        assert codes2 == codes
    finally:
        await site2.stop()
        await app2.close()


async def test_header_and_regex_matching(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(
        type="http_error",
        attributes={"status": 503, "headers": {"x-chaos": "on"}, "path_regex": r"^/v1/(models|x)$"},
    )
    assert (await client.get("/v1/models")).status_code == 200
    assert (await client.get("/v1/models", headers={"x-chaos": "off"})).status_code == 200
    assert (await client.get("/v1/models", headers={"x-chaos": "on"})).status_code == 503
    r = await client.post("/echo", content=b"e", headers={"x-chaos": "on"})
    assert r.status_code == 200  # header matches, path does not


async def test_http_delay_first_byte_and_request(api: Api, client: httpx.AsyncClient) -> None:
    await client.get("/v1/models")  # warm the connection
    start = time.perf_counter()
    await client.get("/v1/models")
    base = time.perf_counter() - start
    await api.toxic(type="http_delay", attributes={"first_byte_ms": 150, "request_ms": 100})
    start = time.perf_counter()
    assert (await client.get("/v1/models")).status_code == 200
    took = time.perf_counter() - start
    assert 0.25 <= took < 0.25 + base + 0.08


async def test_removing_http_delay_releases_a_waiting_request(
    api: Api, client: httpx.AsyncClient
) -> None:
    await api.toxic(type="http_delay", attributes={"first_byte_ms": 600_000})
    start = time.perf_counter()
    request = asyncio.create_task(client.get("/v1/models"))
    await asyncio.sleep(0.2)
    assert (await api.client.delete("/proxies/p/toxics/http_delay_downstream")).status_code == 204
    assert (await request).status_code == 200
    assert time.perf_counter() - start < 1.0


async def _events(client: httpx.AsyncClient) -> tuple[list[str], list[float]]:
    lines, times = [], []
    start = time.perf_counter()
    async with client.stream("GET", "/v1/stream") as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line:
                lines.append(line)
                times.append(time.perf_counter() - start)
    return lines, times


async def test_sse_passthrough(client: httpx.AsyncClient) -> None:
    lines, _ = await _events(client)
    assert lines[-1] == "data: [DONE]" and len(lines) == 6


async def test_stream_stall_pauses_after_n_events(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(type="stream_stall", attributes={"after_events": 2, "stall_ms": 300})
    lines, times = await _events(client)
    assert len(lines) == 6
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.28 <= gaps[1] < 0.4  # between event 2 and 3
    assert max(gaps[:1] + gaps[2:]) < 0.1


async def test_stream_cut_closes_mid_stream(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(type="stream_cut", attributes={"after_events": 2})
    with pytest.raises(httpx.RemoteProtocolError):
        await _events(client)


async def test_stream_cut_openai_midstream_error(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(
        type="stream_cut", attributes={"after_events": 3, "preset": "openai_midstream_error"}
    )
    lines, _ = await _events(client)
    assert len(lines) == 4
    error = json.loads(lines[-1].removeprefix("data: "))["error"]
    assert error["type"] == "server_error" and set(error) == {"message", "type", "param", "code"}
    # the response ended cleanly and announced the close (the upstream's rest of the
    # stream must not reach the next request): the next request takes a new connection
    assert (await client.get("/v1/models")).status_code == 200
    assert api.app.store.get("p").connections_total == 2


async def test_stream_without_done(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(type="stream_cut", attributes={"preset": "openai_no_done"})
    lines, _ = await _events(client)
    assert len(lines) == 5 and "data: [DONE]" not in lines


async def test_json_corrupt_rewrites_predictions(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(
        type="json_corrupt",
        attributes={
            "path": "/v1/predict",
            "ops": [
                {"path": "predictions.*.score", "action": "nan"},
                {"path": "predictions.0.label", "action": "wrong_type"},
                {"path": "model", "action": "drop"},
            ],
        },
    )
    r = await client.post("/v1/predict", json={"n": 3})
    assert r.status_code == 200
    doc = json.loads(r.content)  # Python's json accepts NaN, as many clients do
    assert "model" not in doc
    assert all(math.isnan(p["score"]) for p in doc["predictions"])
    assert doc["predictions"][0]["label"] == 0
    assert int(r.headers["content-length"]) == len(r.content)
    assert (await client.get("/v1/models")).json() == {"data": [{"id": "m1"}]}


async def test_json_corrupt_scale_and_shuffle(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(
        type="json_corrupt",
        attributes={
            "ops": [
                {"path": "predictions.*.score", "action": "scale", "factor": 10},
                {"path": "predictions", "action": "shuffle"},
            ]
        },
    )
    doc = (await client.post("/v1/predict", json={"n": 8})).json()
    scores = sorted(p["score"] for p in doc["predictions"])
    assert scores == sorted(round(0.9 - i / 10, 2) * 10 for i in range(8))
    assert [p["label"] for p in doc["predictions"]] != [f"c{i}" for i in range(8)]


async def test_truncate_cuts_the_body(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(type="truncate", attributes={"bytes": 10})
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/echo", content=b"x" * 1000)


async def test_http_toxic_bad_attributes_are_400(api: Api, client: httpx.AsyncClient) -> None:
    for attrs, message in [
        ({"status": 99}, "status must be >= 100"),
        ({"path_regex": "("}, "path_regex is not a valid regex"),
        ({"preset": "nope"}, "preset"),
    ]:
        r = await api.client.post(
            "/proxies/p/toxics", json={"type": "http_error", "attributes": attrs}
        )
        assert r.status_code == 400 and message in r.json()["error"], r.text
    r = await api.client.post("/proxies/p/toxics", json={"type": "json_corrupt", "attributes": {}})
    assert r.status_code == 400 and "ops" in r.json()["error"]


async def test_two_stalls_compose_in_chain_order(api: Api, client: httpx.AsyncClient) -> None:
    """Each stall toxic stalls on its own (they used to merge into one plan field)."""
    await api.toxic(
        name="first", type="stream_stall", attributes={"after_events": 1, "stall_ms": 250}
    )
    await api.toxic(
        name="second", type="stream_stall", attributes={"after_events": 3, "stall_ms": 250}
    )
    lines, times = await _events(client)
    assert len(lines) == 6
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.23 and gaps[2] >= 0.23  # before event 2 and before event 4
    assert max(gaps[1], gaps[3], gaps[4]) < 0.2
    stats = {t["name"]: t["stats"] for t in (await api.client.get("/proxies/p/toxics")).json()}
    assert stats == {"first": {"seen": 1, "affected": 1}, "second": {"seen": 1, "affected": 1}}


async def test_delay_then_error_compose(api: Api, client: httpx.AsyncClient) -> None:
    await api.toxic(type="http_delay", attributes={"request_ms": 200})
    await api.toxic(type="http_error", attributes={"status": 500})
    start = time.perf_counter()
    assert (await client.get("/v1/models")).status_code == 500
    assert time.perf_counter() - start >= 0.2  # the delay ran first, then the answer
