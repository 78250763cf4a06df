"""A real scikit-learn model in a directory registry, served by FastAPI under uvicorn.

The service reads the registry's ``current`` pointer on every request and reloads the
model when the pointer or the artifact file changes; its loader is wrapped in the
``model-load`` hook and a control endpoint lets faults arm it. ``quality`` is the check
an experiment's quality probe makes: accuracy over the bundled breast-cancer data set,
through HTTP.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aichaos.inprocess import ControlServer, Hook, Switchboard, UvicornThread
from aichaos.model.directory_registry import DirectoryRegistry

TOKEN = "model-test-token"


@dataclass
class Data:
    X: np.ndarray
    y: np.ndarray


@pytest.fixture(scope="session")
def data() -> Data:
    X, y = load_breast_cancer(return_X_y=True)
    return Data(X, y)


def _fit(X: np.ndarray, y: np.ndarray, c: float) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(X, y)


@pytest.fixture(scope="session")
def models(data: Data) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    few = rng.choice(len(data.y), 12, replace=False)
    return {
        "v1": _fit(data.X[few], data.y[few], 0.01),  # an early, weak model
        "v2": _fit(data.X, data.y, 1.0),  # the good one
        "v3": _fit(data.X, 1 - data.y, 1.0),  # another task's labels: wrong model
        "v4": _fit(data.X, data.y, 0.5),  # a new candidate, also good
    }


@pytest.fixture
def registry(tmp_path: Path, models: dict[str, Any]) -> DirectoryRegistry:
    root = tmp_path / "registry"
    for version, model in models.items():
        (root / version).mkdir(parents=True)
        joblib.dump(model, root / version / "model.joblib")
    os.symlink("v2", root / "current")
    return DirectoryRegistry(root)


class Rows(BaseModel):
    rows: list[list[float]]


def make_service(reg: DirectoryRegistry, board: Switchboard, keep_old: bool = False) -> FastAPI:
    """The serving layer; ``keep_old``: keep serving the loaded model if a new one fails."""
    app = FastAPI()
    lock = threading.Lock()
    cache: dict[str, Any] = {}

    @Hook("model-load", board=board)
    def load(path: Path) -> Any:
        return joblib.load(path)

    def model() -> tuple[str, Any]:
        version = reg.current() or ""
        path = reg.root / version / "model.joblib"
        st = path.stat()
        key = f"{version}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"
        with lock:
            if cache.get("key") != key:
                try:
                    cache["model"] = load(path)
                except Exception:
                    if not (keep_old and "model" in cache):
                        raise
                    return cache["version"], cache["model"]
                cache["key"], cache["version"] = key, version
            return version, cache["model"]

    @app.post("/predict")
    def predict(body: Rows) -> Any:
        try:
            version, m = model()
        except Exception as exc:  # a broken artifact: this service fails loudly
            return JSONResponse({"error": f"model load failed: {exc!r}"}, status_code=503)
        return {"version": version, "predictions": m.predict(np.asarray(body.rows)).tolist()}

    return app


@dataclass
class Service:
    url: str
    board: Switchboard
    control: ControlServer


@pytest.fixture
def service(registry: DirectoryRegistry) -> Iterator[Service]:
    board = Switchboard()
    control = ControlServer(board, token=TOKEN).start()
    with UvicornThread(make_service(registry, board)) as server:
        yield Service(server.url, board, control)
    control.close()


def quality(url: str, data: Data) -> dict[str, Any]:
    """Accuracy (or the error) a quality probe sees through the service's HTTP API."""
    r = httpx.post(url + "/predict", json={"rows": data.X.tolist()}, timeout=30)
    if r.status_code != 200:
        return {"ok": False, "status": r.status_code, "accuracy": None, "version": None}
    body = r.json()
    acc = float(np.mean(np.asarray(body["predictions"]) == data.y))
    return {"ok": True, "status": 200, "accuracy": acc, "version": body["version"]}
