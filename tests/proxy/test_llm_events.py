"""The LLM event vocabulary (pure logic) and the new toxics' bad-input table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichaos.proxy.llm_events import Budget, finish_events, parse_event, render_event, split_tokens
from aichaos.proxy.toxics.base import StageEnv
from tests.proxy.conftest import Api
from tests.proxy.llm_upstream import anthropic_events, openai_events


@given(st.text())
def test_split_tokens_joins_back_exactly(text: str) -> None:
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    assert all(t.strip() or t == text for t in tokens)  # whitespace alone only if all it is


@given(
    st.dictionaries(st.text(), st.integers() | st.text()),
    st.none() | st.sampled_from(["ping", "x"]),
)
def test_render_then_parse_round_trips(doc: dict[str, object], name: str | None) -> None:
    event = parse_event(render_event(doc, name))
    assert event.doc == doc and event.name == name


@pytest.mark.parametrize("tools", [False, True])
def test_token_events_of_both_formats(tools: bool) -> None:
    openai = [parse_event(e) for e in openai_events(tools)]
    anthropic = [parse_event(e) for e in anthropic_events(tools)]
    # OpenAI: role chunk, (tool head), tokens/fragments, finish, [DONE]
    assert [e.carries_tokens() for e in openai].count(True) == (4 if tools else 8)
    assert not openai[0].carries_tokens() and not openai[-1].carries_tokens()
    assert all(e.is_anthropic for e in anthropic)
    assert [e.name for e in anthropic if e.carries_tokens()] == ["content_block_delta"] * (
        4 if tools else 8
    )
    # a format not known here: every data event but [DONE]
    assert parse_event(b'data: {"token": "a"}\n\n').carries_tokens()
    assert not parse_event(b"data: [DONE]\n\n").carries_tokens()


def test_finish_events_are_well_formed() -> None:
    last = parse_event(openai_events(False)[3])
    chunk, done = finish_events(last, "length", [], 3)
    doc = parse_event(chunk).doc
    assert doc["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]
    assert doc["id"] == "chatcmpl-local1" and done == b"data: [DONE]\n\n"
    last = parse_event(anthropic_events(False)[4])
    names = [parse_event(e).name for e in finish_events(last, "content_filter", [0], 2)]
    assert names == ["content_block_stop", "message_delta", "message_stop"]
    delta = parse_event(finish_events(last, "content_filter", [0], 2)[1]).doc
    assert delta["delta"]["stop_reason"] == "refusal" and delta["usage"] == {"output_tokens": 2}
    assert finish_events(parse_event(b'data: {"t": 1}\n\n'), "length", [], 1) == []


def test_budget_spends_in_order() -> None:
    budget = Budget(3)
    first, second = {"t": "a b"}, {"t": "c d e"}
    assert not budget.cut_text(first, "t") and budget.cut_text(second, "t")
    assert (first["t"], second["t"], budget.used, budget.spent) == ("a b", "c ", 3, True)


@pytest.mark.parametrize(
    ("type_", "attrs", "message"),
    [
        ("token_rate", {}, "tokens_per_s is required"),
        ("token_rate", {"tokens_per_s": 0}, "tokens_per_s must be > 0, got 0"),
        ("token_rate", {"tokens_per_s": 5, "jitter_ms": -1}, "jitter_ms must be >= 0"),
        ("early_stop", {"after_tokens": -1}, "after_tokens must be >= 0"),
        (
            "early_stop",
            {"after_tokens": "3"},
            "after_tokens input should be a valid integer, got '3'",
        ),
        (
            "early_stop",
            {"after_tokens": 1, "finish_reason": "stop"},
            "finish_reason input should be",
        ),
        ("tool_args_corrupt", {"action": "explode"}, "action input should be"),
        (
            "tool_args_corrupt",
            {"action": "drop_key", "key": ""},
            "key string should have at least 1",
        ),
        ("stream_cut", {"preset": "anthropic_oops"}, "preset input should be"),
        ("http_error", {"preset": "anthropic_overloaded", "status": 500}, "conflicts with preset"),
    ],
)
async def test_bad_llm_toxic_attributes_are_one_clear_400(
    api: Api, type_: str, attrs: dict[str, object], message: str
) -> None:
    await api.proxy("127.0.0.1:9")
    r = await api.client.post("/proxies/p/toxics", json={"type": type_, "attributes": attrs})
    assert r.status_code == 400, r.text
    assert message in json.loads(r.text)["error"], r.text


# -- an upstream's JSON is read, never trusted: odd shapes pass, nothing raises -----------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_KEYS = st.sampled_from(
    [
        "choices",
        "delta",
        "message",
        "tool_calls",
        "function",
        "arguments",
        "content",
        "index",
        "type",
        "content_block",
        "partial_json",
        "input",
        "finish_reason",
        "text",
        "name",
    ]
)
_SHAPED = st.recursive(
    _JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=15,
)
_WRAPPERS = st.sampled_from(
    [
        {"object": "chat.completion.chunk"},
        {"object": "chat.completion"},
        {"type": "content_block_delta"},
        {"type": "content_block_start"},
        {"type": "content_block_stop"},
        {"type": "message"},
        {},
    ]
)


class _Head:
    def get(self, name: str) -> str | None:
        return None


class _Ex:
    """What the hooks may call on an exchange, without a connection."""

    response = _Head()
    ending: str | None = None

    def end(self) -> None:
        self.ending = "end"

    def close(self) -> None:
        self.ending = "close"


@settings(max_examples=80, deadline=None)
@given(_WRAPPERS, st.dictionaries(_KEYS, _SHAPED, max_size=4))
async def test_llm_toxics_never_raise_on_odd_json(
    wrapper: dict[str, Any], extra: dict[str, Any]
) -> None:
    import asyncio
    import random

    from aichaos.proxy.toxic import parse_toxic
    from aichaos.proxy.toxics.early_stop import _stop_whole

    doc = {**extra, **wrapper}
    event = render_event(doc, "x" if "type" in wrapper else None)
    assert isinstance(parse_event(event).carries_tokens(), bool)
    _stop_whole(json.loads(json.dumps(doc)), 1, "length")
    for body in (
        {"type": "token_rate", "attributes": {"tokens_per_s": 100_000}},
        {"type": "early_stop", "attributes": {"after_tokens": 0}},
        {"type": "tool_args_corrupt", "attributes": {"action": "wrong_type"}},
        {"type": "tool_args_corrupt", "attributes": {"action": "truncate"}},
    ):
        toxic = parse_toxic(body)
        env = StageEnv(asyncio.get_running_loop(), random.Random(0), None, toxic)  # type: ignore[arg-type]
        handler = toxic.attributes.handler(env)  # type: ignore[attr-defined]
        for _ in range(2):
            out = await handler.on_event(_Ex(), event)  # type: ignore[arg-type]
            assert all(isinstance(e, bytes) for e in out)
        await handler.on_event(_Ex(), b"data: [DONE]\n\n")  # type: ignore[arg-type]
        whole = json.dumps(doc).encode()
        assert isinstance(await handler.on_body(_Ex(), whole), bytes)  # type: ignore[arg-type]
