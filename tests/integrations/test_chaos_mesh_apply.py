"""Chaos Mesh as a user relies on it: `--apply` against a recording fake Kubernetes API,
bundled CRD schemas, and manifests that say what Chaos Mesh will really do."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from aichaos.errors import ValidationError
from aichaos.integrations.chaosmesh.export import export, load_for_export
from aichaos.integrations.chaosmesh.validate import check
from tests.integrations.test_chaos_mesh import EXAMPLE, exp

ROOT = Path(__file__).parents[2]
BUNDLED = ROOT / "src" / "aichaos" / "integrations" / "chaosmesh" / "crds"


class FakeKube:
    """A Kubernetes API server for custom objects that records every request."""

    def __init__(self, state: str | None) -> None:
        self.state = state  # the Workflow condition GET reports: Aborted, Accomplished, None
        self.requests: list[tuple[str, str, Any]] = []
        self.objects: dict[str, Any] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                fake.requests.append((self.command, self.path.split("?")[0], body))
                return body

            def do_POST(self) -> None:
                body = self._record()
                fake.objects[body["metadata"]["name"]] = body
                self._reply(201, body)

            def do_GET(self) -> None:
                self._record()
                name = self.path.split("?")[0].rsplit("/", 1)[1]
                obj = dict(fake.objects.get(name, {}))
                if fake.state is not None:
                    obj["status"] = {"conditions": [{"type": fake.state, "status": "True"}]}
                self._reply(200, obj)

            def do_DELETE(self) -> None:
                self._record()
                self._reply(200, {"kind": "Status", "status": "Success"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "c",
                    "clusters": [{"name": "c", "cluster": {"server": self.url}}],
                    "users": [{"name": "u", "user": {"token": "test-token"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                }
            )
        )
        return path

    def methods(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kube(request: pytest.FixtureRequest) -> Iterator[FakeKube]:
    fake = FakeKube(getattr(request, "param", None))
    yield fake
    fake.stop()


WORKFLOWS = "/apis/chaos-mesh.org/v1alpha1/namespaces/serving/workflows"


def _apply(tmp_path: Path, kube: FakeKube) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "export", "chaos-mesh", str(EXAMPLE), "-o",
         str(tmp_path / "out"), "--apply"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "KUBECONFIG": str(kube.kubeconfig(tmp_path / "kubeconfig"))},
    )  # fmt: skip


def _created_and_deleted(kube: FakeKube) -> str:
    (post,) = [r for r in kube.requests if r[0] == "POST"]
    assert post[1] == WORKFLOWS
    name = post[2]["metadata"]["name"]
    assert ("DELETE", f"{WORKFLOWS}/{name}") in kube.methods()
    return str(name)


@pytest.mark.parametrize("kube", ["Aborted"], indirect=True)
def test_workflow_aborted_by_its_status_check_exits_3(tmp_path: Path, kube: FakeKube) -> None:
    proc = _apply(tmp_path, kube)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + err
    assert "the Workflow was aborted (its StatusCheck failed)" in out
    assert "aborted: a guardrail's StatusCheck failed" in err
    _created_and_deleted(kube)


@pytest.mark.parametrize("kube", ["Accomplished"], indirect=True)
def test_accomplished_workflow_exits_0_and_is_deleted(tmp_path: Path, kube: FakeKube) -> None:
    proc = _apply(tmp_path, kube)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    _created_and_deleted(kube)


def test_sigterm_deletes_the_workflow(tmp_path: Path, kube: FakeKube) -> None:
    proc = _apply(tmp_path, kube)
    try:
        deadline = time.monotonic() + 30
        while ("GET" not in {m for m, _ in kube.methods()}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(m == "POST" for m, _ in kube.methods()), proc.communicate(timeout=10)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 3, out + err
    assert "Traceback" not in err
    _created_and_deleted(kube)


def test_each_export_names_its_workflow_anew() -> None:
    one = exp("- {fault: {type: process-pause}, target: pods, duration_s: 10}")
    a, b = export(one).workflow, export(one).workflow
    assert a is not None and b is not None
    assert a["metadata"]["name"] != b["metadata"]["name"]
    assert a["metadata"]["name"].startswith("t-")
    named = export(one, run_id="Run 7").workflow
    assert named is not None and named["metadata"]["name"] == "t-run-7"


def test_a_re_export_overwrites_its_files(tmp_path: Path) -> None:
    one = exp("- {fault: {type: process-pause}, target: pods, duration_s: 10}")
    first = export(one).write(tmp_path)
    second = export(one).write(tmp_path)
    assert first == second  # same files, new resource names inside
    assert sorted(p.name for p in (tmp_path / "resources").iterdir()) == [
        "00-s0-process-pause-chaos.yaml"
    ]


def test_http_methods_are_exported_upper_case() -> None:
    result = export(
        exp(
            "- {fault: {type: proxy-http-error, status: 500}, target: pods, duration_s: 5, "
            "blast_radius: {match: {method: post, path: /v1/predict}}}"
        )
    )
    spec = result.resources[0]["spec"]
    assert spec["method"] == "POST" and check(result.resources[0]) == []


def test_network_chaos_note_names_kubelet_probes() -> None:
    result = export(
        exp("- {fault: {type: proxy-latency, latency_ms: 300}, target: pods, duration_s: 5}")
    )
    assert result.resources[0]["kind"] == "NetworkChaos"
    assert any("kubelet's liveness and readiness probes" in n for n in result.notes)


EXTRA_PROBES = """\
  ready: {type: http, target: api, path: /ready, expect_status: [200, 201, 204]}
  ranged: {type: http, target: api, path: /v2, expect_status: [202, 200, 201]}
