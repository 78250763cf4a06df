"""Engine logic in virtual time (async-solipsism): no sleeping, deterministic."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import async_solipsism
import pytest

from aichaos.engine.journal import Journal, read_journal
from aichaos.engine.runner import Engine, RunResult
from aichaos.experiment.loader import parse_experiment
from aichaos.experiment.model import Experiment
from tests.engine import system

M = "tests.engine.system"


@pytest.fixture(autouse=True)
def fresh_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    system.reset()
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))
    yield


def experiment(**over: Any) -> Experiment:
    data: dict[str, Any] = {
        "title": "unit",
        "seed": 1,
        "probes": {"sys": {"type": "python", "call": f"{M}:probe", "every_s": 0.5}},
        "steady_state": ["sys.latency_ms < 100", "sys.accuracy >= 0.9"],
        "method": [
            {
                "name": "slow",
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:slow_down",
                    "revert": f"{M}:restore",
                    "arguments": {"latency_ms": 50},
                },
                "start_s": 1,
                "duration_s": 5,
            }
        ],
        "phases": {"baseline_s": 2, "recovery_s": 2},
        "safety": {"guardrail_interval_s": 0.5},
    }
    data.update(over)
    return Experiment.model_validate(data)


def run(
    exp: Experiment, path: Path | None = None, **kw: Any
) -> tuple[RunResult, list[dict[str, Any]]]:
    loop = async_solipsism.EventLoop()
    try:
        journal = Journal(path, clock=loop.time)
        engine = Engine(exp, journal=journal, watchdog=False, **kw)
        result = loop.run_until_complete(engine.run())
    finally:
        loop.close()
    return result, journal.events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events if e["event"] not in ("sample", "steady-state")]


def set_latency(exp: Experiment, latency_ms: float) -> Experiment:
    data = exp.model_dump(mode="json")
    data["method"][0]["fault"]["arguments"]["latency_ms"] = latency_ms
    return Experiment.model_validate(data)


def test_passed_applies_and_reverts_once() -> None:
    result, events = run(experiment())
    assert result.status == "passed", result.reason
    assert result.exit_code == 0
    assert system.STATE["applied"] == 1 and system.STATE["reverted"] == 1
    assert system.STATE["calls"][1] == ("revert", "token-1")  # apply's token reaches revert
    assert kinds(events) == [
        "run-started",
        "phase",
        "phase",
        "fault-applied",
        "fault-reverted",
        "phase",
        "phase",
        "run-ended",
    ]
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["baseline", "injecting", "recovering", "done"]
    applied = next(e for e in events if e["event"] == "fault-applied")
    reverted = next(e for e in events if e["event"] == "fault-reverted")
    assert reverted["t"] - applied["t"] == pytest.approx(5.0)
    assert applied["t"] == pytest.approx(3.0)  # 2 s baseline + 1 s start offset


def test_deviated_when_steady_state_breaks_during_injection() -> None:
    result, events = run(set_latency(experiment(), 500))
    assert result.status == "deviated" and result.exit_code == 1
    assert "during injection" in result.reason
    assert system.STATE["reverted"] == 1
    recovery = [e for e in events if e["event"] == "steady-state" and e["phase"] == "recovery"]
    assert recovery and recovery[-1]["ok"]


def test_guardrail_aborts_at_once_and_the_first_breach_wins() -> None:
    exp = set_latency(experiment(guardrails=["sys.latency_ms < 200"]), 500)
    result, events = run(exp)
    assert result.status == "aborted" and result.exit_code == 3
    assert "guardrail breached: sys.latency_ms < 200" in result.reason
    applied = next(e for e in events if e["event"] == "fault-applied")
    reverted = next(e for e in events if e["event"] == "fault-reverted")
    assert reverted["t"] - applied["t"] <= 0.5  # one probe interval, not the 5 s duration
    assert [e["event"] for e in events].count("abort") == 1
    assert system.STATE["reverted"] == 1
    # nothing after the breach (recovery samples are fine again) turns it into a pass
    assert events[-1]["status"] == "aborted"


def test_failed_baseline_injects_nothing() -> None:
    system.reset(latency_ms=900.0)
    result, events = run(experiment())
    assert result.status == "failed-baseline" and result.exit_code == 4
    assert "sys.latency_ms < 100" in result.reason
    assert system.STATE["applied"] == 0
    assert "fault-applied" not in kinds(events)


def test_ramp_records_the_breaking_point() -> None:
    exp = _ramp_experiment()
    result, events = run(exp)
    assert result.breaking_points == [
        {"step": "ramp", "field": "fraction", "held": 0.25, "broke": 0.5}
    ]
    assert result.status == "deviated"
    levels = [e["level"] for e in events if e["event"] == "ramp-level"]
    assert levels == [0.1, 0.25, 0.5]  # stopped at the first breach, 1.0 never applied
    assert system.STATE["applied"] == system.STATE["reverted"] == 3
    # the callable saw each level's blast radius under the documented argument names
    assert [c for c in system.STATE["calls"] if c[0] == "apply"] == [
        ("apply", 0.1, 0.1),
        ("apply", 0.25, 0.25),
        ("apply", 0.5, 0.5),
    ]


def _ramp_experiment() -> Experiment:
    # The system's latency grows with the blast radius the hook is told about.
    return experiment(
        probes={"sys": {"type": "python", "call": f"{M}:probe", "every_s": 0.25}},
        method=[
            {
                "name": "ramp",
                "fault": {
                    "type": "python-callable",
                    "apply": "tests.engine.ramp_hooks:apply",
                    "revert": "tests.engine.ramp_hooks:revert",
                },
                "ramp": {"field": "fraction", "values": [0.1, 0.25, 0.5, 1.0], "hold_s": 2},
            }
        ],
    )


def test_hung_probe_is_timed_out_and_recorded() -> None:
    exp = experiment(
        probes={
            "sys": {"type": "python", "call": f"{M}:probe", "every_s": 0.5},
            "stuck": {"type": "python", "call": f"{M}:hung_probe", "timeout_s": 1},
        }
    )
    result, events = run(exp)
    assert result.status == "passed"
    errors = [e for e in events if e["event"] == "probe-error" and e["source"] == "stuck"]
    assert errors and "timed out" in errors[0]["error"]


def test_hung_revert_times_out_and_says_so() -> None:
    exp = experiment(
        method=[
            {
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:slow_down",
                    "revert": f"{M}:hang",
                },
                "duration_s": 1,
            }
        ],
        safety={"guardrail_interval_s": 0.5, "timeouts": {"revert_s": 2}},
    )
    result, events = run(exp)
    assert result.status == "error" and result.exit_code == 5
    failed = [e for e in events if e["event"] == "fault-revert-failed"]
    assert failed and "timed out after 2s" in failed[0]["error"]
    assert result.revert_failures


def test_failed_apply_is_an_error_and_reverts_and_rolls_back() -> None:
    exp = experiment(
        method=[
            {
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:fail",
                    "revert": f"{M}:restore",
                },
                "duration_s": 1,
            }
        ],
        rollbacks=[{"type": "python", "call": f"{M}:rollback"}],
    )
    result, events = run(exp)
    assert result.status == "error"
    assert "dependency refused the change" in result.reason
    assert system.STATE["reverted"] == 1  # a half-applied fault is reverted too
    assert ("rollback", None) in system.STATE["calls"]
    assert "fault-apply-failed" in kinds(events)


def test_kill_switch_aborts_within_one_interval(tmp_path: Path) -> None:
    halt = tmp_path / "halt"
    exp = experiment(
        method=[
            {
                "name": "trip",
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:touch",
                    "arguments": {"path": str(halt)},
                },
                "duration_s": 30,
            }
        ],
        safety={"guardrail_interval_s": 0.5, "kill_switch": str(halt)},
    )
    result, events = run(exp)
    assert result.status == "aborted" and "kill switch" in result.reason
    applied = next(e for e in events if e["event"] == "fault-applied")
    ended = next(e for e in events if e["event"] == "fault-reverted")
    assert ended["t"] - applied["t"] <= 0.5 + 1e-6


def test_existing_kill_switch_refuses_to_start(tmp_path: Path) -> None:
    halt = tmp_path / "halt"
    halt.write_text("x")
    result, events = run(experiment(safety={"kill_switch": str(halt)}))
    assert result.status == "aborted"
    assert system.STATE["applied"] == 0 and "phase" not in kinds(events)


def test_same_seed_same_run(tmp_path: Path) -> None:
    def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e["event"], e["t"], e.get("step"), e.get("level")) for e in events]

    _, a = run(_ramp_experiment())
    system.reset()
    _, b = run(_ramp_experiment())
    assert shape(a) == shape(b)


def test_environment_guard() -> None:
    from aichaos.errors import SafetyError

    exp = experiment(safety={"allowed_environments": ["staging"]})
    with pytest.raises(SafetyError, match="staging"):
        run(exp, environment="production")
    result, _ = run(exp, environment="staging")
    assert result.status == "passed"


def test_secrets_are_redacted_in_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICHAOS_TEST_TOKEN", "s3cr3t-token-value")
    text = f"""
