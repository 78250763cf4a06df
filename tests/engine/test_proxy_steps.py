"""Proxy toxics as method steps: the engine drives a real `aichaos proxy` process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aichaos.engine.journal import read_journal
from tests.conftest import Server, _stop
from tests.engine.test_run_cli import _start, _wait_for_event, run, write

pytestmark = pytest.mark.slow


@dataclass
class Proxy:
    api: str
    listen: str


@pytest.fixture
def proxy(tmp_path: Path, http_server: Server) -> Iterator[Proxy]:
    """`aichaos proxy` in front of the test service: API and listener on free ports."""
    upstream = http_server.url.removeprefix("http://")
    cfg = tmp_path / "proxies.json"
    cfg.write_text(json.dumps([{"name": "api", "listen": "127.0.0.1:0", "upstream": upstream}]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aichaos.cli",
            "proxy",
            "--port",
            "0",
            "--seed",
            "1",
            "--config",
            str(cfg),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"API on (http://\S+) .*proxies: api (\S+)->", line)
    assert m, line
    yield Proxy(m.group(1), m.group(2))
    _stop(proc)


def toxics(p: Proxy) -> list[dict]:
    return httpx.get(f"{p.api}/proxies/api/toxics").json()


def experiment(p: Proxy, step: str, guard: str = "", steady: str = "health.ok == 1") -> str:
    guardrails = f"guardrails: ['{guard}']\n" if guard else ""
    return f"""
title: proxy faults
seed: 9
targets:
  api: {{type: http, url: "http://{p.listen}"}}
  features: {{type: proxy, api_url: "{p.api}", proxy: api}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1, timeout_s: 2}}
steady_state: ['{steady}']
{guardrails}method:
{step}
phases: {{baseline_s: 0.6, recovery_s: 0.6}}
safety: {{guardrail_interval_s: 0.2, ttl_s: 2}}
"""


def test_http_error_step_trips_the_guardrail_and_is_removed(tmp_path: Path, proxy: Proxy) -> None:
    step = """  - fault: {type: proxy-http-error, status: 503}
    target: features
    start_s: 0.2
    duration_s: 20"""
    exp = experiment(proxy, step, guard="health.ok == 1", steady="health.latency_ms < 1000")
    started = time.monotonic()
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert (code, summary["status"]) == (3, "aborted"), summary
    assert time.monotonic() - started < 10
    assert toxics(proxy) == []
    breach = next(e for e in events if e["event"] == "guardrail")
    assert breach["checks"][0]["value"] == 0
    # proof of injection, read from the proxy before the toxic was deleted
    effect = next(e for e in events if e["event"] == "fault-reverted")["effect"]
    assert effect["unit"] == "requests" and effect["touched"] >= 1
    assert effect["seen"] >= effect["touched"]


def test_a_toxic_no_request_reached_makes_the_run_inconclusive(
    tmp_path: Path, proxy: Proxy
) -> None:
    # a typo in the path match: the 503s hit nothing, so the steady state held for free
    step = """  - fault: {type: proxy-http-error, status: 503}
    target: features
    blast_radius: {match: {path: /helth}}
    start_s: 0.1
    duration_s: 0.8"""
    exp = experiment(proxy, step, steady="health.ok == 1")
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert (code, summary["status"]) == (6, "inconclusive"), summary
    assert "touched 0 of 0 requests" in summary["reason"]
    effect = next(e for e in events if e["event"] == "fault-reverted")["effect"]
    assert effect == {"seen": 0, "touched": 0, "unit": "requests"}
    report = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "report", str(tmp_path / "run.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    md = report.stdout
    assert "inconclusive" in md and "0 of 0 requests" in md


def test_latency_ramp_finds_the_breaking_point(tmp_path: Path, proxy: Proxy) -> None:
    step = """  - name: slow-api
    fault: {type: proxy-latency, latency_ms: 10}
    target: features
    ramp: {field: latency_ms, values: [10, 60, 400, 800], hold_s: 1.2}"""
    exp = experiment(proxy, step, steady="p90(health.latency_ms) < 250 over 0.6s")
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert summary["breaking_points"] == [
        {"step": "slow-api", "field": "latency_ms", "held": 60.0, "broke": 400.0}
    ]
    assert code == 1
    levels = [e["level"] for e in events if e["event"] == "ramp-level"]
    assert levels == [10, 60, 400]
    assert toxics(proxy) == []


def test_runner_killed_mid_toxic_the_toxic_expires(tmp_path: Path, proxy: Proxy) -> None:
    step = """  - fault: {type: proxy-latency, latency_ms: 50}
    target: features
    duration_s: 60"""
    proc, journal = _start(tmp_path, write(tmp_path, experiment(proxy, step)))
    _wait_for_event(journal, "fault-applied")
    assert len(toxics(proxy)) == 1
    proc.kill()
    proc.communicate(timeout=5)
    killed = time.monotonic()
    while toxics(proxy) and time.monotonic() - killed < 6:
        time.sleep(0.05)
    assert toxics(proxy) == []
    assert time.monotonic() - killed <= 2 + 1
    assert list(read_journal(journal))[-1]["event"] != "run-ended"


# -- unknown is not healthy: a probe sample that timed out fails its conditions --------


def _trickle(p: Proxy, *, guard: str, steady: str, timeout_s: float = 0.5) -> str:
    # 64 KiB through 4 KB/s takes 16 s: every probe during injection runs out of time
    return f"""
title: a dependency that trickles bytes
seed: 4
targets:
  api: {{type: http, url: "http://{p.listen}"}}
  features: {{type: proxy, api_url: "{p.api}", proxy: api}}
probes:
  p: {{type: http, target: api, path: /big, every_s: 0.2, timeout_s: {timeout_s}}}
steady_state: ['{steady}']
{f"guardrails: ['{guard}']" if guard else ""}
method:
  - fault: {{type: proxy-toxic, toxic: bandwidth, attributes: {{rate: 4}}}}
    target: features
    start_s: 0.1
    duration_s: 2.5
phases: {{baseline_s: 0.6, recovery_s: 0.6}}
safety: {{guardrail_interval_s: 0.2, ttl_s: 3}}
"""


def test_trickling_dependency_trips_the_ok_guardrail(tmp_path: Path, proxy: Proxy) -> None:
    exp = _trickle(proxy, guard="p.ok == 1", steady="p.ok == 1")
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert (code, summary["status"]) == (3, "aborted"), summary
    breach = next(e for e in events if e["event"] == "guardrail")
    assert breach["checks"][0]["value"] == 0
    failed = [
        e
        for e in events
        if e["event"] == "sample" and e["phase"] == "injecting" and e["values"].get("error")
    ]
    # the probe's own deadline cut the exchange: it is a timeout, not a hang
    assert failed and all(e["values"]["timeout"] == 1 for e in failed)
    assert all(e["values"]["latency_ms"] >= 500 for e in failed)
    assert toxics(proxy) == []


def test_trickling_dependency_breaks_a_latency_steady_state(tmp_path: Path, proxy: Proxy) -> None:
    # the threshold lies above the probe's timeout: only "a failed sample fails every
    # condition over its probe" can catch it
    exp = _trickle(proxy, guard="", steady="p.latency_ms < 5000")
    code, events, summary = run(tmp_path, write(tmp_path, exp))
    assert (code, summary["status"]) == (1, "deviated"), summary
    broke = [
        c
        for e in events
        if e["event"] == "steady-state" and e["phase"] == "injecting" and not e["ok"]
        for c in e["checks"]
        if c["detail"] != "no data"  # the phase's first check, before its first sample
    ]
    assert broke and "failed" in broke[0]["detail"]
