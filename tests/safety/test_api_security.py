"""Who may talk to a control API, and how much of the server one client may hold."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import toxiproxy

from aichaos.errors import ValidationError
from aichaos.inprocess import ControlServer, Hook, Raise, Switchboard
from aichaos.proxy.httpserver import Limits
from aichaos.proxy.server import ApiSite, ProxyApp, check_exposure
from tests.conftest import _stop
from tests.safety.conftest import TOKEN, ProxyProc, ThreadedProxy, start_proxy

ROUTES = [
    ("GET", "/proxies"),
    ("POST", "/proxies"),
    ("POST", "/populate"),
    ("POST", "/reset"),
    ("GET", "/version"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/proxies/p"),
    ("DELETE", "/proxies/p"),
    ("GET", "/proxies/p/toxics"),
    ("POST", "/proxies/p/toxics"),
    ("DELETE", "/proxies/p/toxics/t"),
    ("GET", "/no/such/route"),
]


def test_the_api_binds_loopback_by_default(proxy_proc: ProxyProc) -> None:
    assert proxy_proc.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("host", "token", "insecure", "ok"),
    [
        ("127.0.0.1", None, False, True),
        ("::1", None, False, True),
        ("localhost", None, False, True),
        ("0.0.0.0", None, False, False),
        ("::", None, False, False),
        ("10.1.2.3", None, False, False),
        ("my-host.example", None, False, False),
        ("0.0.0.0", TOKEN, False, True),
        ("0.0.0.0", None, True, True),
    ],
)
def test_exposure_rule(host: str, token: str | None, insecure: bool, ok: bool) -> None:
    if ok:
        check_exposure(host, token, insecure)
        ApiSite(ProxyApp(), host, 0, token=token, insecure=insecure)
    else:
        with pytest.raises(ValidationError, match=r"not a loopback address.*--token.*--insecure"):
            ApiSite(ProxyApp(), host, 0, token=token, insecure=insecure)


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="token must be at least 8 characters, got 3"):
        check_exposure("127.0.0.1", "abc", False)


def test_cli_refuses_a_public_address_without_token() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "proxy", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert "not a loopback address" in proc.stderr and "--insecure" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_route_needs_the_token(token_proxy: ProxyProc) -> None:
    with httpx.Client(base_url=token_proxy.url, timeout=5) as c:
        for method, path in ROUTES:
            for headers in (
                {},
                {"Authorization": "Bearer wrong-token-000000000"},
                {"Authorization": TOKEN},  # no scheme
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": f"Bearer {TOKEN}x"},
                {"Authorization": f"bearer {TOKEN[:-1]}"},
            ):
                r = c.request(method, path, headers=headers, content=b"{}")
                assert r.status_code == 401, (method, path, headers, r.text)
                assert r.json() == {"error": "missing or wrong bearer token", "status": 401}
                assert r.headers["www-authenticate"] == "Bearer"
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/version", headers=good).status_code == 200
        assert c.get("/openapi.json", headers=good).json()["openapi"].startswith("3.")
        r = c.post("/proxies", headers=good, json={"name": "a", "upstream": "127.0.0.1:9"})
        assert r.status_code == 201


def test_toxiproxy_client_works_on_loopback_without_token(proxy_proc: ProxyProc) -> None:
    port = int(proxy_proc.url.rsplit(":", 1)[1])
    server = toxiproxy.Toxiproxy()
    server.update_api_consumer("127.0.0.1", port)
    assert server.running()
    p = server.create(name="tp", upstream="127.0.0.1:9", listen="127.0.0.1:0")
    p.add_toxic(type="latency", attributes={"latency": 10})
    assert [t.name for t in p.toxics().values()] == ["latency_downstream"]
    server.destroy_all()


def test_slowloris_is_cut_off_and_others_are_served(threaded_proxy: ThreadedProxy) -> None:
    host, port = threaded_proxy.url.removeprefix("http://").rsplit(":", 1)
    slow = [socket.create_connection((host, int(port)), timeout=5) for _ in range(20)]
    try:
        for s in slow:
            s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        # while they trickle, a normal client is served at once, again and again
        with httpx.Client(base_url=threaded_proxy.url, timeout=2) as c:
            for i in range(6):
                for s in slow:
                    with contextlib.suppress(OSError):  # already cut off: the point
                        s.sendall(f"X-Slow-{i}: 1\r\n".encode())
                t0 = time.monotonic()
                assert c.get("/version").status_code == 200
                assert time.monotonic() - t0 < 1.0
                time.sleep(0.25)
        for s in slow:
            data = s.recv(4096)
            assert data.startswith(b"HTTP/1.1 408"), data
            assert s.recv(4096) == b""  # then closed
        assert time.monotonic() - started < 4
    finally:
        for s in slow:
            s.close()


def test_idle_connection_is_closed(threaded_proxy: ThreadedProxy) -> None:
    host, port = threaded_proxy.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        t0 = time.monotonic()
        assert s.recv(10) == b""
        assert 1.5 < time.monotonic() - t0 < 4


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /version HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET /version HTTP/1.1\r\n" + b"X-H: v\r\n" * 10_000 + b"\r\n", 431),
        (b"POST /proxies HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 2_000_000, 400),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"GET /version HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET /version HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 400),
        (b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ],
)
def test_oversized_and_malformed_requests(
    threaded_proxy: ThreadedProxy, request_bytes: bytes, status: int
) -> None:
    host, port = threaded_proxy.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        with contextlib.suppress(OSError):  # the server may close before reading it all
            s.sendall(request_bytes)
        data = b""
        while chunk := _recv(s):
            data += chunk
    assert data.startswith(f"HTTP/1.1 {status}".encode()), data[:200]
    # the server is still fine
    assert httpx.get(threaded_proxy.url + "/version", timeout=2).status_code == 200


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except ConnectionResetError:
        return b""


def test_connection_cap() -> None:
    server = ThreadedProxy(Limits(max_connections=4))
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.1)
        with socket.create_connection((host, int(port)), timeout=5) as extra:
            assert extra.recv(4096).startswith(b"HTTP/1.1 503")
        held.pop().close()
        time.sleep(0.1)
        assert httpx.get(server.url + "/version", timeout=2).status_code == 200
    finally:
        for s in held:
            s.close()
        server.close()


# -- the in-process control endpoint ---------------------------------------------------


@pytest.fixture
def control() -> ControlServer:
    board = Switchboard()
    Hook("h", error=Raise(), board=board)
    server = ControlServer(board, token=TOKEN, timeout_s=1.0).start()
    yield server
    server.close()


def _raw(url: str, payload: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(payload)
        data = b""
        while chunk := _recv(s):
            data += chunk
    return data


def test_control_endpoint_rejects_without_token(control: ControlServer) -> None:
    for headers in ({}, {"Authorization": "Bearer nope-nope-nope"}):
        assert httpx.get(control.url + "/faults", headers=headers).status_code == 401
    ok = httpx.get(control.url + "/faults", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_control_endpoint_refuses_remote_without_opt_in() -> None:
    with pytest.raises(ValidationError, match="loopback"):
        ControlServer(Switchboard(), token=TOKEN, host="0.0.0.0")


@pytest.mark.parametrize(
    ("length", "status"),
    [
        ("-1", 400),
        ("abc", 400),
        ("99999999999", 400),
        ("1e3", 400),
        ("\xb2", 400),  # "²": str.isdigit() says yes, int() says no
        ("9" * 5000, 400),  # past int()'s digit limit
    ],
)
def test_control_endpoint_bad_content_length(
    control: ControlServer, length: str, status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    data = _raw(
        control.url,
        f"POST /faults/h HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: {length}\r\n\r\n".encode("latin-1"),
    )
    assert data.startswith(f"HTTP/1.0 {status}".encode()) or data.startswith(
        f"HTTP/1.1 {status}".encode()
    ), data[:200]
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS", "TRACE", "CONNECT", "BREW"])
def test_control_endpoint_every_method_needs_the_token(control: ControlServer, method: str) -> None:
    data = _raw(control.url, f"{method} /faults/h HTTP/1.1\r\n\r\n".encode())
    assert data.split(b"\r\n", 1)[0].endswith(b" 401 Unauthorized"), data[:200]
    data = _raw(
        control.url,
        f"{method} /faults/h HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode(),
    )
    assert b" 405 " in data.split(b"\r\n", 1)[0], data[:200]


def test_control_endpoint_slowloris_is_cut_off(control: ControlServer) -> None:
    host, port = control.url.removeprefix("http://").rsplit(":", 1)
    slow = [socket.create_connection((host, int(port)), timeout=5) for _ in range(10)]
    try:
        for s in slow:
            s.sendall(b"GET /faults HTTP/1.1\r\n")
        t0 = time.monotonic()
        ok = httpx.get(control.url + "/faults", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and time.monotonic() - t0 < 1.0
        for s in slow:
            assert s.recv(4096) == b""  # cut off after the timeout, nothing served
        assert time.monotonic() - t0 < 3
    finally:
        for s in slow:
            s.close()


def test_control_endpoint_body_too_big(control: ControlServer) -> None:
    r = httpx.post(
        control.url + "/faults/h",
        headers={"Authorization": f"Bearer {TOKEN}"},
        content=b"{" + b" " * 100_000 + b"}",
    )
    assert r.status_code == 400  # as the proxy API answers (access.BODY_REFUSED_STATUS)
    assert r.json()["error"] == "body larger than 65536 bytes"


# -- the engine sends the token ----------------------------------------------------------


@pytest.mark.slow
def test_engine_reaches_a_token_protected_proxy(tmp_path: Path) -> None:
    env = {"AICHAOS_TOKEN": TOKEN, "AICHAOS_TEST_PROXY_TOKEN": TOKEN}
    proxy = start_proxy(env=env)
    try:
        good = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.post(
            proxy.url + "/proxies",
            headers=good,
            json={"name": "api", "upstream": "127.0.0.1:9", "http": True},
        )
        assert r.status_code == 201
        exp = tmp_path / "exp.yaml"
        exp.write_text(
            f"""
