"""Prometheus metrics of a run, so an existing Grafana shows when chaos was on.

:class:`EngineMetrics` listens to the journal (every figure comes from the same events
the report reads) and keeps, in a prometheus-client registry, series that all carry the
labels ``experiment`` (the title) and ``run_id`` (fresh per run):

* ``aichaos_faults_active{type, target}`` -- faults applied and not yet reverted;
* ``aichaos_faults_applied_total`` / ``aichaos_fault_reverts_total{result}``;
* ``aichaos_step_active{step}`` and ``aichaos_step_level{step, field}`` -- which step is
  on and the level its ramp holds (the blast-radius fraction when it has no ramp);
* ``aichaos_guardrail_breaches_total`` and ``aichaos_aborts_total{reason}``;
* ``aichaos_steady_state_checks_total{phase, result}``;
* ``aichaos_slo_value{section, phase, slo}``, ``aichaos_slo_ok{...}`` (1 held, 0 broke)
  and ``aichaos_slo_threshold{slo, op}`` -- each SLO line's last value and its bound;
* ``aichaos_load_latency_ms{quantile}`` -- the workload's latency percentiles of its last
  window; ``aichaos_load_requests_total{result}``;
* ``aichaos_run_phase{phase}`` (1 for the current phase) and ``aichaos_run_status``.

``aichaos run --metrics-port 9464`` serves it on 127.0.0.1 and keeps serving for
``--metrics-linger-s`` (default 30 s, two scrape intervals of a 15 s Prometheus) after
the verdict, so a scraper sees ``aichaos_run_status``. Another ``--metrics-host`` needs
a bearer token, as every control API does; ``--metrics-pushgateway`` pushes the final
state instead (see :mod:`aichaos.integrations.observe`). The proxy has its own
``GET /metrics``.
"""

from __future__ import annotations

import math
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aichaos.access import UNAUTHORIZED, bearer_ok, check_exposure

__all__ = ["DEFAULT_LINGER_S", "EngineMetrics", "MetricsServer", "serve_engine_metrics"]

_PHASES = ("planned", "baseline", "injecting", "recovering", "done")
_QUANTILE = re.compile(r"^p(\d+(?:\.\d+)?)_ms$")
#: two scrape intervals of Prometheus's default 15 s
DEFAULT_LINGER_S = 30.0
_BASE = ("experiment", "run_id")


