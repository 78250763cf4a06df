"""Prometheus metrics of `aichaos run --metrics-port` and the journal as OpenTelemetry spans."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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
phases: {{baseline_s: 1.5, recovery_s: 0.75}}
safety: {{ttl_s: 10, guardrail_interval_s: 0.1}}
"""


@dataclass
class Run:
    journal: Path
    during: str
    after: str
    returncode: int
    stderr: str
    spans_during: list[str]  # span names the collector had while the fault was on
    collector: Collector
    pushes: list[tuple[str, str, str]]  # what the fake Pushgateway received


class Recorder:
    """A local HTTP server that records every request (a Pushgateway stand-in)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append((self.command, self.path, body.decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Collector:
    """A local OTLP/HTTP trace collector that keeps every span it is sent."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans: list[Any] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.paths.append(self.path)
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        collector.spans.extend(ss.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def names(self) -> list[str]:
        return [s.name for s in self.spans]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
    collector = Collector()
    gateway = Recorder()
    spans_during: list[str] = []
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
                "--otel",
                "--metrics-pushgateway",
                gateway.url,
                "-q",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "AICHAOS_KILL_SWITCH": str(tmp / "halt"),
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            },
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
                # the baseline phase ended before the fault: give the batch its delay
                time.sleep(0.5)
                spans_during = collector.names()
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
        yield Run(
            journal,
            during,
            after,
            proc.returncode,
            line + err,
            spans_during,
            collector,
            gateway.requests,
        )
    finally:
        proxy.stop()
        collector.stop()
        gateway.stop()


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
    from opentelemetry.trace import StatusCode

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
    assert root.status.status_code == StatusCode.ERROR  # a deviated run is an error span
    assert [e.name for e in root.events][:2] == ["run-started", "phase"]
    # samples are child spans, not run-span events: none lost to the 128-event limit
    samples = [e for e in events if e["event"] == "sample"]
    sample_spans = [s for s in exporter.get_finished_spans() if s.name == "aichaos.sample"]
    assert len(sample_spans) == len(samples) > 0
    assert "sample" not in {e.name for e in root.events}
    fault, injecting = spans["fault proxy-http-error"], spans["phase injecting"]
    assert fault.parent is not None and fault.parent.span_id == root.context.span_id
    assert (
        fault.attributes is not None
        and fault.attributes["aichaos.fault.type"] == "proxy-http-error"
    )
    assert injecting.start_time <= fault.start_time < fault.end_time <= injecting.end_time  # type: ignore[operator]
    assert 1.9e9 <= fault.end_time - fault.start_time <= 4e9  # type: ignore[operator]
    sample = sample_spans[0]
    assert sample.attributes is not None and "error_rate" in json.loads(
        str(sample.attributes["aichaos.values"])
    )
    assert (
        sample.parent is not None
        and sample.parent.span_id == spans["phase baseline"].context.span_id
    )


def test_empty_journal_is_a_clear_error() -> None:
    from aichaos.errors import ValidationError
    from aichaos.integrations.otel import export_journal

    with pytest.raises(ValidationError, match="no events"):
        export_journal([])


@pytest.mark.slow
def test_otel_spans_reach_a_collector_during_the_run(run: Run) -> None:
    assert "phase baseline" in run.spans_during, run.spans_during  # exported live
    assert "aichaos.run" not in run.spans_during  # the run span ends with the run
    assert set(run.collector.paths) == {"/v1/traces"}
    by_name: dict[str, Any] = {}
    for span in run.collector.spans:
        by_name.setdefault(span.name, span)
    root = by_name["aichaos.run"]
    attrs = {a.key: a.value.string_value for a in root.attributes}
    assert attrs["aichaos.status"] == "deviated"
    assert re.fullmatch(r"[0-9a-f]{12}", attrs["aichaos.run_id"])
    assert root.status.code == 2  # STATUS_CODE_ERROR: a deviated run is no success
    assert "fault proxy-http-error" in by_name and "phase recovering" in by_name
    samples = [e for e in read_journal(run.journal) if e["event"] == "sample"]
    assert run.collector.names().count("aichaos.sample") == len(samples)
    assert len(root.events) < 30 and root.dropped_events_count == 0


def test_a_long_run_loses_no_events() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    from aichaos.integrations.otel import export_journal

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    wall = 1_700_000_000.0
    events: list[dict[str, Any]] = [
        {"event": "run-started", "wall": wall, "title": "long", "seed": 1, "run_id": "abc"},
        {"event": "phase", "wall": wall, "phase": "injecting"},
    ]
    for i in range(600):  # ten minutes of one sample a second
        events.append({"event": "sample", "wall": wall + i, "source": "load", "values": {"x": i}})
        if i % 2:
            events.append({"event": "steady-state", "wall": wall + i, "ok": True, "checks": []})
    events.append({"event": "abort", "wall": wall + 600, "reason": "guardrail breached"})
    events.append({"event": "run-ended", "wall": wall + 601, "status": "aborted", "reason": "x"})
    root = export_journal(events, tracer_provider=provider)
    spans = exporter.get_finished_spans()
    assert sum(s.name == "aichaos.sample" for s in spans) == 600
    assert sum(s.name == "aichaos.steady-state" for s in spans) == 300
    assert root.dropped_events == 0 and [e.name for e in root.events] == [
        "run-started",
        "phase",
        "abort",
        "run-ended",
    ]
    assert root.status.status_code == StatusCode.ERROR


def test_otel_protocol_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from aichaos.errors import ValidationError
    from aichaos.integrations.otel import otlp_tracer_provider

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValidationError, match="must be http/protobuf or grpc, got 'http/json'"):
        otlp_tracer_provider()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-chaos")
    provider = otlp_tracer_provider()
    try:
        assert provider.resource.attributes["service.name"] == "gateway-chaos"
    finally:
        provider.shutdown()


@pytest.mark.slow
def test_final_metrics_pushed_to_a_pushgateway(run: Run) -> None:
    import base64

    assert "metrics: pushed to http://127.0.0.1:" in run.stderr
    ((method, path, body),) = run.pushes
    assert method == "PUT"
    parts = path.split("/")
    assert parts[1:4] == ["metrics", "job", "aichaos"]
    key = dict(zip(parts[4::2], parts[5::2], strict=True))
    title = base64.urlsafe_b64decode(key["experiment@base64"]).decode()
    assert title == "metrics while a proxy answers 503"
    assert re.fullmatch(r"[0-9a-f]{12}", key["run_id"])
    assert _value(body, "aichaos_run_status", status="deviated") == 1.0
    assert _value(body, "aichaos_faults_active", type="proxy-http-error") == 0.0


def test_pushgateway_url_is_checked(tmp_path: Path) -> None:
    from aichaos.engine.journal import Journal
    from aichaos.errors import ValidationError
    from aichaos.integrations.observe import Observers

    journal = Journal(tmp_path / "j.jsonl")
    with pytest.raises(ValidationError, match="must be an http\\(s\\) URL, got 'gateway:9091'"):
        Observers.attach(journal, metrics_pushgateway="gateway:9091")
    with pytest.raises(ValidationError, match="need --metrics-port"):
        Observers.attach(journal, metrics_linger_s=5.0)
    assert journal.listeners == []
