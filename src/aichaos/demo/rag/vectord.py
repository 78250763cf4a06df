"""The RAG demo's vector store service: a Qdrant-shaped HTTP search over the index.

A real RAG gateway reaches its vector store over the network (Qdrant, Milvus,
Elasticsearch, pgvector behind an API), and that hop is where the chaos proxy sits.
This service speaks the part of Qdrant's REST API a retriever uses, so the faults an
experiment puts on it are the faults it would put on a real Qdrant:

* ``POST /collections/docs/points/search`` ``{"vector": [...], "limit": 3,
  "with_payload": true}`` -> ``{"result": [{"id": "doc-07", "score": 0.61,
  "payload": {"text": ...}}], "status": "ok", "time": 0.0004}``
* ``GET /health`` -> ``{"ok": true, "version": "v2", "points": 36}``

The index version served is the registry's ``current`` (see
:mod:`aichaos.demo.rag.index`); a change of pointer is picked up on the next request, so
a rolled-back index is served at once, as a hot-reloading store would.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ["build_app", "main"]

_MAX_LIMIT = 100


def build_app(registry_root: Path) -> Any:
    """The Starlette app serving the index registry at ``registry_root``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from aichaos.demo.rag.index import DIMENSIONS, Index
    from aichaos.model.directory_registry import DirectoryRegistry

    reg = DirectoryRegistry(registry_root)
    state: dict[str, Any] = {"version": None, "index": None}

    def current() -> Index:
        version = reg.current()
        if version is None:
            raise LookupError("the index registry has no current version")
        if version != state["version"]:
            fresh = Index(reg.path(version) / "index.db")
            old, state["index"], state["version"] = state["index"], fresh, version
            if old is not None:
                old.close()
        index: Index = state["index"]
        return index

    def bad(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"status": {"error": message}}, status_code=status)

    async def search(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        if request.path_params["name"] != "docs":
            return bad(f"collection {request.path_params['name']!r} not found", 404)
        try:
            body = await request.json()
        except ValueError:
            return bad("body must be JSON")
        vector, limit = body.get("vector"), body.get("limit", 10)
        if not isinstance(vector, list) or len(vector) != DIMENSIONS:
            return bad(f"vector must be a list of {DIMENSIONS} numbers")
        if not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
            return bad(f"limit must be an integer in 1..{_MAX_LIMIT}, got {limit!r}")
        try:
            hits = current().search([float(x) for x in vector], limit)
        except (TypeError, ValueError) as exc:
            return bad(str(exc))
        except LookupError as exc:
            return bad(str(exc), 503)
        return JSONResponse(
            {
                "result": [h.payload() for h in hits],
                "status": "ok",
                "time": round(time.perf_counter() - t0, 6),
            }
        )

    async def health(request: Request) -> JSONResponse:
        try:
            index = current()
        except LookupError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=503)
        return JSONResponse({"ok": True, "version": index.version, "points": index.size})

    return Starlette(
        routes=[
            Route("/collections/{name}/points/search", search, methods=["POST"]),
            Route("/health", health),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Build the index versions if missing, then serve; print the ready line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", type=Path, required=True)
    args = ap.parse_args(argv)
    from aichaos.demo.lifecycle import run_uvicorn
    from aichaos.demo.rag.index import build_registry

    build_registry(args.registry)
    run_uvicorn(build_app(args.registry), {"registry": str(args.registry)})


if __name__ == "__main__":
    main()
