"""The experiment: a pydantic model that the YAML file, the Python API and the journal share.

Faults, probes, targets and workloads are registry types: in a file they are mappings
with a ``type`` key, dispatched to the registered class (``fault: {type: process-pause}``).
Cross-references (a step's target, an SLO's source) are checked here, so an experiment
that validates can be planned without surprises.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializeAsAny,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from aichaos.errors import Problem, did_you_mean
from aichaos.experiment.safety import Phases, Safety
from aichaos.experiment.slo import SLO, distribution_agg_problem, slo
from aichaos.faults.base import FAULTS, BlastRadius, Fault
from aichaos.limits import number_problems
from aichaos.load.base import WORKLOADS, Workload
from aichaos.probes.base import PROBES, Probe
from aichaos.registry import Registry
from aichaos.spec import Spec
from aichaos.targets import TARGETS, Target
from aichaos.validation import SpecError, known_fields, unknown_field

__all__ = [
    "Experiment",
    "HttpRollback",
    "PythonRollback",
    "Ramp",
    "Step",
]

_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


def _dispatch(registry: Registry[Any]) -> BeforeValidator:
    """Turn ``{type: name, ...}`` into the registered class's instance."""

    def validate(value: Any) -> Any:
        if isinstance(value, dict):
            if "type" not in value:
                known = ", ".join(registry.names())
                raise ValueError(f"needs a 'type' naming a {registry.family}; known: {known}")
            kind = value["type"]
            if not isinstance(kind, str) or kind not in registry:
                hint = did_you_mean(kind, registry.names()) if isinstance(kind, str) else ""
                raise ValueError(
                    f"unknown {registry.family} type {kind!r}{hint}; "
                    f"known: {', '.join(registry.names())}"
                )
            cls = registry.get(kind)
            fields = {k: v for k, v in value.items() if k != "type"}
            names = known_fields(cls)
            unknown = [
                Problem(str(k), unknown_field(str(k), names)) for k in fields if k not in names
            ]
            if unknown:
                raise SpecError(unknown)
            return cls.model_validate(fields)
        return value

    return BeforeValidator(validate)


def _dump_typed(value: Any) -> dict[str, Any]:
    return {"type": value.type, **value.model_dump(mode="json")}


FaultField = Annotated[SerializeAsAny[Fault], _dispatch(FAULTS), PlainSerializer(_dump_typed)]
ProbeField = Annotated[SerializeAsAny[Probe], _dispatch(PROBES), PlainSerializer(_dump_typed)]
TargetField = Annotated[SerializeAsAny[Target], _dispatch(TARGETS), PlainSerializer(_dump_typed)]
WorkloadField = Annotated[
    SerializeAsAny[Workload], _dispatch(WORKLOADS), PlainSerializer(_dump_typed)
]
SLOField = Annotated[
    SLO,
    BeforeValidator(slo),
    PlainSerializer(lambda s: s.to_data()),
    WithJsonSchema({"x-aichaos-def": "SLO"}),  # swapped for a $ref by schema.py
]


class Ramp(Spec):
    """Raise a step's blast radius or intensity in levels, stopping at the first breach.

    ``field`` is ``fraction`` (the fault's own ``fraction`` where it has one, such as
    ``data-corrupt``; else the blast radius) or a numeric field of the fault
    (``latency_ms``, ``severity``); each of ``values`` is held for ``hold_s`` seconds.
    """

    field: str = Field("fraction", description="'fraction' or a numeric fault field")
    values: list[float] = Field(min_length=1, description="levels, in order")
    hold_s: float = Field(gt=0, description="seconds each level is held")
    stop_on_breach: bool = Field(True, description="stop ramping when the steady state breaks")


