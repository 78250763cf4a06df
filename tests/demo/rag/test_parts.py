"""The RAG demo's parts over real sockets: vector store, LLM stand-in, gateway.

Each service runs under uvicorn on 127.0.0.1, port 0; clients are the ones users use
(httpx for the Qdrant-shaped search, the ``openai`` SDK for the stand-in and gateway).
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("sqlite_vec")
pytest.importorskip("apsw")
openai = pytest.importorskip("openai")

from aichaos.demo.rag import gateway, llm, vectord  # noqa: E402
from aichaos.demo.rag.corpus import QUESTIONS, TOOL, V1_PASSAGES  # noqa: E402
from aichaos.demo.rag.index import DIMENSIONS, build_registry, embed  # noqa: E402
from aichaos.inprocess.serve import UvicornThread  # noqa: E402
from aichaos.model.directory_registry import DirectoryRegistry  # noqa: E402


@pytest.fixture(scope="module")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_registry(tmp_path_factory.mktemp("rag") / "index")


@pytest.fixture(scope="module")
def vectors(index_root: Path) -> Iterator[str]:
    with UvicornThread(vectord.build_app(index_root)) as server:
        yield server.url


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as client:  # one client: no TLS context per call
        yield client


def _search(url: str, question: str, limit: int = 3) -> list[dict[str, Any]]:
    with httpx.Client(trust_env=False) as client:
        return _search_with(client, url, question, limit)


def _search_with(
    client: httpx.Client, url: str, question: str, limit: int = 3
) -> list[dict[str, Any]]:
    r = client.post(
        f"{url}/collections/docs/points/search",
        json={"vector": embed(question), "limit": limit, "with_payload": True},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["result"]
    return hits


def test_vector_store_returns_the_nearest_passages(vectors: str, http: httpx.Client) -> None:
    for question, doc in QUESTIONS:
        hits = _search_with(http, vectors, question)
        assert next(h["id"] for h in hits) == doc, question
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0.2
        assert hits[0]["payload"]["text"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"vector": [0.0] * 3, "limit": 3}, f"vector must be a list of {DIMENSIONS} numbers"),
        ({"vector": [0.0] * DIMENSIONS, "limit": 0}, "limit must be an integer in 1..100, got 0"),
        ({"limit": 3}, "vector must be a list"),
    ],
)
def test_vector_store_refuses_bad_searches(vectors: str, body: Any, expected: str) -> None:
    r = httpx.post(f"{vectors}/collections/docs/points/search", json=body, timeout=5)
    assert r.status_code == 400 and expected in r.json()["status"]["error"]


def test_vector_store_serves_the_registry_version_it_points_at(
    vectors: str, index_root: Path
) -> None:
    reg = DirectoryRegistry(index_root)
    assert httpx.get(f"{vectors}/health").json() == {"ok": True, "version": "v2", "points": 36}
    new_question, new_doc = QUESTIONS[-1]
    reg.write_pointer("v1")  # rolled back: the newer passages are gone from search
    try:
        assert httpx.get(f"{vectors}/health").json()["points"] == V1_PASSAGES
        assert new_doc not in [h["id"] for h in _search(vectors, new_question, 10)]
    finally:
        reg.write_pointer("v2")
    assert _search(vectors, new_question)[0]["id"] == new_doc


def _prompt(question: str, doc: str, text: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": f"Answer from these passages.\n[{doc}] {text}"},
        {"role": "user", "content": question},
    ]


def _timed_stream(client: Any) -> tuple[float, list[float], str, Any, Any]:
    """One streamed answer: (TTFT ms, gaps ms, text, finish reason, usage)."""
    t0 = time.perf_counter()
    stream = client.chat.completions.create(
        model="m",
        messages=_prompt("How high?", "doc-01", "It is 2,410 metres high."),
        stream=True,
        stream_options={"include_usage": True},
    )
    arrivals, text, finish, usage = [], "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                arrivals.append(time.perf_counter())
                text += choice.delta.content
            finish = choice.finish_reason or finish
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    return (arrivals[0] - t0) * 1000, gaps, text, finish, usage


def test_standin_streams_with_the_ttft_and_tpot_it_was_told() -> None:
    ttft_ms, tpot_ms = 150.0, 25.0
    with UvicornThread(llm.build_app("primary", ttft_ms, tpot_ms)) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
        client.chat.completions.create(model="m", messages=_prompt("q", "doc-01", "warm"))
        runs = [_timed_stream(client) for _ in range(3)]
        client.close()
    for _, gaps, text, finish, usage in runs:
        assert text == "According to [doc-01], It is 2,410 metres high."
        assert finish == "stop" and usage is not None
        assert usage.completion_tokens == len(gaps) + 1 == 8
    # a loaded machine only ever adds delay: never early, and the least-disturbed of
    # three runs within a scheduling slice of what the stand-in was told
    ttfts = [ttft for ttft, *_ in runs]
    assert all(t >= ttft_ms - 1 for t in ttfts) and min(ttfts) <= ttft_ms + 40, ttfts
    gaps = [g for _, run_gaps, *_ in runs for g in run_gaps]
    assert tpot_ms - 3 <= statistics.median(gaps) <= tpot_ms + 10, gaps


def test_standin_calls_the_tool_with_arguments_from_its_schema() -> None:
    with UvicornThread(llm.build_app("primary", 5, 1)) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
        args = ""
        finish = None
        for chunk in client.chat.completions.create(
            model="m",
            messages=_prompt("Show it", "doc-09", "Meridian is cooled."),
            tools=[TOOL],  # type: ignore[list-item]
            stream=True,
        ):
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    assert call.function is not None
                    args += call.function.arguments or ""
                finish = choice.finish_reason or finish
        client.close()
    assert json.loads(args) == {"doc_id": "doc-09", "max_words": 40}
    assert finish == "tool_calls"


def _rate_limited() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def limited(request: Any) -> JSONResponse:
        return JSONResponse(
            {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
            status_code=429,
            headers={"retry-after": "20"},
        )

    return Starlette(routes=[Route("/v1/chat/completions", limited, methods=["POST"])])


@pytest.fixture
def stack(vectors: str) -> Iterator[dict[str, str]]:
    with (
        UvicornThread(_rate_limited()) as limited,
        UvicornThread(llm.build_app("primary", 20, 2)) as primary,
        UvicornThread(llm.build_app("secondary", 30, 2)) as secondary,
    ):
        yield {
            "vectors": vectors,
            "limited": limited.url,
            "primary": primary.url,
            "secondary": secondary.url,
        }


def _gateway(vector_url: str, primary: str, secondary: str) -> UvicornThread:
    cfg = gateway.GatewayConfig(vector_url, primary, secondary, retrieval_timeout_ms=500)
    return UvicornThread(gateway.build_app(cfg), lifespan="on")


def test_gateway_fallback_is_a_normal_answer_to_the_openai_sdk(stack: dict[str, str]) -> None:
    question, doc = QUESTIONS[6]
    with _gateway(stack["vectors"], stack["limited"], stack["secondary"]) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="rag", messages=[{"role": "user", "content": question}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        whole = client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": question}]
        )
        client.close()
    assert raw.headers["x-rag-fallback"] == "1" and raw.headers["x-rag-provider"] == "secondary"
    assert raw.headers["x-rag-passages"].split(",")[0] == doc
    assert text.startswith(f"According to [{doc}],")
    assert whole.model == "secondary" and f"[{doc}]" in (whole.choices[0].message.content or "")
    assert whole.model_extra is not None and whole.model_extra["rag"]["fallback"] is True


def test_gateway_answers_from_the_primary_when_it_is_healthy(stack: dict[str, str]) -> None:
    question, doc = QUESTIONS[20]
    with _gateway(stack["vectors"], stack["primary"], stack["secondary"]) as gw:
        r = httpx.post(
            f"{gw.url}/v1/chat/completions",
            json={"model": "rag", "messages": [{"role": "user", "content": question}]},
            timeout=5,
        )
    assert r.status_code == 200 and r.headers["x-rag-provider"] == "primary"
    assert r.json()["rag"] == {
        "passages": r.headers["x-rag-passages"].split(","),
        "provider": "primary",
        "fallback": False,
    }
    assert f"[{doc}]" in r.json()["choices"][0]["message"]["content"]


def test_gateway_without_its_vector_store_is_a_503_not_an_ungrounded_answer(
    stack: dict[str, str],
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with _gateway(dead, stack["primary"], stack["secondary"]) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(
                model="rag", messages=[{"role": "user", "content": "How high is it?"}]
            )
        client.close()
    assert caught.value.status_code == 503
    assert "vector store" in caught.value.message


def test_gateway_refuses_a_body_without_a_user_message(stack: dict[str, str]) -> None:
    with _gateway(stack["vectors"], stack["primary"], stack["secondary"]) as gw:
        r = httpx.post(f"{gw.url}/v1/chat/completions", json={"messages": []}, timeout=5)
    assert r.status_code == 400
    assert "user message" in r.json()["error"]["message"]


def _flaky(first_status: int) -> Any:
    """A provider that answers ``first_status`` to its first request, then like the
    stand-in; a status of 0 means the first request is never answered."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    inner = llm.build_app("primary", 5, 1)
    seen: list[int] = []

    async def first(request: Request) -> Response:
        seen.append(1)
        if len(seen) == 1:
            if first_status == 0:
                await asyncio.sleep(2)  # five times the provider timeout the test sets
            return JSONResponse({"error": {"message": "boom"}}, status_code=first_status)
        route = inner.router.routes[0]
        response: Response = await route.endpoint(request)
        return response

    app = Starlette(routes=[Route("/v1/chat/completions", first, methods=["POST"])])
    app.state.seen = seen
    return app


@pytest.mark.parametrize(
    ("first_status", "provider", "primary_calls"),
    [
        (500, "primary", 2),  # a 5xx is retried once on the same provider
        (503, "primary", 2),
        (0, "primary", 2),  # no answer head in time: retried once too
        (429, "secondary", 1),  # rate limited: straight to the next provider
    ],
)
def test_gateway_retries_a_5xx_or_timeout_and_moves_on_from_a_429(
    stack: dict[str, str], first_status: int, provider: str, primary_calls: int
) -> None:
    question, doc = QUESTIONS[3]
    flaky = _flaky(first_status)
    with UvicornThread(flaky) as primary:
        cfg = gateway.GatewayConfig(
            stack["vectors"], primary.url, stack["secondary"], provider_timeout_ms=400
        )
        with UvicornThread(gateway.build_app(cfg), lifespan="on") as gw:
            client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
            raw = client.chat.completions.with_raw_response.create(
                model="rag", messages=[{"role": "user", "content": question}]
            )
            answer = raw.parse()
            client.close()
    assert raw.headers["x-rag-provider"] == provider
    assert answer.model == provider and f"[{doc}]" in (answer.choices[0].message.content or "")
    assert len(flaky.state.seen) == primary_calls
