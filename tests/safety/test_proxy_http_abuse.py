"""The proxy's HTTP path under abuse: malformed requests, huge heads, broken chunked bodies,
slowloris clients. Each gets a clear outcome (an answer, or the connection closed) and the
proxy keeps serving everyone else."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import _stop
from tests.safety.conftest import ProxyProc, start_proxy

pytestmark = pytest.mark.slow


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _ok(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _ok


@pytest.fixture(scope="module")
def http_proxy() -> Iterator[tuple[ProxyProc, str]]:
    """``aichaos proxy`` parsing HTTP, with an HTTP toxic live, in front of a real server."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    proxy = start_proxy()
    r = httpx.post(
        proxy.url + "/proxies",
        json={"name": "web", "upstream": f"127.0.0.1:{httpd.server_address[1]}", "http": True},
    )
    assert r.status_code == 201
    toxic = {"type": "http_error", "attributes": {"status": 503, "path": "/chaos/*"}}
    assert httpx.post(proxy.url + "/proxies/web/toxics", json=toxic).status_code == 200
    yield proxy, "http://" + r.json()["listen"]
    _stop(proxy.proc)
    httpd.shutdown()
    httpd.server_close()


def _addr(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _outcome(addr: tuple[str, int], payload: bytes, wait_s: float = 1.5) -> bytes | None:
    """Send ``payload``; what came back before the connection closed (None: still open)."""
    with socket.create_connection(addr, timeout=wait_s) as s:
        with contextlib.suppress(OSError):
            s.sendall(payload)
        data = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                return None
            except OSError:
                return data  # reset: closed
            if not chunk:
                return data
            data += chunk
        return None


def _healthy(proxy: ProxyProc, listen: str) -> None:
    assert proxy.proc.poll() is None, "the proxy process died"
    with httpx.Client(timeout=3) as c:
        assert c.get(listen + "/fine").json() == {"ok": True}
        assert c.get(listen + "/chaos/x").status_code == 503


BAD = {
    "garbage": b"\x00\xff\x13garbage\r\n\r\n",
    "bad-method": b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "no-host-space-in-header-name": b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
    "huge-header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "many-headers": b"GET / HTTP/1.1\r\n" + b"X-H: v\r\n" * 20_000 + b"\r\n",
    "bad-chunk-size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "chunk-without-crlf": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
    ),
    "cl-and-te": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "negative-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "short-body-then-close": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
}


def _kind(outcome: bytes | None) -> str:
    return "open" if outcome is None else "closed" if outcome == b"" else "answered"


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_requests(http_proxy: tuple[ProxyProc, str], name: str) -> None:
    """The proxy answers, closes, or -- for bytes it cannot parse, which it passes through
    unparsed (docs/proxy.md) -- behaves as the upstream itself does with them."""
    proxy, listen = http_proxy
    upstream = httpx.get(proxy.url + "/proxies/web").json()["upstream"]
    direct = _kind(_outcome(_addr("http://" + upstream), BAD[name]))
    via = _kind(_outcome(_addr(listen), BAD[name]))
    assert via in ("answered", "closed") or via == direct, (name, via, direct)
    _healthy(proxy, listen)


