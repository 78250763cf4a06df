"""The third-party ``toxiproxy-python`` client drives ``aichaos proxy`` (a real subprocess)."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

pytestmark = pytest.mark.slow


class ThreadEcho:
    """A blocking echo server in a thread (the client under test is synchronous)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "proxy", "--port", "0", "--seed", "7"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    APIConsumer.host, APIConsumer.port = "127.0.0.1", int(match.group(1))
    yield match.group(0)
    proc.terminate()
    assert proc.wait(10) == 0
    proc.stdout.close()


@pytest.fixture
def echo() -> Iterator[ThreadEcho]:
    e = ThreadEcho()
    yield e
    e.close()


@pytest.fixture
def tp(server: str) -> Iterator[toxiproxy.Toxiproxy]:
    client = toxiproxy.Toxiproxy()
    client.destroy_all()
    yield client
    client.destroy_all()


def _addr(proxy: toxiproxy.Proxy) -> tuple[str, int]:
    host, port = proxy.listen.rsplit(":", 1)
    return host, int(port)


def _rtt(addr: tuple[str, int], data: bytes = b"ping") -> float:
    with socket.create_connection(addr, timeout=5) as s:
        start = time.perf_counter()
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = s.recv(65536)
            assert chunk, "closed early"
            got += chunk
        assert got == data
        return time.perf_counter() - start


def test_create_and_409(tp: toxiproxy.Toxiproxy, echo: ThreadEcho) -> None:
    proxy = tp.create(upstream=echo.addr, name="svc")
    assert proxy.name == "svc" and proxy.enabled is True
    assert _rtt(_addr(proxy)) < 0.1
    assert tp.running() and b"version" in tp.version()
    with pytest.raises(ProxyExists):
        toxiproxy.api.APIConsumer.post("/proxies", json={"name": "svc", "upstream": echo.addr})
    assert set(tp.proxies()) == {"svc"}


def test_disable_refuses_enable_accepts(tp: toxiproxy.Toxiproxy, echo: ThreadEcho) -> None:
    proxy = tp.create(upstream=echo.addr, name="svc")
    addr = _addr(proxy)
    with proxy.down(), pytest.raises(ConnectionRefusedError):
        socket.create_connection(addr, timeout=2)
    assert _rtt(addr) < 0.1


def test_reset_peer_resets(tp: toxiproxy.Toxiproxy, echo: ThreadEcho) -> None:
    proxy = tp.create(upstream=echo.addr, name="svc")
    proxy.add_toxic(type="reset_peer", attributes={"timeout": 0})
    # the RST may surface at connect's end, at send or at recv: all inside the raises
    with (
        pytest.raises(ConnectionResetError),
        socket.create_connection(_addr(proxy), timeout=5) as s,
    ):
        s.sendall(b"x")
        while s.recv(10):  # an echo may beat the RST; a FIN (b"") would fail the test
            pass


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_latency_both_streams(tp: toxiproxy.Toxiproxy, echo: ThreadEcho, stream: str) -> None:
    proxy = tp.create(upstream=echo.addr, name="svc")
    proxy.add_toxic(type="latency", stream=stream, attributes={"latency": 100})
    assert set(proxy.toxics()) == {f"latency_{stream}"}
    assert 0.1 <= _rtt(_addr(proxy)) < 0.17
    proxy.destroy_toxic(f"latency_{stream}")
    assert _rtt(_addr(proxy)) < 0.05
    tp.reset()
    assert proxy.toxics() == {}


def test_invalid_stream_is_400(tp: toxiproxy.Toxiproxy, echo: ThreadEcho) -> None:
    proxy = tp.create(upstream=echo.addr, name="svc")
    with pytest.raises(InvalidToxic, match="stream was invalid"):
        proxy.add_toxic(type="latency", stream="sideways", attributes={"latency": 1})
    with pytest.raises(InvalidToxic, match="invalid toxic type"):
        proxy.add_toxic(type="nope")
    with pytest.raises(NotFound):
        toxiproxy.api.APIConsumer.get("/proxies/missing")


def test_a_typo_or_an_oversized_body_raises_in_the_client(
    tp: toxiproxy.Toxiproxy, echo: ThreadEcho
) -> None:
    # the client raises on 400 only (not on 413): anything else reads as a toxic added
    proxy = tp.create(upstream=echo.addr, name="svc")
    with pytest.raises(InvalidToxic, match="latncy is not a known field"):
        proxy.add_toxic(type="latency", attributes={"latncy": 100})
    huge = {"latency": 1, "padding": "x" * (2 * 1024 * 1024)}
    with pytest.raises(InvalidToxic, match="body larger than"):
        proxy.add_toxic(type="latency", attributes=huge)
    assert proxy.toxics() == {}


def test_populate(tp: toxiproxy.Toxiproxy, echo: ThreadEcho, server: str) -> None:
    created = tp.populate(
        [
            {"name": "a", "upstream": echo.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": echo.addr, "listen": "127.0.0.1:0"},
        ]
    )
    assert {p.name for p in created} == {"a", "b"}
    # the server's own /populate: same names, one changed
    r = requests.post(
        f"{server}/populate",
        json=[
            {"name": "a", "upstream": echo.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"},
        ],
        timeout=5,
    )
    assert r.status_code == 201
    proxies = tp.proxies()
    assert proxies["b"].upstream == "127.0.0.1:1"
    assert _rtt(_addr(proxies["a"])) < 0.1