title: secrets
targets:
  api: {{type: http, url: "http://127.0.0.1:9", headers: {{Authorization: "Bearer ${{env:AICHAOS_TEST_TOKEN}}"}}}}
probes:
  sys: {{type: python, call: "{M}:probe", every_s: 0.5}}
steady_state: ["sys.latency_ms < 100"]
method:
  - fault: {{type: python-callable, apply: "{M}:slow_down", arguments: {{latency_ms: 30}}}}
    duration_s: 1
phases: {{baseline_s: 1, recovery_s: 1}}
"""
    loaded = parse_experiment(text)
    assert loaded.experiment.targets["api"].headers["Authorization"] == "Bearer s3cr3t-token-value"
    path = tmp_path / "j.jsonl"
    loop = async_solipsism.EventLoop()
    journal = Journal(path, redactor=loaded.redactor, clock=loop.time)
    result = loop.run_until_complete(
        # the target is never reached: only its header's secret matters here
        Engine(loaded.experiment, journal=journal, watchdog=False, check_targets=False).run()
    )
    loop.close()
    assert result.status == "passed"
    for f in (path, path.with_name("j.summary.json")):
        content = f.read_text()
        assert "s3cr3t-token-value" not in content
    assert "${env:AICHAOS_TEST_TOKEN}" in path.read_text()
    assert list(read_journal(path))[-1]["event"] == "run-ended"


def test_a_revert_in_progress_is_finished_when_the_run_aborts() -> None:
    """Found in the demo: step A's revert was running when a guardrail aborted the run;
    the cancellation cut the revert short, so A's fault stayed applied, unjournaled,
    until its TTL. A revert, once started, must finish (within its timeout)."""
    exp = experiment(
        method=[
            {
                "name": "A",
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:slow_down",
                    "revert": f"{M}:slow_restore",
                    "arguments": {"latency_ms": 50},
                },
                "duration_s": 0.5,
            },
            {
                "name": "B",
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:trip_later",
                    "arguments": {"after_s": 0.8},
                },
                "duration_s": 5,
            },
        ],
        guardrails=["sys.latency_ms < 1000"],
    )
    result, events = run(exp)
    assert result.status == "aborted"
    # A's 1 s revert runs from 0.5 s to 1.5 s into the method; the breach comes at ~0.8 s
    reverted = [e["step"] for e in events if e["event"] == "fault-reverted"]
    assert sorted(reverted) == ["A", "B"], kinds(events)
    assert system.STATE["reverted"] == 1  # A's slow revert ran to its end


FREEZE = {"type": "python-callable", "apply": f"{M}:freeze", "revert": f"{M}:unfreeze"}


def test_a_probe_blocking_past_its_timeout_trips_the_guardrail() -> None:
    exp = experiment(
        probes={"sys": {"type": "python", "call": f"{M}:probe", "every_s": 0.5, "timeout_s": 1}},
        guardrails=["sys.latency_ms < 100"],
        method=[{"fault": FREEZE, "start_s": 0.5, "duration_s": 5}],
    )
    result, events = run(exp)
    assert (result.status, result.exit_code) == ("aborted", 3), result.reason
    breach = next(e for e in events if e["event"] == "guardrail")
    assert "no successful sample in the window" in breach["checks"][0]["detail"]
    assert system.STATE["reverted"] == 1


def test_a_probe_blocking_past_its_timeout_breaks_the_steady_state() -> None:
    exp = experiment(
        probes={"sys": {"type": "python", "call": f"{M}:probe", "every_s": 0.5, "timeout_s": 1}},
        method=[{"fault": FREEZE, "start_s": 0.5, "duration_s": 5}],
    )
    result, events = run(exp)
    assert (result.status, result.exit_code) == ("deviated", 1), result.reason
    failed = [e for e in events if e["event"] == "sample" and e["values"]["error"] == 1]
    assert failed and all(e["values"]["latency_ms"] >= 1000 for e in failed)


def test_a_condition_no_sample_informed_during_injection_is_not_held() -> None:
    # the probe samples every 10 s; the fault lasts 1 s: nothing was observed under it
    exp = experiment(
        probes={"sys": {"type": "python", "call": f"{M}:probe", "every_s": 10}},
        method=[{"fault": FREEZE, "start_s": 0.0, "duration_s": 1}],
        phases={"baseline_s": 1, "recovery_s": 0.5},
    )
    result, _ = run(exp)
    assert (result.status, result.exit_code) == ("deviated", 1)
    assert "no successful sample in the window during injection" in result.reason


def test_a_ramp_level_is_judged_on_its_own_samples() -> None:
    # "slow" breaks latency for 2 s and ends exactly when the harmless ramp begins; the
    # 3 s window would still hold slow's samples 0.5 s into the ramp's level
    exp = experiment(
        probes={"sys": {"type": "python", "call": f"{M}:probe", "every_s": 0.25}},
        steady_state=["max(sys.latency_ms) < 100 over 3s"],
        method=[
            {
                "name": "slow",
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:slow_down",
                    "revert": f"{M}:restore",
                },
                "duration_s": 2,
            },
            {
                "name": "ramp",
                "fault": {"type": "python-callable", "apply": "tests.engine.ramp_hooks:harmless"},
                "start_s": 2,
                "ramp": {"field": "fraction", "values": [0.2], "hold_s": 2.5},
            },
        ],
    )
    result, events = run(exp)
    assert result.breaking_points == [
        {"step": "ramp", "field": "fraction", "held": 0.2, "broke": None}
    ]
    assert result.status == "deviated"  # slow's own breach still counts
    level = next(e for e in events if e["event"] == "ramp-level")
    assert "shorter than the 3s window" in level["note"]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"fault": {"type": "cpu-burn", "workers": 1}, "ramp": {"values": [0.1], "hold_s": 1}},
            "ramp over blast radius field 'fraction', which fault 'cpu-burn' does not use",
        ),
        (
            {
                "fault": {"type": "cpu-burn", "workers": 1},
                "duration_s": 1,
                "blast_radius": {"fraction": 0.5},
            },
            "blast_radius.fraction is not used by fault 'cpu-burn'",
        ),
        (
            {
                "fault": {"type": "python-callable", "apply": "os:getpid"},
                "ramp": {"field": "apply", "values": [1], "hold_s": 1},
            },
            "ramp over field 'apply', which fault 'python-callable' does not use: every level "
            "would do the same; the fields it uses: fraction",
        ),
    ],
)
def test_a_ramp_over_a_field_the_fault_ignores_is_refused(
    step: dict[str, Any], message: str
) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        experiment(method=[step])


def test_a_callable_that_cannot_see_the_ramp_is_refused_when_applied() -> None:
    exp = experiment(
        method=[
            {
                "fault": {
                    "type": "python-callable",
                    "apply": "tests.engine.ramp_hooks:ignores_the_radius",
                },
                "ramp": {"field": "fraction", "values": [0.1, 0.5], "hold_s": 1},
            }
        ]
    )
    result, _ = run(exp)
    assert result.status == "error"
    assert "takes no 'fraction' argument" in result.reason
    assert system.STATE["applied"] == 0


def test_process_kill_needs_no_duration() -> None:
    exp = experiment(
        targets={"victim": {"type": "process", "pid": 1}},
        method=[{"fault": {"type": "process-kill"}, "target": "victim"}],
    )
    assert exp.method[0].duration_s is None and exp.method[0].total_s == 0
