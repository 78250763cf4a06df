"""The faults of today's LLM APIs, as the official ``openai`` and ``anthropic`` SDKs see them.

token_rate (TPOT rises, TTFT holds), json_corrupt inside stream events and tool calls,
tool_args_corrupt (truncated JSON, a wrong type, a missing key), early_stop (a
well-formed answer that ends with ``length`` / ``content_filter``), and Anthropic's
in-stream ``event: error``. Everything is asserted from the client's side.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest

from tests.proxy.conftest import Api
from tests.proxy.llm_upstream import TEXT, TOKENS, TOOL_ARGS, TOOL_ARGS_TEXT, LlmUpstream

MESSAGES: Any = [{"role": "user", "content": "weather?"}]
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string"},
                    "days": {"type": "integer"},
                },
                "required": ["city", "unit", "days"],
            },
        },
    }
]
CLAUDE_TOOLS: Any = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]


@pytest.fixture
async def gpt(api: Api, llm: LlmUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    host, port = await api.proxy(llm.addr, http=True)
    async with openai.AsyncOpenAI(
        base_url=f"http://{host}:{port}/v1", api_key="sk-test", max_retries=0, timeout=10
    ) as client:
        yield client


@pytest.fixture
async def claude(api: Api, gpt: openai.AsyncOpenAI) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The anthropic SDK on the same proxy as ``gpt``."""
    async with anthropic.AsyncAnthropic(
        base_url=str(gpt.base_url).removesuffix("/v1/"),
        api_key="sk-ant-test",
        max_retries=0,
        timeout=10,
    ) as client:
        yield client


async def _gpt_stream(client: openai.AsyncOpenAI, **kw: Any) -> dict[str, Any]:
    """Tokens, their times from the request, finish reason and tool-call argument pieces."""
    seen: dict[str, Any] = {"tokens": [], "times": [], "finish": None, "args": []}
    start = time.perf_counter()
    stream = await client.chat.completions.create(
        model="gpt-local", messages=MESSAGES, stream=True, **kw
    )
    async for chunk in stream:
        choice = chunk.choices[0]
        if choice.delta.content:
            seen["tokens"].append(choice.delta.content)
            seen["times"].append(time.perf_counter() - start)
        for call in choice.delta.tool_calls or ():
            if call.function is not None and call.function.arguments:
                seen["args"].append(call.function.arguments)
        seen["finish"] = choice.finish_reason or seen["finish"]
    return seen


async def _claude_stream(client: anthropic.AsyncAnthropic) -> dict[str, Any]:
    seen: dict[str, Any] = {"tokens": [], "times": [], "stop": None}
    start = time.perf_counter()
    stream = await client.messages.create(
        model="claude-local", max_tokens=64, messages=MESSAGES, stream=True
    )
    async for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            seen["tokens"].append(event.delta.text)
            seen["times"].append(time.perf_counter() - start)
        elif event.type == "message_delta":
            seen["stop"] = event.delta.stop_reason
    return seen


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# -- token_rate ------------------------------------------------------------------------


