"""Stream toxics on the Anthropic Messages API, as the official ``anthropic`` SDK sees them.

The upstream speaks Anthropic's SSE format (``event: message_start`` ...
``content_block_delta`` ... ``message_stop``); an "event" for ``after_events`` is one SSE
event of any type, so the text deltas start after three (message_start,
content_block_start, ping).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
import pytest

from tests.proxy.conftest import Api
from tests.proxy.llm_upstream import TEXT, TOKENS, LlmUpstream

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def claude(api: Api, llm: LlmUpstream) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The SDK pointed at a proxy in front of the local provider (no retries)."""
    host, port = await api.proxy(llm.addr, http=True)
    async with anthropic.AsyncAnthropic(
        base_url=f"http://{host}:{port}", api_key="sk-ant-test", max_retries=0, timeout=10
    ) as client:
        yield client


async def _stream(client: anthropic.AsyncAnthropic) -> tuple[list[str], list[float], Any]:
    """Text deltas, their arrival times (from the request), and the stop reason seen."""
    texts: list[str] = []
    times: list[float] = []
    stop = None
    start = time.perf_counter()
    stream = await client.messages.create(
        model="claude-local", max_tokens=64, messages=MESSAGES, stream=True
    )
    async for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            texts.append(event.delta.text)
            times.append(time.perf_counter() - start)
        elif event.type == "message_delta":
            stop = event.delta.stop_reason
    return texts, times, stop


async def test_passthrough_streamed_and_whole(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(model="claude-local", max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert message.stop_reason == "end_turn"
    texts, _, stop = await _stream(claude)
    assert texts == TOKENS and stop == "end_turn"


async def test_stream_stall_delays_the_first_token(
    api: Api, claude: anthropic.AsyncAnthropic
) -> None:
    await _stream(claude)  # warm: the baseline is not a cold first request
    _, base, _ = await _stream(claude)
    await api.toxic(type="stream_stall", attributes={"after_events": 3, "stall_ms": 400})
    texts, times, stop = await _stream(claude)
    assert texts == TOKENS and stop == "end_turn"  # all of it, late
    assert times[0] >= 0.4 > base[0]
    assert times[-1] - times[0] < 0.4  # one stall, before the first token only


async def test_stream_cut_close_raises_the_transport_error_mid_stream(
    api: Api, claude: anthropic.AsyncAnthropic
) -> None:
    await api.toxic(type="stream_cut", attributes={"after_events": 5, "mode": "close"})
    texts: list[str] = []
    # not an anthropic.APIError: the SDK lets its HTTP client's error out of the iteration
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        stream = await claude.messages.create(
            model="claude-local", max_tokens=64, messages=MESSAGES, stream=True
        )
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                texts.append(event.delta.text)
    assert texts == TOKENS[:2]


async def test_stream_cut_end_raises_nothing_and_leaves_no_stop_reason(
    api: Api, claude: anthropic.AsyncAnthropic
) -> None:
    await api.toxic(type="stream_cut", attributes={"after_events": 5, "mode": "end"})
    texts, _, stop = await _stream(claude)
    assert texts == TOKENS[:2] and stop is None  # callers must check stop_reason


async def test_json_corrupt_rewrites_each_text_delta(
    api: Api, claude: anthropic.AsyncAnthropic
) -> None:
    ops = [{"path": "delta.text", "action": "set", "value": "#"}]
    await api.toxic(type="json_corrupt", attributes={"ops": ops})
    texts, _, stop = await _stream(claude)
    assert texts == ["#"] * len(TOKENS) and stop == "end_turn"  # message_delta has no text


# -- presets: what Anthropic sends when it fails ---------------------------------------


def _sdk(listen: tuple[str, int], retries: int) -> anthropic.AsyncAnthropic:
    host, port = listen
    return anthropic.AsyncAnthropic(
        base_url=f"http://{host}:{port}", api_key="sk-ant-test", max_retries=retries, timeout=10
    )


async def test_overloaded_is_529_overloaded_error(api: Api, llm: LlmUpstream) -> None:
    listen = await api.proxy(llm.addr)
    await api.toxic(type="http_error", attributes={"preset": "anthropic_overloaded"})
    async with _sdk(listen, 0) as client:
        with pytest.raises(anthropic.OverloadedError) as info:
            await client.messages.create(model="claude-local", max_tokens=8, messages=MESSAGES)
    exc = info.value
    assert exc.status_code == 529 and exc.request_id == "req_011CAichaosChaosProxy0001"
    assert exc.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011CAichaosChaosProxy0001",
    }
    toxic = (await api.client.get("/proxies/p/toxics/http_error_downstream")).json()
    assert toxic["attributes"]["status"] == 529  # reads back as what it answers
    assert llm.arrivals == []


async def test_rate_limit_headers_as_anthropic_sends_them(api: Api, llm: LlmUpstream) -> None:
    listen = await api.proxy(llm.addr)
    await api.toxic(
        type="http_error", attributes={"preset": "anthropic_rate_limit", "retry_after_s": 1.5}
    )
    async with _sdk(listen, 0) as client:
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model="claude-local", max_tokens=8, messages=MESSAGES)
    exc = info.value
    assert exc.status_code == 429
    assert isinstance(exc.body, dict) and exc.body["error"]["type"] == "rate_limit_error"
    headers = exc.response.headers
    assert headers["retry-after"] == "2"  # whole seconds, rounded up; no retry-after-ms
    assert "retry-after-ms" not in headers
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    reset = datetime.fromisoformat(headers["anthropic-ratelimit-requests-reset"])
    assert 0 < (reset - datetime.now(UTC)).total_seconds() <= 2.5
    assert int(headers["anthropic-ratelimit-output-tokens-remaining"]) > 0


