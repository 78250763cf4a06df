"""The feature service: ``GET /features/{id}`` answers an entity's feature vector.

It serves the wine data's features (what an online feature store would hold for each
entity). Run as ``python -m aichaos.demo.features``; prints one JSON line when ready.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_app", "main"]


def build_app(seed: int = 7) -> Any:
    """The Starlette app."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from aichaos.demo.dataset import load_data

    data = load_data(seed)
    table = {
        int(i): data.frame.loc[i, data.features].astype(float).tolist() for i in data.frame.index
    }

    async def features(request: Request) -> JSONResponse:
        try:
            entity = int(request.path_params["entity"])
        except ValueError:
            return JSONResponse({"error": "id must be an integer"}, status_code=400)
        row = table.get(entity)
        if row is None:
            return JSONResponse({"error": f"unknown id {entity}"}, status_code=404)
        return JSONResponse({"id": entity, "features": row})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "entities": len(table)})

    return Starlette(routes=[Route("/features/{entity}", features), Route("/health", health)])


def main() -> None:
    """Serve until the parent goes away."""
    from aichaos.demo.lifecycle import run_uvicorn

    run_uvicorn(build_app())


if __name__ == "__main__":
    main()
