"""A tiny real HTTP service: the quick demo's target and the engine tests' server.

Run as ``python -m aichaos.demo.tinyservice``; it binds 127.0.0.1 port 0 and prints
the port on its first line of output.

GET /health   200 {"ok": true, "score": 0.95}
GET /fail     500
GET /slow     sleeps --slow-ms, then 200
GET /metrics  Prometheus text: requests_total{path=...}, model_accuracy 0.93
GET /big      200, a 64 KiB JSON answer (what a slow link takes seconds to carry)
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS: dict[str, int] = {}
LOCK = threading.Lock()
_BIG = json.dumps({"ok": True, "pad": "x" * (64 * 1024 - 23)}).encode()


class Handler(BaseHTTPRequestHandler):
    """Routes of the tiny service."""

    slow_ms = 200
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes; with Nagle's algorithm the body waits for
    # the client's delayed ACK of the headers (~40 ms on Linux) whenever a kept-alive
    # connection is reused quickly. Production servers (uvicorn, Go) set TCP_NODELAY too.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no request lines on stderr."""

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with LOCK:
            COUNTS[self.path] = COUNTS.get(self.path, 0) + 1
        if self.path == "/health":
            self._send(200, json.dumps({"ok": True, "score": 0.95}).encode())
        elif self.path == "/fail":
            self._send(500, b'{"error": "boom"}')
        elif self.path == "/slow":
            time.sleep(self.slow_ms / 1000)
            self._send(200, b'{"ok": true}')
        elif self.path == "/big":
            self._send(200, _BIG)
        elif self.path == "/metrics":
            with LOCK:
                lines = [
                    "# HELP requests_total Requests.",
                    "# TYPE requests_total counter",
                    *(f'requests_total{{path="{p}"}} {n}' for p, n in sorted(COUNTS.items())),
                    "# HELP model_accuracy Accuracy.",
                    "# TYPE model_accuracy gauge",
                    "model_accuracy 0.93",
                ]
            self._send(200, ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4")
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self._send(200, b'{"ok": true}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (timed-out probe) is normal under chaos: no traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def main() -> None:
    """Serve until terminated (at most an hour)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow-ms", type=int, default=200)
    args = ap.parse_args()
    Handler.slow_ms = args.slow_ms
    server = _Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    # bounded: a test server never outlives an hour even if its test leaks it
    threading.Timer(3600, server.shutdown).start()
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
