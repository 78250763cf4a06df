"""``min N``: a percentile guardrail over too few requests does not fire on one slow one.

A real service paused for a moment, early in a longer injection, makes one probe request
slow. Over a 1 s window at
10 samples per second, p99 is the maximum: the plain guardrail aborts the run on that one
request. With ``min 50`` the window never holds enough samples to judge: the guardrail
stays quiet, and the run is not ``passed`` either (never judged is unknown).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Server
from tests.engine.test_run_cli import kill_switch, run, write

pytestmark = pytest.mark.slow
__all__ = ["kill_switch"]  # the fixture, used here


def _experiment(server: Server, guard: str) -> str:
    return f"""
title: one slow request
targets:
  api: {{type: http, url: "{server.url}"}}
  service: {{type: process, pid: {server.pid}}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1, timeout_s: 2}}
steady_state: ['mean(health.ok) >= 0.5 over 1s']
guardrails: ['{guard}']
method:
  - {{name: hiccup, fault: {{type: process-pause}}, target: service, duration_s: 0.4}}
  - {{name: hold, fault: {{type: python-callable, apply: "os:getpid"}}, duration_s: 1.6}}
phases: {{baseline_s: 0.5, recovery_s: 0.8}}
safety: {{guardrail_interval_s: 0.1, ttl_s: 3}}
"""


@pytest.mark.parametrize(
    ("guard", "status", "why"),
    [
        ("p99(health.latency_ms) < 250 over 1s", "aborted", "guardrail breached"),
        (
            "p99(health.latency_ms) < 250 over 1s min 50",
            "deviated",
            "never 50 successful samples in one window",
        ),
    ],
)
def test_a_percentile_needs_its_samples(
    tmp_path: Path, http_server: Server, guard: str, status: str, why: str
) -> None:
    code, events, summary = run(tmp_path, write(tmp_path, _experiment(http_server, guard)))
    assert (code, summary["status"]) == ({"aborted": 3, "deviated": 1}[status], status), summary
    assert why in summary["reason"]
    if status == "deviated":
        assert not any(e["event"] == "guardrail" for e in events)
