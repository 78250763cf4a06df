"""Bad LLM quality settings and bad expectations: one clear error naming the field (and
the JSONL line), through the Python API, ``aichaos load`` and an experiment file."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aichaos.cli import cli
from aichaos.errors import ValidationError
from aichaos.load.quality import LLM_RATES
from aichaos.load.requests import parse_url
from aichaos.load.spec import LoadSpec, build_source, validated
from tests.load.llm_app import make_scripted_llm
from tests.load.servers import ThreadedUvicorn

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]

BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"task": "llm", "refusal_patern": ["x"]}, "quality.refusal_patern is not a known field"),
    (
        {"task": "llm", "refusal_patterns": ["ok", "(unclosed"]},
        "quality.refusal_patterns[1] is not a valid regular expression (missing ), "
        "unterminated subpattern at position 0), got '(unclosed'",
    ),
    ({"task": "llm", "fallback_patterns": ["["]}, "quality.fallback_patterns[0] is not a valid"),
    ({"task": "llm", "fallback_header": "x fallback"}, "quality.fallback_header must match"),
    ({"task": "llm", "passages_path": "retrieved"}, "quality.passages_path must start with '$'"),
    ({"task": "llm", "grounded_min_words": 0}, "quality.grounded_min_words must be >= 1, got 0"),
    ({"task": "llm", "api": "gemini"}, "quality.api input should be 'auto', 'openai' or"),
    ({"task": "llm", "tools": [{"parameters": {}}]}, "quality.tools[0].name must be a tool's name"),
    ({"task": "llm", "tools": []}, "quality.tools must be a non-empty list of tools, got []"),
    (
        {"task": "llm", "tools": [{"name": "f", "parameters": {"type": "objekt"}}]},
        "quality.tools[0].parameters is not a valid JSON schema at type: 'objekt' is not valid",
    ),
    (
        {"task": "llm", "tools": [{"name": "f"}, {"name": "f"}]},
        "quality.tools[1].name names tool 'f' a second time",
    ),
    ({"task": "llm", "json_path": "$.x"}, "quality.json_path is not a known field"),
]


@pytest.mark.parametrize(("quality", "message"), BAD_SETTINGS)
def test_bad_settings(quality: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validated(LoadSpec, url="http://127.0.0.1:9/", rate_rps=1, quality=quality)
    assert message in str(info.value)


def _prompt(expect: Any, **body: Any) -> dict[str, Any]:
    return {"body": {"model": "m", "messages": [], **body}, "expect": expect}


BAD_LINES: list[tuple[dict[str, Any], str]] = [
    (_prompt({"regex": "(?P<x"}), "line 3: expect.regex is not a valid regular expression"),
    (_prompt({"exct": "Paris"}), "line 3: expect.exct is not a known field (did you mean"),
    (_prompt({"exact": 3}), "line 3: expect.exact must be a string or a list of strings, got 3"),
    (
        _prompt({"json_schema": {"type": "objekt"}}),
        "line 3: expect.json_schema is not a valid JSON schema at type: 'objekt' is not valid",
    ),
    (_prompt({"tool_call": True}), "line 3: expect.tool_call needs the tool list"),
    (
        _prompt({"tool_call": "get_wether"}, tools=TOOLS),
        "line 3: expect.tool_call names 'get_wether', which is not a known tool "
        "(did you mean 'get_weather'?)",
    ),
    (
        _prompt({}, tools=[{"function": {"name": ""}}]),
        "line 3: tools[0].function.name must be a tool's name (a non-empty string), got ''",
    ),
    (_prompt({"grounded": True}), "line 3: expect.grounded needs quality.passages_path"),
    (_prompt(["Paris"]), "line 3: expect must be an object or a string, got ['Paris']"),
    (
        _prompt({}, response_format={"type": "json_schema", "json_schema": {"schema": []}}),
        "line 3: response_format.json_schema.schema must be a JSON schema (an object), got []",
    ),
]


def _jsonl(tmp_path: Path, bad: dict[str, Any]) -> str:
    good = _prompt({"exact": "Paris"})
    p = tmp_path / "prompts.jsonl"
    # the blank line counts: errors name the line of the file
    p.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    return str(p)


@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_bad_expectations_name_the_line(tmp_path: Path, bad: dict[str, Any], message: str) -> None:
    path = _jsonl(tmp_path, bad)
    spec = validated(
        LoadSpec, url="http://127.0.0.1:9/", rate_rps=1, body_file=path, quality={"task": "llm"}
    )
    with pytest.raises(ValidationError) as info:
        build_source(spec, parse_url(spec.url), random.Random(0))
    assert f"body_file {path!r} {message}" in str(info.value)


def test_expectations_under_expected_key_when_it_is_renamed(tmp_path: Path) -> None:
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({"body": {}, "want": {"regex": "("}}) + "\n")
    spec = validated(
        LoadSpec,
        url="http://127.0.0.1:9/",
        rate_rps=1,
        body_file=str(p),
        expected_key="want",
        quality={"task": "llm"},
    )
    with pytest.raises(ValidationError, match=r"line 1: expect\.regex"):
        build_source(spec, parse_url(spec.url), random.Random(0))


# -- through `aichaos load` (exit 2, one error line, nothing sent) -----------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--quality", '{"task": "llm", "refusal_patterns": ["("]}'],
            "quality.refusal_patterns[0]",
        ),
        (["--quality", "{task: llm}"], "--quality must be a JSON object (Expecting"),
        (["--quality", "[1]"], "--quality must be a JSON object, got '[1]'"),
        (["--llm", "--json-path", "$.x"], "--json-path and --llm: give one way"),
    ],
)
def test_cli_bad_quality_flags(args: list[str], message: str) -> None:
    res = CliRunner().invoke(cli, ["load", "http://127.0.0.1:9/", "--rate", "1", *args])
    assert res.exit_code == 2, res.output
    assert res.output.count("error:") == 1 and message in res.output


def test_cli_bad_expectation_names_the_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, _prompt({"regex": "(?P<x"}))
    # the file is read before the first request: no server is needed to refuse it
    res = CliRunner().invoke(
        cli, ["load", "http://127.0.0.1:9/", "--rate", "1", "--llm", "--body", path]
    )
    assert res.exit_code == 2
    assert res.output.count("error:") == 1
    assert "line 3: expect.regex is not a valid regular expression" in res.output


# -- through an experiment file ------------------------------------------------------------


def _experiment(tmp_path: Path, quality: str, slo: str, body_file: str = "") -> Path:
    exp = tmp_path / "exp.yaml"
    body = f"body_file: {body_file}, " if body_file else ""
    exp.write_text(f"""
