"""Prometheus metrics of `aichaos run --metrics-port` and the journal as OpenTelemetry spans."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aichaos.engine.journal import read_journal
from aichaos.integrations.prometheus import EngineMetrics
from aichaos.integrations.proxyproc import ProxyProcess

EXPERIMENT = """
title: metrics while a proxy answers 503
targets:
  edge: {{type: proxy, api_url: "{api}", proxy: api}}
  front: {{type: http, url: "{url}"}}
workload: {{type: http, target: front, path: /health, rate_rps: 40, window_s: 0.25}}
steady_state:
  - load.error_rate < 0.5
method:
  - fault: {{type: proxy-http-error, status: 503}}
    target: edge
    duration_s: 2
phases: {{baseline_s: 0.75, recovery_s: 0.75}}
safety: {{ttl_s: 10, guardrail_interval_s: 0.1}}
"""


@dataclass
class Run:
    journal: Path
    during: str
    after: str
    returncode: int
    stderr: str


def _value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(scope="module")
def run(tinyservice: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One real `aichaos run --metrics-port 0`, scraped while the fault is on."""
    tmp = tmp_path_factory.mktemp("obs")
    proxy = ProxyProcess.start(
        [{"name": "api", "upstream": tinyservice.removeprefix("http://"), "http": True}]
    )
    try:
        h = proxy.handle("api")
        exp = tmp / "exp.yaml"
        exp.write_text(EXPERIMENT.format(api=h.api_url, url=h.url))
        journal = tmp / "run.jsonl"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aichaos.cli",
                "run",
                str(exp),
                "--journal",
                str(journal),
                "--metrics-port",
                "0",
                "--metrics-linger-s",
                "20",
                "-q",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "AICHAOS_KILL_SWITCH": str(tmp / "halt")},
        )
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.match(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", line)
        assert m, line
        during = ""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = httpx.get(m.group(1), timeout=2).text
            if _value(text, "aichaos_faults_active", type="proxy-http-error") == 1.0:
                during = text
                break
            time.sleep(0.1)
        # the verdict stays on /metrics after the run ended (the process lingers)
        after = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            text = httpx.get(m.group(1), timeout=2).text
            if "aichaos_run_status{" in text:
                after = text
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # ends the linger early
        _, err = proc.communicate(timeout=60)
        yield Run(journal, during, after, proc.returncode, line + err)
    finally:
        proxy.stop()


@pytest.mark.slow
def test_metrics_while_fault_is_on(run: Run) -> None:
    assert run.during, "never saw the fault active on /metrics"
    target = _value(run.during, "aichaos_faults_active", type="proxy-http-error")
    assert target == 1.0
    assert 'target="proxy api at http://127.0.0.1:' in run.during
    assert _value(run.during, "aichaos_run_phase", phase="injecting") == 1.0
    assert _value(run.during, "aichaos_run_phase", phase="baseline") == 0.0
    assert (_value(run.during, "aichaos_load_requests_total", result="ok") or 0) > 0


@pytest.mark.slow
def test_metrics_scraped_after_the_run_ended(run: Run) -> None:
    assert run.after, "the metrics endpoint closed with the run: no scrape saw the verdict"
    assert run.returncode == 1, run.stderr  # deviated, also after a SIGINT in the linger
    text = run.after
    assert _value(text, "aichaos_run_status", status="deviated") == 1.0
    samples = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert samples
    run_ids = set()
    for line in samples:  # every series says which experiment and which run
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        assert labels.get("experiment") == "metrics while a proxy answers 503", line
        run_ids.add(labels.get("run_id"))
    (run_id,) = run_ids
    assert run_id is not None and re.fullmatch(r"[0-9a-f]{12}", run_id)
    slo = "load.error_rate < 0.5"
    assert _value(text, "aichaos_slo_threshold", slo=slo, op="<") == 0.5
    broke = _value(text, "aichaos_slo_value", section="steady_state", phase="injecting", slo=slo)
    assert broke is not None and broke >= 0.5
    assert _value(text, "aichaos_slo_ok", section="steady_state", phase="injecting", slo=slo) == 0
    assert _value(text, "aichaos_slo_ok", section="steady_state", phase="baseline", slo=slo) == 1
    p99 = _value(text, "aichaos_load_latency_ms", quantile="0.99")
    p50 = _value(text, "aichaos_load_latency_ms", quantile="0.5")
    assert p99 is not None and p50 is not None and 0 < p50 <= p99
    step = "proxy-http-error"
    assert _value(text, "aichaos_step_level", step=step, field="fraction") == 1.0
    assert _value(text, "aichaos_step_active", step=step) == 0.0
    assert _value(run.during, "aichaos_step_active", step=step) == 1.0


def test_metrics_token_rules(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, Gauge

    from aichaos.errors import ValidationError
    from aichaos.integrations.prometheus import MetricsServer

    registry = CollectorRegistry()
    Gauge("x", "x", registry=registry).set(1)
    with pytest.raises(ValidationError, match=r"'0\.0\.0\.0' is not a loopback address"):
        MetricsServer(registry, 0, host="0.0.0.0")
    with pytest.raises(ValidationError, match="token must be at least 8 characters"):
        MetricsServer(registry, 0, token="short")
    server = MetricsServer(registry, 0, token="s3cret-token")
    try:
        assert httpx.get(server.url, timeout=5).status_code == 401
        bad = {"Authorization": "Bearer wrong-token"}
        assert httpx.get(server.url, headers=bad, timeout=5).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        r = httpx.get(server.url, headers=good, timeout=5)
        assert r.status_code == 200 and "x 1.0" in r.text
    finally:
        server.stop()
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.format(api="http://127.0.0.1:1", url="http://127.0.0.1:1"))
    res = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal",
         str(tmp_path / "j.jsonl"), "--metrics-port", "0", "--metrics-host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "--metrics-host: host '0.0.0.0' is not a loopback address" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_metrics_replayed_from_the_journal(run: Run) -> None:
    from prometheus_client import generate_latest

    assert run.returncode == 1, run.stderr  # 503s broke the steady state: deviated
    metrics = EngineMetrics()
    for ev in read_journal(run.journal):
        metrics(ev)
    text = generate_latest(metrics.registry).decode()
    assert _value(text, "aichaos_faults_active", type="proxy-http-error") == 0.0
    assert _value(text, "aichaos_faults_applied_total", type="proxy-http-error") == 1.0
    assert _value(text, "aichaos_fault_reverts_total", result="ok") == 1.0
    assert (
        _value(text, "aichaos_steady_state_checks_total", phase="injecting", result="broke") or 0
    ) >= 1
    assert _value(text, "aichaos_steady_state_checks_total", phase="baseline", result="held") == 1.0
    assert (_value(text, "aichaos_load_requests_total", result="error") or 0) > 10
    assert _value(text, "aichaos_run_status", status="deviated") == 1.0


def test_metrics_port_rejects_bad_values(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "run", "x.yaml", "--metrics-port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert "70000 is not in the range 0<=x<=65535" in res.stderr


@pytest.mark.slow
def test_journal_as_opentelemetry_spans(run: Run) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from aichaos.integrations.otel import export_journal

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    events = list(read_journal(run.journal))
    export_journal(events, tracer_provider=provider)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {
        "aichaos.run",
        "phase baseline",
        "phase injecting",
        "phase recovering",
        "fault proxy-http-error",
    } <= set(spans)
    root = spans["aichaos.run"]
    assert root.attributes is not None
    assert root.attributes["aichaos.title"] == "metrics while a proxy answers 503"
    assert root.attributes["aichaos.status"] == "deviated"
    assert len(root.events) == len(events)
    assert [e.name for e in root.events][:2] == ["run-started", "phase"]
    fault, injecting = spans["fault proxy-http-error"], spans["phase injecting"]
    assert fault.parent is not None and fault.parent.span_id == root.context.span_id
    assert (
        fault.attributes is not None
        and fault.attributes["aichaos.fault.type"] == "proxy-http-error"
    )
    assert injecting.start_time <= fault.start_time < fault.end_time <= injecting.end_time  # type: ignore[operator]
    assert 1.9e9 <= fault.end_time - fault.start_time <= 4e9  # type: ignore[operator]
    sample = next(e for e in root.events if e.name == "sample")
    assert sample.attributes is not None and "error_rate" in json.loads(
        str(sample.attributes["aichaos.values"])
    )


def test_empty_journal_is_a_clear_error() -> None:
    from aichaos.errors import ValidationError
    from aichaos.integrations.otel import export_journal

    with pytest.raises(ValidationError, match="no events"):
        export_journal([])
