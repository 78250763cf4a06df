"""Every verdict has one exit code and is shown by every renderer."""

from __future__ import annotations

import pytest

from aichaos.engine.progress import STYLES
from aichaos.report.markdown import ICONS
from aichaos.verdict import EXIT_BAD_INPUT, EXIT_CODES, Verdict


def test_exit_codes_are_distinct_and_bad_input_is_two() -> None:
    assert set(EXIT_CODES) == set(Verdict)
    codes = [v.exit_code for v in Verdict]
    assert len(set(codes)) == len(codes) and EXIT_BAD_INPUT not in codes
    assert Verdict.PASSED.exit_code == 0 and EXIT_BAD_INPUT == 2


@pytest.mark.parametrize("verdict", list(Verdict))
def test_each_verdict_has_a_style_and_an_icon(verdict: Verdict) -> None:
    assert verdict in STYLES and verdict in ICONS


def test_values_are_the_journal_strings() -> None:
    assert [str(v) for v in Verdict][:6] == [
        "passed",
        "deviated",
        "inconclusive",
        "aborted",
        "failed-baseline",
        "error",
    ]
