"""The one JSON path dialect: probes and quality take one value, json_corrupt every match."""

from __future__ import annotations

import random
from typing import Any

import pytest

from aichaos.errors import ValidationError
from aichaos.jsonpath import WILDCARD, JsonPath
from aichaos.proxy.toxics.json_corrupt import CorruptOp, apply_ops, compile_path

DOC: dict[str, Any] = {
    "choices": [
        {"delta": {"content": "a"}},
        {"delta": {"role": "x"}},
        {"delta": {"content": "c"}},
    ],
    "usage": {"in": 1, "out": 2},
}


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("$.choices[*].delta.content", ["a", "c"]),
        ("$.choices.*.delta.content", ["a", "c"]),
        ("$.choices[-1].delta.content", ["c"]),
        ("$.choices[0].delta.content", ["a"]),
        ("$.usage.*", [1, 2]),
        ("$.usage[*]", [1, 2]),
        ("$.choices[7].delta", []),
        ("$.choices[-4].delta", []),
        ("$.missing[*]", []),
        ("$.usage[0]", []),  # an index names nothing in an object
        ("$.choices.delta", []),  # a key names nothing in a list
        ("$", []),  # the root has no container
    ],
)
def test_slots_name_every_match(path: str, values: list[Any]) -> None:
    slots = JsonPath.parse(path, many=True).slots(DOC)
    assert [container[key] for container, key in slots] == values


def test_a_quoted_star_is_a_key_not_a_wildcard() -> None:
    path = JsonPath.parse("$['*']", many=True)
    assert path.parts == ("*",) and path.parts[0] is not WILDCARD
    assert [c[k] for c, k in path.slots({"*": 1, "b": 2})] == [1]


@pytest.mark.parametrize("path", ["$.a[*]", "$.a.*", "$.a[-1]"])
def test_one_value_paths_still_refuse_wildcards(path: str) -> None:
    with pytest.raises(ValidationError, match="is not understood"):
        JsonPath.parse(path)


@pytest.mark.parametrize(
    ("dotted", "jsonpath"),
    [
        ("choices.*.delta.content", "$.choices[*].delta.content"),
        ("$.choices.*.delta.content", "$.choices[*].delta.content"),
        ("choices.-1.delta", "$.choices[-1].delta"),
        ("$.choices.0.delta", "$.choices[0].delta"),
        ("usage", "$.usage"),
        ("weird-key name", "$['weird-key name']"),
    ],
)
def test_dot_paths_convert_to_the_same_path(dotted: str, jsonpath: str) -> None:
    assert compile_path(dotted).parts == JsonPath.parse(jsonpath, many=True).parts


@pytest.mark.parametrize("bad", ["a..b", "a.", ".a", "$[x]", "$.a[", "$$"])
def test_bad_corrupt_paths_are_refused_at_validation(bad: str) -> None:
    with pytest.raises(ValueError, match="path"):
        CorruptOp(path=bad, action="null")


def _run(path: str, action: str, **kw: Any) -> Any:
    doc = {
        "predictions": [{"score": 0.5, "label": "a"}, {"score": 0.25, "label": "b"}],
        "meta": {"n": 2},
    }
    op = CorruptOp.model_validate({"path": path, "action": action, **kw})
    return apply_ops(doc, [op], random.Random(1))


@pytest.mark.parametrize("path", ["predictions.*.score", "$.predictions[*].score"])
def test_both_syntaxes_rewrite_every_match(path: str) -> None:
    got = _run(path, "scale", factor=2)
    assert [p["score"] for p in got["predictions"]] == [1.0, 0.5]


def test_drop_removes_every_matching_list_item() -> None:
    got = _run("predictions.*", "drop")
    assert got["predictions"] == []
    got = _run("$.predictions[-1]", "drop")
    assert got["predictions"] == [{"score": 0.5, "label": "a"}]
    got = _run("$.predictions[*].label", "drop")
    assert got["predictions"] == [{"score": 0.5}, {"score": 0.25}]


def test_a_root_path_acts_on_the_whole_document() -> None:
    assert _run("$", "set", value={"x": 1}) == {"x": 1}
