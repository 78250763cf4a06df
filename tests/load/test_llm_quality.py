"""LLM answer quality on labelled prompts, against a local provider whose every answer is
known: each rate asserted exactly, whole and streamed, OpenAI and Anthropic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aichaos.load.llm_answer import read_answer
from aichaos.load.llm_quality import LlmQualitySettings, LlmQualityTracker, grounded, passages
from aichaos.load.quality import QualityWindow, quality_metrics
from aichaos.load.spec import LoadSpec, run_load, validated
from aichaos.proxy.server import ApiSite, ProxyApp
from tests.load.llm_app import make_scripted_llm
from tests.proxy.conftest import serve_asgi
from tests.proxy.llm_upstream import (
    TEXT,
    TOKENS,
    TOOL_ARGS_TEXT,
    _anthropic_json,
    _openai_json,
    anthropic_events,
    openai_events,
)

CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"
WEATHER = {
    "name": "get_weather",
    "description": "the forecast",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}
OPENAI_TOOLS = [{"type": "function", "function": WEATHER}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": WEATHER["parameters"]}]
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
    "required": ["city", "temp"],
}


def line(
    path: str, stream: bool, script: dict[str, Any], expect: Any = None, **body: Any
) -> dict[str, Any]:
    """One JSONL prompt: the request (with its script) and what the answer should be."""
    request = {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": stream}
    out: dict[str, Any] = {"path": path, "body": {**request, **body, "script": script}}
    if expect is not None:
        out["expect"] = expect
    return out


def write(tmp_path: Path, lines: list[dict[str, Any]]) -> str:
    p = tmp_path / "prompts.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(p)


async def run_once(url: str, body_file: str, n: int, quality: dict[str, Any]) -> dict[str, float]:
    """Send each of the ``n`` prompts once; the run's figures."""
    rate = 50.0
    spec = validated(
        LoadSpec,
        url=url,
        method="POST",
        rate_rps=rate,
        body_file=body_file,
        window_s=30.0,
        quality=quality,
    )
    gen = await run_load(spec, duration_s=(n - 0.5) / rate)
    m: dict[str, float] = gen.total.metrics()
    assert m["sent"] == n and m["completed"] == n and m["error_rate"] == 0.0
    return m


# -- reading answers (pure logic, on the proxy tests' provider's exact wire format) ----


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(_openai_json(False)).encode(),
        json.dumps(_anthropic_json(False)).encode(),
        b"".join(openai_events(False)),
        b"".join(anthropic_events(False)),
    ],
    ids=["openai", "anthropic", "openai-stream", "anthropic-stream"],
)
def test_text_answers_are_assembled(body: bytes) -> None:
    ans = read_answer(body)
    assert ans is not None and ans.text == TEXT and not ans.tool_calls and not ans.refused


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(_openai_json(True)).encode(),
        json.dumps(_anthropic_json(True)).encode(),
        b"".join(openai_events(True)),
        b"".join(anthropic_events(True)),
    ],
    ids=["openai", "anthropic", "openai-stream", "anthropic-stream"],
)
def test_tool_call_fragments_are_assembled(body: bytes) -> None:
    ans = read_answer(body)
    assert ans is not None and len(ans.tool_calls) == 1
    call = ans.tool_calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == json.loads(TOOL_ARGS_TEXT)


@pytest.mark.parametrize(
    "body",
    [
        b"".join(openai_events(False)[:-2]),  # no finish_reason, no [DONE]
        b"".join(anthropic_events(False)[:-1]),  # no message_stop
        b"".join(openai_events(False)[:3]) + b'data: {"error": {"message": "overloaded"}}\n\n',
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error"}}\n\n',
        b'{"prediction": 1}',
        b"not json",
    ],
    ids=["openai-cut", "anthropic-cut", "openai-error", "anthropic-error", "other", "text"],
)
def test_no_complete_answer_is_none(body: bytes) -> None:
    assert read_answer(body) is None


# -- every rate, exactly ---------------------------------------------------------------


