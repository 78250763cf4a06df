"""Prometheus metrics of `aichaos run --metrics-port` and the journal as OpenTelemetry spans."""

from __future__ import annotations

import json
import os
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
        _, err = proc.communicate(timeout=60)
        yield Run(journal, during, proc.returncode, line + err)
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
