"""The RAG experiments' faults exported to Chaos Mesh: the manifests validate against the
CRD schemas (the bundled copies, and the shared ones when they sit beside the checkout),
json_corrupt becomes an HTTPChaos JSON merge patch, and what cannot be exported is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from aichaos.integrations.chaosmesh.export import ExportExperiment, export, load_for_export
from aichaos.integrations.chaosmesh.validate import check

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chaos-mesh" / "rag-on-k8s.yaml"
#: the project's shared CRD copies, beside the checkout or beside its worktree folder
SHARED = (
    next(
        (p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
        ROOT.parent / "shared",
    )
    / "schemas"
    / "chaos-mesh"
)


@pytest.mark.parametrize("schemas", ["bundled", "shared"])
def test_the_rag_example_exports_manifests_chaos_mesh_accepts(
    schemas: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if schemas == "shared":
        if not SHARED.is_dir():
            pytest.skip(f"no shared CRD schemas at {SHARED}")
        monkeypatch.setenv("AICHAOS_CHAOS_MESH_SCHEMAS", str(SHARED))
    result = export(load_for_export(EXAMPLE))
    assert result.unsupported == []
    for manifest in [*result.manifests, result.workflow]:
        assert manifest is not None and check(manifest) == []
    kinds = sorted(r["kind"] for r in result.resources)
    assert kinds == ["HTTPChaos", "HTTPChaos", *["NetworkChaos"] * 4]
    delays = [r["spec"]["delay"]["latency"] for r in result.resources if "delay" in r["spec"]]
    assert delays == ["100ms", "300ms", "900ms"]
    (empty,) = [r for r in result.resources if "patch" in r["spec"]]
    assert empty["spec"]["target"] == "Response" and empty["spec"]["port"] == 6333
    assert empty["spec"]["path"] == "/collections/*/points/search"
    assert json.loads(empty["spec"]["patch"]["body"]["value"]) == {"result": []}
    (limited,) = [r for r in result.resources if "replace" in r["spec"]]
    assert limited["spec"]["replace"]["code"] == 429 and limited["spec"]["port"] == 4000


HEAD = """
title: t
targets:
  qdrant: {type: kubernetes, namespace: rag, selector: {app: qdrant}, port: 6333}
"""


def _export(attributes: dict[str, Any]) -> Any:
    step = {
        "fault": {"type": "proxy-toxic", "toxic": "json_corrupt", "attributes": attributes},
        "target": "qdrant",
        "duration_s": 10,
    }
    data = yaml.safe_load(HEAD)
    data["method"] = [
        step,
        {"fault": {"type": "proxy-latency", "latency_ms": 5}, "target": "qdrant", "duration_s": 1},
    ]
    return export(ExportExperiment.model_validate(data))


def test_set_and_drop_on_nested_keys_make_one_merge_patch() -> None:
    result = _export(
        {
            "ops": [
                {"path": "status", "action": "drop"},
                {"path": "usage.hits", "action": "set", "value": 0},
            ]
        }
    )
    patch = result.resources[0]["spec"]["patch"]["body"]["value"]
    assert json.loads(patch) == {"status": None, "usage": {"hits": 0}}


@pytest.mark.parametrize(
    ("op", "why"),
    [
        ({"path": "result.*.score", "action": "set", "value": 0}, "object keys only"),
        ({"path": "result", "action": "nan"}, "action 'nan'"),
        ({"path": "result", "action": "null"}, "action 'null'"),
        ({"path": "result", "action": "shuffle"}, "action 'shuffle'"),
    ],
)
def test_what_a_merge_patch_cannot_say_is_named(op: dict[str, Any], why: str) -> None:
    result = _export({"ops": [op]})
    (reason,) = result.unsupported
    assert "json_corrupt" in reason and why in reason
    assert [r["kind"] for r in result.resources] == ["NetworkChaos"]


def test_the_example_is_documented() -> None:
    doc = (ROOT / "docs" / "integrations.md").read_text()
    assert "examples/chaos-mesh/rag-on-k8s.yaml" in doc
    assert "HTTPChaos `patch`" in doc