async def test_each_rate_on_labelled_prompts(tmp_path: Path) -> None:
    schema_tool = {"tools": OPENAI_TOOLS}
    lines = [
        # answer_accuracy: 3 of 6 right
        line(CHAT, False, {"text": "Paris."}, "paris"),
        line(CHAT, True, {"text": "The capital is Rome"}, {"exact": "Rome"}),
        line(MESSAGES, True, {"text": "Answer: 42"}, {"regex": r"\b42\b"}),
        line(CHAT, False, {"malformed": True}, {"exact": "x"}),
        line(CHAT, False, {"text": "Paris", "headers": {"x-aichaos-fallback": "b"}}, "paris"),
        line(CHAT, True, {"text": "Paris", "cut": True}, "paris"),
        # schema_valid_rate: 1 of 2 (a fenced answer is read inside its fence)
        line(CHAT, True, {"text": '{"city": "Paris", "temp": 21}'}, {"json_schema": CITY}),
        line(MESSAGES, False, {"text": '```json\n{"city": 3}\n```'}, {"json_schema": CITY}),
        # tool_call_valid_rate: 1 of 2
        line(
            CHAT,
            True,
            {"tool": ["get_weather", '{"city": "Paris", "days": 3}']},
            {"tool_call": "get_weather"},
            **schema_tool,
        ),
        line(
            MESSAGES,
            True,
            {"tool": ["get_weather", '{"days": 3}']},
            {"tool_call": True},
            tools=ANTHROPIC_TOOLS,
        ),
        # refusal_rate: a refusal in words, and one the provider flags
        line(CHAT, False, {"text": "I'm sorry, but I can't help with that."}),
        line(MESSAGES, False, {"refusal": True}),
    ]
    async with serve_asgi(make_scripted_llm()) as addr:
        m = await run_once(f"http://{addr}/", write(tmp_path, lines), 12, {"task": "llm"})
    assert m["answer_accuracy"] == 3 / 6
    assert m["schema_valid_rate"] == 1 / 2
    assert m["tool_call_valid_rate"] == 1 / 2
    assert m["refusal_rate"] == 2 / 12
    assert m["fallback_rate"] == 1 / 12
    # wrong, malformed, cut, bad schema, bad tool call: 200 OK every one
    assert m["silent_failures"] == 5 and m["silent_failure_rate"] == 5 / 12
    assert "groundedness" not in m and m["errors"] == 0


async def test_groundedness_and_requested_structured_output(tmp_path: Path) -> None:
    doc1 = [{"id": "doc-1", "text": "Paris is the capital and largest city of France."}]
    fair = ["The Eiffel Tower was finished in 1889 for the World\u2019s Fair."]
    lines = [
        line(CHAT, False, {"text": "Paris is the capital [doc-1].", "retrieved": doc1}),
        line(
            CHAT,
            True,
            {"text": "The guide says it was finished in 1889, for the fair.", "retrieved": fair},
        ),
        line(CHAT, False, {"text": "It was built in 1900 [doc-9].", "retrieved": doc1}),
        line(CHAT, False, {"text": "Paris."}),  # the retriever returned nothing
        line(MESSAGES, False, {"text": "See [doc-5].", "headers": {"x-passages": "doc-4,doc-5"}}),
        line(CHAT, False, {"text": "Hello"}, {"grounded": False}),
        # structured output the request asks for is checked without an expectation
        line(
            CHAT,
            True,
            {"text": '{"city": "Paris", "temp": 21}'},
            {"grounded": False},
            response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": CITY}},
        ),
        line(
            CHAT,
            False,
            {"text": "Paris"},
            {"grounded": False},
            response_format={"type": "json_object"},
        ),
    ]
    quality = {
        "task": "llm",
        "passages_path": "$.retrieved",
        "passages_header": "x-passages",
        "grounded_min_words": 5,
    }
    async with serve_asgi(make_scripted_llm()) as addr:
        m = await run_once(f"http://{addr}/", write(tmp_path, lines), 8, quality)
    assert m["groundedness"] == 3 / 5
    assert m["schema_valid_rate"] == 1 / 2
    assert m["silent_failure_rate"] == 3 / 8
    assert m["refusal_rate"] == 0 and m["fallback_rate"] == 0
    assert "answer_accuracy" not in m and "tool_call_valid_rate" not in m


# -- the silent failure the rates exist for: 200 OK, well-formed, wrong ----------------


@pytest.mark.slow
async def test_corrupt_json_and_tool_args_through_the_proxy_are_silent_failures(
    tmp_path: Path,
) -> None:
    """json_corrupt and tool_args_corrupt in the real proxy: every answer still arrives
    200 OK and parses, error_rate stays 0, the schema and tool-call rates fall to 0."""
    answer = '{"city": "Paris", "temp": 21}'
    args = '{"city": "Paris", "days": 3}'
    lines = [
        line(CHAT, stream, {"text": answer}, {"json_schema": CITY}) for stream in (False, True)
    ] + [
        line(CHAT, stream, {"tool": ["get_weather", args]}, {"tool_call": True}, tools=OPENAI_TOOLS)
        for stream in (False, True)
    ]
    body_file = write(tmp_path, lines)
    app = ProxyApp(seed=7)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    try:
        async with (
            serve_asgi(make_scripted_llm()) as addr,
            httpx.AsyncClient(base_url=site.url, timeout=10) as api,
        ):
            r = await api.post(
                "/proxies", json={"name": "llm", "upstream": addr, "listen": "127.0.0.1:0"}
            )
            assert r.status_code == 201, r.text
            url = f"http://{r.json()['listen']}/"
            healthy = await run_once(url, body_file, 4, {"task": "llm"})
            assert healthy["schema_valid_rate"] == 1 and healthy["tool_call_valid_rate"] == 1
            assert healthy["silent_failure_rate"] == 0
            ops = [
                {"path": "$.choices[*].message.content", "action": "set", "value": "{}"},
                {"path": "$.choices[*].delta.content", "action": "set", "value": "{}"},
            ]
            toxics = [
                {"type": "json_corrupt", "attributes": {"ops": ops}},
                {"type": "tool_args_corrupt", "attributes": {"action": "drop_key", "key": "city"}},
            ]
            for toxic in toxics:
                r = await api.post("/proxies/llm/toxics", json=toxic)
                assert r.status_code == 200, r.text
            broken = await run_once(url, body_file, 4, {"task": "llm"})
    finally:
        await site.stop()
        await app.close()
    # run_once asserted 4 responses and error_rate == 0: only the quality rates see it
    assert broken["schema_valid_rate"] == 0 and broken["tool_call_valid_rate"] == 0
    assert broken["silent_failure_rate"] == 1 and broken["errors"] == 0


