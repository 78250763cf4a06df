"""Check manifests as Chaos Mesh would: CRD schemas plus the admission webhook's rules.

The CRD schemas ship with aichaos (``crds/``: Chaos Mesh's own files, their version and
licence in ``crds/README.md``); ``$AICHAOS_CHAOS_MESH_SCHEMAS`` may point at a directory of
upstream CRD files (``chaos-mesh.org_<plural>.yaml`` or ``<plural>.yaml``) to validate
against another Chaos Mesh version. The schemas check structure only. Kubernetes prunes
unknown fields instead of rejecting them and Chaos Mesh's webhook enforces value rules,
so this module adds: no field the schema does not know, Go duration strings,
``mode``/``value`` pairs (``fixed``: an integer > 0; percent modes: a number in
(0, 100]), HTTPChaos ``port`` > 0, and a DNS-1123 ``metadata.name``. A Workflow is
checked against the Workflow CRD when the directory has one (the bundled files do not),
and always by its own rules here; each chaos spec it embeds is checked against the
schema of its kind.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from aichaos.errors import ValidationError

__all__ = ["CHAOS_KINDS", "check", "schema_dir", "validate"]

#: chaos kind -> (CRD plural, Workflow template field)
CHAOS_KINDS = {
    "HTTPChaos": ("httpchaos", "httpChaos"),
    "NetworkChaos": ("networkchaos", "networkChaos"),
    "PodChaos": ("podchaos", "podChaos"),
    "StressChaos": ("stresschaos", "stressChaos"),
}
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TEMPLATE_TYPES = {"Serial", "Parallel", "Suspend", "StatusCheck", "Task", "Schedule", *CHAOS_KINDS}
_ENV = "AICHAOS_CHAOS_MESH_SCHEMAS"


def schema_dir() -> Path:
    """Where the CRD schemas are: ``$AICHAOS_CHAOS_MESH_SCHEMAS``, else the bundled ones."""
    env = os.environ.get(_ENV)
    if env:
        if not Path(env).is_dir():
            raise ValidationError(f"{_ENV}={env!r} is not a directory of Chaos Mesh CRD files")
        return Path(env)
    return Path(__file__).resolve().parent / "crds"


def _crd_file(where: Path, plural: str) -> Path | None:
    for name in (f"chaos-mesh.org_{plural}.yaml", f"{plural}.yaml"):
        if (where / name).is_file():
            return where / name
    return None


def _load(where: Path, plural: str, required: bool) -> dict[str, Any] | None:
    path = _crd_file(where, plural)
    if path is None:
        if not required:
            return None
        raise ValidationError(
            f"no CRD for {plural} in {where}: expected chaos-mesh.org_{plural}.yaml "
            f"(the upstream name) or {plural}.yaml"
        )
    return _parse(path, path.stat().st_mtime_ns)


@functools.cache
def _parse(path: Path, mtime_ns: int) -> dict[str, Any]:
    """The CRD's OpenAPI schema (cached per file version: the modification time)."""
    import yaml

    try:
        # the C loader when PyYAML has it: the CRDs are large and parsed on every export
        crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise ValidationError(
            f"{path}: not a CustomResourceDefinition with "
            f"spec.versions[0].schema.openAPIV3Schema ({type(exc).__name__}: {exc})"
        ) from None
    return schema


def _schema(kind: str) -> dict[str, Any]:
    schema = _load(schema_dir(), CHAOS_KINDS[kind][0], True)
    assert schema is not None
    return schema


def _workflow_schema() -> dict[str, Any] | None:
    return _load(schema_dir(), "workflows", False)


def _unknown_fields(value: Any, schema: dict[str, Any], path: str, out: list[str]) -> None:
    """Fields the schema does not declare (Kubernetes would silently drop them)."""
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        for key, sub in value.items():
            if key not in props:
                if not schema.get("additionalProperties") and not schema.get(
                    "x-kubernetes-preserve-unknown-fields"
                ):
                    out.append(f"{path}.{key}: unknown field (known: {', '.join(sorted(props))})")
                continue
            _unknown_fields(sub, props[key], f"{path}.{key}", out)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _unknown_fields(item, schema["items"], f"{path}[{i}]", out)


