"""An experiment -> Chaos Mesh manifests: one chaos resource per step, and a Workflow.

The Workflow is what runs the experiment's schedule on a cluster: a ``Parallel`` entry
whose children are one ``Serial`` per step (a ``Suspend`` for ``start_s``, then one chaos
template per ramp level, each with its ``deadline``) and, for the guardrails that are
HTTP checks, a ``StatusCheck`` with ``abortWithStatusCheck: true`` that stops the whole
Workflow -- and so every fault -- when the service stops answering. The separate
resources are one-off equivalents of each step (each starts when applied).
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from aichaos.errors import ValidationError
from aichaos.experiment.model import Experiment, Step
from aichaos.integrations.chaosmesh.translate import Translated, duration, translate
from aichaos.integrations.chaosmesh.validate import CHAOS_KINDS, validate
from aichaos.integrations.kubernetes import KubernetesTarget
from aichaos.targets import Target

__all__ = ["ChaosMeshExport", "ExportExperiment", "export", "load_for_export", "slug"]

API_VERSION = "chaos-mesh.org/v1alpha1"


class ExportExperiment(Experiment):
    """An experiment whose steps may act on ``kubernetes`` targets (for export only).

    The base model ties each fault to the target kinds it can reach from this machine; on
    a cluster Chaos Mesh reaches the pods, so a kubernetes target accepts any fault and
    :func:`translate` says which ones have a counterpart.
    """

    def _target_problem(self, step: Step, target: Target | None) -> str | None:
        if isinstance(target, KubernetesTarget):
            return None
        return super()._target_problem(step, target)


def load_for_export(path: str | Path) -> ExportExperiment:
    """Read an experiment file (YAML or JSON) for export; every problem in one error."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}") from None
    try:
        return ExportExperiment.model_validate(data)
    except pydantic.ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(x) for x in err["loc"])
            lines.append(
                f"  - {loc + ': ' if loc else ''}{err['msg'].removeprefix('Value error, ')}"
            )
        raise ValidationError(f"{path}: invalid experiment:\n" + "\n".join(lines)) from None


