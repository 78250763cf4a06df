"""The proxy API refuses what it cannot act on, and no body holds the other proxies up.

Against a real ``aichaos proxy`` process with httpx: deeply nested JSON is a 400 (not a
500 RecursionError), toxic attributes beyond any physical range are a 400 and the toxic
is never added, and a large ``/populate`` does not stall traffic through other proxies.
"""

from __future__ import annotations

import itertools
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.safety.conftest import ProxyProc

pytestmark = pytest.mark.slow

BIG = 10**400


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _proxy(api: httpx.Client, echo: int, name: str = "p") -> int:
    r = api.post(
        "/proxies", json={"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo}"}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["listen"].rsplit(":", 1)[1])


def _round_trip(port: int, payload: bytes = b"ping" * 256) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_deeply_nested_json_is_a_400(proxy_proc: ProxyProc) -> None:
    with httpx.Client(base_url=proxy_proc.url, timeout=10) as api:
        for depth, path in itertools.product(
            (100, 1000, 100_000), ("/proxies", "/populate", "/proxies/x/toxics")
        ):
            body = "[" * depth + "]" * depth
            r = api.post(path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (path, r.status_code, r.text[:200])
            assert "nested deeper than" in r.json()["error"]


OUT_OF_RANGE: list[tuple[str, dict[str, int]]] = [
    ("latency", {"latency": BIG}),
    ("latency", {"latency": 10, "jitter": BIG}),
    ("bandwidth", {"rate": BIG}),
    ("slicer", {"average_size": BIG}),
    ("slicer", {"average_size": 10, "delay": BIG}),
    ("timeout", {"timeout": BIG}),
    ("reset_peer", {"timeout": BIG}),
    ("latency", {"latency": 10**13}),  # finite, but past a year of milliseconds
]


def test_toxic_attributes_out_of_range_are_refused(proxy_proc: ProxyProc, echo: int) -> None:
    with httpx.Client(base_url=proxy_proc.url, timeout=10) as api:
        port = _proxy(api, echo)
        for type_, attributes in OUT_OF_RANGE:
            _refused(api, port, type_, attributes)


def _refused(api: httpx.Client, port: int, type_: str, attributes: dict[str, int]) -> None:
    """Neither a create nor an update with ``attributes`` is taken; traffic still flows."""
    # json.dumps writes the 401-digit integer as it is, as a hostile client would
    body = json.dumps({"type": type_, "attributes": attributes})
    r = api.post("/proxies/p/toxics", content=body)
    assert r.status_code == 400, r.text[:300]
    assert "at most" in r.json()["error"]
    assert len(r.text) < 2000
    assert api.get("/proxies/p/toxics").json() == []
    # and the same value through an update of a toxic that exists
    ok = api.post("/proxies/p/toxics", json={"type": type_, "name": "t", "toxicity": 0.0})
    assert ok.status_code == 200, ok.text
    r = api.post("/proxies/p/toxics/t", content=json.dumps({"attributes": attributes}))
    assert r.status_code == 400, r.text[:300]
    assert api.get("/proxies/p/toxics/t").json()["attributes"] == ok.json()["attributes"]
    assert api.delete("/proxies/p/toxics/t").status_code == 204
    assert _round_trip(port) == b"ping" * 256


def test_a_large_populate_does_not_stall_other_proxies(proxy_proc: ProxyProc, echo: int) -> None:
    entry = {"name": "same", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo}"}
    body = json.dumps([entry] * 13_000)
    assert 850_000 < len(body) < 1 << 20
    with httpx.Client(base_url=proxy_proc.url, timeout=30) as api:
        port = _proxy(api, echo)
        result: dict[str, object] = {}

        def populate() -> None:
            t0 = time.perf_counter()
            r = api.post("/populate", content=body)
            result.update(
                status=r.status_code, error=r.json().get("error"), took=time.perf_counter() - t0
            )

        worker = threading.Thread(target=populate)
        worker.start()
        slowest = 0.0
        while worker.is_alive():
            t0 = time.perf_counter()
            assert _round_trip(port, b"x" * 64) == b"x" * 64
            slowest = max(slowest, time.perf_counter() - t0)
            time.sleep(0.01)
        worker.join()
    assert result["status"] == 400 and "repeated: same" in str(result["error"])
    assert result["took"] < 1.5, result  # type: ignore[operator]
    assert slowest < 1.0, slowest
