"""Prometheus metrics of a run, so an existing Grafana shows when chaos was on.

:class:`EngineMetrics` listens to the journal (every figure comes from the same events
the report reads) and keeps, in a prometheus-client registry:

* ``aichaos_faults_active{type, target}`` -- faults applied and not yet reverted;
* ``aichaos_faults_applied_total`` / ``aichaos_fault_reverts_total{result}``;
* ``aichaos_guardrail_breaches_total`` and ``aichaos_aborts_total{reason}`` -- the
  guardrail's decisions (the engine journals a guardrail check only when it breaks, so
  held checks are counted by ``aichaos_steady_state_checks_total{phase, result}``);
* ``aichaos_run_phase{phase}`` (1 for the current phase) and ``aichaos_run_status``;
* ``aichaos_load_requests_total{result}`` -- the workload's requests, ok or error,
  which is what the faults affected.

``aichaos run --metrics-port 9464`` serves it on 127.0.0.1. The proxy has its own
``GET /metrics`` (bytes per stream, requests forwarded upstream, per-toxic ``seen`` /
``affected`` counters labelled with the toxic type).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EngineMetrics", "MetricsServer", "serve_engine_metrics"]

_PHASES = ("planned", "baseline", "injecting", "recovering", "done")


class EngineMetrics:
    """Journal listener that updates Prometheus metrics in ``registry``."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.active = Gauge(
            "aichaos_faults_active",
            "Faults applied and not reverted.",
            ["type", "target"],
            registry=r,
        )
        self.applied = Counter(
            "aichaos_faults_applied", "Fault applications.", ["type", "target"], registry=r
        )
        self.reverts = Counter(
            "aichaos_fault_reverts",
            "Fault reverts by result.",
            ["type", "target", "result"],
            registry=r,
        )
        self.breaches = Counter(
            "aichaos_guardrail_breaches", "Guardrail checks that broke.", registry=r
        )
        self.aborts = Counter("aichaos_aborts", "Runs aborted, by reason.", ["reason"], registry=r)
        self.steady = Counter(
            "aichaos_steady_state_checks", "Steady-state checks.", ["phase", "result"], registry=r
        )
        self.phase = Gauge(
            "aichaos_run_phase", "1 for the run's current phase.", ["phase"], registry=r
        )
        self.status = Gauge(
            "aichaos_run_status", "1 for the run's verdict once it ended.", ["status"], registry=r
        )
        self.requests = Counter(
            "aichaos_load_requests", "Workload requests by result.", ["result"], registry=r
        )
        self._live: dict[str, tuple[str, str]] = {}
        self._workload: set[str] = set()

    def __call__(self, event: dict[str, Any]) -> None:
        """Update the metrics from one journal event."""
        kind = event.get("event")
        if kind == "run-started":
            workload = (event.get("experiment") or {}).get("workload") or {}
            if workload:
                self._workload.add(str(workload.get("name", "load")))
        elif kind == "phase":
            for p in _PHASES:
                self.phase.labels(p).set(1 if p == event.get("phase") else 0)
        elif kind == "fault-applied":
            labels = (
                str((event.get("fault") or {}).get("type", "")),
                str(event.get("target") or ""),
            )
            self._live[str(event.get("step"))] = labels
            self.active.labels(*labels).inc()
            self.applied.labels(*labels).inc()
        elif kind in ("fault-reverted", "fault-revert-failed"):
            live = self._live.pop(str(event.get("step")), None)
            if live is not None:
                self.active.labels(*live).dec()
                result = "ok" if kind == "fault-reverted" else "failed"
                self.reverts.labels(*live, result).inc()
        elif kind == "guardrail" and not event.get("ok", True):
            self.breaches.inc()
        elif kind == "abort":
            reason = str(event.get("reason", ""))
            self.aborts.labels(reason.split(":", 1)[0][:60]).inc()
        elif kind == "steady-state":
            result = "held" if event.get("ok") else "broke"
            self.steady.labels(str(event.get("phase")), result).inc()
        elif kind == "sample" and event.get("source") in self._workload:
            values = event.get("values") or {}
            errors = float(values.get("errors", 0) or 0)
            completed = float(values.get("completed", 0) or 0)
            self.requests.labels("error").inc(errors)
            self.requests.labels("ok").inc(max(0.0, completed - errors))
        elif kind == "run-ended":
            self.status.labels(str(event.get("status"))).set(1)


class MetricsServer:
    """The HTTP server of a registry on 127.0.0.1 (port 0 picks a free port)."""

    def __init__(self, registry: Any, port: int) -> None:
        from prometheus_client import start_http_server

        self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        self.port: int = self.server.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/metrics``."""
        return f"http://127.0.0.1:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def serve_engine_metrics(journal: Any, port: int) -> MetricsServer:
    """Attach :class:`EngineMetrics` to ``journal`` and serve them on 127.0.0.1:``port``."""
    metrics = EngineMetrics()
    journal.listeners.append(metrics)
    return MetricsServer(metrics.registry, port)
