"""The SSE / chunked token parser, fed the way httptools feeds it: any byte split."""

from __future__ import annotations

import json

import pytest

from aichaos.load.stream import CHUNKED, PLAIN, SSE, StreamTracker

from .stream_server import plan


def _openai(usage: int | None = None, tokens: int = 4) -> bytes:
    q = {"usage": str(usage)} if usage is not None else {}
    head, toks, tail = plan(q, tokens)
    return head + b"".join(toks) + tail


def _anthropic(usage: int | None = None) -> bytes:
    q = {"shape": "anthropic", **({"usage": str(usage)} if usage is not None else {})}
    head, toks, tail = plan(q, 4)
    return head + b"".join(toks) + tail


def _feed(pieces: list[bytes], kind: bytes = b"text/event-stream") -> StreamTracker:
    t = StreamTracker()
    t.header(b"Content-Type", kind)
    for i, p in enumerate(pieces):
        t.body(p, float(i + 1))  # clock readings are never 0
    return t


def _every_split(body: bytes) -> list[list[bytes]]:
    return [[body[:i], body[i:]] for i in range(1, len(body))]


@pytest.mark.parametrize("crlf", [False, True])
def test_openai_stream_at_every_split(crlf: bool) -> None:
    body = _openai(usage=9)
    if crlf:
        body = body.replace(b"\n", b"\r\n")
    for pieces in [[body], *_every_split(body)]:
        t = _feed(pieces)
        # the role-only first delta is not a token; the four content deltas are
        assert len(t.token_times) == 4, pieces
        assert t.complete and t.tokens == 9 and t.from_usage


def test_role_only_delta_is_not_the_first_token() -> None:
    head, toks, tail = plan({}, 2)
    t = _feed([head, toks[0], toks[1] + tail])
    assert t.token_times == [2.0, 3.0]  # piece 1 (the role alone) did not count


def test_anthropic_stream_usage_last_wins_and_message_stop_completes() -> None:
    body = _anthropic(usage=7)
    for pieces in [[body], *_every_split(body)[::7]]:
        t = _feed(pieces)
        assert len(t.token_times) == 4 and t.complete
        assert t.tokens == 7  # message_start said 1, message_delta says 7


def test_counts_events_without_usage_and_end_markers() -> None:
    t = _feed([_openai(tokens=3)])
    assert (t.tokens, t.from_usage, t.complete) == (3, False, True)
    cut = _openai(tokens=3).split(b'data: {"id": "c1", "object": "chat.completion.chunk", "model"')
    t = _feed([b'data: {"id": "c1", "object": "chat.completion.chunk", "model"'.join(cut[:3])])
    assert not t.complete and len(t.token_times) == 1


@pytest.mark.parametrize(
    ("events", "tokens", "complete"),
    [
        ([b"data: hello", b"data: world"], 2, False),  # plain SSE: no end marker
        ([b"data: hello", b"data: [DONE]"], 1, True),
        ([b": keep-alive", b"data: a", b"event: x"], 1, False),  # comments, no data
        ([b"data: a\ndata: b"], 1, False),  # two data lines, one event
        ([b'data: {"choices":[{"delta":{"content":null},"finish_reason":"length"}]}'], 0, True),
        ([b'data: {"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}'], 1, True),
        # text that mentions an end marker is a token, not an end
        ([b'data: {"choices":[{"delta":{"content":"message_stop"}}]}'], 1, False),
        ([b'data: {"type": "response.output_text.delta", "delta": "Hi"}'], 1, False),
        ([b'event: response.completed\ndata: {"type": "response.completed"}'], 0, True),
        ([b'data: {"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}'], 1, False),
        ([b'data: {"type": "ping"}'], 0, False),
    ],
)
def test_event_classification(events: list[bytes], tokens: int, complete: bool) -> None:
    t = _feed([b"\n\n".join(events) + b"\n\n"])
    assert (len(t.token_times), t.complete) == (tokens, complete)


def test_content_type_and_chunk_framing_decide_the_kind() -> None:
    t = StreamTracker()
    t.header(b"content-type", b"TEXT/EVENT-STREAM; charset=utf-8")
    assert t.kind == SSE
    t.reset()
    t.header(b"Content-Type", b"application/json")
    assert t.kind == PLAIN and not t.streamed
    t.chunk_header()
    t.body(b"tok", 1.0)
    t.chunk_complete()
    t.chunk_header()  # the terminating zero-length chunk is no token
    t.chunk_complete()
    t.message_complete(lambda: 2.0)
    assert t.kind == CHUNKED and t.token_times == [1.0] and t.complete


def test_an_event_without_end_overflows_instead_of_growing() -> None:
    t = _feed([b"data: " + b"x" * (1 << 20), b"y" * 16])
    assert t.overflow and not t.complete


def test_plain_body_first_byte_is_the_first_token() -> None:
    t = _feed([json.dumps({"a": 1}).encode(), b" "], kind=b"application/json")
    assert (t.first_byte, t.started, t.token_times) == (1.0, True, [])
    t = StreamTracker()
    t.message_complete(lambda: 3.0)  # no body at all: the whole answer is the token
    assert t.first_byte == 3.0


def test_stream_windows_merge_and_round_trip_json_exactly() -> None:
    """Generator processes ship windows as JSON; the streaming figures merge exactly."""
    from aichaos.load.stats import WindowStats
    from aichaos.load.streamstats import StreamWindow

    def window(offset: float, good: int | None) -> WindowStats:
        w = WindowStats(duration_s=1.0, sent=2, completed=2)
        w.stream = StreamWindow(good=good)
        t = _feed([_openai(usage=5)])
        t.token_times = [offset + 0.05 + 0.01 * i for i in range(4)]
        w.stream.response(t, offset, offset + 0.2, 200, None)
        w.stream.failure(_feed([_openai(tokens=2)[:80]]), offset)
        w.stream.inflight_ttft_us = [123]
        return w

    a, b = window(10.0, 1), window(20.0, None)
    again = WindowStats.from_json(json.loads(json.dumps(a.to_json())))
    assert again.stream.to_json() == a.stream.to_json() and again.metrics() == a.metrics()
    merged = WindowStats().merge(a, inflight=True).merge(b, inflight=True)
    s = merged.stream
    assert (s.streams, s.incomplete, s.output_tokens, s.usage_tokens, s.good) == (4, 2, 10, 10, 1)
    assert s.ttft.count == 2 and s.itl.count == 6 and s.tpot.count == 2 and s.e2e.count == 2
    assert s.inflight_ttft_us == [123, 123]
    assert merged.distributions()["ttft_ms"].count == 4  # the in-flight ages count in
    assert merged.metrics()["incomplete_stream_rate"] == 0.5


def test_events_read_together_have_zero_gaps_counted_each() -> None:
    from aichaos.load.streamstats import StreamWindow

    w = StreamWindow()
    t = _feed([_openai(tokens=3)])  # one read: three tokens at one time
    t.token_times = [1.0, 1.0, 1.0, 1.5, 1.5]
    w.response(t, 0.5, 1.6, 200, None)
    assert w.itl.count == 4 and w.itl.count_at_or_above_ms(1) == 1  # one gap of 500 ms
    assert w.itl.min_ms == 0.001  # zero, at the histogram's 1 µs floor
