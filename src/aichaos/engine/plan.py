"""The resolved plan of a run: what ``--dry-run`` prints and the journal records first."""

from __future__ import annotations

from typing import Any

from aichaos.experiment.model import Experiment

__all__ = ["plan"]


def plan(exp: Experiment, seed: int) -> dict[str, Any]:
    """Targets, schedule (absolute offsets from the run's start), SLOs and safety settings.

    Resolving touches nothing: no network call, no process lookup.
    """
    base = exp.phases.baseline_s
    steps = []
    for step in exp.method:
        entry: dict[str, Any] = {
            "step": step.label,
            "fault": {"type": step.fault.type, **step.fault.model_dump(mode="json")},
            "target": exp.targets[step.target].describe() if step.target else None,
            "starts_at_s": base + step.start_s,
            "ends_at_s": base + step.start_s + step.total_s,
            "fraction": step.blast_radius.fraction,
        }
        if step.blast_radius.match:
            entry["match"] = dict(step.blast_radius.match)
        if step.ramp is not None:
            entry["ramp"] = {
                "field": step.ramp.field,
                "levels": list(step.ramp.values),
                "hold_s": step.ramp.hold_s,
                "stop_on_breach": step.ramp.stop_on_breach,
            }
        steps.append(entry)
    return {
        "seed": seed,
        "targets": {name: t.describe() for name, t in exp.targets.items()},
        "workload": exp.workload.name if exp.workload else None,
        "probes": {name: p.type for name, p in exp.probes.items()},
        "phases": {
            "baseline": [0.0, base],
            "injecting": [base, base + exp.method_duration_s],
            "recovering": [base + exp.method_duration_s, exp.planned_duration_s],
        },
        "steps": steps,
        "steady_state": [s.to_data() for s in exp.steady_state],
        "guardrails": [s.to_data() for s in exp.guardrails],
        "rollbacks": [r.model_dump(mode="json") for r in exp.rollbacks],
        "safety": exp.safety.model_dump(mode="json"),
        "planned_duration_s": exp.planned_duration_s,
    }
