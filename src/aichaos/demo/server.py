"""The model server (Starlette under uvicorn).

* ``POST /predict`` ``{"id": 17}`` -> ``{"prediction": 1, "version": "v4", "fallback": false}``:
  features come from the feature service (through the chaos proxy in the demo) under the
  resilience policy of :mod:`aichaos.demo.policy`; if they cannot be had, the answer is
  the fallback (the majority class) with ``"fallback": true``.
* ``GET /stream?n=10`` -- tokens as server-sent events (``data: {"token": ...}``), then
  ``data: [DONE]``: a token stream without a GPU.
* ``GET /health`` -- model version and age, breaker state, load failures.
* ``GET /metrics`` -- Prometheus text.

The model comes from the directory registry's ``current`` pointer and is reloaded when
the pointer or the artifact changes. A new artifact must match the SHA-256 in its
``meta.json``, load, and score at least 0.8 on a holdout canary; otherwise it is refused
and the version in memory keeps serving (``demo_model_load_failures_total`` counts it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelHolder", "build_app", "main"]

_CANARY_MIN = 0.8
_TOKEN_GAP_S = 0.02


@dataclass
class ModelHolder:
    """The model in memory and what is known about the registry's current one."""

    registry: Any
    data: Any
    model: Any = None
    version: str | None = None
    created: float = 0.0
    seen: tuple[str | None, int, int] = (None, 0, 0)
    failures: int = 0
    last_error: str = ""
    history: list[str] = field(default_factory=list)

    def check(self) -> bool:
        """Reload if the pointer or the artifact changed; True if a new model was taken."""
        version = self.registry.current()
        if version is None:
            return False
        artifact = self.registry.root / version / "model.joblib"
        try:
            st = artifact.stat()
        except FileNotFoundError:
            return False
        key = (version, st.st_mtime_ns, st.st_size)
        if key == self.seen:
            return False
        self.seen = key
        try:
            model, meta = self._load(self.registry.root / version)
        except Exception as exc:  # refused: keep serving what we have
            self.failures += 1
            self.last_error = f"{version}: {type(exc).__name__}: {exc}"[:200]
            return False
        self.model, self.version, self.created = model, version, float(meta["created"])
        self.history.append(version)
        return True

    def _load(self, folder: Path) -> tuple[Any, dict[str, Any]]:
        import joblib

        from aichaos.demo.dataset import sha256_file

        meta = json.loads((folder / "meta.json").read_text())
        if sha256_file(folder / "model.joblib") != meta["sha256"]:
            raise ValueError("artifact does not match its SHA-256")
        model = joblib.load(folder / "model.joblib")
        hold = self.data.frame.loc[self.data.holdout_ids]
        score = float(model.score(hold[self.data.features].to_numpy(), hold["target"].to_numpy()))
        if score < _CANARY_MIN:
            raise ValueError(f"canary accuracy {score:.2f} < {_CANARY_MIN}")
        return model, meta


def build_app(registry_dir: Path, features_url: str, seed: int = 7) -> Any:
    """The Starlette app, its metrics and its background model watcher."""
    import numpy as np
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from aichaos.demo.dataset import load_data
    from aichaos.demo.policy import BreakerOpen, CircuitBreaker, FeatureClient
    from aichaos.model.directory_registry import DirectoryRegistry

    data = load_data(seed)
    holder = ModelHolder(DirectoryRegistry(registry_dir), data)
    holder.check()
    reg = CollectorRegistry()
    requests = Counter("demo_requests", "Requests.", ["endpoint", "outcome"], registry=reg)
    retries = Counter("demo_feature_retries", "Feature call retries.", registry=reg)
    fallbacks = Counter("demo_fallbacks", "Fallback answers.", registry=reg)
    load_failures = Gauge("demo_model_load_failures", "Refused model loads.", registry=reg)
    breaker_open = Gauge("demo_breaker_open", "1 when the breaker is not closed.", registry=reg)
    model_age = Gauge("demo_model_age_seconds", "Age of the served model.", registry=reg)
    latency = Histogram(
        "demo_predict_latency_seconds",
        "Predict latency.",
        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        registry=reg,
    )
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout_s=2.0)
    client = FeatureClient(features_url, breaker=breaker, on_retry=retries.inc)

    async def predict(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        try:
            body = await request.json()
            entity = int(body["id"])
        except (ValueError, KeyError, TypeError):
            requests.labels("predict", "bad-request").inc()
            return JSONResponse({"error": 'body must be {"id": <int>}'}, status_code=400)
        fallback = False
        try:
            values = await client.features(entity)
            x = np.asarray([values])
            prediction = int(holder.model.predict(x)[0])
        except BreakerOpen:
            fallback, prediction = True, data.majority
        except Exception:
            fallback, prediction = True, data.majority
        if fallback:
            fallbacks.inc()
        requests.labels("predict", "fallback" if fallback else "ok").inc()
        latency.observe(time.perf_counter() - t0)
        return JSONResponse(
            {"prediction": prediction, "version": holder.version, "fallback": fallback}
        )

    async def stream(request: Request) -> StreamingResponse:
        n = max(1, min(int(request.query_params.get("n", "10")), 200))
        words = f"the served model is {holder.version} and it answers in tokens".split()

        async def events() -> AsyncIterator[bytes]:
            for i in range(n):
                yield f"data: {json.dumps({'token': words[i % len(words)]})}\n\n".encode()
                await asyncio.sleep(_TOKEN_GAP_S)
            yield b"data: [DONE]\n\n"

        requests.labels("stream", "ok").inc()
        return StreamingResponse(events(), media_type="text/event-stream")

    def age() -> float:
        return max(0.0, time.time() - holder.created) if holder.version else -1.0

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "ok": holder.model is not None,
                "model_version": holder.version,
                "model_age_s": round(age(), 3),
                "breaker": breaker.state,
                "load_failures": holder.failures,
                "last_load_error": holder.last_error,
            }
        )

    async def metrics(request: Request) -> Response:
        load_failures.set(holder.failures)
        breaker_open.set(0 if breaker.state == "closed" else 1)
        model_age.set(age())
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    async def watch() -> None:
        while True:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(holder.check)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(watch())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.aclose()

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/stream", stream),
            Route("/health", health),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.state.breaker = breaker
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve until the parent goes away."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", type=Path, required=True)
    ap.add_argument("--features-url", required=True)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    from aichaos.demo.lifecycle import run_uvicorn

    run_uvicorn(build_app(args.registry, args.features_url, args.seed))


if __name__ == "__main__":
    main()