title: llm answers
targets:
  llm: {{type: http, url: "http://127.0.0.1:9"}}
workload: {{type: http, target: llm, method: POST, rate_rps: 5, {body}quality: {quality}}}
steady_state: [{slo}]
method:
  - {{fault: {{type: python-callable, apply: "os:getpid"}}, duration_s: 1}}
""")
    return exp


def _aichaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichaos.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_experiment_settings_and_metric_names(tmp_path: Path) -> None:
    def validate(quality: str, slo: str) -> Any:
        return CliRunner().invoke(cli, ["validate", str(_experiment(tmp_path, quality, slo))])

    res = validate('{task: llm, refusal_patterns: ["("]}', "load.answer_accuracy > 0.9")
    assert res.exit_code == 2
    assert "workload.quality.refusal_patterns[0] (line 5): is not a valid regular" in res.output
    res = validate("{task: llm}", "load.answer_acuracy > 0.9")
    assert (
        res.exit_code == 2
        and "no metric 'answer_acuracy' (did you mean 'answer_accuracy'?)" in res.output
    )
    res = validate("{json_path: $.p}", "load.groundedness > 0.9")  # a model-quality workload
    assert res.exit_code == 2 and "load.groundedness" in res.output
    names = [*LLM_RATES, "silent_failure_rate"]
    res = validate("{task: llm}", ", ".join(f"load.{n} >= 0" for n in names))
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_experiment_bad_expectation_is_a_preflight_problem(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, _prompt({"json_schema": {"type": "objekt"}}))
    exp = _experiment(tmp_path, "{task: llm}", "load.schema_valid_rate > 0.9", path)
    res = _aichaos("run", "--dry-run", str(exp))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "line 3: expect.json_schema is not a valid JSON schema" in res.stdout + res.stderr


def test_cli_judges_llm_answers_and_refuses_a_server_that_gives_none(tmp_path: Path) -> None:
    good = {"body": {"model": "m", "script": {"text": "Paris."}}, "expect": "paris"}
    wrong = {"body": {"model": "m", "stream": True, "script": {"text": "Rome"}}, "expect": "paris"}
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(wrong) + "\n")
    malformed = tmp_path / "m.jsonl"
    malformed.write_text(json.dumps({"body": {"script": {"malformed": True}}}) + "\n")
    args = ["--rate", "20", "--duration", "0.2s", "--window", "10s", "--llm", "--json"]
    with ThreadedUvicorn(make_scripted_llm()) as server:
        url = f"{server.url}/v1/chat/completions"
        res = CliRunner().invoke(cli, ["load", url, *args, "--body", str(p)])
        assert res.exit_code == 0, res.output
        total = json.loads(res.output)["total"]
        # four prompts sent, the wrong one (streamed) twice: accuracy exactly one half
        assert total["sent"] == 4 and total["answer_accuracy"] == 0.5
        assert total["silent_failure_rate"] == 0.5 and total["error_rate"] == 0
        res = CliRunner().invoke(cli, ["load", url, *args, "--body", str(malformed)])
    assert res.exit_code == 2 and res.output.count("error:") == 1
    assert "quality task llm is set but" in res.output
    assert "with no complete OpenAI or Anthropic answer" in res.output
