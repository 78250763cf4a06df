"""One error formatter: the same bad value reads the same in every kind of spec.

A table: three mistakes (a negative value for a field that must be positive, an unknown
key, a value of the wrong type), each given to a fault, a probe, a target and a workload in
an experiment file, to a data corruption, to a toxic's attributes through the proxy API, to
the in-process control endpoint's body and to a load spec. Every one reads the same words
after the field's name.
"""

from __future__ import annotations

import asyncio
import copy
import json
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aichaos.data import make
from aichaos.errors import ExperimentError, Problem
from aichaos.experiment.loader import parse_experiment
from aichaos.inprocess import ControlServer, Hook, Switchboard
from aichaos.load.spec import LoadSpec, validated
from aichaos.proxy.server import ApiSite, ProxyApp
from aichaos.validation import SpecError, format_path, house_form

TOKEN = "t" * 32

#: a valid experiment; each kind's row changes one of its specs
EXPERIMENT: dict[str, Any] = {
    "title": "one phrasing",
    "targets": {
        "app": {"type": "process", "pid": 1},
        "api": {"type": "http", "url": "http://127.0.0.1:9"},
    },
    "probes": {"health": {"type": "http", "target": "api"}},
    "workload": {"type": "http", "target": "api", "rate_rps": 1},
    "method": [{"fault": {"type": "memory-pressure", "size_mb": 1}, "duration_s": 1}],
}
IN_FILE = {  # kind -> (where its spec is in EXPERIMENT, a positive field of it)
    "fault": (("method", 0, "fault"), "size_mb"),
    "probe": (("probes", "health"), "every_s"),
    "target": (("targets", "app"), "pid"),
    "workload": (("workload",), "window_s"),
}


def _in_file(kind: str, field: str, value: Any) -> str:
    where, _ = IN_FILE[kind]
    data = copy.deepcopy(EXPERIMENT)
    spec: Any = data
    for part in where:
        spec = spec[part]
    spec[field] = value
    with pytest.raises(ExperimentError) as info:
        parse_experiment(json.dumps(data))  # JSON is YAML
    found = {p.path: p.message for p in info.value.problems}
    return found[format_path((*where, field))]


def _corruption(field: str, value: Any) -> str:
    with pytest.raises(SpecError) as info:
        make("gaussian-noise", **{field: value})
    (problem,) = info.value.problems
    assert str(info.value) == f"{field} {problem.message} (gaussian-noise)"
    return problem.message


def _toxic(field: str, value: Any) -> str:
    async def post() -> httpx.Response:
        app = ProxyApp(seed=1)
        site = ApiSite(app, "127.0.0.1", 0)
        await site.start()
        try:
            async with httpx.AsyncClient(base_url=site.url, timeout=10) as client:
                body = {"name": "p", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}
                assert (await client.post("/proxies", json=body)).status_code == 201
                attributes = {"tokens_per_s": 5, field: value}
                toxic = {"name": "t", "type": "token_rate", "attributes": attributes}
                return await client.post("/proxies/p/toxics", json=toxic)
        finally:
            await site.stop()
            await app.close()

    r = asyncio.run(post())
    assert r.status_code == 400, r.text
    return _between(r.json()["error"], f"bad request body: {field} ", " (toxic t)")


@pytest.fixture(scope="module")
def control() -> Iterator[ControlServer]:
    board = Switchboard()
    Hook("predict", board=board)
    server = ControlServer(board, token=TOKEN).start()
    yield server
    server.close()


def _control(server: ControlServer, field: str, value: Any) -> str:
    r = httpx.post(
        f"{server.url}/faults/predict",
        content=json.dumps({"ttl_s": 5, field: value}),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert r.status_code == 400, r.text
    return _between(r.json()["error"], f"{field} ", " (body)")


def _load_spec(field: str, value: Any) -> str:
    with pytest.raises(SpecError) as info:
        validated(LoadSpec, **{"url": "http://127.0.0.1:9/", "rate_rps": 1, field: value})
    return _between(str(info.value), f"{field} ", "")


def _between(text: str, head: str, tail: str) -> str:
    assert text.startswith(head) and text.endswith(tail), (text, head, tail)
    return text[len(head) : len(text) - len(tail)]


Say = Callable[[str, Any], str]


def _kinds(control: ControlServer) -> dict[str, tuple[Say, str, str]]:
    """kind -> (how a mistake is given, a field that must be > 0, its type's word)."""
    kinds: dict[str, tuple[Say, str, str]] = {
        kind: (lambda f, v, k=kind: _in_file(k, f, v), field, "number")
        for kind, (_, field) in IN_FILE.items()
    }
    kinds["target"] = (kinds["target"][0], "pid", "integer")
    kinds["corruption"] = (_corruption, "scale", "number")
    kinds["toxic"] = (_toxic, "tokens_per_s", "number")
    kinds["control body"] = (lambda f, v: _control(control, f, v), "ttl_s", "number")
    kinds["load spec"] = (_load_spec, "rate_rps", "number")
    return kinds


KINDS = [*IN_FILE, "corruption", "toxic", "control body", "load spec"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_negative_value_reads_the_same(kind: str, control: ControlServer) -> None:
    say, field, _ = _kinds(control)[kind]
    assert say(field, -5) == "must be > 0, got -5"


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_key_reads_the_same(kind: str, control: ControlServer) -> None:
    say, field, _ = _kinds(control)[kind]
    message = say("bogus", 1)
    assert message.startswith("is not a known field; known: "), message
    assert field in message.removeprefix("is not a known field; known: ").split(", ")


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_type_reads_the_same(kind: str, control: ControlServer) -> None:
    say, field, word = _kinds(control)[kind]
    assert say(field, [1]) == f"input should be a valid {word}, got [1]"


def test_spec_error_keeps_problems_structured() -> None:
    err = SpecError([Problem("latency_ms", "must be >= 0, got -5")], "method[1].fault")
    assert str(err) == "latency_ms must be >= 0, got -5 (method[1].fault)"
    assert [p.under("method[1].fault").path for p in err.problems] == ["method[1].fault.latency_ms"]
    assert house_form(Problem("", "is required")) == "is required"
    assert format_path(("method", 1, "fault")) == "method[1].fault"


def test_model_level_problems_arrive_structured_with_their_lines() -> None:
    text = textwrap.dedent(
        """
        title: references
        method:
          - fault: {type: process-pause}
            target: nowhere
            duration_s: 1
        """
    )
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text)
    (problem,) = [p for p in info.value.problems if p.path == "method[0].target"]
    assert problem.message.startswith("unknown target 'nowhere'")
    assert problem.line == 5
