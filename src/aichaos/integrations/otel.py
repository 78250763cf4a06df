"""A run's journal as OpenTelemetry spans (needs ``opentelemetry-sdk``: ``aichaos[otel]``).

One ``aichaos.run`` span covers the run (its wall-clock start and end); a child span per
phase and per applied fault (apply to revert) sits under it; every journal event is a
span event at its own time, with its scalar fields as attributes (nested ones as JSON).

    from aichaos.integrations.otel import export_journal
    export_journal(read_journal(Path("run.jsonl")))      # to the global TracerProvider
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["export_journal"]


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


def export_journal(events: Iterable[dict[str, Any]], tracer_provider: Any = None) -> Any:
    """Emit the journal ``events`` as spans; returns the run span (already ended)."""
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    tracer = trace.get_tracer("aichaos", tracer_provider=tracer_provider)
    evs = [e for e in events if "wall" in e]
    if not evs:
        from aichaos.errors import ValidationError

        raise ValidationError("the journal has no events to export")
    first = evs[0]
    title = str(first.get("title", "")) if first.get("event") == "run-started" else ""
    run = tracer.start_span(
        "aichaos.run",
        start_time=_ns(first),
        attributes={"aichaos.title": title, "aichaos.seed": int(first.get("seed", 0) or 0)},
    )
    ctx = trace.set_span_in_context(run)
    phase_span: Any = None
    faults: dict[str, Any] = {}
    status = ""
    for ev in evs:
        kind = str(ev.get("event"))
        t = _ns(ev)
        run.add_event(kind, attributes=_attributes(ev), timestamp=t)
        if kind == "phase":
            if phase_span is not None:
                phase_span.end(end_time=t)
            phase_span = tracer.start_span(f"phase {ev.get('phase')}", context=ctx, start_time=t)
        elif kind == "fault-applied":
            fault = ev.get("fault") or {}
            faults[str(ev.get("step"))] = tracer.start_span(
                f"fault {ev.get('step')}",
                context=ctx,
                start_time=t,
                attributes={
                    "aichaos.fault.type": str(fault.get("type", "")),
                    "aichaos.target": str(ev.get("target") or ""),
                    "aichaos.fraction": float(ev.get("fraction", 1.0) or 0.0),
                },
            )
        elif kind in ("fault-reverted", "fault-revert-failed"):
            span = faults.pop(str(ev.get("step")), None)
            if span is not None:
                if kind == "fault-revert-failed":
                    span.set_status(Status(StatusCode.ERROR, str(ev.get("error", ""))))
                span.end(end_time=t)
        elif kind == "run-ended":
            status = str(ev.get("status", ""))
    end = _ns(evs[-1])
    for span in faults.values():  # applied but never reverted in this journal
        span.set_status(Status(StatusCode.ERROR, "no revert in the journal"))
        span.end(end_time=end)
    if phase_span is not None:
        phase_span.end(end_time=end)
    run.set_attribute("aichaos.status", status)
    if status in ("error", "aborted", "failed-baseline"):
        run.set_status(Status(StatusCode.ERROR, status))
    run.end(end_time=end)
    return run
