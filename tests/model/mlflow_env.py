"""A real sqlite-backed MLflow registry holding real scikit-learn models, and a client.

Built once per session (logging a model takes a second or two): registered model
``clf`` with versions 1 (weak), 2 (good), 3 (another task's labels), 4 (a new candidate),
alias ``champion`` -> 2. Tests must leave it as they found it; the ``mlreg`` fixture
checks that at teardown (versions, aliases, tags, artifact checksums) and puts the alias
back if a test failed, so one failure does not cascade.

``serve`` is the serving layer's reload: resolve ``models:/clf@champion`` with MLflow's
own client and score the bundled breast-cancer data.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from aichaos.faults.swap import sha256
from aichaos.model.mlflow_registry import MlflowRegistryTarget
from tests.model.conftest import Data

MODEL = "clf"
ALIAS = "champion"

# mlflow 3 + sqlalchemy 2.1 warn at import and on store use; not this project's warnings
MLFLOW_WARNINGS = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@dataclass
class Registry:
    """The session registry: its URI, artifact root and a snapshot to compare with."""

    uri: str
    home: Path

    def target(self, **kw: Any) -> MlflowRegistryTarget:
        return MlflowRegistryTarget(tracking_uri=self.uri, model=MODEL, **kw)

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


def snapshot(uri: str, home: Path) -> dict[str, Any]:
    """Versions (with source and status), aliases, tags and every artifact's checksum."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    rm = client.get_registered_model(MODEL)
    versions = {
        v.version: (v.source, v.status, v.run_id)
        for v in client.search_model_versions(f"name='{MODEL}'")
    }
    # MLflow's loader itself drops a registered_model_meta file into a version's artifact
    # folder the first time it loads it by models:/ URI: that one is MLflow's, not ours.
    files = {
        str(p.relative_to(home)): sha256(p)
        for p in sorted((home / "artifacts").rglob("*"))
        if p.is_file() and p.name != "registered_model_meta"
    }
    return {
        "aliases": dict(rm.aliases),
        "tags": dict(rm.tags),
        "versions": versions,
        "files": files,
    }


@pytest.fixture(scope="session")
def mlflow_session(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Any]) -> Registry:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.sklearn

        home = tmp_path_factory.mktemp("mlflow")
        uri = f"sqlite:///{home / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        exp = mlflow.create_experiment("aichaos", artifact_location=(home / "artifacts").as_uri())
        for name in ("v1", "v2", "v3", "v4"):
            with mlflow.start_run(experiment_id=exp):
                mlflow.sklearn.log_model(
                    models[name],
                    name="model",
                    registered_model_name=MODEL,
                    pip_requirements=["scikit-learn"],  # skip the slow requirement inference
                )
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.set_registered_model_alias(MODEL, ALIAS, "2")
    return Registry(uri, home)


@pytest.fixture
def mlreg(mlflow_session: Registry) -> Iterator[Registry]:
    """The session registry, checked unchanged after the test (and reset if not)."""
    before = snapshot(mlflow_session.uri, mlflow_session.home)
    yield mlflow_session
    after = snapshot(mlflow_session.uri, mlflow_session.home)
    if after != before:
        client = mlflow_session.client()
        client.set_registered_model_alias(MODEL, ALIAS, "2")
        for alias in set(after["aliases"]) - {ALIAS}:
            client.delete_registered_model_alias(MODEL, alias)
        for tag in after["tags"]:
            client.delete_registered_model_tag(MODEL, tag)
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        raise AssertionError(f"the test left the MLflow registry changed: {changed}")


def serve(uri: str, data: Data) -> dict[str, Any]:
    """The serving layer's reload: load ``models:/clf@champion`` and score it."""
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(MODEL, ALIAS).version
        model = mlflow.sklearn.load_model(f"models:/{MODEL}@{ALIAS}")
    except Exception as exc:  # a failed reload is what the fault may cause
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300], "version": None}
    acc = float(np.mean(model.predict(data.X) == data.y))
    return {"ok": True, "version": str(version), "accuracy": round(acc, 6)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def mlflow_server(
    mlflow_session: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``mlflow server`` on the session's sqlite registry, 127.0.0.1, a free port."""
    port = free_port()
    home = tmp_path_factory.mktemp("mlflow-server")
    log = (home / "server.log").open("wb")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", mlflow_session.uri]
    cmd += ["--artifacts-destination", str(home / "served"), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # its own session: `mlflow server` runs uvicorn as a child, stopped with the group
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # bounded start
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start within 60 s")
            time.sleep(0.2)
        yield Server(url, proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