def _schema_problems(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    try:
        import jsonschema
    except ImportError:
        raise ValidationError(
            "validating Chaos Mesh manifests needs jsonschema: pip install 'aichaos[k8s]'"
        ) from None

    out = []
    for err in jsonschema.Draft7Validator(schema).iter_errors(value):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        out.append(f"{path}{where}: {err.message}")
    _unknown_fields(value, schema, path, out)
    return out


def _value_rules(kind: str, spec: dict[str, Any], path: str) -> list[str]:
    out = []
    mode, value = spec.get("mode"), spec.get("value")
    if mode == "fixed":
        if not (isinstance(value, str) and value.isdigit() and int(value) > 0):
            out.append(f"{path}.value: mode 'fixed' needs an integer > 0, got {value!r}")
    elif mode in ("fixed-percent", "random-max-percent"):
        try:
            ok = 0 < float(value) <= 100  # type: ignore[arg-type]
        except (TypeError, ValueError):
            ok = False
        if not ok:
            out.append(f"{path}.value: mode {mode!r} needs a percentage in (0, 100], got {value!r}")
    for key in ("duration", "delay"):
        if isinstance(spec.get(key), str) and not _DURATION.match(spec[key]):
            out.append(
                f"{path}.{key}: must be a duration like '300ms' or '1m30s', got {spec[key]!r}"
            )
    delay = spec.get("delay")
    if isinstance(delay, dict):
        for key in ("latency", "jitter"):
            if key in delay and not _DURATION.match(str(delay[key])):
                out.append(
                    f"{path}.delay.{key}: must be a duration like '100ms', got {delay[key]!r}"
                )
    if kind == "HTTPChaos" and not (isinstance(spec.get("port"), int) and spec["port"] > 0):
        out.append(f"{path}.port: HTTPChaos needs a port > 0, got {spec.get('port')!r}")
    if (
        kind == "PodChaos"
        and spec.get("action") == "pod-failure"
        and "duration" not in spec
        and not path.startswith("spec.templates")
    ):
        out.append(f"{path}.duration: pod-failure needs a duration")
    return out


def _name_rule(manifest: dict[str, Any]) -> list[str]:
    name = manifest.get("metadata", {}).get("name", "")
    if not (isinstance(name, str) and len(name) <= 253 and _NAME.match(name)):
        return [f"metadata.name: must be a lowercase DNS-1123 name of <= 253 chars, got {name!r}"]
    return []


def check(manifest: dict[str, Any]) -> list[str]:
    """Every problem Chaos Mesh (CRD schema + webhook) would reject ``manifest`` for."""
    kind = manifest.get("kind")
    if kind in CHAOS_KINDS:
        problems = _schema_problems(manifest, _schema(kind), "")
        problems = [p.removeprefix(".") for p in problems]
        return (
            problems + _value_rules(kind, manifest.get("spec", {}), "spec") + _name_rule(manifest)
        )
    if kind == "Workflow":
        return _check_workflow(manifest)
    return [f"kind: {kind!r} is not one aichaos exports"]


def _check_workflow(wf: dict[str, Any]) -> list[str]:
    out = _name_rule(wf)
    crd = _workflow_schema()
    if crd is not None:
        out += [p.removeprefix(".") for p in _schema_problems(wf, crd, "")]
    if wf.get("apiVersion") != "chaos-mesh.org/v1alpha1":
        out.append(f"apiVersion: must be chaos-mesh.org/v1alpha1, got {wf.get('apiVersion')!r}")
    spec = wf.get("spec", {})
    templates = spec.get("templates", [])
    names = [t.get("name") for t in templates]
    if spec.get("entry") not in names:
        out.append(f"spec.entry: {spec.get('entry')!r} names no template")
    for i, t in enumerate(templates):
        path = f"spec.templates[{i}]"
        ttype = t.get("templateType")
        if ttype not in _TEMPLATE_TYPES:
            out.append(f"{path}.templateType: unknown {ttype!r}")
            continue
        if "deadline" in t and not _DURATION.match(str(t["deadline"])):
            out.append(f"{path}.deadline: must be a duration, got {t['deadline']!r}")
        for child in t.get("children", []):
            if child not in names:
                out.append(f"{path}.children: {child!r} names no template")
        if ttype in ("Suspend", "StatusCheck") and "deadline" not in t:
            out.append(f"{path}.deadline: a {ttype} template needs a deadline")
        if ttype in CHAOS_KINDS:
            field = CHAOS_KINDS[ttype][1]
            embedded = t.get(field)
            if not isinstance(embedded, dict):
                out.append(f"{path}.{field}: a {ttype} template needs its spec here")
                continue
            spec_schema = _schema(ttype)["properties"]["spec"]
            out += _schema_problems(embedded, spec_schema, f"{path}.{field}")
            out += _value_rules(ttype, embedded, f"{path}.{field}")
        if ttype == "StatusCheck":
            sc = t.get("statusCheck", {})
            if sc.get("type") != "HTTP" or not str(sc.get("http", {}).get("url", "")).startswith(
                ("http://", "https://")
            ):
                out.append(f"{path}.statusCheck: needs type HTTP and an http.url")
    return out


def validate(manifests: list[dict[str, Any]]) -> None:
    """Raise :class:`ValidationError` listing every problem of every manifest."""
    problems = []
    for m in manifests:
        label = f"{m.get('kind')}/{m.get('metadata', {}).get('name')}"
        problems += [f"{label}: {p}" for p in check(m)]
    if problems:
        raise ValidationError(
            "Chaos Mesh would reject the exported manifests:\n  - " + "\n  - ".join(problems)
        )