class EngineMetrics:
    """Journal listener that updates Prometheus metrics in ``registry``."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry

        def gauge(name: str, doc: str, *labels: str) -> Any:
            return Gauge(name, doc, [*_BASE, *labels], registry=r)

        def counter(name: str, doc: str, *labels: str) -> Any:
            return Counter(name, doc, [*_BASE, *labels], registry=r)

        self.active = gauge(
            "aichaos_faults_active", "Faults applied, not reverted.", "type", "target"
        )
        self.applied = counter("aichaos_faults_applied", "Fault applications.", "type", "target")
        self.reverts = counter(
            "aichaos_fault_reverts", "Fault reverts by result.", "type", "target", "result"
        )
        self.step_active = gauge("aichaos_step_active", "1 while the step's fault is on.", "step")
        self.step_level = gauge(
            "aichaos_step_level", "The level the step's ramp holds.", "step", "field"
        )
        self.breaches = counter("aichaos_guardrail_breaches", "Guardrail checks that broke.")
        self.aborts = counter("aichaos_aborts", "Runs aborted, by reason.", "reason")
        self.steady = counter(
            "aichaos_steady_state_checks", "Steady-state checks.", "phase", "result"
        )
        self.slo_value = gauge(
            "aichaos_slo_value", "Last value of an SLO line.", "section", "phase", "slo"
        )
        self.slo_ok = gauge("aichaos_slo_ok", "1 if the SLO line held.", "section", "phase", "slo")
        self.slo_threshold = gauge("aichaos_slo_threshold", "An SLO line's bound.", "slo", "op")
        self.latency = gauge(
            "aichaos_load_latency_ms", "Workload latency percentile, last window.", "quantile"
        )
        self.phase = gauge("aichaos_run_phase", "1 for the run's current phase.", "phase")
        self.status = gauge(
            "aichaos_run_status", "1 for the run's verdict once it ended.", "status"
        )
        self.requests = counter("aichaos_load_requests", "Workload requests by result.", "result")
        self._base: tuple[str, str] = ("", "")
        self._live: dict[str, tuple[str, str]] = {}
        self._workload: set[str] = set()

    @property
    def labels(self) -> tuple[str, str]:
        """``(experiment, run_id)`` of the run, once its ``run-started`` event was seen."""
        return self._base

    def _l(self, metric: Any, *labels: str) -> Any:
        return metric.labels(*self._base, *labels)

    def __call__(self, event: dict[str, Any]) -> None:
        """Update the metrics from one journal event."""
        kind = event.get("event")
        if kind == "run-started":
            self._started(event)
        elif kind == "phase":
            for p in _PHASES:
                self._l(self.phase, p).set(1 if p == event.get("phase") else 0)
        elif kind == "fault-applied":
            step = str(event.get("step"))
            labels = (
                str((event.get("fault") or {}).get("type", "")),
                str(event.get("target") or ""),
            )
            self._live[step] = labels
            self._l(self.active, *labels).inc()
            self._l(self.applied, *labels).inc()
            self._l(self.step_active, step).set(1)
            if "fraction" in event:
                self._l(self.step_level, step, "fraction").set(float(event["fraction"]))
        elif kind == "ramp-level":
            field = str(event.get("field", "fraction"))
            self._l(self.step_level, str(event.get("step")), field).set(float(event["level"]))
        elif kind in ("fault-reverted", "fault-revert-failed"):
            step = str(event.get("step"))
            live = self._live.pop(step, None)
            if live is not None:
                self._l(self.active, *live).dec()
                result = "ok" if kind == "fault-reverted" else "failed"
                self._l(self.reverts, *live, result).inc()
            self._l(self.step_active, step).set(0)
        elif kind == "guardrail":
            if not event.get("ok", True):
                self._l(self.breaches).inc()
            self._checks("guardrail", str(event.get("phase") or "injecting"), event)
        elif kind == "abort":
            reason = str(event.get("reason", ""))
            self._l(self.aborts, reason.split(":", 1)[0][:60]).inc()
        elif kind == "steady-state":
            phase = str(event.get("phase"))
            self._l(self.steady, phase, "held" if event.get("ok") else "broke").inc()
            self._checks("steady_state", phase, event)
        elif kind == "sample" and event.get("source") in self._workload:
            self._sample(event.get("values") or {})
        elif kind == "run-ended":
            self._l(self.status, str(event.get("status"))).set(1)

    def _started(self, event: dict[str, Any]) -> None:
        from aichaos.experiment.slo import slo

        exp = event.get("experiment") or {}
        self._base = (str(event.get("title") or exp.get("title", "")), str(event.get("run_id", "")))
        workload = exp.get("workload") or {}
        if workload:
            self._workload.add(str(workload.get("name", "load")))
        for spec in [*(exp.get("steady_state") or []), *(exp.get("guardrails") or [])]:
            try:
                conditions = slo(spec).conditions()
            except Exception:  # a journal from another version: the values still count
                continue
            for c in conditions:
                self._l(self.slo_threshold, c.to_data(), c.op).set(c.threshold)

    def _checks(self, section: str, phase: str, event: dict[str, Any]) -> None:
        for row in event.get("checks") or []:
            expr = str(row.get("slo"))
            value = row.get("value")
            shown = float(value) if isinstance(value, int | float) else math.nan
            self._l(self.slo_value, section, phase, expr).set(shown)
            self._l(self.slo_ok, section, phase, expr).set(1 if row.get("ok") else 0)

    def _sample(self, values: dict[str, Any]) -> None:
        errors = float(values.get("errors", 0) or 0)
        completed = float(values.get("completed", 0) or 0)
        self._l(self.requests, "error").inc(errors)
        self._l(self.requests, "ok").inc(max(0.0, completed - errors))
        for key, value in values.items():
            m = _QUANTILE.match(key)
            if m and isinstance(value, int | float):
                self._l(self.latency, f"{float(m.group(1)) / 100:g}").set(value)


def _handler(registry: Any, token: str | None) -> type[BaseHTTPRequestHandler]:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # a scrape is not news
            pass

        def do_GET(self) -> None:
            if not bearer_ok(self.headers.get("Authorization"), token or None):
                self._send(401, f"{UNAUTHORIZED}\n".encode(), "text/plain")
                return
            if self.path.split("?", 1)[0] not in ("/", "/metrics"):
                self._send(404, b"not found: GET /metrics\n", "text/plain")
                return
            self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class MetricsServer:
    """The HTTP server of a registry on ``host`` (port 0 picks a free port).

    A host other than loopback needs ``token`` (or ``insecure``): the same rule as the
    proxy's control API. With a token, every scrape needs ``Authorization: Bearer``.
    """

    def __init__(
        self,
        registry: Any,
        port: int,
        host: str = "127.0.0.1",
        token: str | None = None,
        insecure: bool = False,
    ) -> None:
        check_exposure(host, token, insecure)

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        self.server = Server((host.strip("[]"), port), _handler(registry, token))
        self.host = host
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="aichaos-metrics", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        """``http://<host>:<port>/metrics``."""
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def serve_engine_metrics(
    journal: Any,
    port: int,
    host: str = "127.0.0.1",
    token: str | None = None,
    insecure: bool = False,
) -> MetricsServer:
    """Attach :class:`EngineMetrics` to ``journal`` and serve them on ``host:port``."""
    metrics = EngineMetrics()
    server = MetricsServer(metrics.registry, port, host, token, insecure)
    journal.listeners.append(metrics)
    return server
