"""Experiments -> Chaos Mesh manifests, validated against the bundled CRD schemas."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from aichaos.errors import ValidationError
from aichaos.integrations.chaosmesh.export import ExportExperiment, export, load_for_export
from aichaos.integrations.chaosmesh.validate import check

HEAD = """
title: t
targets:
  api: {type: http, url: "http://inference.serving.svc:8080"}
  pods: {type: kubernetes, namespace: serving, selector: {app: inference}, port: 8080}
  worker: {type: kubernetes, namespace: batch, selector: {app: worker}, container: main}
probes:
  health: {type: http, target: api, path: /health}
"""


def exp(method: str, extra: str = "") -> ExportExperiment:
    data = yaml.safe_load(
        HEAD + extra + "method:\n" + textwrap.indent(textwrap.dedent(method), "  ")
    )
    return ExportExperiment.model_validate(data)


# (method yaml, kind, expected subset of the spec)
TABLE: list[tuple[str, str, dict[str, Any]]] = [
    (
        "- {fault: {type: proxy-latency, latency_ms: 250, jitter_ms: 10}, target: pods, duration_s: 30}",
        "NetworkChaos",
        {
            "action": "delay",
            "mode": "all",
            "direction": "to",
            "delay": {"latency": "250ms", "jitter": "10ms"},
        },
    ),
    (
        "- {fault: {type: proxy-latency, latency_ms: 1500}, target: pods, duration_s: 30, blast_radius: {match: {path: /v1/*}}}",
        "HTTPChaos",
        {"target": "Response", "port": 8080, "delay": "1500ms", "path": "/v1/*"},
    ),
    (
        "- {fault: {type: proxy-http-error, status: 503}, target: pods, duration_s: 10, blast_radius: {fraction: 0.25}}",
        "HTTPChaos",
        {"replace": {"code": 503}, "mode": "fixed-percent", "value": "25"},
    ),
    (
        "- {fault: {type: proxy-http-error, preset: openai_rate_limit, retry_after_s: 2}, target: pods, duration_s: 10}",
        "HTTPChaos",
        {"mode": "all", "target": "Response"},
    ),
    (
        "- {fault: {type: proxy-toxic, toxic: bandwidth, attributes: {rate: 100}}, target: pods, duration_s: 10}",
        "NetworkChaos",
        {
            "action": "bandwidth",
            "bandwidth": {"rate": "800kbps", "limit": 20971520, "buffer": 10000},
        },
    ),
    (
        "- {fault: {type: proxy-toxic, toxic: timeout, attributes: {timeout: 0}}, target: pods, duration_s: 10}",
        "NetworkChaos",
        {"action": "loss", "loss": {"loss": "100"}},
    ),
    (
        "- {fault: {type: proxy-toxic, toxic: http_delay, toxicity: 0.5, attributes: {request_ms: 300, method: POST}}, target: pods, duration_s: 10}",
        "HTTPChaos",
        {
            "target": "Request",
            "delay": "300ms",
            "method": "POST",
            "mode": "fixed-percent",
            "value": "50",
        },
    ),
    (
        "- {fault: {type: process-kill, signal: SIGKILL}, target: pods, duration_s: 5, blast_radius: {fraction: 0.5}}",
        "PodChaos",
        {"action": "pod-kill", "gracePeriod": 0, "mode": "fixed-percent", "value": "50"},
    ),
    (
        "- {fault: {type: process-kill}, target: worker, duration_s: 5}",
        "PodChaos",
        {"action": "container-kill", "containerNames": ["main"], "mode": "all"},
    ),
    (
        "- {fault: {type: process-pause}, target: pods, duration_s: 20}",
        "PodChaos",
        {"action": "pod-failure", "mode": "all"},
    ),
    (
        "- {fault: {type: cpu-burn, workers: 2, load_fraction: 0.75}, target: worker, duration_s: 20}",
        "StressChaos",
        {"stressors": {"cpu": {"workers": 2, "load": 75}}, "containerNames": ["main"]},
    ),
    (
        "- {fault: {type: memory-pressure, size_mb: 256.5}, target: pods, duration_s: 20}",
        "StressChaos",
        {"stressors": {"memory": {"workers": 1, "size": "257MB"}}},
    ),
]


def _subset(expected: dict[str, Any], got: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert key in got, (key, got)
        if isinstance(value, dict):
            _subset(value, got[key])
        else:
            assert got[key] == value, (key, got[key], value)


@pytest.mark.parametrize(("method", "kind", "spec"), TABLE)
def test_fault_table(method: str, kind: str, spec: dict[str, Any]) -> None:
    result = export(exp(method))
    (res,) = result.resources
    assert res["kind"] == kind
    assert res["apiVersion"] == "chaos-mesh.org/v1alpha1"
    _subset(spec, res["spec"])
    assert res["spec"]["selector"]["namespaces"] in (["serving"], ["batch"])
    for manifest in result.manifests:  # schema + webhook rules, again, explicitly
        assert check(manifest) == []
    wf = result.workflow
    assert wf is not None and wf["kind"] == "Workflow"
    (chaos,) = [t for t in wf["spec"]["templates"] if t["templateType"] == kind]
    field = {
        "NetworkChaos": "networkChaos",
        "HTTPChaos": "httpChaos",
        "PodChaos": "podChaos",
        "StressChaos": "stressChaos",
    }[kind]
    assert chaos[field] == {k: v for k, v in res["spec"].items() if k != "duration"}
    assert chaos["deadline"] == res["spec"]["duration"]


def test_preset_body_and_retry_after() -> None:
    import base64
    import json

    result = export(
        exp(
            "- {fault: {type: proxy-http-error, preset: openai_rate_limit, retry_after_s: 2}, target: pods, duration_s: 10}"
        )
    )
    replace = result.resources[0]["spec"]["replace"]
    assert replace["code"] == 429
    body = json.loads(base64.b64decode(replace["body"]))
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert {k.lower(): v for k, v in replace["headers"].items()}["retry-after"] == "2"


def test_schedule_ramp_and_guardrail() -> None:
    result = export(
        exp(
            """
        - {name: first, fault: {type: proxy-latency, latency_ms: 100}, target: pods, duration_s: 30}
        - name: ramp
          fault: {type: cpu-burn, workers: 1, load_fraction: 0.5}
          target: pods
          start_s: 12.5
          ramp: {field: load_fraction, values: [0.2, 0.6], hold_s: 10}
        """,
            extra='guardrails:\n  - "mean(health.ok) >= 0.5 over 5s"\n  - "health.latency_ms < 500"\n',
        )
    )
    templates = {t["name"]: t for t in result.workflow["spec"]["templates"]}  # type: ignore[index]
    assert templates["main"]["templateType"] == "Parallel"
    assert templates["main"]["children"] == ["s0-first", "s1-ramp", "guardrail-health"]
    assert templates["s1-ramp"]["children"] == ["s1-ramp-wait", "s1-ramp-l0", "s1-ramp-l1"]
    assert templates["s1-ramp-wait"] == {
        "name": "s1-ramp-wait",
        "templateType": "Suspend",
        "deadline": "12500ms",
    }
    assert templates["s1-ramp-l0"]["stressChaos"]["stressors"]["cpu"]["load"] == 20
    assert templates["s1-ramp-l1"]["stressChaos"]["stressors"]["cpu"]["load"] == 60
    guard = templates["guardrail-health"]
    assert guard["abortWithStatusCheck"] is True
    assert guard["deadline"] == "33s"
    assert guard["statusCheck"]["http"] == {
        "url": "http://inference.serving.svc:8080/health",
        "method": "GET",
        "criteria": {"statusCode": "200"},
    }
    assert any("health.latency_ms" in n and "not exported" in n for n in result.notes)


def test_unsupported_steps_are_named_not_dropped() -> None:
    result = export(
        exp(
            """
        - {name: net, fault: {type: proxy-latency, latency_ms: 100}, target: pods, duration_s: 5}
        - {name: stream, fault: {type: proxy-toxic, toxic: stream_cut, attributes: {after_events: 3}}, target: pods, duration_s: 5}
        - {name: code, fault: {type: python-callable, apply: "os:getpid"}, duration_s: 5}
        - {name: data, fault: {type: file-truncate, path: /data/x.csv}, target: pods, duration_s: 5}
        - {name: nohttpport, fault: {type: proxy-http-error}, target: worker, duration_s: 5}
        """
        )
    )
    assert len(result.resources) == 1
    text = "\n".join(result.unsupported)
    assert "'stream' (proxy-toxic): toxic 'stream_cut' has no Chaos Mesh counterpart" in text
    assert "'code' (python-callable): needs a kubernetes target" in text
    assert (
        "'data' (file-truncate): fault type 'file-truncate' has no Chaos Mesh counterpart" in text
    )
    assert (
        "'nohttpport' (proxy-http-error): an HTTP fault needs the kubernetes target's port" in text
    )


def test_nothing_exportable_is_an_error() -> None:
    with pytest.raises(
        ValidationError, match="no step of this experiment has a Chaos Mesh counterpart"
    ):
        export(exp("- {fault: {type: python-callable, apply: 'os:getpid'}, duration_s: 5}"))


BAD_TARGETS = [
    ("{type: kubernetes, namespace: Serving, selector: {app: x}}", "namespace"),
    ("{type: kubernetes, namespace: s, selector: {}}", "selector"),
    (
        "{type: kubernetes, namespace: s, selector: {'bad key!': x}}",
        "not a valid Kubernetes label key",
    ),
    ("{type: kubernetes, namespace: s, selector: {app: x}, port: 0}", "port"),
]


@pytest.mark.parametrize(("target", "message"), BAD_TARGETS)
def test_bad_kubernetes_target(tmp_path: Path, target: str, message: str) -> None:
    p = tmp_path / "e.yaml"
    p.write_text(
        f"title: t\ntargets:\n  k: {target}\nmethod:\n  - {{fault: {{type: process-pause}}, target: k, duration_s: 1}}\n"
    )
    with pytest.raises(ValidationError, match=message):
        load_for_export(p)


def _good() -> dict[str, Any]:
    return copy.deepcopy(
        export(
            exp(
                "- {fault: {type: proxy-http-error}, target: pods, duration_s: 10, blast_radius: {fraction: 0.5}}"
            )
        ).resources[0]
    )


# (mutation, problem Chaos Mesh would reject it for)
REJECTED = [
    (lambda m: m["spec"].update(mode="fixed", value="0"), "mode 'fixed' needs an integer > 0"),
    (lambda m: m["spec"].update(mode="fixed", value="two"), "mode 'fixed' needs an integer > 0"),
    (lambda m: m["spec"].update(value="150"), "percentage in (0, 100]"),
    (lambda m: m["spec"].update(value="0"), "percentage in (0, 100]"),
    (lambda m: m["spec"].update(duration="10 seconds"), "spec.duration: must be a duration"),
    (lambda m: m["spec"].update(port=0), "HTTPChaos needs a port > 0"),
    (lambda m: m["spec"].update(mode="some"), "'some' is not one of"),
    (lambda m: m["spec"].pop("target"), "'target' is a required property"),
    (lambda m: m["spec"].update(probability=0.5), "spec.probability: unknown field"),
    (lambda m: m["spec"]["replace"].update(code="503"), "'503' is not of type 'integer'"),
    (
        lambda m: m["metadata"].update(name="Bad_Name"),
        "metadata.name: must be a lowercase DNS-1123",
    ),
]


@pytest.mark.parametrize(("mutate", "problem"), REJECTED)
def test_validator_refuses_what_chaos_mesh_rejects(mutate: Any, problem: str) -> None:
    m = _good()
    assert check(m) == []
    mutate(m)
    assert any(problem in p for p in check(m)), check(m)


def test_workflow_rules() -> None:
    wf = export(exp("- {fault: {type: process-pause}, target: pods, duration_s: 10}")).workflow
    assert wf is not None and check(wf) == []
    bad = copy.deepcopy(wf)
    bad["spec"]["templates"][0]["children"].append("ghost")
    bad["spec"]["templates"][1]["podChaos"]["mode"] = "fixed"
    problems = check(bad)
    assert any("'ghost' names no template" in p for p in problems)
    assert any("podChaos.value: mode 'fixed' needs an integer > 0" in p for p in problems)


def _cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "export", "chaos-mesh", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )


EXAMPLE = Path(__file__).parents[2] / "examples" / "chaos-mesh" / "inference-on-k8s.yaml"


def test_cli_writes_manifests_that_validate(tmp_path: Path) -> None:
    res = _cli(tmp_path, str(EXAMPLE), "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    files = sorted((tmp_path / "out").rglob("*.yaml"))
    assert [f.name for f in files][-1] == "workflow.yaml" and len(files) == 7
    for f in files:
        assert check(yaml.safe_load(f.read_text())) == [], f
    assert "kubectl apply -f" in res.stdout
    assert "note: method[1] 'predict-503'" in res.stdout


def test_cli_apply_without_cluster_says_so(tmp_path: Path) -> None:
    env = {
        "KUBECONFIG": str(tmp_path / "none"),
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "",
    }
    res = _cli(tmp_path, str(EXAMPLE), "-o", str(tmp_path / "out"), "--apply", env=env)
    assert res.returncode == 2
    assert "no Kubernetes cluster is configured" in res.stderr
    assert "nothing was applied" in res.stderr
    assert (tmp_path / "out" / "workflow.yaml").exists()


def test_cli_apply_to_unreachable_cluster(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    res = _cli(
        tmp_path,
        str(EXAMPLE),
        "-o",
        str(tmp_path / "out"),
        "--apply",
        env={"KUBECONFIG": str(kubeconfig)},
    )
    assert res.returncode == 5, res.stderr
    assert (
        "cannot reach the cluster to create Workflow/inference-survives-a-slow-feat" in res.stderr
    )


def test_cli_bad_experiment(tmp_path: Path) -> None:
    p = tmp_path / "e.yaml"
    p.write_text("title: t\nmethod: []\n")
    res = _cli(tmp_path, str(p))
    assert res.returncode == 2
    assert "invalid experiment" in res.stderr and "method" in res.stderr
