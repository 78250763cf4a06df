"""A run as OpenTelemetry spans, live or from its journal (``aichaos[otel]``).

One ``aichaos.run`` span covers the run; a child span per phase and per applied fault
(apply to revert) sits under it. :class:`SpanWriter` is a journal listener, so with
``aichaos run --otel`` each phase and fault span is exported when it ends, during the
run, through the OTLP exporter configured by the standard ``OTEL_EXPORTER_OTLP_*``
variables (``OTEL_SERVICE_NAME``, ``OTEL_BSP_*`` and the rest apply too).

A run that did not pass (deviated, aborted, failed baseline, error) ends its run span
with status ERROR. Structural events (phases, faults, aborts, rollbacks) are span events
of the run span; the many others -- samples, checks, probe errors -- are short child spans
of the current phase, so a long run loses none of them to the SDK's 128-event limit.

    from aichaos.integrations.otel import export_journal
    export_journal(read_journal(Path("run.jsonl")))      # to the global TracerProvider
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from aichaos.errors import ValidationError
from aichaos.verdict import Verdict

__all__ = ["NOT_PASSED", "SpanWriter", "export_journal", "otlp_tracer_provider"]

#: verdicts whose run span has status ERROR
NOT_PASSED = frozenset(v for v in Verdict if v is not Verdict.PASSED)
# bounded in number per run (steps x levels): these stay span events of the run span
_RUN_EVENTS = frozenset(
    {
        "run-started",
        "phase",
        "fault-applied",
        "fault-reverted",
        "fault-revert-failed",
        "fault-apply-failed",
        "ramp-level",
        "breaking-point",
        "abort",
        "rollback",
        "run-ended",
    }
)


def _ns(event: dict[str, Any]) -> int:
    return int(float(event["wall"]) * 1_000_000_000)


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key in ("event", "wall"):
            continue
        if isinstance(value, (bool, int, float, str)):
            out[f"aichaos.{key}"] = value
        elif value is not None:
            out[f"aichaos.{key}"] = json.dumps(value, separators=(",", ":"), default=str)
    return out


class SpanWriter:
    """Journal listener: turns each event into spans as it arrives.

    >>> journal.listeners.append(SpanWriter(provider))      # doctest: +SKIP
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.tracer = trace.get_tracer("aichaos", tracer_provider=tracer_provider)
        self.run: Any = None
        self._ctx: Any = None
        self._phase: Any = None
        self._phase_ctx: Any = None
        self._faults: dict[str, Any] = {}
        self._last = 0
        self.status = ""

    def __call__(self, event: dict[str, Any]) -> None:
        """Turn one journal event into span starts, ends and events."""
        if "wall" not in event:
            return
        from opentelemetry.trace import Status, StatusCode

        kind, t = str(event.get("event")), _ns(event)
        self._last = t
        if self.run is None:
            self._start_run(event, t)
        if kind not in _RUN_EVENTS:
            span = self.tracer.start_span(
                f"aichaos.{kind}",
                context=self._phase_ctx or self._ctx,
                start_time=t,
                attributes=_attributes(event),
            )
            if kind == "probe-error" or event.get("ok") is False:
                span.set_status(Status(StatusCode.ERROR, str(event.get("error", kind))))
            span.end(end_time=t)
            return
        self.run.add_event(kind, attributes=_attributes(event), timestamp=t)
        if kind == "phase":
            if self._phase is not None:
                self._phase.end(end_time=t)
            self._phase = self.tracer.start_span(
                f"phase {event.get('phase')}", context=self._ctx, start_time=t
            )
            self._phase_ctx = self._trace.set_span_in_context(self._phase)
        elif kind == "fault-applied":
            fault = event.get("fault") or {}
            self._faults[str(event.get("step"))] = self.tracer.start_span(
                f"fault {event.get('step')}",
                context=self._ctx,
                start_time=t,
                attributes={
                    "aichaos.fault.type": str(fault.get("type", "")),
                    "aichaos.target": str(event.get("target") or ""),
                    "aichaos.fraction": float(event.get("fraction", 1.0) or 0.0),
                },
            )
        elif kind in ("fault-reverted", "fault-revert-failed"):
            span = self._faults.pop(str(event.get("step")), None)
            if span is not None:
                if kind == "fault-revert-failed":
                    span.set_status(Status(StatusCode.ERROR, str(event.get("error", ""))))
                span.end(end_time=t)
        elif kind == "run-ended":
            self.status = str(event.get("status", ""))
            self.run.set_attribute("aichaos.reason", str(event.get("reason", "")))
            self.finish()

    def _start_run(self, first: dict[str, Any], t: int) -> None:
        started = first.get("event") == "run-started"
        attributes: dict[str, Any] = {
            "aichaos.title": str(first.get("title", "")) if started else "",
            "aichaos.seed": int(first.get("seed", 0) or 0) if started else 0,
        }
        if started and first.get("run_id"):
            attributes["aichaos.run_id"] = str(first["run_id"])
        self.run = self.tracer.start_span("aichaos.run", start_time=t, attributes=attributes)
        self._ctx = self._trace.set_span_in_context(self.run)

    def finish(self) -> Any:
        """End every open span (at the last event's time); returns the run span."""
        from opentelemetry.trace import Status, StatusCode

        if self.run is None:
            raise ValidationError("the journal has no events to export")
        if not self.run.is_recording():
            return self.run
        end = self._last
        for span in self._faults.values():  # applied but never reverted in this journal
            span.set_status(Status(StatusCode.ERROR, "no revert in the journal"))
            span.end(end_time=end)
        self._faults.clear()
        if self._phase is not None:
            self._phase.end(end_time=end)
            self._phase = self._phase_ctx = None
        self.run.set_attribute("aichaos.status", self.status)
        if self.status in NOT_PASSED or not self.status:
            self.run.set_status(Status(StatusCode.ERROR, self.status or "the run never ended"))
        self.run.end(end_time=end)
        return self.run


def export_journal(events: Iterable[dict[str, Any]], tracer_provider: Any = None) -> Any:
    """Emit the journal ``events`` as spans; returns the run span (already ended)."""
    writer = SpanWriter(tracer_provider)
    for ev in events:
        writer(ev)
    return writer.finish()


def otlp_tracer_provider() -> Any:
    """A tracer provider exporting over OTLP as the ``OTEL_*`` variables say.

    ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`` picks ``http/protobuf`` (the default) or
    ``grpc``; endpoint, headers, certificates and timeouts are read by the exporter.
    """
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ValidationError("--otel needs OpenTelemetry: pip install 'aichaos[otel]'") from None
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    exporter: Any
    try:
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        elif protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter as GrpcExporter,
            )

            exporter = GrpcExporter()
        else:
            raise ValidationError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc, got {protocol!r}"
            )
    except ImportError:
        raise ValidationError(
            f"--otel with protocol {protocol!r} needs its OTLP exporter: pip install "
            "'aichaos[otel]' (grpc: opentelemetry-exporter-otlp-proto-grpc)"
        ) from None
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES still win: Resource.create reads them
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    defaults = {} if named else {SERVICE_NAME: "aichaos"}
    provider = TracerProvider(resource=Resource.create(defaults))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
