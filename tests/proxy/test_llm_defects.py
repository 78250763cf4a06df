"""Issue 15's six defects, as the real clients see them (openai SDK, requests + urllib3,
httpx) against a local OpenAI-compatible upstream through the proxy."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.proxy.conftest import Api, serve_asgi
from tests.proxy.llm_upstream import TOKENS, LlmUpstream

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def base_url(api: Api, llm: LlmUpstream) -> str:
    host, port = await api.proxy(llm.addr, http=True)
    return f"http://{host}:{port}/v1"


@pytest.fixture
async def sdk(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10)
    yield client
    await client.close()


async def _stream(sdk: openai.AsyncOpenAI) -> tuple[list[str], list[float], str | None]:
    """(content deltas, their arrival times from the request, last finish_reason)."""
    start = time.perf_counter()
    contents, times, finish = [], [], None
    stream = await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    async for chunk in stream:
        times.append(time.perf_counter() - start)
        choice = chunk.choices[0]
        if choice.delta.content:
            contents.append(choice.delta.content)
        finish = choice.finish_reason or finish
    return contents, times, finish


# 1 -- Retry-After in whole seconds, retry-after-ms exact --------------------------------


async def test_urllib3_retry_honours_the_rounded_up_retry_after(api: Api, base_url: str) -> None:
    await api.toxic(
        type="http_error", attributes={"preset": "openai_rate_limit", "retry_after_s": 0.4}
    )

    def call() -> tuple[type[BaseException], float, requests.Response]:
        session = requests.Session()
        retry = Retry(total=1, status_forcelist=[429], allowed_methods=None, backoff_factor=0)
        session.mount("http://", HTTPAdapter(max_retries=retry))
        start = time.perf_counter()
        try:
            session.post(f"{base_url}/chat/completions", json={}, timeout=10)
        except requests.RequestException as exc:
            kind: type[BaseException] = type(exc)
        else:
            kind = type(None)  # type: ignore[assignment]
        took = time.perf_counter() - start
        plain = requests.post(f"{base_url}/chat/completions", json={}, timeout=10)
        session.close()
        return kind, took, plain

    kind, took, plain = await asyncio.to_thread(call)
    # urllib3 retried once after Retry-After (1 s, rounded up), then gave up on 429s;
    # a fractional Retry-After made it raise InvalidHeader before any retry
    assert kind is requests.exceptions.RetryError
    assert 1.0 <= took < 2.5
    toxic = (await api.client.get("/proxies/p/toxics/http_error_downstream")).json()
    assert toxic["stats"]["affected"] == 3  # two tries by the session, one plain request
    assert plain.status_code == 429
    assert plain.headers["retry-after"] == "1" and plain.headers["retry-after-ms"] == "400"


async def test_openai_sdk_waits_the_exact_retry_after_ms(
    api: Api, base_url: str, llm: LlmUpstream
) -> None:
    await api.toxic(
        type="http_error", attributes={"preset": "openai_rate_limit", "retry_after_s": 0.4}
    )
    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=1, timeout=10)
    start = time.perf_counter()
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    took = time.perf_counter() - start
    await client.close()
    assert info.value.code == "rate_limit_exceeded"
    assert 0.4 <= took < 0.95  # one retry, 400 ms later (retry-after-ms), not 1 s
    assert llm.arrivals == []


# 2 -- after_events: 0 is before the first event ------------------------------------------


async def test_stream_stall_at_zero_delays_the_first_token(
    api: Api, sdk: openai.AsyncOpenAI
) -> None:
    await api.toxic(type="stream_stall", attributes={"after_events": 0, "stall_ms": 400})
    contents, times, finish = await _stream(sdk)
    assert contents == TOKENS and finish == "stop"
    assert times[0] >= 0.4  # time to first token holds the stall
    assert times[-1] - times[0] < 0.4  # and only once
    toxic = (await api.client.get("/proxies/p/toxics/stream_stall_downstream")).json()
    assert toxic["stats"] == {"seen": 1, "affected": 1}


async def test_stream_cut_at_zero_lets_no_event_through(api: Api, sdk: openai.AsyncOpenAI) -> None:
    await api.toxic(type="stream_cut", attributes={"after_events": 0})
    received = 0
    with pytest.raises((httpx.RemoteProtocolError, openai.APIError)):
        stream = await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        async for _ in stream:
            received += 1
    assert received == 0


# 3 -- json_corrupt never holds a stream back, and corrupts it event by event ------------


async def test_json_corrupt_rewrites_each_event_without_holding_the_stream(
    api: Api, sdk: openai.AsyncOpenAI, llm: LlmUpstream
) -> None:
    llm.interval_s = 0.05  # ~0.5 s of stream
    await api.toxic(
        type="json_corrupt",
        attributes={"ops": [{"path": "choices.*.delta.content", "action": "set", "value": "X"}]},
    )
    contents, times, finish = await _stream(sdk)
    # every delta that has a content (the role chunk's "" too) now says "X"
    assert contents == ["X"] * (len(TOKENS) + 1) and finish == "stop"
    # events arrive as the upstream sends them (~0.45 s apart from first to last), not
    # all at once after the whole stream was held back
    assert times[-1] - times[0] >= 0.3
    toxic = (await api.client.get("/proxies/p/toxics/json_corrupt_downstream")).json()
    assert toxic["stats"] == {"seen": 1, "affected": 1}


# 4 -- json_corrupt through content encodings; affected counts real changes --------------


def _encoded_app(coding: str) -> object:
    """An ASGI app answering one JSON document encoded with ``coding`` (always)."""
    import brotli
    import zstandard

    body = json.dumps({"predictions": [{"label": "a", "score": 0.9}]}).encode()
    encoded = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
        "zstd": zstandard.compress,
    }[coding](body)

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        headers = [
            (b"content-type", b"application/json"),
            (b"content-encoding", coding.encode()),
            (b"content-length", b"%d" % len(encoded)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": encoded})  # type: ignore[operator]

    return app


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
async def test_json_corrupt_sees_through_content_encodings(api: Api, coding: str) -> None:
    async with serve_asgi(_encoded_app(coding)) as addr:
        host, port = await api.proxy(addr, http=True)
        await api.toxic(
            type="json_corrupt",
            attributes={"ops": [{"path": "predictions.*.score", "action": "null"}]},
        )
        await api.toxic(
            name="untouched",
            type="json_corrupt",
            attributes={"ops": [{"path": "no.such.key", "action": "null"}]},
        )
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            r = await client.get("/predict", headers={"accept-encoding": coding})
        assert r.headers["content-encoding"] == coding
        assert r.json() == {"predictions": [{"label": "a", "score": None}]}
        stats = {t["name"]: t["stats"] for t in (await api.client.get("/proxies/p/toxics")).json()}
        assert stats["json_corrupt_downstream"] == {"seen": 1, "affected": 1}
        assert stats["untouched"] == {"seen": 1, "affected": 0}  # changed nothing


async def test_openai_sdk_gets_the_corrupted_gzip_answer(api: Api) -> None:
    """The SDK asks for gzip; a server that honours it gets its answer corrupted anyway."""
    async with serve_asgi(_encoded_app("gzip")) as addr:
        host, port = await api.proxy(addr, http=True)
        await api.toxic(
            type="json_corrupt",
            attributes={"ops": [{"path": "predictions.0.label", "action": "wrong_type"}]},
        )
        client = openai.AsyncOpenAI(
            base_url=f"http://{host}:{port}", api_key="k", max_retries=0, timeout=10
        )
        doc = await client.get("/predict", cast_to=object)
        await client.close()
        assert doc == {"predictions": [{"label": 0, "score": 0.9}]}


# 5 -- a clean cut does not spill into the next request ------------------------------------


async def test_a_stream_ended_early_does_not_delay_the_next_request(
    api: Api, sdk: openai.AsyncOpenAI, llm: LlmUpstream
) -> None:
    llm.interval_s = 0.12  # the whole stream would take ~1.2 s
    await api.toxic(
        type="stream_cut", attributes={"after_events": 2, "mode": "end", "path": "/v1/chat/*"}
    )
    contents, _, finish = await _stream(sdk)
    assert contents == [TOKENS[0]] and finish is None  # a 200 that just stopped
    start = time.perf_counter()
    models = await sdk.models.list()
    assert [m.id for m in models.data] == ["gpt-local"]
    assert time.perf_counter() - start < 0.6  # not behind the abandoned stream's ~1 s rest


async def test_midstream_error_preset_does_not_delay_the_next_request(
    api: Api, base_url: str, llm: LlmUpstream
) -> None:
    """httpx reads the preset's stream to its clean end, then reuses its pool."""
    llm.interval_s = 0.12
    await api.toxic(
        type="stream_cut",
        attributes={"after_events": 2, "preset": "openai_midstream_error", "path": "/v1/chat/*"},
    )
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        async with client.stream("POST", "/chat/completions", json=body) as r:
            lines = [line async for line in r.aiter_lines() if line]
        assert r.status_code == 200 and len(lines) == 3
        assert json.loads(lines[-1].removeprefix("data: "))["error"]["type"] == "server_error"
        start = time.perf_counter()
        assert (await client.get("/models")).status_code == 200
        assert time.perf_counter() - start < 0.6  # the stream's rest would take ~1 s


# 6 -- a preset reads back with the status it answers ---------------------------------------


async def test_preset_toxic_reads_back_its_status(api: Api, base_url: str) -> None:
    body = await api.toxic(type="http_error", attributes={"preset": "openai_rate_limit"})
    assert body["attributes"]["status"] == 429  # type: ignore[index]
    got = (await api.client.get("/proxies/p/toxics/http_error_downstream")).json()
    assert got["attributes"]["status"] == 429
    r = await api.client.post(
        "/proxies/p/toxics/http_error_downstream",
        json={"attributes": {"preset": "openai_overloaded"}},
    )
    assert r.status_code == 200 and r.json()["attributes"]["status"] == 503
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base_url}/models")).status_code == 503
    r = await api.client.post(
        "/proxies/p/toxics",
        json={
            "name": "x",
            "type": "http_error",
            "attributes": {"preset": "openai_rate_limit", "status": 500},
        },
    )
    assert r.status_code == 400 and "conflicts with preset" in r.json()["error"]