@dataclass
class ChaosMeshExport:
    """What an export produced, and what it could not."""

    workflow: dict[str, Any] | None
    resources: list[dict[str, Any]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: per resource, a file name that stays the same from one export to the next (the
    #: resource names end in a fresh suffix; a re-export overwrites, never accumulates)
    stems: list[str] = field(default_factory=list)

    @property
    def manifests(self) -> list[dict[str, Any]]:
        """The Workflow first, then the one-off resources."""
        return ([self.workflow] if self.workflow else []) + self.resources

    def write(self, directory: Path) -> list[Path]:
        """Write ``workflow.yaml`` and ``resources/NN-<step>.yaml``; returns the paths."""
        import yaml

        directory.mkdir(parents=True, exist_ok=True)
        written = []
        if self.workflow is not None:
            path = directory / "workflow.yaml"
            path.write_text(yaml.safe_dump(self.workflow, sort_keys=False))
            written.append(path)
        if self.resources:
            (directory / "resources").mkdir(exist_ok=True)
        for i, res in enumerate(self.resources):
            stem = self.stems[i] if i < len(self.stems) else res["metadata"]["name"]
            path = directory / "resources" / f"{i:02d}-{stem}.yaml"
            path.write_text(yaml.safe_dump(res, sort_keys=False))
            written.append(path)
        return written


def slug(text: str, limit: int) -> str:
    """``text`` as a Kubernetes name: lowercase, dashes, at most ``limit`` characters."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return s or "x"


def _levels(step: Step) -> list[tuple[Any, Any, float]]:
    """(fault, blast radius, seconds) for each level of the step."""
    if step.ramp is None:
        return [(step.fault, step.blast_radius, step.total_s)]
    out = []
    for level in step.ramp.values:
        if step.ramp.field == "fraction":
            out.append(
                (
                    step.fault,
                    step.blast_radius.model_copy(update={"fraction": level}),
                    step.ramp.hold_s,
                )
            )
        else:
            current = getattr(step.fault, step.ramp.field)
            value = int(level) if isinstance(current, int) else level
            fault = type(step.fault).model_validate(
                {**step.fault.model_dump(), step.ramp.field: value}
            )
            out.append((fault, step.blast_radius, step.ramp.hold_s))
    return out


def export(
    exp: Experiment, namespace: str | None = None, run_id: str | None = None
) -> ChaosMeshExport:
    """Translate ``exp``; validate every manifest; :class:`ValidationError` if Chaos Mesh
    would reject one, or if no step can be exported.

    Names end in ``run_id`` (default: fresh random hex), so a re-run never collides with
    a Workflow of an earlier run still in the namespace.
    """
    suffix = slug(run_id, 12) if run_id else uuid.uuid4().hex[:6]
    base = f"{slug(exp.title, 30)}-{suffix}"
    result = ChaosMeshExport(workflow=None)
    k8s = [t for t in exp.targets.values() if isinstance(t, KubernetesTarget)]
    ns = namespace or (k8s[0].namespace if k8s else "default")
    templates: list[dict[str, Any]] = []
    sequences: list[str] = []
    for i, step in enumerate(exp.method):
        target = exp.targets.get(step.target) if step.target else None
        label = f"method[{i}] {step.label!r} ({step.fault.type})"
        levels: list[tuple[Translated, float]] = []
        for fault, radius, seconds in _levels(step):
            t = translate(fault, target, radius)
            if not isinstance(t, Translated):
                result.unsupported.append(f"{label}: {t.reason}")
                levels = []
                break
            levels.append((t, seconds))
        if not levels:
            continue
        result.notes += [
            f"{label}: {n}" for n in dict.fromkeys(n for t, _ in levels for n in t.notes)
        ]
        seq = f"s{i}-{slug(step.label, 40)}"
        children = []
        if step.start_s > 0:
            templates.append(
                {
                    "name": f"{seq}-wait",
                    "templateType": "Suspend",
                    "deadline": duration(step.start_s),
                }
            )
            children.append(f"{seq}-wait")
        for j, (t, seconds) in enumerate(levels):
            name = f"{seq}-l{j}" if len(levels) > 1 else f"{seq}-chaos"
            templates.append(
                {
                    "name": name,
                    "templateType": t.kind,
                    "deadline": duration(seconds),
                    CHAOS_KINDS[t.kind][1]: t.spec,
                }
            )
            children.append(name)
            result.stems.append(name)
            result.resources.append(
                {
                    "apiVersion": API_VERSION,
                    "kind": t.kind,
                    "metadata": {
                        "name": f"{base}-{name}",
                        "namespace": ns,
                        "labels": {"app.kubernetes.io/managed-by": "aichaos"},
                    },
                    "spec": {**t.spec, "duration": duration(seconds)},
                }
            )
        if step.ramp is not None and step.ramp.stop_on_breach:
            result.notes.append(
                f"{label}: the ramp runs every level (Chaos Mesh does not stop "
                "at the steady state's breaking point; the guardrail still aborts)"
            )
        templates.append({"name": seq, "templateType": "Serial", "children": children})
        sequences.append(seq)
    if not sequences:
        raise ValidationError(
            "no step of this experiment has a Chaos Mesh counterpart:\n  - "
            + "\n  - ".join(result.unsupported)
        )
    for guard in _status_check(exp, result.notes):
        templates.append(guard)
        sequences.append(guard["name"])
    if exp.steady_state:
        result.notes.append(
            "steady_state is not exported: Chaos Mesh has no verdict; watch it "
            "with `aichaos run` probes or your dashboards"
        )
    entry = {
        "name": "main",
        "templateType": "Parallel",
        "children": sequences,
        "deadline": duration(math.ceil(exp.method_duration_s) + 30),
    }
    result.workflow = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "name": base,
            "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "aichaos"},
        },
        "spec": {"entry": "main", "templates": [entry, *templates]},
    }
    validate(result.manifests)
    return result


def _criteria(codes: list[int], label: str, notes: list[str]) -> str:
    """The StatusCheck ``statusCode``: one code or one inclusive range (all it can say).

    A set that is not one range becomes the range around the first code, and the note
    says which accepted codes would abort the Workflow (stricter, never weaker).
    """
    wanted = sorted(set(codes))
    lo = hi = codes[0]
    while lo - 1 in wanted:
        lo -= 1
    while hi + 1 in wanted:
        hi += 1
    rest = [c for c in wanted if not lo <= c <= hi]
    if rest:
        notes.append(
            f"{label}: expect_status {wanted} is not one range; the StatusCheck accepts "
            f"{lo}-{hi} only, so {rest} also abort the Workflow"
        )
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _status_check(exp: Experiment, notes: list[str]) -> list[dict[str, Any]]:
    """Each guardrail that is an HTTP check, as a StatusCheck that aborts the Workflow."""
    from aichaos.probes.http import HttpProbe
    from aichaos.targets import HttpTarget

    checks: dict[str, tuple[HttpProbe, HttpTarget]] = {}
    for i, slo in enumerate(exp.guardrails):
        for metric in sorted(slo.metrics()):
            source, _, key = metric.partition(".")
            probe = exp.probes.get(source)
            target = exp.targets.get(probe.target) if isinstance(probe, HttpProbe) else None
            if (
                isinstance(probe, HttpProbe)
                and isinstance(target, HttpTarget)
                and key in ("ok", "status")
            ):
                checks.setdefault(source, (probe, target))
            else:
                notes.append(
                    f"guardrails[{i}] {metric!r}: not exported (a StatusCheck checks "
                    "only the HTTP status of a probe's endpoint)"
                )
    if not checks:
        if exp.guardrails:
            notes.append("no guardrail could become a StatusCheck: nothing aborts the Workflow")
        return []
    out = []
    for name, (probe, target) in checks.items():
        if probe.json_field or probe.json_body is not None:
            notes.append(
                f"probes.{name}: the StatusCheck checks the HTTP status only, not "
                "json_field / json_body"
            )
        out.append(
            {
                "name": f"guardrail-{slug(name, 40)}",
                "templateType": "StatusCheck",
                "deadline": duration(math.ceil(exp.method_duration_s)),
                "abortWithStatusCheck": True,
                "statusCheck": {
                    "mode": "Continuous",
                    "type": "HTTP",
                    "intervalSeconds": max(
                        1, math.ceil(probe.every_s or exp.safety.probe_interval_s)
                    ),
                    "timeoutSeconds": max(
                        1, math.ceil(probe.timeout_s or exp.safety.timeouts.probe_s)
                    ),
                    "failureThreshold": 3,
                    "successThreshold": 1,
                    "http": {
                        "url": target.url.rstrip("/") + probe.path,
                        "method": probe.method,
                        "criteria": {
                            "statusCode": _criteria(probe.expect_status, f"probes.{name}", notes)
                        },
                    },
                },
            }
        )
    return out
