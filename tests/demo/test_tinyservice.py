"""The test service answers a reused connection at once, as production servers do."""

from __future__ import annotations

import http.client
import statistics
import time
from urllib.parse import urlsplit

from tests.conftest import Server


def test_a_kept_alive_connection_is_not_held_up_by_nagle(http_server: Server) -> None:
    # headers and body leave in two writes: with Nagle's algorithm on, the body waited
    # for the client's delayed ACK (about 40 ms) on every request of a reused connection,
    # which a keep-alive client (the HTTP probe) paid and a fresh-connection one did not
    url = urlsplit(http_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    latencies_ms = []
    try:
        for _ in range(6):
            t0 = time.perf_counter()
            conn.request("GET", "/health")
            answer = conn.getresponse()
            assert answer.status == 200 and answer.read()
            latencies_ms.append((time.perf_counter() - t0) * 1e3)
    finally:
        conn.close()
    assert statistics.median(latencies_ms[1:]) < 20, latencies_ms