def test_slowloris_through_the_http_proxy(http_proxy: tuple[ProxyProc, str]) -> None:
    proxy, listen = http_proxy
    slow = [socket.create_connection(_addr(listen), timeout=5) for _ in range(50)]
    try:
        for s in slow:
            s.sendall(b"GET /fine HTTP/1.1\r\nHost: x\r\n")
        for i in range(8):
            for s in slow:
                with contextlib.suppress(OSError):
                    s.sendall(f"X-{i}: {'y' * 10}\r\n".encode())
            t0 = time.monotonic()
            _healthy(proxy, listen)
            assert time.monotonic() - t0 < 1.0, "slow clients delay others"
            time.sleep(0.1)
        for s in slow:  # and when they do finish, they are served normally
            s.sendall(b"\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for s in slow:
            s.close()


def test_huge_head_does_not_grow_the_proxy_without_bound(
    http_proxy: tuple[ProxyProc, str],
) -> None:
    proxy, listen = http_proxy
    rss0 = psutil.Process(proxy.proc.pid).memory_info().rss
    with socket.create_connection(_addr(listen), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):
            for _ in range(64):  # 64 MiB of one header that never ends
                s.sendall(b"a" * (1 << 20))
        grown = psutil.Process(proxy.proc.pid).memory_info().rss - rss0
    assert grown < 32 << 20, f"the proxy grew {grown >> 20} MiB buffering one header"
    _healthy(proxy, listen)


def test_huge_head_is_answered_431_and_closed(http_proxy: tuple[ProxyProc, str]) -> None:
    """Past 64 KiB of request head the proxy answers as a server would, then closes."""
    _proxy, listen = http_proxy
    with socket.create_connection(_addr(listen), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024))
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_huge_complete_head_is_answered_431_too(http_proxy: tuple[ProxyProc, str]) -> None:
    """A head past 64 KiB that arrives whole (no request is held for it) gets the same
    answer: the request a toxic does not match is not forwarded past the limit either."""
    _proxy, listen = http_proxy
    pads = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1200) for i in range(60))
    with socket.create_connection(_addr(listen), timeout=5) as s:
        s.sendall(b"GET /fine HTTP/1.1\r\nHost: x\r\n" + pads + b"\r\n")
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 ") and answer.endswith(b"larger than 64 KiB: closed")


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    head=st.sampled_from(
        [b"GET /fine HTTP/1.1\r\n", b"POST /chaos/a HTTP/1.1\r\n", b"PUT / HTTP/1.0\r\n", b""]
    ),
    noise=st.binary(max_size=300),
    tail=st.sampled_from([b"\r\n\r\n", b"", b"\r\nTransfer-Encoding: chunked\r\n\r\n"]),
)
def test_random_bytes_never_break_the_proxy(
    http_proxy: tuple[ProxyProc, str], head: bytes, noise: bytes, tail: bytes
) -> None:
    proxy, listen = http_proxy
    _outcome(_addr(listen), head + noise + tail, wait_s=0.2)
    assert proxy.proc.poll() is None
    with httpx.Client(timeout=3) as c:
        assert c.get(listen + "/fine").status_code == 200


def test_catastrophic_path_regex_cannot_freeze_the_proxy(
    http_proxy: tuple[ProxyProc, str],
) -> None:
    """``(a+)+$`` backtracks exponentially in Python's ``re``; RE2 matches in linear time."""
    proxy, listen = http_proxy
    toxic = {
        "name": "redos",
        "type": "http_error",
        "attributes": {"status": 418, "path_regex": "(a+)+$"},
    }
    assert httpx.post(proxy.url + "/proxies/web/toxics", json=toxic).status_code == 200
    try:
        with httpx.Client(timeout=5) as c:
            start = time.monotonic()
            assert c.get(listen + "/" + "a" * 40 + "!").json() == {"ok": True}
            assert c.get(listen + "/" + "a" * 40).status_code == 418
            assert time.monotonic() - start < 2.0
        _healthy(proxy, listen)
        r = httpx.post(
            proxy.url + "/proxies/web/toxics",
            json={"type": "http_error", "attributes": {"path_regex": r"(a)\1"}},
        )
        assert r.status_code == 400 and "RE2 syntax" in r.json()["error"]
    finally:
        httpx.delete(proxy.url + "/proxies/web/toxics/redos")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ok": "a\r\nset-cookie: injected=1"},
        {"x-ok": "a\nx-more: 1"},
        {"x-bad\r\nset-cookie: injected=1": "v"},
        {"x-nul": "a\x00b"},
        {"": "v"},
    ],
)
def test_crlf_in_response_headers_is_refused(
    http_proxy: tuple[ProxyProc, str], headers: dict[str, str]
) -> None:
    proxy, listen = http_proxy
    r = httpx.post(
        proxy.url + "/proxies/web/toxics",
        json={"name": "crlf", "type": "http_error", "attributes": {"response_headers": headers}},
    )
    assert r.status_code == 400, r.text
    assert "response_headers" in r.json()["error"]
    assert httpx.get(proxy.url + "/proxies/web/toxics/crlf").status_code == 404
    _healthy(proxy, listen)
