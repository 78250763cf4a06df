"""The run's progress lines: every value a check can carry prints, none ends the run."""

from __future__ import annotations

import io

from rich.console import Console

from aichaos.engine.progress import Progress


def test_a_nan_or_missing_check_value_prints_instead_of_ending_the_run() -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out, width=200))
    progress(
        {
            "event": "steady-state",
            "t": 7.59,
            "phase": "recovery",
            "ok": False,
            "checks": [  # as the journal writes them: a NaN loss is the string "nan"
                {"slo": "train.loss_excess <= 0.05", "ok": False, "value": "nan", "detail": ""},
                {"slo": "train.eval_gap <= 0.02", "ok": False, "value": 0.779296875, "detail": ""},
                {"slo": "train.done == 1", "ok": False, "value": None, "detail": "no data"},
            ],
        }
    )
    line = out.getvalue()
    assert "train.loss_excess <= 0.05=nan" in line and "train.eval_gap <= 0.02=0.7793" in line
    assert "train.done == 1=-" in line