class Step(Spec):
    """One fault on one target, on a schedule, with a blast radius (optionally ramped)."""

    name: str = Field("", description="label for the journal; default: the fault type")
    fault: FaultField
    target: str | None = Field(None, description="name of an entry in the experiment's targets")
    start_s: float = Field(0.0, ge=0, description="offset from the start of the method phase")
    duration_s: float | None = Field(
        None, gt=0, description="how long the fault stays; a ramp sets it to levels x hold_s"
    )
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    ramp: Ramp | None = None

    @model_validator(mode="after")
    def _duration(self) -> Step:
        fault_cls = type(self.fault)
        if self.ramp is None and self.duration_s is None and fault_cls.lasts:
            raise ValueError("give duration_s (seconds the fault stays) or a ramp")
        problem = fault_cls.radius_problem(self.blast_radius)
        if problem is not None:
            raise ValueError(problem)
        if self.ramp is not None:
            problem = fault_cls.ramp_problem(self.ramp.field)
            if problem is not None:
                raise ValueError(problem)
            if self.ramp.field == "fraction":
                bad = [v for v in self.ramp.values if not 0 <= v <= 1]
                if bad:
                    raise ValueError(f"ramp values for 'fraction' must be in [0, 1], got {bad}")
            else:
                self._check_levels(self.ramp)
        return self

    def _check_levels(self, ramp: Ramp) -> None:
        """Each level must be a value the fault accepts, as the engine will build it."""
        fault_cls = type(self.fault)
        base = self.fault.model_dump()
        current = base.get(ramp.field)
        for i, level in enumerate(ramp.values):
            if not math.isfinite(level):
                continue  # refused by the ramp's own field check
            value: Any = level
            if isinstance(current, int) and not isinstance(current, bool):
                value = int(level)
            try:
                fault_cls.model_validate({**base, ramp.field: value})
                for _, why in number_problems({ramp.field: value}):
                    raise ValueError(why)
            except (pydantic.ValidationError, ValueError) as exc:
                errors = (
                    exc.errors(include_url=False)
                    if isinstance(exc, pydantic.ValidationError)
                    else []
                )
                why = errors[0]["msg"] if errors else str(exc)
                raise ValueError(
                    f"ramp.values[{i}] = {level!r} is not a valid {ramp.field!r} for fault "
                    f"{self.fault.type!r}: {why[0].lower()}{why[1:]}"
                ) from None

    @property
    def label(self) -> str:
        """The step's name, or its fault type."""
        return self.name or self.fault.type

    @property
    def total_s(self) -> float:
        """Seconds from the step's start to its end."""
        if self.ramp is not None:
            return len(self.ramp.values) * self.ramp.hold_s
        return self.duration_s or 0.0  # a fault that cannot be undone is over once applied


class PythonRollback(Spec):
    """Rollback action: call ``module:function`` (sync or async) with ``arguments``."""

    type: Literal["python"] = "python"
    call: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    arguments: dict[str, Any] = Field(default_factory=dict)


class HttpRollback(Spec):
    """Rollback action: an HTTP request to a target (e.g. ``POST /admin/reload``)."""

    type: Literal["http"] = "http"
    target: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = "/"
    expect_status: int = Field(200, ge=100, le=599)


Rollback = Annotated[PythonRollback | HttpRollback, Field(discriminator="type")]