@pytest.mark.slow
async def test_sdk_waits_retry_after_before_the_retry_reaches_the_upstream(
    api: Api, llm: LlmUpstream
) -> None:
    listen = await api.proxy(llm.addr)
    # only the first attempt is refused (the SDK numbers its attempts in a header)
    await api.toxic(
        type="http_error",
        attributes={
            "preset": "anthropic_rate_limit",
            "retry_after_s": 1,
            "headers": {"x-stainless-retry-count": "0"},
        },
    )
    async with _sdk(listen, 2) as client:
        start = time.perf_counter()
        message = await client.messages.create(
            model="claude-local", max_tokens=8, messages=MESSAGES
        )
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    (arrival,) = llm.arrivals
    assert arrival.headers["x-stainless-retry-count"] == "1"
    assert 1.0 <= arrival.t - start < 1.5  # retry-after honoured, measured at the upstream


@pytest.mark.slow
async def test_overloaded_retries_back_off_then_raise(api: Api, llm: LlmUpstream) -> None:
    listen = await api.proxy(llm.addr)
    await api.toxic(
        type="http_error",
        attributes={
            "preset": "anthropic_overloaded",
            "headers": {"x-stainless-retry-count": "[01]"},
        },
    )
    async with _sdk(listen, 2) as client:
        start = time.perf_counter()
        await client.messages.create(model="claude-local", max_tokens=8, messages=MESSAGES)
    (arrival,) = llm.arrivals  # the third attempt got through
    assert arrival.headers["x-stainless-retry-count"] == "2"
    # no retry-after on a 529: the SDK backs off 0.5 s then 1 s, each less up to 25 % jitter
    assert 0.375 + 0.75 <= arrival.t - start < 1.5 + 0.5
    toxic = (await api.client.get("/proxies/p/toxics/http_error_downstream")).json()
    assert toxic["stats"] == {"seen": 2, "affected": 2}  # seen: requests it matched

    await api.client.post(
        "/proxies/p/toxics/http_error_downstream", json={"attributes": {"headers": {}}}
    )
    async with _sdk(listen, 1) as client:
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(model="claude-local", max_tokens=8, messages=MESSAGES)
    assert len(llm.arrivals) == 1  # both attempts answered by the proxy
