"""python-callable's proof of injection: what the user's callable reports, through a run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine import effect_callables
from tests.engine.test_engine import experiment, fresh_system, run

__all__ = ["fresh_system"]  # the autouse fixture, imported for use here

C = "tests.engine.effect_callables"


def _method(apply: str, revert: str | None) -> list[dict[str, Any]]:
    fault: dict[str, Any] = {"type": "python-callable", "apply": f"{C}:{apply}"}
    if revert is not None:
        fault["revert"] = f"{C}:{revert}"
    return [{"name": "hit", "fault": fault, "start_s": 1, "duration_s": 3}]


def _run(answer: Any, apply: str = "hit_requests", revert: str | None = "report") -> Any:
    effect_callables.ANSWER["value"] = answer
    result, events = run(experiment(method=_method(apply, revert)))
    reverted = [e for e in events if e["event"] == "fault-reverted"]
    return result, reverted[0]["effect"] if reverted else "no fault-reverted event"


def test_a_callable_that_touched_something_passes_and_journals_it() -> None:
    result, effect = _run({"touched": 12, "seen": 40, "unit": "requests"})
    assert result.status == "passed", result.reason
    assert effect == {"touched": 12, "seen": 40, "unit": "requests"}


def test_a_callable_that_touched_nothing_makes_the_run_inconclusive() -> None:
    result, effect = _run({"touched": 0, "seen": 40, "unit": "requests"})
    assert result.status == "inconclusive", result.reason
    assert "touched 0 of 40 requests" in result.reason
    assert effect == {"touched": 0, "seen": 40, "unit": "requests"}


def test_a_callable_that_reports_nothing_stays_not_reported_and_passes() -> None:
    result, effect = _run(None)
    assert result.status == "passed", result.reason
    assert effect is None


def test_apply_without_revert_may_report() -> None:
    result, effect = _run(None, apply="one_shot", revert=None)
    assert result.status == "passed", result.reason
    assert effect == {"touched": 3, "unit": "records"}


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (
            {"touchd": 0},
            "'touchd' is not an effect key; expected touched, seen, unit (did you mean 'touched'?)",
        ),
        ({"touched": "none"}, "touched must be a number >= 0, got 'none'"),
        ({"touched": -1}, "touched must be a number >= 0, got -1"),
        ({"touched": True}, "touched must be a number >= 0, got True"),
        ({"seen": 4}, "touched is required"),
        ({"touched": 1, "unit": ""}, "unit must be a non-empty string"),
        (7, "must be a dict with 'touched'"),
    ],
)
def test_a_malformed_report_is_an_error_never_a_pass(answer: Any, needle: str) -> None:
    result, _ = _run(answer)
    assert result.status == "error", result.reason
    assert needle in result.reason
    assert "effect_callables:report" in result.reason