class Experiment(Spec):
    """A chaos experiment: targets, workload, steady state, method, guardrails, safety."""

    # SLOs are the grammar's own objects (engine-free plain classes), not pydantic models
    model_config = ConfigDict(arbitrary_types_allowed=True)

    title: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    weight: float = Field(
        1.0, ge=0, description="importance in the report's weighted resilience score"
    )
    seed: int | None = Field(None, ge=0, description="fixes every random choice; recorded")
    targets: dict[str, TargetField] = Field(default_factory=dict)
    workload: WorkloadField | None = None
    probes: dict[str, ProbeField] = Field(default_factory=dict)
    steady_state: list[SLOField] = Field(default_factory=list)
    method: list[Step] = Field(min_length=1)
    guardrails: list[SLOField] = Field(default_factory=list)
    rollbacks: list[Rollback] = Field(default_factory=list)
    phases: Phases = Field(default_factory=Phases)
    safety: Safety = Field(default_factory=Safety)

    @field_validator("targets", "probes")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        import re

        for name in v:
            if not re.match(_NAME, name):
                raise ValueError(f"name {name!r} must match {_NAME}")
        return v

    @model_validator(mode="after")
    def _references(self) -> Experiment:
        problems: list[Problem] = []
        for i, step in enumerate(self.method):
            target = None if step.target is None else self.targets.get(step.target)
            if step.target is not None and target is None:
                known = ", ".join(self.targets) or "none"
                problems.append(
                    Problem(
                        f"method[{i}].target", f"unknown target {step.target!r}; known: {known}"
                    )
                )
                continue
            problem = self._target_problem(step, target)
            if problem:
                problems.append(Problem(f"method[{i}].target", problem))
        for i, rb in enumerate(self.rollbacks):
            if isinstance(rb, HttpRollback) and rb.target not in self.targets:
                problems.append(Problem(f"rollbacks[{i}].target", f"unknown target {rb.target!r}"))
        problems += self._metric_problems()
        for name, probe in self.probes.items():
            ref = getattr(probe, "target", None)
            if isinstance(ref, str) and ref not in self.targets:
                problems.append(Problem(f"probes.{name}.target", f"unknown target {ref!r}"))
        if self.workload is not None:
            ref = getattr(self.workload, "target", None)
            if isinstance(ref, str) and ref not in self.targets:
                problems.append(Problem("workload.target", f"unknown target {ref!r}"))
        planned = self.planned_duration_s
        if planned > self.safety.max_duration_s:
            problems.append(
                Problem(
                    "safety.max_duration_s",
                    f"the plan takes {planned:g}s, more than "
                    f"max_duration_s={self.safety.max_duration_s:g}",
                )
            )
        if problems:
            raise SpecError(problems)  # structured: the loader reads the Problems, not text
        return self

    def _target_problem(self, step: Step, target: Target | None) -> str | None:
        """Why ``step``'s fault cannot act on ``target`` here (a hook for export models)."""
        return type(step.fault).target_problem(step.target, target)

    def _metric_problems(self) -> list[Problem]:
        """Every SLO metric checked against what the probes and the workload produce."""
        produced: dict[str, tuple[str, frozenset[str] | None]] = {
            name: (f"probe {name!r} ({p.type})", _with_error(p.metric_names()))
            for name, p in self.probes.items()
        }
        distributions: set[str] = set()
        if self.workload is not None:
            w = self.workload
            produced[w.name] = (f"workload {w.name!r} ({w.type})", w.metric_names())
            distributions = {f"{w.name}.{k}" for k in w.distribution_names()}
        problems: list[Problem] = []
        for section in ("steady_state", "guardrails"):
            for i, s in enumerate(getattr(self, section)):
                problems += [
                    Problem(f"{section}[{i}]", distribution_agg_problem(c.metric, c.agg))
                    for c in s.conditions()
                    if c.metric in distributions and c.agg in ("last", "sum")
                ]
                for metric in sorted(s.metrics()):
                    source, _, key = metric.partition(".")
                    if source not in produced:
                        problems.append(
                            Problem(
                                f"{section}[{i}]",
                                f"{metric!r} names source {source!r}"
                                f"{did_you_mean(source, produced)}, which is no probe or "
                                f"workload; known: {', '.join(sorted(produced)) or 'none'}",
                            )
                        )
                        continue
                    who, names = produced[source]
                    if names is not None and key not in names:
                        hint = did_you_mean(key, names)
                        if key in ("goodput_rps", "good_requests"):
                            hint = " (goodput is reported only with a goodput setting)"
                        problems.append(
                            Problem(
                                f"{section}[{i}]",
                                f"{metric!r}: {who} reports no metric {key!r}{hint}; "
                                f"it reports {', '.join(sorted(names))}",
                            )
                        )
        return problems

    @property
    def method_duration_s(self) -> float:
        """Seconds from the start of the method phase to the end of its last step."""
        return max(s.start_s + s.total_s for s in self.method)

    @property
    def planned_duration_s(self) -> float:
        """Baseline + method + recovery, in seconds."""
        return self.phases.baseline_s + self.method_duration_s + self.phases.recovery_s

    def steady_state_slo(self) -> SLO | None:
        """All steady-state SLOs combined, or ``None`` when there are none."""
        return _combine(self.steady_state)

    def guardrail_slo(self) -> SLO | None:
        """All guardrails combined, or ``None``."""
        return _combine(self.guardrails)


def _with_error(names: frozenset[str] | None) -> frozenset[str] | None:
    # the engine adds ``error`` (0 or 1) to every probe sample
    return None if names is None else names | {"error"}


def _combine(parts: list[SLO]) -> SLO | None:
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out & p
    return out