title: token proxy
seed: 3
targets:
  dep: {{type: proxy, api_url: "{proxy.url}", proxy: api, token_env: AICHAOS_TEST_PROXY_TOKEN}}
method:
  - fault: {{type: proxy-latency, latency_ms: 5}}
    target: dep
    duration_s: 0.6
phases: {{baseline_s: 0.1, recovery_s: 0.1}}
safety: {{guardrail_interval_s: 0.1, ttl_s: 3}}
"""
        )
        journal = tmp_path / "run.jsonl"
        run = subprocess.run(
            [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal), "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**_clean_env(), **env},
        )
        events = [json.loads(line) for line in journal.read_text().splitlines()]
        kinds = [e["event"] for e in events]
        # no traffic went through the toxic: the counters, read with the token before
        # its DELETE, prove it touched nothing, so the verdict cannot be "passed"
        assert run.returncode == 6, (run.stdout, run.stderr, kinds)
        assert "touched 0 of 0 connections" in run.stdout
        assert "fault-applied" in kinds and "fault-reverted" in kinds
        for f in (journal, journal.with_name("run.summary.json")):
            assert TOKEN not in f.read_text()
        assert TOKEN not in run.stdout + run.stderr
        left = httpx.get(proxy.url + "/proxies/api/toxics", headers=good).json()
        assert left == []
        # and without the variable, the run fails with a clear message, not a 401 traceback
        journal_arg = ["--journal", str(journal)]
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "aichaos.cli",
                "run",
                str(exp),
                "-q",
                "--overwrite",
                *journal_arg,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=_clean_env(),
        )
        assert run.returncode == 5
        assert "AICHAOS_TEST_PROXY_TOKEN (token_env) is not set" in run.stdout + run.stderr
    finally:
        _stop(proxy.proc)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if "AICHAOS" not in k}
