"""One error formatter: the same bad value reads the same in every kind of spec.

``-5`` for a field that must be positive, given to a fault, a probe, a target and a
workload in an experiment file, to a data corruption, to a load spec and to the
in-process control endpoint's body: each message says ``must be > 0, got -5``.
"""

from __future__ import annotations

import json
import textwrap

import httpx
import pytest

from aichaos.data import make
from aichaos.errors import ExperimentError, Problem, ValidationError
from aichaos.experiment.loader import parse_experiment
from aichaos.inprocess import ControlServer, Hook, Switchboard
from aichaos.load.spec import LoadSpec, validated
from aichaos.validation import SpecError, format_path, house_form

SAME = "must be > 0, got -5"

EXPERIMENT = textwrap.dedent(
    """
    title: one phrasing
    targets:
      app: {type: process, pid: -5}
      api: {type: http, url: "http://127.0.0.1:9"}
    probes:
      health: {type: http, target: api, every_s: -5}
    workload: {type: http, target: api, rate_rps: 1, window_s: -5}
    method:
      - fault: {type: memory-pressure, size_mb: -5}
        duration_s: 1
    """
)


def _file_problems() -> dict[str, str]:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(EXPERIMENT)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize(
    "path",
    ["targets.app.pid", "probes.health.every_s", "workload.window_s", "method[0].fault.size_mb"],
    ids=["target", "probe", "workload", "fault"],
)
def test_experiment_file_specs_say_the_same(path: str) -> None:
    problems = _file_problems()
    assert problems.get(path) == SAME, problems


def test_corruption_says_the_same_in_the_house_form() -> None:
    with pytest.raises(ValidationError) as info:
        make("gaussian-noise", scale=-5)
    assert str(info.value) == f"scale {SAME} (gaussian-noise)"


def test_load_spec_says_the_same() -> None:
    with pytest.raises(ValidationError) as info:
        validated(LoadSpec, url="http://127.0.0.1:9/", rate_rps=-5)
    assert str(info.value) == f"rate_rps {SAME}"


def test_control_body_says_the_same_over_http() -> None:
    board = Switchboard()
    Hook("predict", board=board)
    token = "t" * 32
    server = ControlServer(board, token=token).start()
    try:
        r = httpx.post(
            f"{server.url}/faults/predict",
            content=json.dumps({"ttl_s": -5}),
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    finally:
        server.close()
    assert r.status_code == 400
    assert r.json()["error"] == f"ttl_s {SAME} (body)"


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
