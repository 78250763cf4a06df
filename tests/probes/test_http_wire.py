"""The HTTP probe's plain-HTTP path: the load generator's raw connection, not httpx.

A minimal run (plain-HTTP target, one HTTP probe) must not pay the import and memory of
httpx, nor of other modules it does not use; the raw path must still read what a real
server sends, over one kept-alive connection, and HTTPS/HEAD still go through httpx.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aichaos.probes.base import PROBES, ProbeContext
from aichaos.targets import HttpTarget
from tests.conftest import Server


class _Unframed(BaseHTTPRequestHandler):
    """HTTP/1.0 answers with no Content-Length: the body ends when the server closes."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"score": 0.5, "host": self.headers["Host"]}).encode())

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def unframed() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unframed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def probe(**kw: object):  # type: ignore[no-untyped-def]
    return PROBES.get("http").model_validate(kw)


async def test_body_read_to_the_close_of_the_connection(unframed: str) -> None:
    c = ProbeContext(targets={"api": HttpTarget(url=unframed)}, timeout_s=2.0)
    try:
        for _ in range(2):  # the second one on a new connection: the first was closed
            out = await probe(target="api", json_field="$.score").measure(c)
            assert out["ok"] == 1 and out["status"] == 200 and out["value"] == 0.5
    finally:
        await c.aclose()
    assert c.http is None  # plain HTTP never built the httpx client


async def test_one_kept_alive_connection_across_samples(http_server: Server) -> None:
    accepted = 0
    port = int(http_server.url.rsplit(":", 1)[1])

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    front = server.sockets[0].getsockname()[1]
    c = ProbeContext(targets={"api": HttpTarget(url=f"http://127.0.0.1:{front}")}, timeout_s=2)
    try:
        p = probe(target="api", path="/health")
        statuses = [(await p.measure(c))["status"] for _ in range(5)]
    finally:
        await c.aclose()
        server.close()
        await server.wait_closed()
    assert statuses == [200.0] * 5
    assert accepted == 1


def test_a_plain_http_run_imports_only_what_it_uses(tmp_path: Path, http_server: Server) -> None:
    exp = tmp_path / "min.yaml"
    exp.write_text(f"""
title: minimal
targets:
  api: {{type: http, url: "{http_server.url}"}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1}}
steady_state: ['health.ok == 1']
method:
  - {{name: idle, fault: {{type: python-callable, apply: "os:getpid"}}, duration_s: 0.2}}
phases: {{baseline_s: 0.2, recovery_s: 0}}
safety: {{kill_switch: "{tmp_path / "halt"}"}}
""")
    # the real CLI in a child process, which then says which unneeded modules it loaded:
    # httpx (no HTTPS), uvloop (no load to generate), the watchdog's code and the undo
    # actions' models (no orphan to undo, no lease), the proxy API's client (no proxy),
    # rich (-q)
    code = (
        "import sys\n"
        "from aichaos.cli import main\n"
        "unused = ['httpx', 'uvloop', 'aichaos.engine.watchdog', 'aichaos.faults.undo',"
        " 'aichaos.proxyapi', 'rich']\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code, [m for m in unused if m in sys.modules], file=sys.stderr)\n"
    )
    args = ["run", "-q", str(exp), "--journal", str(tmp_path / "j.jsonl")]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )
    assert "passed" in proc.stdout, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "exit 0 []", proc.stderr
