"""The toxic parts of the control API's OpenAPI description, generated from ``TOXICS``.

``openapi.json`` is shipped with the package and served at ``GET /openapi.json``. Its
routes and proxy schemas are written by hand; what depends on the toxic types -- the
``type`` enum and one attribute schema per type, tied to its type in ``ToxicCreate`` --
is generated here from the registry's built-in types and their attribute models, so a
new toxic cannot be missing from it. A test checks that the committed file is what
:func:`generate` makes of it. After adding a toxic::

    python -m aichaos.proxy.openapi > src/aichaos/proxy/openapi.json
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from importlib import resources
from typing import Any

from aichaos.proxy.toxics.base import TOXICS, ToxicAttributes

__all__ = ["builtin_toxics", "generate"]

_REF = "#/components/schemas/{model}"


def builtin_toxics() -> dict[str, type[ToxicAttributes]]:
    """The built-in toxic types by name, in registry order (plugins are not described)."""
    found: dict[str, type[ToxicAttributes]] = {}
    for module in TOXICS.builtin_modules:
        importlib.import_module(module)
    for name in TOXICS.names():
        cls = TOXICS.get(name)
        if cls.__module__ in TOXICS.builtin_modules:
            found[name] = cls
    return found


def _schema_name(type_: str) -> str:
    return "".join(p.capitalize() for p in type_.split("_")) + "Attributes"


def _to_openapi30(node: Any) -> Any:
    """Rewrite a pydantic (JSON Schema 2020-12) schema in OpenAPI 3.0's dialect."""
    if isinstance(node, list):
        return [_to_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _to_openapi30(v) for k, v in node.items() if k != "title"}
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and {"type": "null"} in branches:
            rest = [b for b in branches if b != {"type": "null"}]
            del node[key]
            if len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if node.get("nullable") and isinstance(node.get("enum"), list) and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[plain] = value
            node[bound] = True
    return node


def _attribute_schemas() -> tuple[dict[str, Any], dict[str, str]]:
    """(component schemas, type -> its attributes schema name)."""
    schemas: dict[str, Any] = {}
    names: dict[str, str] = {}
    for type_, cls in builtin_toxics().items():
        raw = cls.model_json_schema(by_alias=True, ref_template=_REF, mode="validation")
        for def_name, sub in raw.pop("$defs", {}).items():
            schemas[def_name] = _to_openapi30(sub)
        name = names[type_] = _schema_name(type_)
        schema = _to_openapi30(raw)
        schema["description"] = (cls.__doc__ or type_).strip().splitlines()[0]
        schemas[name] = schema
    return schemas, names


def generate(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its toxic enum and attribute schemas made from the registry."""
    doc = copy.deepcopy(doc)
    schemas = doc["components"]["schemas"]
    attribute_schemas, names = _attribute_schemas()
    for key in [k for k in schemas if k.endswith("Attributes") or k.startswith("ToxicCreate")]:
        del schemas[key]
    base = schemas.setdefault("ToxicCreateBase", {})
    base.clear()
    base.update(
        {
            "type": "object",
            "required": ["type"],
            "description": "Toxiproxy's toxic body; unknown keys are ignored as Toxiproxy does",
            "properties": {
                "type": {
                    "type": "string",
                    "enum": list(names),
                    "description": "toxic type (third-party types may be added through "
                    "the aichaos.toxics entry point)",
                },
                "name": {"type": "string", "description": "default <type>_<stream>"},
                "stream": {
                    "type": "string",
                    "enum": ["upstream", "downstream"],
                    "default": "downstream",
                },
                "toxicity": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
                "ttl_s": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "description": "the toxic removes itself after this unless renewed",
                },
            },
        }
    )
    variants = []
    for type_, name in names.items():
        variant = f"ToxicCreate_{type_}"
        schemas[variant] = {
            "allOf": [
                {"$ref": _REF.format(model="ToxicCreateBase")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": [type_]},
                        "attributes": {"$ref": _REF.format(model=name)},
                    },
                },
            ]
        }
        variants.append({"$ref": _REF.format(model=variant)})
    schemas["ToxicCreate"] = {
        "oneOf": variants,
        "discriminator": {
            "propertyName": "type",
            "mapping": {t: _REF.format(model=f"ToxicCreate_{t}") for t in names},
        },
    }
    schemas.update(attribute_schemas)
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    return doc


def shipped() -> dict[str, Any]:
    """The ``openapi.json`` in the package."""
    text = resources.files("aichaos.proxy").joinpath("openapi.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def render(doc: dict[str, Any]) -> str:
    """The document as it is committed (1-space indent, trailing newline)."""
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - the regeneration command in the docstring
    sys.stdout.write(render(generate(shipped())))
