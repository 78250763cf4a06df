"""JSON Schema of experiment files, with every registered fault, probe, target, workload.

Registry-typed fields become ``oneOf`` unions keyed by a ``type`` constant, so an editor
with the schema autocompletes ``fault: {type: ...}`` and the fault's own fields. Data
corruptions (``data-corrupt``'s ``corruptions``, ``inprocess``'s ``corruption``) are a
union keyed by ``name``, and a ``proxy-toxic``'s ``attributes`` follow its ``toxic``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from aichaos.experiment.model import Experiment
from aichaos.experiment.slo import AGGREGATES
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


def _corruptions(defs: dict[str, Any]) -> None:
    """``$defs.Corruption``: one option per registered corruption, keyed by ``name``."""
    from aichaos.data.base import CORRUPTIONS

    options = []
    for name, cls in CORRUPTIONS.items():
        sub = cls.model_json_schema(mode="validation")
        for key, value in sub.pop("$defs", {}).items():
            defs.setdefault(key, value)
        sub["properties"] = {"name": {"const": name}, **sub.get("properties", {})}
        sub["required"] = ["name", *sub.get("required", [])]
        sub["title"] = name
        sub["description"] = (cls.__doc__ or "").strip()
        options.append(sub)
    defs["Corruption"] = {"oneOf": options}
    defs["CorruptionEntry"] = {"$ref": "#/$defs/Corruption"}  # data-corrupt's list items
    for option in defs["Fault"].get("oneOf", []):
        if option.get("title") == "inprocess" and "corruption" in option["properties"]:
            field = option["properties"]["corruption"]
            option["properties"]["corruption"] = {
                "anyOf": [{"$ref": "#/$defs/Corruption"}, {"type": "null"}],
                "description": field.get("description", ""),
            }


def _toxics(defs: dict[str, Any]) -> None:
    """``$defs.Toxic_<type>`` attributes, chosen by ``proxy-toxic``'s ``toxic``."""
    from aichaos.proxy.toxics.base import TOXICS

    rules = []
    for name, cls in TOXICS.items():
        sub = cls.model_json_schema(mode="validation", by_alias=True)
        sub["description"] = (cls.__doc__ or "").strip()
        sub["additionalProperties"] = False
        defs[f"Toxic_{name}"] = sub
        rules.append(
            {
                "if": {"properties": {"toxic": {"const": name}}, "required": ["toxic"]},
                "then": {"properties": {"attributes": {"$ref": f"#/$defs/Toxic_{name}"}}},
            }
        )
    for option in defs["Fault"].get("oneOf", []):
        if option.get("title") == "proxy-toxic":
            option["properties"]["toxic"]["enum"] = TOXICS.names()
            option["allOf"] = rules


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
        "description": "'[agg(]source.metric[)] OP NUMBER [over N(ms|s|m)]', or all/any of "
        "SLOs; aggregates: " + ", ".join(AGGREGATES),
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
    _corruptions(defs)
    _toxics(defs)
    schema = dict(_refs(schema))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aichaos experiment"
    return schema
