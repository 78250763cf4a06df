"""A training run's SLO metrics, computed from its reporter lines (and a baseline run's).

Pure functions over the records :class:`~aichaos.training.reporter.TrainingReporter`
writes, so the probe and the tests compute the same figures. Every figure is defined
only when its inputs exist: no baseline, no ``loss_excess``; no evaluation yet, no
``eval_gap``. A metric left out is *unknown* to an SLO, which does not hold.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aichaos.errors import ProbeError

__all__ = ["METRICS", "Run", "read_records", "summarize"]

#: every metric :func:`summarize` may report
METRICS = frozenset(
    {
        "step",
        "loss",
        "steps_per_s",
        "samples_per_s",
        "nonfinite",
        "restarts",
        "lost_steps",
        "resume_s",
        "checkpoint_age_s",
        "eval",
        "eval_gap",
        "loss_excess",
        "baseline_loss",
        "elapsed_s",
        "delay_s",
        "done",
    }
)
#: a metrics file larger than this is refused rather than parsed every sample
MAX_BYTES = 64 << 20


def read_records(path: Path) -> list[dict[str, Any]]:
    """The reporter lines of ``path``; a missing file or a bad line is a ProbeError."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ProbeError(f"metrics file {path} is {size} bytes, over {MAX_BYTES}")
        text = path.read_text()
    except FileNotFoundError:
        raise ProbeError(f"metrics file {path} does not exist (has the trainer started?)") from None
    except OSError as exc:
        raise ProbeError(f"cannot read metrics file {path}: {exc}") from exc
    out: list[dict[str, Any]] = []
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines):  # the last line, still being written
                break
            raise ProbeError(f"{path} line {n} is not JSON: {exc}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("t"), (int, float)):
            raise ProbeError(f"{path} line {n} is not a reporter record")
        out.append(rec)
    return out


@dataclass
class Run:
    """One run's records, indexed: loss and time by step, evaluations, start and end."""

    records: Sequence[dict[str, Any]]
    steps: list[dict[str, Any]] = field(init=False)
    t0: float | None = field(init=False)
    end: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.steps = [r for r in self.records if r["kind"] == "step"]
        starts = [r["t"] for r in self.records if r["kind"] == "start"]
        self.t0 = starts[0] if starts else None
        ends = [r["t"] for r in self.records if r["kind"] == "done"]
        self.end = ends[-1] if ends else None
        # the last record of a step wins: a redone step after a resume replaces the first
        self._loss = {r["step"]: r["loss"] for r in self.steps}
        self._first_t: dict[int, float] = {}
        for r in self.steps:
            self._first_t.setdefault(r["step"], r["t"])
        evals = {r["step"]: r["value"] for r in self.records if r["kind"] == "eval"}
        self._eval_steps = sorted(evals)
        self._evals = [evals[s] for s in self._eval_steps]

    def loss_at(self, step: int) -> float | None:
        """The loss reported at ``step``, if any."""
        return self._loss.get(step)

    def elapsed_at(self, step: int) -> float | None:
        """Seconds from the first start to the first time ``step`` was finished."""
        t = self._first_t.get(step)
        return None if t is None or self.t0 is None else t - self.t0

    def eval_at(self, step: int) -> float | None:
        """The latest evaluation at or before ``step``."""
        i = bisect.bisect_right(self._eval_steps, step)
        return self._evals[i - 1] if i else None


def _restarts(records: Iterable[dict[str, Any]], now: float) -> tuple[int, int, float]:
    """Restarts, steps redone since the checkpoint each resumed from, last resume time."""
    restarts = lost = 0
    resume_s = 0.0
    best = 0
    last_step_t: float | None = None
    waiting_since: float | None = None
    first = True
    for r in records:
        if r["kind"] == "start":
            if not first:
                restarts += 1
                lost += max(0, best - int(r.get("resumed_from") or 0))
                waiting_since = last_step_t if last_step_t is not None else r["t"]
            first = False
        elif r["kind"] == "step":
            if waiting_since is not None:
                resume_s = r["t"] - waiting_since
                waiting_since = None
            best = max(best, r["step"])
            last_step_t = r["t"]
    if waiting_since is not None:  # a restart not yet training: the wait so far
        resume_s = now - waiting_since
    return restarts, lost, resume_s


def summarize(
    records: Sequence[dict[str, Any]],
    baseline: Sequence[dict[str, Any]] | None,
    now: float,
    window_s: float,
) -> dict[str, float]:
    """The SLO metrics of a run at wall time ``now``; see :data:`METRICS`."""
    run = Run(records)
    if run.t0 is None:
        raise ProbeError("the metrics file has no start record: the trainer has not started")
    out: dict[str, float] = {"done": float(run.end is not None), "elapsed_s": now - run.t0}
    recent = [r for r in run.steps if r["t"] >= now - window_s]
    span = min(window_s, max(now - run.t0, 1e-9))
    out["steps_per_s"] = len(recent) / span
    out["samples_per_s"] = sum(r.get("samples", 0) for r in recent) / span
    out["nonfinite"] = float(
        sum(r.get("nonfinite", 0) for r in run.steps)
        + sum(not math.isfinite(r["loss"]) for r in run.steps)
    )
    restarts, lost, resume_s = _restarts(records, now)
    out.update(restarts=float(restarts), lost_steps=float(lost), resume_s=resume_s)
    ckpts = [r["t"] for r in records if r["kind"] == "checkpoint"]
    out["checkpoint_age_s"] = now - (ckpts[-1] if ckpts else run.t0)
    if run.steps:
        last = run.steps[-1]
        out["step"], out["loss"] = float(last["step"]), last["loss"]
    step = int(run.steps[-1]["step"]) if run.steps else 0
    latest_eval = run.eval_at(step) if run.steps else None
    if latest_eval is not None:
        out["eval"] = latest_eval
    if baseline is not None:
        out.update(_against(run, Run(baseline), recent, step, now))
    return out


def _against(
    run: Run, base: Run, recent: list[dict[str, Any]], step: int, now: float
) -> dict[str, float]:
    if base.t0 is None or base.end is None:
        raise ProbeError("the baseline metrics file holds no finished run (no start or done)")
    out: dict[str, float] = {}
    pairs = [
        (r["loss"], b)
        for r in (recent or run.steps[-1:])
        if (b := base.loss_at(r["step"])) is not None
    ]
    if pairs:
        out["loss_excess"] = sum(a - b for a, b in pairs) / len(pairs)
    if run.steps and (same := base.loss_at(step)) is not None:
        out["baseline_loss"] = same
    ours, theirs = run.eval_at(step), base.eval_at(step)
    if ours is not None and theirs is not None:
        out["eval_gap"] = theirs - ours
    total = base.end - base.t0
    assert run.t0 is not None
    if run.end is not None:
        out["delay_s"] = (run.end - run.t0) - total
    else:
        done_at = base.elapsed_at(step) if step else 0.0
        if done_at is not None:
            # projected finish (ours so far + the baseline's time left from the same
            # step) minus the baseline's finish
            out["delay_s"] = (now - run.t0) - done_at
    return out
