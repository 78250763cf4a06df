"""Experiment files: a good one round-trips; bad ones give one clear screen and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from aichaos.cli import cli
from aichaos.errors import ExperimentError
from aichaos.experiment.loader import load_experiment, parse_experiment
from aichaos.experiment.model import Experiment

GOOD = """\
title: Pause the feature worker
description: the model server must keep answering from its cache
tags: [serving, process]
seed: 42
targets:
  api: {type: http, url: "http://127.0.0.1:8000"}
  worker: {type: process, match: "feature-worker"}
probes:
  health: {type: http, target: api, path: /health}
steady_state:
  - health.ok == 1
  - all: ["p99(health.latency_ms) < 250 over 5s"]
method:
  - name: pause
    fault: {type: process-pause}
    target: worker
    start_s: 1
    duration_s: 10
guardrails:
  - health.latency_ms < 2000
rollbacks:
  - {type: http, target: api, method: POST, path: /admin/reset}
phases: {baseline_s: 2, recovery_s: 2}
safety: {max_duration_s: 120, guardrail_interval_s: 0.5}
"""

# (name, file text, a fragment the error must contain)
BAD: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "file is empty"),
    ("whitespace", "   \n\n", "file is empty"),
    ("binary", b"\x00\x01\x02\xff", "not a text file"),
    ("latin1", "title: caf\xe9".encode("latin-1"), "not UTF-8"),
    ("yaml syntax", "title: [unclosed\nmethod: x", "YAML syntax error"),
    ("yaml tabs", "title: t\n\tmethod: []", "YAML syntax error"),
    ("top-level list", "- a\n- b", "top level must be a mapping"),
    ("top-level scalar", "just text", "top level must be a mapping"),
    ("missing title", GOOD.replace("title: Pause the feature worker\n", ""), "is required"),
    ("empty title", GOOD.replace("title: Pause the feature worker", 'title: ""'), "title"),
    ("missing method", GOOD.split("method:")[0], "is required"),
    ("empty method", GOOD.split("method:")[0] + "method: []\n", "method"),
    ("unknown top field", GOOD + "colour: blue\n", "colour"),
    (
        "unknown fault",
        GOOD.replace("process-pause", "process-explode"),
        "unknown fault type 'process-explode'",
    ),
    ("fault without type", GOOD.replace("{type: process-pause}", "{name: x}"), "needs a 'type'"),
    (
        "unknown fault field",
        GOOD.replace("{type: process-pause}", "{type: process-pause, force: 3}"),
        "force",
    ),
    ("negative duration", GOOD.replace("duration_s: 10", "duration_s: -5"), "must be > 0"),
    ("negative start", GOOD.replace("start_s: 1", "start_s: -1"), "must be >= 0"),
    ("duration is text", GOOD.replace("duration_s: 10", "duration_s: ten"), "duration_s"),
    ("no duration no ramp", GOOD.replace("    duration_s: 10\n", ""), "duration_s"),
    ("missing target", GOOD.replace("    target: worker\n", ""), "needs a target"),
    ("unknown target", GOOD.replace("target: worker", "target: wrker"), "unknown target 'wrker'"),
    ("wrong target kind", GOOD.replace("target: worker", "target: api"), "acts on process"),
    ("bad target url", GOOD.replace('url: "http://127.0.0.1:8000"', "url: ftp://x"), "url"),
    (
        "process target two ways",
        GOOD.replace('match: "feature-worker"', "match: x, pid: 3"),
        "exactly one",
    ),
    ("bad regex", GOOD.replace('match: "feature-worker"', 'match: "(["'), "regex"),
    ("bad slo", GOOD.replace("health.ok == 1", "health.ok === 1"), "cannot parse SLO"),
    (
        "slo unknown source",
        GOOD.replace("health.ok == 1", "nosuch.ok == 1"),
        "no probe or workload",
    ),
    (
        "slo empty all",
        GOOD.replace('- all: ["p99(health.latency_ms) < 250 over 5s"]', "- all: []"),
        "SLO",
    ),
    (
        "fraction above 1",
        GOOD.replace(
            "    duration_s: 10\n", "    duration_s: 10\n    blast_radius: {fraction: 1.5}\n"
        ),
        "must be <= 1",
    ),
    (
        "ramp bad field",
        GOOD.replace(
            "    duration_s: 10\n", "    ramp: {field: latency_ms, values: [1, 2], hold_s: 1}\n"
        ),
        "ramp over field 'latency_ms', which fault 'process-pause' does not use",
    ),
    (
        "ramp empty",
        GOOD.replace("    duration_s: 10\n", "    ramp: {values: [], hold_s: 1}\n"),
        "values",
    ),
    ("plan too long", GOOD.replace("max_duration_s: 120", "max_duration_s: 5"), "the plan takes"),
    ("negative seed", GOOD.replace("seed: 42", "seed: -1"), "seed"),
    (
        "bad rollback type",
        GOOD.replace("{type: http, target: api", "{type: shell, target: api"),
        "rollbacks",
    ),
    (
        "rollback unknown target",
        GOOD.replace("{type: http, target: api", "{type: http, target: nope"),
        "unknown target 'nope'",
    ),
    (
        "probe unknown type",
        GOOD.replace("{type: http, target: api, path: /health}", "{type: smoke}"),
        "unknown probe type",
    ),
    (
        "missing env secret",
        GOOD.replace('url: "http://127.0.0.1:8000"', 'url: "${env:AICHAOS_TEST_UNSET_VAR}"'),
        "is not set",
    ),
    ("json syntax", '{"title": "t", "method": [', "YAML syntax error"),
]


def test_good_file_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "exp.yaml"
    p.write_text(GOOD)
    exp = load_experiment(p).experiment
    assert exp.method[0].fault.type == "process-pause"
    assert exp.planned_duration_s == 2 + 11 + 2
    # the journal, the API and the file share one form: dump -> validate gives the same
    again = Experiment.model_validate(json.loads(exp.model_dump_json()))
    assert again.model_dump() == exp.model_dump()


def test_json_file_is_accepted() -> None:
    data = yaml.safe_load(GOOD)
    assert parse_experiment(json.dumps(data)).experiment.title == data["title"]


def test_bad_table_is_big_enough() -> None:
    assert len(BAD) >= 25


@pytest.mark.parametrize(("name", "text", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_file_gives_clear_error(
    tmp_path: Path, name: str, text: str | bytes, fragment: str
) -> None:
    p = tmp_path / "exp.yaml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(p)])
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert fragment in out, out
    assert len(out.splitlines()) <= 24, "one screen at most"


def test_every_problem_is_reported_at_once_with_lines() -> None:
    text = GOOD.replace("duration_s: 10", "duration_s: -5").replace("start_s: 1", "start_s: -1")
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text, "x.yaml")
    problems = {p.path: p for p in info.value.problems}
    assert set(problems) == {"method[0].duration_s", "method[0].start_s"}
    assert problems["method[0].start_s"].line == text.splitlines().index("    start_s: -1") + 1


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path in (tmp_path / "nope.yaml", tmp_path):
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.slow
def test_validate_subprocess_never_shows_traceback(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"\xff\xfe garbage \x00")
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "validate", str(p)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "not a text file" in proc.stderr


def test_schema_command_prints_registered_types() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    schema = json.loads(result.output)
    titles = [o["title"] for o in schema["$defs"]["Fault"]["oneOf"]]
    assert "process-pause" in titles and "python-callable" in titles
    assert schema["$defs"]["SLO"]["anyOf"]


def test_schema_validates_the_good_file() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).output)
    jsonschema.validate(yaml.safe_load(GOOD), schema)


def test_faults_json_lists_parameters_with_units() -> None:
    result = CliRunner().invoke(cli, ["faults", "--json"])
    data = json.loads(result.output)
    pause = next(f for f in data["faults"] if f["type"] == "process-pause")
    assert pause["summary"]
    http = next(p for p in data["probes"] if p["type"] == "http")
    timeout = next(p for p in http["parameters"] if p["name"] == "timeout_s")
    assert timeout["unit"] == "seconds"