guardrails:
  - health.ok == 1
  - ready.ok == 1
  - "mean(ranged.ok) >= 0.9 over 5s"
"""


def test_every_http_guardrail_is_a_status_check_with_its_codes() -> None:
    result = export(
        exp("- {fault: {type: process-pause}, target: pods, duration_s: 5}", extra=EXTRA_PROBES)
    )
    wf = result.workflow
    assert wf is not None and check(wf) == []
    checks = {
        t["name"]: t["statusCheck"]["http"]
        for t in wf["spec"]["templates"]
        if t["templateType"] == "StatusCheck"
    }
    assert set(checks) == {"guardrail-health", "guardrail-ready", "guardrail-ranged"}
    assert all(t["abortWithStatusCheck"] for t in wf["spec"]["templates"] if "statusCheck" in t)
    assert checks["guardrail-health"]["criteria"] == {"statusCode": "200"}
    assert checks["guardrail-ranged"]["criteria"] == {"statusCode": "200-202"}
    assert checks["guardrail-ready"]["url"].endswith("/ready")
    assert checks["guardrail-ready"]["criteria"] == {"statusCode": "200-201"}
    assert any("probes.ready" in n and "[204] also abort" in n for n in result.notes)
    main = wf["spec"]["templates"][0]
    assert {"guardrail-health", "guardrail-ready", "guardrail-ranged"} <= set(main["children"])


@pytest.mark.parametrize(
    ("fault", "fraction", "value", "note"),
    [
        ("{type: process-kill}", 0.005, "1", "becomes 1% of the pods"),
        ("{type: process-kill}", 0.25, "25", None),
        ("{type: proxy-http-error}", 0.333, "33", "becomes 33% of the pods"),
    ],
)
def test_percentage_note_agrees_with_the_manifest(
    fault: str, fraction: float, value: str, note: str | None
) -> None:
    result = export(
        exp(
            f"- {{fault: {fault}, target: pods, duration_s: 5, blast_radius: {{fraction: {fraction}}}}}"
        )
    )
    spec = result.resources[0]["spec"]
    assert spec["mode"] == "fixed-percent" and spec["value"] == value
    notes = [n for n in result.notes if "% of the pods" in n]
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0], notes


def _export_cli(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "export", "chaos-mesh", str(EXAMPLE), "-o",
         str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, **env},
    )  # fmt: skip


@pytest.mark.parametrize("naming", ["upstream", "short"])
def test_schema_directory_with_upstream_or_short_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, naming: str
) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    for f in BUNDLED.glob("chaos-mesh.org_*.yaml"):
        name = f.name if naming == "upstream" else f.name.removeprefix("chaos-mesh.org_")
        shutil.copy(f, crds / name)
    monkeypatch.setenv("AICHAOS_CHAOS_MESH_SCHEMAS", str(crds))
    example = load_for_export(EXAMPLE)
    assert len(export(example).resources) == 6
    (crds / ("chaos-mesh.org_podchaos.yaml" if naming == "upstream" else "podchaos.yaml")).unlink()
    with pytest.raises(ValidationError) as info:
        export(example)
    assert f"no CRD for podchaos in {crds}: expected chaos-mesh.org_podchaos.yaml (the " in str(
        info.value
    )


def test_a_bad_schema_directory_is_one_clear_error(tmp_path: Path) -> None:
    crds = tmp_path / "crds"
    shutil.copytree(BUNDLED, crds)
    (crds / "chaos-mesh.org_httpchaos.yaml").write_text("kind: NotACrd\n")
    res = _export_cli(tmp_path, {"AICHAOS_CHAOS_MESH_SCHEMAS": str(crds)})
    assert res.returncode == 2, res.stderr
    assert "chaos-mesh.org_httpchaos.yaml: not a CustomResourceDefinition" in res.stderr
    assert "Traceback" not in res.stderr
    res = _export_cli(tmp_path, {"AICHAOS_CHAOS_MESH_SCHEMAS": str(tmp_path / "nowhere")})
    assert res.returncode == 2 and "is not a directory of Chaos Mesh CRD files" in res.stderr


def test_a_workflow_crd_in_the_schema_directory_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crds = tmp_path / "crds"
    shutil.copytree(BUNDLED, crds)
    # a Workflow CRD whose schema insists on a field the export does not write
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["entry", "templates", "mustHave"],
                "properties": {
                    "entry": {"type": "string"},
                    "templates": {"type": "array"},
                    "mustHave": {"type": "string"},
                },
            },
        },
    }
    crd = {"spec": {"versions": [{"name": "v1alpha1", "schema": {"openAPIV3Schema": schema}}]}}
    (crds / "chaos-mesh.org_workflows.yaml").write_text(yaml.safe_dump(crd))
    monkeypatch.setenv("AICHAOS_CHAOS_MESH_SCHEMAS", str(crds))
    with pytest.raises(ValidationError, match="spec: 'mustHave' is a required property"):
        export(load_for_export(EXAMPLE))


@pytest.mark.slow
def test_the_schemas_ship_in_the_wheel(tmp_path: Path) -> None:
    wheel_dir, target, project = tmp_path / "wheel", tmp_path / "site", tmp_path / "project"
    # built from a copy: an in-tree build would leave build/ in the checkout
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheel_dir), str(project)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheel_dir.glob("aichaos-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("httpchaos", "networkchaos", "podchaos", "stresschaos"):
        assert f"aichaos/integrations/chaosmesh/crds/chaos-mesh.org_{kind}.yaml" in names
    assert "aichaos/integrations/chaosmesh/crds/README.md" in names
    with zipfile.ZipFile(wheel) as z:
        z.extractall(target)
    # the installed package alone: no source tree, no shared/ beside it, no variable
    env = {k: v for k, v in os.environ.items() if k != "AICHAOS_CHAOS_MESH_SCHEMAS"}
    env["PYTHONPATH"] = str(target)
    res = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "export", "chaos-mesh", str(EXAMPLE), "-o",
         str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "workflow.yaml").exists()
