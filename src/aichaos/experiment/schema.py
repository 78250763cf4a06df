"""JSON Schema of experiment files, with every registered fault, probe, target, workload.

Registry-typed fields become ``oneOf`` unions keyed by a ``type`` constant, so an editor
with the schema autocompletes ``fault: {type: ...}`` and the fault's own fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from aichaos.experiment.model import Experiment
from aichaos.faults.base import FAULTS
from aichaos.load.base import WORKLOADS
from aichaos.probes.base import PROBES
from aichaos.registry import Registry
from aichaos.targets import TARGETS

__all__ = ["experiment_schema", "type_schema"]


def type_schema(cls: type[BaseModel]) -> dict[str, Any]:
    """Schema of one registered class, with its ``type`` constant added."""
    schema = cls.model_json_schema(mode="validation")
    schema.setdefault("properties", {})
    schema["properties"] = {"type": {"const": cls.type}, **schema["properties"]}  # type: ignore[attr-defined]
    schema["required"] = ["type", *schema.get("required", [])]
    schema["description"] = (cls.__doc__ or "").strip()
    return schema


def _union(registry: Registry[Any], defs: dict[str, Any]) -> dict[str, Any]:
    options = []
    for name, cls in registry.items():
        sub = type_schema(cls)
        for key, value in sub.pop("$defs", {}).items():
            defs.setdefault(key, value)
        sub["title"] = name
        options.append(sub)
    if not options:
        return {"type": "object", "description": f"no {registry.family} types registered"}
    return {"oneOf": options}


def _refs(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"x-aichaos-def"}:
            return {"$ref": f"#/$defs/{node['x-aichaos-def']}"}
        return {k: _refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_refs(v) for v in node]
    return node


def experiment_schema() -> dict[str, Any]:
    """The full JSON Schema (draft 2020-12) of an experiment file."""
    schema = Experiment.model_json_schema(mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    for base, registry in (
        ("Fault", FAULTS),
        ("Probe", PROBES),
        ("Target", TARGETS),
        ("Workload", WORKLOADS),
    ):
        defs[base] = _union(registry, defs)
    defs["SLO"] = {
        "description": "'[agg(]source.metric[)] OP NUMBER [over N(ms|s|m)]', or all/any of SLOs",
        "anyOf": [
            {"type": "string", "examples": ["p99(load.latency_ms) < 250 over 10s"]},
            {
                "type": "object",
                "properties": {"all": {"type": "array", "items": {"$ref": "#/$defs/SLO"}}},
                "required": ["all"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"any": {"type": "array", "items": {"$ref": "#/$defs/SLO"}}},
                "required": ["any"],
                "additionalProperties": False,
            },
        ],
    }
    schema = dict(_refs(schema))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aichaos experiment"
    return schema
