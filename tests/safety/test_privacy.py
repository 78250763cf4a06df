"""Journals, summaries and logs never hold secrets, request or response bodies.

A real ``aichaos run`` against a real HTTP service: targets carry an Authorization header,
a cookie and an API key (some literal, some from ``${env:...}``), the workload and a probe
send bodies holding a canary, and the service answers with the canary, the secrets it was
sent, a Set-Cookie and an error page. Afterwards every file the run wrote (journal,
summary, stdout, stderr, the watchdog's lease directory) is searched for all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import _stop, start_sleeper
from tests.safety.conftest import all_output_files

pytestmark = pytest.mark.slow

CANARY = "CANARY-7f3a9c-do-not-log"
LITERAL_BEARER = "lit3ral-bearer-Zq8x1"
COOKIE_SECRET = "cookie-s3cret-Hh27"
API_KEY = "apikey-s3cret-Pw90"
ENV_SECRET = "env-s3cret-Kk55"
RESPONSE_SECRET = "resp-s3cret-Mm13"
QUERY_SECRET = "query-s3cret-Jj42"
SECRETS = [
    CANARY,
    LITERAL_BEARER,
    COOKIE_SECRET,
    API_KEY,
    ENV_SECRET,
    RESPONSE_SECRET,
    QUERY_SECRET,
]


class _Echo(BaseHTTPRequestHandler):
    """Answers with everything it was sent: the worst case for a log."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length).decode(errors="replace") if length else ""
        body = json.dumps(
            {
                "prediction": 1,
                "score": 0.9,
                "echo": sent,
                "auth": self.headers.get("Authorization", ""),
                "cookie": self.headers.get("Cookie", ""),
                "secret": RESPONSE_SECRET,
                "canary": CANARY,
            }
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", f"sid={RESPONSE_SECRET}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(500 if self.path.startswith("/fail") else 200)

    def do_POST(self) -> None:
        self._answer(200)


@pytest.fixture
def echo_service() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_no_secret_or_body_in_any_output(tmp_path: Path, echo_service: str) -> None:
    sleeper = start_sleeper("60")
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "requests.jsonl").write_text(
        "\n".join(json.dumps({"text": f"{CANARY} {i}", "expected": 1}) for i in range(5)) + "\n"
    )
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"""
title: privacy
seed: 11
targets:
  api:
    type: http
    url: "{echo_service}"
    headers:
      Authorization: "Bearer {LITERAL_BEARER}"
      Cookie: "session={COOKIE_SECRET}"
      X-API-Key: "{API_KEY}"
  api2:
    type: http
    url: "{echo_service}"
    headers: {{Authorization: "Bearer ${{env:PRIVACY_TEST_SECRET}}"}}
  worker: {{type: process, pid: {sleeper.pid}}}
probes:
  health:
    type: http
    target: api
    path: "/health?api_key={QUERY_SECRET}"
    method: POST
    json_body: {{text: "{CANARY}"}}
    json_field: $.score
    every_s: 0.1
  failing: {{type: http, target: api2, path: /fail, every_s: 0.2}}
workload:
  type: http
  target: api
  path: /predict
  method: POST
  rate_rps: 40
  body_file: "{tmp_path / "requests.jsonl"}"
  headers: {{X-Api-Key: "{API_KEY}", Authorization: "Bearer {LITERAL_BEARER}"}}
  quality: {{json_path: $.prediction, task: classification}}
  window_s: 0.25
steady_state: ["health.ok == 1"]
method:
  - fault: {{type: process-pause}}
    target: worker
    duration_s: 0.6
rollbacks:
  - {{type: http, target: api, method: GET, path: "/fail?token={QUERY_SECRET}"}}
phases: {{baseline_s: 0.5, recovery_s: 0.5}}
safety: {{guardrail_interval_s: 0.1, ttl_s: 3}}
"""
    )
    journal = out / "run.jsonl"
    env = {**os.environ, "PRIVACY_TEST_SECRET": ENV_SECRET, "TMPDIR": str(out)}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        sleeper.kill()
        _stop(sleeper)
    (out / "stdout.txt").write_text(run.stdout)
    (out / "stderr.txt").write_text(run.stderr)
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    kinds = {e["event"] for e in events}
    # the run really exercised every path that could leak
    assert run.returncode in (0, 1, 5), run.stderr
    assert {"fault-applied", "fault-reverted", "rollback", "sample"} <= kinds, kinds
    assert any(
        e["event"] == "sample" and e["source"] == "failing" and e["values"]["status"] == 500
        for e in events
    )
    assert any(e["event"] == "sample" and e["source"] == "load" for e in events)
    assert any(e["event"] == "sample" and e["source"] == "health" for e in events)
    files = all_output_files(out)
    assert journal in files and journal.with_name("run.summary.json") in files
    leaks = {
        str(f.relative_to(out)): [s for s in SECRETS if s in f.read_text(errors="replace")]
        for f in files
    }
    assert not {f: s for f, s in leaks.items() if s}, leaks
    # what stays is the name of the secret, not nothing: the env placeholder is kept
    assert "${env:PRIVACY_TEST_SECRET}" in journal.read_text()