def test_passages_are_ids_or_texts() -> None:
    # a string without whitespace is an id (the RAG demo's `rag.passages`), else a text
    assert passages(["doc-1", "Paris is in France."]) == ({"doc-1"}, ["Paris is in France."])
    assert passages("doc-1, doc-2") == ({"doc-1", "doc-2"}, [])
    assert passages('[{"id": 3, "content": "a b"}, {"text": "c d"}]') == ({"3"}, ["a b", "c d"])
    assert passages(None) == (set(), []) and passages("[not json") == (set(), [])
    assert grounded("As [doc-2; doc-7] say", {"doc-7"}, [], 8)
    assert not grounded("As [doc-2] says", {"doc-7"}, ["a much longer passage text"], 3)


def test_llm_counts_merge_and_round_trip() -> None:
    # how windows of several generator processes meet: JSON, then merged
    a = QualityWindow(responses=2, silent=1)
    a.llm.update({"answer_accuracy": 1, "answer_accuracy_n": 2, "refusal_rate_n": 2})
    b = QualityWindow(responses=2)
    b.llm.update({"answer_accuracy": 2, "answer_accuracy_n": 2, "refusal_rate_n": 2})
    merged = QualityWindow.from_json(json.loads(json.dumps(a.to_json())))
    merged.merge(QualityWindow.from_json(json.loads(json.dumps(b.to_json()))))
    m = quality_metrics(merged, None)
    assert m["answer_accuracy"] == 3 / 4 and m["refusal_rate"] == 0
    assert m["silent_failure_rate"] == 1 / 4 and "groundedness" not in m


def test_content_type_names_a_stream_and_nothing_else_is_trusted() -> None:
    t = LlmQualityTracker(LlmQualitySettings(task="llm"))
    whole = json.dumps(_openai_json(False)).encode()
    events = b"".join(openai_events(False))
    t.observe(0, None, False, whole, False, {"content-type": "text/plain"})
    t.observe(1, None, False, events, False, {})
    t.observe(2, None, False, whole, False, {"content-type": "text/event-stream"})
    w = t.take()
    assert w.responses == 3 and w.silent == 1  # a JSON body is no event stream


def _response(output: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    """An OpenAI Responses API answer (``object: response``)."""
    return {"id": "resp_1", "object": "response", "status": status, "output": output}


_SAID = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": TEXT}]}
_CALLED = {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"}
_REFUSED = {"type": "message", "content": [{"type": "refusal", "refusal": "No."}]}


def _responses_stream(whole: dict[str, Any], end: str = "response.completed") -> bytes:
    events = [
        {"type": "response.created", "response": {**whole, "status": "in_progress", "output": []}},
        *({"type": "response.output_text.delta", "output_index": 0, "delta": t} for t in TOKENS),
        {"type": end, "response": whole},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def test_responses_api_answers() -> None:
    for body in (
        json.dumps(_response([_SAID, _CALLED])).encode(),
        _responses_stream(_response([_SAID, _CALLED])),
    ):
        ans = read_answer(body)
        assert ans is not None and ans.text == TEXT and not ans.refused
        assert [(c.name, c.arguments) for c in ans.tool_calls] == [("get_weather", "{}")]
    refused = read_answer(json.dumps(_response([_REFUSED])).encode())
    assert refused is not None and refused.refused
    # a stream that failed or never completed, and a failed response, hold no answer
    assert read_answer(_responses_stream(_response([_SAID]), "response.failed")) is None
    assert read_answer(json.dumps(_response([_SAID], "failed")).encode()) is None
    assert read_answer(json.dumps(_response([_SAID])).encode(), api="anthropic") is None


def test_a_null_error_field_is_no_error() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]}
    ans = read_answer(f"data: {json.dumps({**chunk, 'error': None})}\n\n".encode())
    assert ans is not None and ans.text == "a"
