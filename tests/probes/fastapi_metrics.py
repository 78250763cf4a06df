"""A FastAPI app as users write it: Prometheus metrics mounted at ``/metrics``.

Run as ``python -m tests.probes.fastapi_metrics``; prints ``{"url": ...}`` and serves on
127.0.0.1 port 0. ``GET /metrics`` answers 307 to ``/metrics/`` (Starlette's mount);
``GET /broken/`` answers 500.
"""

from __future__ import annotations

from typing import Any


def build_app() -> Any:
    """The app: a gauge ``model_accuracy`` of 0.93 behind a mounted metrics app."""
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
    from prometheus_client import CollectorRegistry, Gauge, make_asgi_app

    registry = CollectorRegistry()
    Gauge("model_accuracy", "Holdout accuracy.", registry=registry).set(0.93)
    app = FastAPI()
    app.mount("/metrics", make_asgi_app(registry=registry))

    @app.get("/broken/")
    def broken() -> PlainTextResponse:
        return PlainTextResponse("exporter down", status_code=500)

    return app


if __name__ == "__main__":
    from aichaos.demo.lifecycle import run_uvicorn

    run_uvicorn(build_app())
