"""The load generator sees the streams the proxy's ``stream_cut`` toxic breaks.

A real chain on 127.0.0.1: the generator -> the chaos proxy -> the local OpenAI-compatible
provider streaming eight tokens. What is asserted is what the generator observed.
"""

from __future__ import annotations

import json

import pytest

from aichaos.load.spec import LoadSpec, run_load
from tests.proxy.conftest import Api
from tests.proxy.llm_upstream import LlmUpstream

BODY = json.dumps(
    {"model": "gpt-local", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
)


@pytest.mark.parametrize(
    ("attributes", "reset", "incomplete", "first_tokens"),
    [
        (None, False, False, 10),
        ({"after_events": 4, "mode": "end"}, False, True, 10),  # a 200 that simply stops
        ({"after_events": 4, "mode": "close"}, True, True, 10),  # the connection dropped
        # an in-band error chunk before any token (after_events defaults to 0)
        ({"preset": "openai_midstream_error"}, False, True, 0),
        # [DONE] dropped, finish_reason kept: the answer did end properly
        ({"preset": "openai_no_done"}, False, False, 10),
    ],
)
async def test_the_generator_counts_what_stream_cut_did(
    api: Api,
    llm: LlmUpstream,
    attributes: dict[str, object] | None,
    reset: bool,
    incomplete: bool,
    first_tokens: int,
) -> None:
    host, port = await api.proxy(llm.addr, http=True)
    if attributes is not None:
        await api.toxic(type="stream_cut", attributes=attributes)
    spec = LoadSpec(
        url=f"http://{host}:{port}/v1/chat/completions",
        rate_rps=20,
        method="POST",
        body=BODY,
        headers={"Content-Type": "application/json"},
    )
    total = (await run_load(spec, duration_s=0.5)).total
    s = total.stream
    assert total.sent == 10 and s.streams == 10, total.metrics()
    assert total.errors["reset"] == (10 if reset else 0)
    assert s.incomplete == (10 if incomplete else 0)
    assert total.metrics()["incomplete_stream_rate"] == (1.0 if incomplete else 0.0)
    assert s.ttft.count == first_tokens  # a stream cut after its first token still shows it
