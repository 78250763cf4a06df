"""The control API over raw HTTP: Toxiproxy's status codes and error bodies, bad input."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.proxy.conftest import Api, Echo


def err(status: int, message: str) -> dict[str, object]:
    return {"error": message, "status": status}


async def test_proxy_lifecycle_codes(api: Api, echo_server: Echo) -> None:
    c = api.client
    r = await c.post("/proxies", json={"name": "db", "upstream": echo_server.addr})
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "db" and body["enabled"] is True and body["toxics"] == []
    assert body["listen"].startswith("127.0.0.1:") and not body["listen"].endswith(":0")
    r = await c.post("/proxies", json={"name": "db", "upstream": echo_server.addr})
    assert (r.status_code, r.json()) == (409, err(409, "proxy already exists"))
    assert (await c.get("/proxies")).json()["db"]["upstream"] == echo_server.addr
    assert (await c.get("/proxies/db")).status_code == 200
    r = await c.get("/proxies/nope")
    assert (r.status_code, r.json()) == (404, err(404, "proxy not found"))
    r = await c.post("/proxies/db", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["upstream"] == echo_server.addr  # merged, not replaced
    r = await c.delete("/proxies/db")
    assert r.status_code == 204 and r.content == b""
    assert (await c.delete("/proxies/db")).status_code == 404


async def test_toxic_codes_and_defaults(api: Api, echo_server: Echo) -> None:
    c = api.client
    await api.proxy(echo_server.addr)
    r = await c.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    assert r.status_code == 200
    assert r.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 5, "jitter": 0},
        "stats": {"seen": 0, "affected": 0},
    }
    # names are unique across streams
    r = await c.post(
        "/proxies/p/toxics",
        json={"name": "latency_downstream", "type": "latency", "stream": "upstream"},
    )
    assert (r.status_code, r.json()) == (409, err(409, "toxic already exists"))
    r = await c.post("/proxies/p/toxics", json={"type": "latency", "stream": "sideways"})
    assert (r.status_code, r.json()) == (
        400,
        err(400, "stream was invalid, can be either upstream or downstream"),
    )
    r = await c.post("/proxies/p/toxics", json={"type": "nonsense"})
    assert r.status_code == 400 and r.json()["error"].startswith("invalid toxic type")
    # attributes merge on update
    r = await c.post("/proxies/p/toxics/latency_downstream", json={"attributes": {"jitter": 2}})
    assert r.status_code == 200 and r.json()["attributes"] == {"latency": 5, "jitter": 2}
    r = await c.patch("/proxies/p/toxics/latency_downstream", json={"toxicity": 0.5})
    assert r.json()["toxicity"] == 0.5 and r.json()["attributes"]["jitter"] == 2
    assert [t["name"] for t in (await c.get("/proxies/p/toxics")).json()] == ["latency_downstream"]
    r = await c.get("/proxies/p/toxics/zzz")
    assert (r.status_code, r.json()) == (404, err(404, "toxic not found"))
    assert (await c.delete("/proxies/p/toxics/latency_downstream")).status_code == 204
    r = await c.delete("/proxies/p/toxics/latency_downstream")
    assert (r.status_code, r.json()) == (404, err(404, "toxic not found"))
    r = await c.post("/proxies/nope/toxics", json={"type": "latency"})
    assert (r.status_code, r.json()) == (404, err(404, "proxy not found"))


async def test_reset_version_metrics_and_405(api: Api, echo_server: Echo) -> None:
    c = api.client
    await api.proxy(echo_server.addr)
    await api.toxic(type="noop")
    await c.post("/proxies/p", json={"enabled": False})
    r = await c.post("/reset")
    assert r.status_code == 204
    p = (await c.get("/proxies/p")).json()
    assert p["enabled"] is True and p["toxics"] == []
    v = (await c.get("/version")).json()
    assert v["version"].startswith("2.") and v["seed"] == 1234
    r = await c.put("/proxies")
    assert r.status_code == 405 and r.json()["status"] == 405
    await api.toxic(type="latency", attributes={"latency": 1})
    text = (await c.get("/metrics")).text
    assert "# TYPE aichaos_proxy_toxic_seen_total counter" in text
    assert (
        'aichaos_proxy_toxic_seen_total{proxy="p",toxic="latency_downstream",type="latency"} 0'
        in text
    )


async def test_listen_taken_is_500(api: Api, echo_server: Echo) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    try:
        r = await api.client.post(
            "/proxies",
            json={"name": "x", "upstream": echo_server.addr, "listen": f"127.0.0.1:{port}"},
        )
    finally:
        sock.close()
    assert r.status_code == 500
    assert r.json()["status"] == 500 and "address already in use" in r.json()["error"].lower()


async def test_populate_keeps_unchanged_and_replaces_changed(api: Api, echo_server: Echo) -> None:
    c = api.client
    await api.proxy(echo_server.addr, name="keep")
    await api.toxic("keep", type="noop")
    await api.proxy(echo_server.addr, name="change")
    await api.toxic("change", type="noop")
    other = "127.0.0.1:1"
    body = [
        {"name": "keep", "upstream": echo_server.addr, "listen": "127.0.0.1:0"},
        {"name": "change", "upstream": other, "listen": "127.0.0.1:0"},
        {"name": "new", "upstream": echo_server.addr, "listen": "127.0.0.1:0"},
    ]
    r = await c.post("/populate", json=body)
    assert r.status_code == 201
    assert [p["name"] for p in r.json()["proxies"]] == ["keep", "change", "new"]
    proxies = (await c.get("/proxies")).json()
    assert len(proxies["keep"]["toxics"]) == 1
    assert proxies["change"]["toxics"] == [] and proxies["change"]["upstream"] == other
    # invalid entry: nothing changes at all
    r = await c.post("/populate", json=[{"name": "fresh", "upstream": other}, {"name": "bad"}])
    assert (r.status_code, r.json()) == (400, err(400, "missing required field: upstream"))
    assert "fresh" not in (await c.get("/proxies")).json()


BAD_BODIES = [
    ("/proxies", b"{not json", "invalid JSON"),
    ("/proxies", b"[1, 2]", "expected a JSON object"),
    ("/proxies", b'{"name": 5, "upstream": "127.0.0.1:1"}', "name must be a string"),
    ("/proxies", b'{"name": "a"}', "missing required field: upstream"),
    ("/proxies", b'{"name": "a", "upstream": "nohost"}', "upstream must be host:port"),
    ("/proxies", b'{"name": "a", "upstream": "h:1", "enabled": "yes"}', "enabled must be true"),
    ("/proxies/p/toxics", b"", "empty"),
    (
        "/proxies/p/toxics",
        b'{"type": "latency", "attributes": {"latency": -5}}',
        "latency must be >= 0, got -5",
    ),
    (
        "/proxies/p/toxics",
        b'{"type": "latency", "attributes": {"latency": "5"}}',
        "latency input should be a valid integer, got '5' (toxic latency_downstream)",
    ),
    ("/proxies/p/toxics", b'{"type": "latency", "toxicity": 2}', "toxicity must be within 0..1"),
    ("/proxies/p/toxics", b'{"type": "latency", "toxicity": NaN}', "invalid JSON"),
    (
        "/proxies/p/toxics",
        b'{"type": "latency", "attributes": [1]}',
        "attributes must be an object",
    ),
    (
        "/proxies/p/toxics",
        b'{"type": "bandwidth", "attributes": {"rate": -1}}',
        "rate must be >= 0",
    ),
    ("/populate", b'{"a": 1}', "expected a JSON array"),
]


@pytest.mark.parametrize(("path", "body", "message"), BAD_BODIES)
async def test_bad_input_is_400_with_a_clear_message(
    api: Api, echo_server: Echo, path: str, body: bytes, message: str
) -> None:
    await api.proxy(echo_server.addr)
    r = await api.client.post(path, content=body)
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400 and message in r.json()["error"]
    assert (await api.client.get("/version")).status_code == 200  # still healthy


async def test_huge_body_and_garbage_http_keep_the_server_up(api: Api) -> None:
    r = await api.client.post("/proxies", content=b"x" * (2 * 1024 * 1024))
    assert r.status_code == 400 and "larger than" in r.json()["error"]
    reader, writer = await asyncio.open_connection(api.site.host, api.site.port)
    writer.write(b"\x00\x01 NOT HTTP\r\n\r\n")
    head = await asyncio.wait_for(reader.read(1000), 5)
    assert head.startswith(b"HTTP/1.1 400")
    writer.close()
    assert (await api.client.get("/version")).status_code == 200