async def test_token_rate_raises_tpot_and_keeps_ttft(
    api: Api, gpt: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    await _gpt_stream(gpt)  # warm: the baseline is not a cold first request
    base = await _gpt_stream(gpt)
    toxic = await api.toxic(type="token_rate", attributes={"tokens_per_s": 10, "jitter_ms": 10})
    slow = await _gpt_stream(gpt)
    assert slow["tokens"] == TOKENS and slow["finish"] == "stop"
    # time to first token holds (a held first token would be 100 ms late)
    assert slow["times"][0] < base["times"][0] + 0.06
    gaps = _gaps(slow["times"])
    # 100 ms ± 10 ms per token, read by a client that shares this loop: one late read
    # shortens the next gap, so the median and the mean are asserted, not the minimum
    assert statistics.median(gaps) >= 0.088
    assert 0.085 <= statistics.mean(gaps) < 0.13
    assert max(_gaps(base["times"])) < 0.09  # the upstream alone is faster

    claude_slow = await _claude_stream(claude)  # the Anthropic format is paced the same
    assert claude_slow["tokens"] == TOKENS and claude_slow["stop"] == "end_turn"
    assert statistics.median(_gaps(claude_slow["times"])) >= 0.088
    stats = (await api.client.get(f"/proxies/p/toxics/{toxic['name']}")).json()["stats"]
    assert stats == {"seen": 2, "affected": 2}


async def test_token_rate_leaves_whole_answers_alone(api: Api, gpt: openai.AsyncOpenAI) -> None:
    await api.toxic(type="token_rate", attributes={"tokens_per_s": 1})
    start = time.perf_counter()
    done = await gpt.chat.completions.create(model="gpt-local", messages=MESSAGES)
    assert done.choices[0].message.content == TEXT and time.perf_counter() - start < 0.5
    assert (await api.client.get("/proxies/p/toxics/token_rate_downstream")).json()["stats"][
        "affected"
    ] == 0


# -- json_corrupt inside stream events -------------------------------------------------


async def test_json_corrupt_rewrites_each_content_delta_without_holding_the_stream(
    api: Api, gpt: openai.AsyncOpenAI, llm: LlmUpstream
) -> None:
    llm.interval_s = 0.05
    ops = [{"path": "choices.*.delta.content", "action": "set", "value": "#"}]
    await api.toxic(type="json_corrupt", attributes={"ops": ops})
    seen = await _gpt_stream(gpt)
    # every token, and the role chunk's empty content too
    assert seen["tokens"] == ["#"] * (len(TOKENS) + 1) and seen["finish"] == "stop"
    # event by event, as the upstream sends them 50 ms apart: a buffered stream would
    # arrive all at once
    assert statistics.median(_gaps(seen["times"])) >= 0.04


async def test_json_corrupt_on_streamed_tool_call_arguments(
    api: Api, gpt: openai.AsyncOpenAI
) -> None:
    ops = [{"path": "choices.*.delta.tool_calls.*.function.arguments", "action": "wrong_type"}]
    await api.toxic(type="json_corrupt", attributes={"ops": ops})
    # each fragment is now a number: what the SDK hands over, unvalidated
    stream = await gpt.chat.completions.create(
        model="gpt-local", messages=MESSAGES, tools=TOOLS, stream=True
    )
    pieces = [
        call.function.arguments
        async for chunk in stream
        for call in chunk.choices[0].delta.tool_calls or ()
        if call.function is not None
    ]
    assert pieces and all(p == 0 for p in pieces)


# -- tool_args_corrupt -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "check"),
    [
        ({"action": "truncate"}, None),
        ({"action": "wrong_type", "key": "days"}, {**TOOL_ARGS, "days": "3"}),
        ({"action": "wrong_type"}, {**TOOL_ARGS, "city": 0}),
        ({"action": "drop_key", "key": "unit"}, {"city": "Paris", "days": 3}),
    ],
)
async def test_tool_args_corrupt_in_whole_and_streamed_openai_answers(
    api: Api, gpt: openai.AsyncOpenAI, attrs: dict[str, Any], check: Any
) -> None:
    await api.toxic(type="tool_args_corrupt", attributes=attrs)
    done = await gpt.chat.completions.create(model="gpt-local", messages=MESSAGES, tools=TOOLS)
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    whole = call.function.arguments  # type: ignore[union-attr]
    streamed = await _gpt_stream(gpt, tools=TOOLS)
    assert streamed["finish"] == "tool_calls"
    for text in (whole, "".join(streamed["args"])):
        if check is None:
            assert text == TOOL_ARGS_TEXT[: len(TOOL_ARGS_TEXT) // 2]
            with pytest.raises(json.JSONDecodeError):
                json.loads(text)
        else:
            assert json.loads(text) == check
    stats = (await api.client.get("/proxies/p/toxics/tool_args_corrupt_downstream")).json()
    assert stats["stats"] == {"seen": 2, "affected": 2}


async def test_tool_args_corrupt_in_anthropic_answers(
    api: Api, claude: anthropic.AsyncAnthropic
) -> None:
    await api.toxic(type="tool_args_corrupt", attributes={"action": "drop_key", "key": "city"})
    message = await claude.messages.create(
        model="claude-local", max_tokens=64, messages=MESSAGES, tools=CLAUDE_TOOLS
    )
    block = message.content[0]
    assert block.type == "tool_use" and block.input == {"unit": "celsius", "days": 3}
    async with claude.messages.stream(
        model="claude-local", max_tokens=64, messages=MESSAGES, tools=CLAUDE_TOOLS
    ) as stream:
        final = await stream.get_final_message()
    block = final.content[0]
    assert block.type == "tool_use" and block.input == {"unit": "celsius", "days": 3}
    assert final.stop_reason == "tool_use"

    await api.client.post(
        "/proxies/p/toxics/tool_args_corrupt_downstream",
        json={"attributes": {"action": "truncate", "key": None}},
    )
    message = await claude.messages.create(
        model="claude-local", max_tokens=64, messages=MESSAGES, tools=CLAUDE_TOOLS
    )
    assert message.content[0].input == TOOL_ARGS  # type: ignore[union-attr]  # an object: kept
    stream2 = await claude.messages.create(
        model="claude-local", max_tokens=64, messages=MESSAGES, tools=CLAUDE_TOOLS, stream=True
    )
    partial = [
        e.delta.partial_json
        async for e in stream2
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert partial == [TOOL_ARGS_TEXT[: len(TOOL_ARGS_TEXT) // 2]]


# -- early_stop ------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["length", "content_filter"])
async def test_early_stop_openai_stream_and_whole(
    api: Api, gpt: openai.AsyncOpenAI, reason: str
) -> None:
    await api.toxic(type="early_stop", attributes={"after_tokens": 3, "finish_reason": reason})
    seen = await _gpt_stream(gpt)  # no exception: the SDK sees a normal end
    assert seen["tokens"] == TOKENS[:3] and seen["finish"] == reason
    start = time.perf_counter()
    done = await gpt.chat.completions.create(model="gpt-local", messages=MESSAGES)
    assert time.perf_counter() - start < 0.5  # the abandoned stream spilled into nothing
    assert done.choices[0].message.content == "Hello, world from "
    assert done.choices[0].finish_reason == reason
    assert done.usage is not None and done.usage.completion_tokens == 3


async def test_early_stop_anthropic_stream_and_whole(
    api: Api, claude: anthropic.AsyncAnthropic
) -> None:
    await api.toxic(
        type="early_stop", attributes={"after_tokens": 2, "finish_reason": "content_filter"}
    )
    seen = await _claude_stream(claude)
    assert seen["tokens"] == TOKENS[:2] and seen["stop"] == "refusal"
    async with claude.messages.stream(
        model="claude-local", max_tokens=64, messages=MESSAGES
    ) as stream:
        final = await stream.get_final_message()  # well-formed: the helper completes
    assert final.stop_reason == "refusal" and final.content[0].text == "Hello,"  # type: ignore[union-attr]
    message = await claude.messages.create(model="claude-local", max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == "Hello, world "  # type: ignore[union-attr]
    assert message.stop_reason == "refusal" and message.usage.output_tokens == 2


async def test_early_stop_shorter_answers_pass_unchanged(api: Api, gpt: openai.AsyncOpenAI) -> None:
    await api.toxic(type="early_stop", attributes={"after_tokens": 100})
    seen = await _gpt_stream(gpt)
    assert seen["tokens"] == TOKENS and seen["finish"] == "stop"
    done = await gpt.chat.completions.create(model="gpt-local", messages=MESSAGES)
    assert done.choices[0].message.content == TEXT
    stats = (await api.client.get("/proxies/p/toxics/early_stop_downstream")).json()["stats"]
    assert stats == {"seen": 2, "affected": 0}


# -- Anthropic's in-stream error -------------------------------------------------------


async def test_anthropic_midstream_error_raises_after_the_tokens_sent(
    api: Api, claude: anthropic.AsyncAnthropic
) -> None:
    await api.toxic(
        type="stream_cut", attributes={"after_events": 5, "preset": "anthropic_midstream_error"}
    )
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        stream = await claude.messages.create(
            model="claude-local", max_tokens=64, messages=MESSAGES, stream=True
        )
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                texts.append(event.delta.text)
    assert texts == TOKENS[:2]
    assert info.value.status_code == 200  # the stream had started: no other status exists
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_tool_args_corrupt_composes_and_never_loses_arguments(
    api: Api, gpt: openai.AsyncOpenAI
) -> None:
    # a first toxic removes finish_reason: the held arguments go out before [DONE]
    drop = [{"path": "choices.*.finish_reason", "action": "drop"}]
    await api.toxic(name="nofinish", type="json_corrupt", attributes={"ops": drop})
    await api.toxic(type="tool_args_corrupt", attributes={"action": "drop_key", "key": "days"})
    seen = await _gpt_stream(gpt, tools=TOOLS)
    assert seen["finish"] is None
    assert json.loads("".join(seen["args"])) == {"city": "Paris", "unit": "celsius"}
    # a key the arguments do not have: nothing to break, the arguments arrive as sent
    await api.client.post(
        "/proxies/p/toxics/tool_args_corrupt_downstream", json={"attributes": {"key": "nope"}}
    )
    seen = await _gpt_stream(gpt, tools=TOOLS)
    assert json.loads("".join(seen["args"])) == TOOL_ARGS
    stats = (await api.client.get("/proxies/p/toxics/tool_args_corrupt_downstream")).json()
    assert stats["stats"] == {"seen": 2, "affected": 1}
