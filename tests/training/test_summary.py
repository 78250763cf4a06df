"""The training SLO metrics: from a real numpy run's reporter file, and from exact records."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from aichaos.errors import ProbeError
from aichaos.probes.base import PROBES, ProbeContext
from aichaos.training.reporter import TrainingReporter
from aichaos.training.summary import read_records, summarize
from tests.training.conftest import Trainer, start


def _rec(kind: str, t: float, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "t": t, **kw}


BASE = [
    _rec("start", 0.0, resumed_from=None),
    *(_rec("step", float(s), step=s, loss=1.0 / s, samples=10) for s in range(1, 11)),
    _rec("eval", 10.0, step=10, value=0.9),
    _rec("done", 10.0),
]


def test_a_preempted_run_reports_lost_work_resume_time_and_delay() -> None:
    run = [
        _rec("start", 100.0, resumed_from=None),
        *(_rec("step", 100.0 + s, step=s, loss=1.0 / s, samples=10) for s in range(1, 8)),
        _rec("checkpoint", 105.0, step=5),
        # preempted after step 7; back 4 s later from the checkpoint of step 5
        _rec("start", 110.0, resumed_from=5),
        *(_rec("step", 105.0 + s, step=s, loss=2.0 / s, samples=10) for s in range(6, 9)),
    ]
    m = summarize(run, BASE, now=113.5, window_s=2.0)
    assert m["restarts"] == 1 and m["lost_steps"] == 2  # steps 6 and 7 were redone
    assert m["resume_s"] == pytest.approx(4.0)  # step 7 at 107 -> step 6 at 111
    assert m["step"] == 8 and m["steps_per_s"] == pytest.approx(1.0)  # 112, 113 in 2 s
    assert m["samples_per_s"] == pytest.approx(10.0)
    assert m["checkpoint_age_s"] == pytest.approx(8.5)
    # the baseline finished step 8 at 8 s; we are at 13.5 s: 5.5 s late
    assert m["delay_s"] == pytest.approx(5.5)
    assert m["loss_excess"] == pytest.approx((2 / 7 - 1 / 7 + 2 / 8 - 1 / 8) / 2)
    assert m["done"] == 0 and "eval" not in m and "eval_gap" not in m


def test_a_restart_still_loading_counts_its_wait_so_far() -> None:
    run = [*BASE[:6], _rec("start", 9.0, resumed_from=0)]
    m = summarize(run, None, now=12.0, window_s=5)
    assert m["resume_s"] == pytest.approx(7.0) and m["lost_steps"] == 5
    assert "delay_s" not in m and "loss_excess" not in m  # no baseline: unknown


def test_nan_losses_and_gradients_are_counted() -> None:
    run = [
        BASE[0],
        _rec("step", 1, step=1, loss=math.nan, nonfinite=3),
        _rec("step", 2, step=2, loss=1.0),
    ]
    assert summarize(run, None, now=2, window_s=5)["nonfinite"] == 4


def test_a_finished_run_is_judged_on_its_end_and_evaluation() -> None:
    run = [
        *BASE[:-2],
        _rec("eval", 12.0, step=10, value=0.8),
        _rec("done", 12.0),
    ]
    m = summarize(run, BASE, now=50.0, window_s=5)
    assert m["done"] == 1 and m["delay_s"] == pytest.approx(2.0)
    assert m["eval"] == 0.8 and m["eval_gap"] == pytest.approx(0.1)


def test_missing_or_unfinished_files_are_probe_errors(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="does not exist"):
        read_records(tmp_path / "nope.jsonl")
    (tmp_path / "bad.jsonl").write_text("{}\nnot json\n{}\n")
    with pytest.raises(ProbeError, match="line 1 is not a reporter record"):
        read_records(tmp_path / "bad.jsonl")
    with pytest.raises(ProbeError, match="no finished run"):
        summarize(BASE, BASE[:-1], now=1, window_s=1)
    with pytest.raises(ProbeError, match="no start record"):
        summarize(BASE[1:], None, now=1, window_s=1)


def test_other_ranks_do_not_report(tmp_path: Path) -> None:
    TrainingReporter(tmp_path / "m.jsonl", rank=1).step(1, 0.5)
    assert not (tmp_path / "m.jsonl").exists()


async def test_the_probe_reads_a_real_numpy_run(tmp_path: Path, trainers: list[Trainer]) -> None:
    base = start(trainers, tmp_path / "base", "--steps", "40", "--step-s", "0.002")
    run = start(trainers, tmp_path / "run", "--steps", "40", "--step-s", "0.002")
    assert base.finish()[0] == 0 and run.finish()[0] == 0
    probe = PROBES.get("training")(
        metrics_file=str(run.metrics), baseline_file=str(base.metrics), window_s=60
    )
    m = await probe.measure(ProbeContext())
    assert m["done"] == 1 and m["step"] == 40 and m["restarts"] == 0
    assert m["loss_excess"] == 0.0 and m["eval_gap"] == 0.0  # the same deterministic run
    assert m["nonfinite"] == 0 and m["eval"] > 0.8
    assert set(m) == probe.metric_names()
