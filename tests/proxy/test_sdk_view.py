"""What each HTTP toxic looks like to the openai SDK (the rows of docs/proxy.md's table)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from tests.proxy.conftest import Api
from tests.proxy.llm_upstream import TOKENS, LlmUpstream

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def sdk(api: Api, llm: LlmUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    host, port = await api.proxy(llm.addr, http=True)
    client = openai.AsyncOpenAI(
        base_url=f"http://{host}:{port}/v1", api_key="k", max_retries=0, timeout=2
    )
    yield client
    await client.close()


async def _stream(sdk: openai.AsyncOpenAI) -> tuple[list[str], str | None, BaseException | None]:
    contents: list[str] = []
    finish = None
    try:
        stream = await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                contents.append(chunk.choices[0].delta.content)
            if chunk.choices:
                finish = chunk.choices[0].finish_reason or finish
    except Exception as exc:
        return contents, finish, exc
    return contents, finish, None


@pytest.mark.parametrize(
    ("attributes", "tokens", "finish", "error"),
    [
        ({"after_events": 3}, 2, None, openai.APIConnectionError),
        ({"after_events": 3, "mode": "end"}, 2, None, None),
        ({"after_events": 3, "preset": "openai_midstream_error"}, 2, None, openai.APIError),
        ({"preset": "openai_no_done"}, len(TOKENS), "stop", None),
    ],
    ids=["close", "end", "midstream_error", "no_done"],
)
async def test_stream_cut_as_the_sdk_sees_it(
    api: Api,
    sdk: openai.AsyncOpenAI,
    attributes: dict[str, object],
    tokens: int,
    finish: str | None,
    error: type[BaseException] | None,
) -> None:
    await api.toxic(type="stream_cut", attributes=attributes)
    contents, got_finish, exc = await _stream(sdk)
    assert len(contents) == tokens and got_finish == finish
    if error is None:
        assert exc is None
    else:
        assert isinstance(exc, error), repr(exc)


async def test_stall_longer_than_the_read_timeout_is_a_timeout(
    api: Api, sdk: openai.AsyncOpenAI
) -> None:
    await api.toxic(type="stream_stall", attributes={"after_events": 2, "stall_ms": 5000})
    start = time.perf_counter()
    contents, _, exc = await _stream(sdk)
    assert contents == TOKENS[:1]
    assert isinstance(exc, httpx.ReadTimeout | openai.APITimeoutError), repr(exc)
    assert time.perf_counter() - start < 4


async def test_truncate_is_a_connection_error(api: Api, sdk: openai.AsyncOpenAI) -> None:
    await api.toxic(type="truncate", attributes={"bytes": 20})
    with pytest.raises(openai.APIConnectionError):
        await sdk.chat.completions.create(model="m", messages=MESSAGES)


async def test_json_corrupt_reaches_the_sdk_objects_unvalidated(
    api: Api, sdk: openai.AsyncOpenAI
) -> None:
    await api.toxic(
        type="json_corrupt",
        attributes={"ops": [{"path": "choices.0.message.content", "action": "wrong_type"}]},
    )
    completion = await sdk.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == 0  # type: ignore[comparison-overlap]


@pytest.mark.parametrize(
    ("preset", "error", "code"),
    [
        ("openai_rate_limit", openai.RateLimitError, "rate_limit_exceeded"),
        ("openai_overloaded", openai.InternalServerError, None),
        ("openai_server_error", openai.InternalServerError, None),
        ("openai_context_length", openai.BadRequestError, "context_length_exceeded"),
    ],
)
async def test_error_presets_as_the_sdk_sees_them(
    api: Api,
    sdk: openai.AsyncOpenAI,
    preset: str,
    error: type[openai.APIStatusError],
    code: str | None,
) -> None:
    await api.toxic(type="http_error", attributes={"preset": preset})
    with pytest.raises(error) as info:
        await sdk.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.code == code


async def test_first_byte_delay_past_the_timeout_is_a_timeout(
    api: Api, sdk: openai.AsyncOpenAI
) -> None:
    await api.toxic(type="http_delay", attributes={"first_byte_ms": 5000})
    with pytest.raises(openai.APITimeoutError):
        await sdk.chat.completions.create(model="m", messages=MESSAGES)
