"""The control API, wire-compatible with Toxiproxy 2.x.

Routes, status codes and error bodies are Toxiproxy's::

    GET  /proxies                      200 {name: proxy}
    POST /proxies                      201 proxy | 400 | 409 exists | 500 listen taken
    POST /populate                     201 {"proxies": [...]} | 400
    GET  /proxies/{p}                  200 proxy | 404
    POST|PATCH /proxies/{p}            200 proxy (fields merged)
    DELETE /proxies/{p}                204
    GET  /proxies/{p}/toxics           200 [toxic]
    POST /proxies/{p}/toxics           200 toxic | 400 bad type / stream / body | 409
    GET|POST|PATCH|DELETE /proxies/{p}/toxics/{t}   200 / 200 / 200 / 204 | 404
    POST /reset                        204
    GET  /version                      200 {"version": ...}
    GET  /metrics                      200 Prometheus text
    GET  /openapi.json                 200 this API's OpenAPI 3 description

Errors are ``{"error": message, "status": code}``; a wrong method is 405.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

from aichaos import __version__
from aichaos.errors import http_status
from aichaos.proxy.errors import ApiBadRequest, ApiError, ApiMethodNotAllowed, ApiNotFound
from aichaos.proxy.httpserver import Response
from aichaos.proxy.metrics import render_metrics
from aichaos.proxy.store import ProxyStore

__all__ = ["MAX_JSON_DEPTH", "TOXIPROXY_VERSION", "ControlApi", "openapi_document"]

#: deepest nesting of objects and arrays a request body may have
MAX_JSON_DEPTH = 32

#: the Toxiproxy version whose API this server speaks (clients may check it)
TOXIPROXY_VERSION = "2.9.0"


def _json(body: bytes) -> Any:
    if not body.strip():
        raise ApiBadRequest("bad request body: empty, expected JSON")

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        doc = json.loads(body, parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiBadRequest(f"bad request body: invalid JSON ({exc})") from None
    except RecursionError:
        doc = None  # nested past the interpreter's limit: refused below like any too-deep body
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _depth(doc)
    if depth > MAX_JSON_DEPTH:
        raise ApiBadRequest(f"bad request body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return doc


def _depth(doc: Any) -> int:
    """How deeply ``doc`` nests (iterative: a deep document must not recurse here)."""
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            items = node.values() if isinstance(node, dict) else node
            stack.extend((v, depth + 1) for v in items)
    return deepest


@cache
def openapi_document() -> Any:
    """The control API's OpenAPI 3 description (shipped as ``aichaos/proxy/openapi.json``)."""
    return json.loads(resources.files("aichaos.proxy").joinpath("openapi.json").read_text())


class ControlApi:
    """Maps ``(method, path, body)`` to store operations; every error becomes JSON."""

    def __init__(self, store: ProxyStore) -> None:
        self.store = store

    async def __call__(self, method: str, path: str, body: bytes) -> Response:
        """Handle one request (the :data:`~aichaos.proxy.httpserver.Handler` signature)."""
        try:
            return await self._route(method, [unquote(p) for p in path.strip("/").split("/")], body)
        except ApiError as exc:
            return Response(http_status(exc), exc.body())

    async def _route(self, method: str, parts: list[str], body: bytes) -> Response:
        store = self.store
        match parts:
            case ["proxies"]:
                if method == "GET":
                    return Response(200, {n: p.to_json() for n, p in store.proxies.items()})
                if method == "POST":
                    proxy = await store.create(_json(body))
                    return Response(201, proxy.to_json())
            case ["populate"]:
                if method == "POST":
                    proxies = await store.populate(_json(body))
                    return Response(201, {"proxies": [p.to_json() for p in proxies]})
            case ["reset"]:
                if method == "POST":
                    await store.reset()
                    return Response(204)
            case ["version"]:
                if method == "GET":
                    return Response(
                        200,
                        {
                            "version": TOXIPROXY_VERSION,
                            "server": f"aichaos {__version__}",
                            "seed": store.seed,
                        },
                    )
            case ["openapi.json"]:
                if method == "GET":
                    return Response(200, openapi_document())
            case ["metrics"]:
                if method == "GET":
                    return Response(
                        200, text=render_metrics(store), content_type="text/plain; version=0.0.4"
                    )
            case ["proxies", name]:
                if method == "GET":
                    return Response(200, store.get(name).to_json())
                if method in ("POST", "PATCH"):
                    return Response(200, (await store.update(name, _json(body))).to_json())
                if method == "DELETE":
                    await store.delete(name)
                    return Response(204)
            case ["proxies", name, "toxics"]:
                if method == "GET":
                    return Response(200, [t.to_json() for t in store.get(name).toxics.values()])
                if method == "POST":
                    return Response(200, store.add_toxic(name, _json(body)).to_json())
            case ["proxies", name, "toxics", toxic]:
                if method == "GET":
                    return Response(200, store.get_toxic(name, toxic).to_json())
                if method in ("POST", "PATCH"):
                    return Response(200, store.update_toxic(name, toxic, _json(body)).to_json())
                if method == "DELETE":
                    store.remove_toxic(name, toxic)
                    return Response(204)
            case _:
                raise ApiNotFound("not found")
        raise ApiMethodNotAllowed(f"method not allowed: {method} /{'/'.join(parts)}")
