"""The RAG demo's gateway: the application under test, OpenAI-compatible.

``POST /v1/chat/completions`` (whole or ``"stream": true``) takes the last user message,
embeds it (:func:`~aichaos.demo.rag.index.embed`, wrapped in the in-process hook
``query-embedding-drift``), retrieves the top ``k`` passages from the vector store
service, puts them in a system message (``[doc-07] text`` lines, whatever their score,
as most RAG pipelines do) and asks the primary provider, falling back to the secondary:

* retrieval: ``retrieval_timeout_ms`` per attempt, two attempts; when both fail the
  answer is a 503 (``retrieval_error``): an answer without its documents would be a
  silent failure;
* providers: a 5xx, a connection error or no answer head within ``provider_timeout_ms``
  is retried once on the same provider; a 429 goes straight to the next one (waiting
  out ``Retry-After`` would spend the budget); all of it within ``budget_ms``. Once a
  provider's 200 has arrived the answer is relayed as it comes (a stream cannot change
  provider half-way: a stall or cut reaches the client as it would in production).

What the client can see (the quality SLOs read it): headers ``x-rag-passages``
(retrieved ids, comma-separated, nearest first), ``x-rag-provider`` (``primary`` /
``secondary``), ``x-rag-fallback`` (``1`` when the secondary answered); a whole answer
also carries ``"rag": {"passages": [...], "provider": ..., "fallback": ...}``.
``GET /health``; ``GET /metrics`` (Prometheus text: requests by provider, fallbacks,
retrieval errors, empty retrievals).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = ["GatewayConfig", "build_app", "drift", "main"]

#: buckets the drifted query embedder is shifted by (see :func:`drift`)
DRIFT_SHIFT = 7


def drift(vector: list[float]) -> list[float]:
    """What an armed ``query-embedding-drift`` hook does: the query embedder's space moves.

    The vector's buckets shift by :data:`DRIFT_SHIFT`, as when the query side's tokenizer
    or model is upgraded and the index is not rebuilt: queries still get passages, but
    the wrong ones.
    """
    return vector[-DRIFT_SHIFT:] + vector[:-DRIFT_SHIFT]


@dataclass(frozen=True)
class GatewayConfig:
    """Where the dependencies are and the gateway's resilience settings."""

    vector_url: str
    primary_url: str
    secondary_url: str
    top_k: int = 3
    retrieval_timeout_ms: float = 1500.0
    provider_timeout_ms: float = 1500.0
    budget_ms: float = 6000.0


class _Refused(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def build_app(cfg: GatewayConfig) -> Any:
    """The Starlette app of the gateway."""
    import httpx
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from aichaos.demo.rag.index import embed
    from aichaos.inprocess import Hook

    embed_query = Hook("query-embedding-drift", replace=drift)(embed)
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=128), trust_env=False)
    reg = CollectorRegistry()
    answered = Counter("rag_requests", "Answers by provider.", ["provider"], registry=reg)
    fallbacks = Counter("rag_fallbacks", "Answers from the secondary provider.", registry=reg)
    retrieval_errors = Counter("rag_retrieval_errors", "Retrievals that failed.", registry=reg)
    empty = Counter("rag_empty_retrievals", "Retrievals with no usable passage.", registry=reg)

    async def retrieve(question: str, deadline: float) -> list[dict[str, Any]]:
        body = {"vector": embed_query(question), "limit": cfg.top_k, "with_payload": True}
        url = f"{cfg.vector_url}/collections/docs/points/search"
        problem = ""
        for _ in range(2):
            left = min(cfg.retrieval_timeout_ms / 1000, deadline - time.monotonic())
            if left <= 0:
                break
            try:
                r = await client.post(url, json=body, timeout=left)
                if r.status_code == 200:
                    hits = r.json()["result"]
                    if not isinstance(hits, list):
                        raise TypeError("result is not a list")
                    return [
                        h
                        for h in hits
                        if isinstance(h, dict)
                        and isinstance(h.get("score"), int | float)
                        and isinstance(h.get("payload"), dict)
                    ]
                problem = f"vector store answered {r.status_code}"
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                problem = f"vector store: {type(exc).__name__}: {exc}"
        retrieval_errors.inc()
        raise _Refused(503, "retrieval_error", problem or "retrieval budget spent")

    async def ask(body: dict[str, Any], deadline: float) -> tuple[str, httpx.Response]:
        last = ""
        for provider, url in (("primary", cfg.primary_url), ("secondary", cfg.secondary_url)):
            for _ in range(2):
                left = min(cfg.provider_timeout_ms / 1000, deadline - time.monotonic())
                if left <= 0:
                    raise _Refused(504, "timeout", f"budget spent ({last})")
                req = client.build_request(
                    "POST", f"{url}/v1/chat/completions", json=body, timeout=left
                )
                try:
                    r = await client.send(req, stream=True)
                except httpx.HTTPError as exc:
                    last = f"{provider}: {type(exc).__name__}"
                    continue
                if r.status_code < 400:
                    return provider, r
                await r.aclose()
                last = f"{provider} answered {r.status_code}"
                if r.status_code < 500 and r.status_code != 429:
                    raise _Refused(r.status_code, "provider_error", last)
                if r.status_code == 429:
                    break  # rate limited: the next provider, not the same one again
        raise _Refused(502, "provider_error", f"no provider answered ({last})")

    async def complete(request: Request) -> Response:
        deadline = time.monotonic() + cfg.budget_ms / 1000
        try:
            body = await request.json()
            messages = body["messages"]
            question = next(m["content"] for m in reversed(messages) if m.get("role") == "user")
            assert isinstance(question, str)
        except (ValueError, KeyError, TypeError, StopIteration, AssertionError, AttributeError):
            return JSONResponse(
                {
                    "error": {
                        "message": "body needs messages with a user message of text content",
                        "type": "invalid_request_error",
                    }
                },
                status_code=400,
            )
        try:
            hits = await retrieve(question, deadline)
            if not hits:
                empty.inc()
            ids = [str(h.get("id")) for h in hits]
            context = "\n".join(f"[{h.get('id')}] {h['payload'].get('text', '')}" for h in hits)
            system = {
                "role": "system",
                "content": "Answer from these passages and cite the id you used.\n" + context,
            }
            upstream = {
                **body,
                "messages": [system, *[m for m in messages if m.get("role") != "system"]],
            }
            provider, r = await ask(upstream, deadline)
        except _Refused as exc:
            return JSONResponse(
                {"error": {"message": str(exc), "type": exc.kind}}, status_code=exc.status
            )
        answered.labels(provider).inc()
        fallback = provider != "primary"
        if fallback:
            fallbacks.inc()
        headers = {
            "x-rag-passages": ",".join(ids),
            "x-rag-provider": provider,
            "x-rag-fallback": "1" if fallback else "0",
        }
        if not body.get("stream"):
            try:
                raw = await r.aread()
                answer = json.loads(raw)
                answer["rag"] = {"passages": ids, "provider": provider, "fallback": fallback}
            except (httpx.HTTPError, ValueError, TypeError) as exc:
                return JSONResponse(
                    {"error": {"message": f"{provider}: {exc}", "type": "provider_error"}},
                    status_code=502,
                )
            finally:
                await r.aclose()
            return JSONResponse(answer, status_code=r.status_code, headers=headers)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in r.aiter_raw():
                    yield chunk
            except httpx.HTTPError:
                pass  # the provider broke off: the client sees a stream without its end
            finally:
                await r.aclose()

        return StreamingResponse(
            relay(),
            status_code=r.status_code,
            media_type="text/event-stream",
            headers={**headers, "cache-control": "no-cache"},
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(
        routes=[
            Route("/v1/chat/completions", complete, methods=["POST"]),
            Route("/health", health),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the gateway and its in-process control endpoint; print the ready line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--vector-url", required=True)
    ap.add_argument("--primary-url", required=True)
    ap.add_argument("--secondary-url", required=True)
    args = ap.parse_args(argv)
    from aichaos.demo.lifecycle import run_uvicorn
    from aichaos.inprocess import BOARD, ControlServer

    cfg = GatewayConfig(args.vector_url, args.primary_url, args.secondary_url)
    app = build_app(cfg)
    control = ControlServer(BOARD, token=os.environ["AICHAOS_DEMO_TOKEN"]).start()
    try:
        run_uvicorn(app, {"control": control.url})
    finally:
        control.close()


if __name__ == "__main__":
    main()
