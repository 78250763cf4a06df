"""What a report shows, read from a journal file alone.

:func:`load_run` turns the events of one journal into a :class:`RunReport`: the metric
series (``source.key`` -> points), fault windows, guardrail breaches, steady-state
checks, ramp levels, breaking points and the verdict. A journal cut short (the runner
was killed: no ``run-ended``) loads too, marked ``complete=False``; its open fault
windows end at the last event. :func:`load_runs` reads many: an empty journal is a run
marked ``empty``, a file that is not a journal is left out with the reason.

Nothing here sees a live object: every figure comes from the serialized journal.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aichaos.errors import ValidationError
from aichaos.verdict import Verdict

__all__ = [
    "FaultWindow",
    "ReportError",
    "RunReport",
    "load_run",
    "load_runs",
    "predicted_verdict",
    "resilience_score",
]

_PREDICTION = re.compile(r"predicted verdict:\s*([a-z][a-z-]*)", re.IGNORECASE)


class ReportError(ValidationError):
    """A file given to ``aichaos report`` is missing, empty or not a journal."""


class EmptyJournal(ReportError):
    """A journal file with no event (a run killed before it wrote one)."""


def predicted_verdict(description: str) -> str | None:
    """The verdict an experiment's description predicts (``Predicted verdict: passed.``)."""
    m = _PREDICTION.search(description)
    if m is None or m.group(1).lower() not in set(Verdict):
        return None
    return m.group(1).lower()


@dataclass
class FaultWindow:
    """A fault's time on the target: from apply to revert (or to the journal's end)."""

    step: str
    fault_type: str
    start: float
    end: float
    level: float | None = None
    closed: bool = True
    #: what the fault touched, as its revert reported it (None: not reported)
    effect: dict[str, Any] | None = None


@dataclass
class RunReport:
    """One experiment run as the journal tells it."""

    path: Path
    title: str
    description: str = ""
    weight: float = 1.0
    seed: int | None = None
    status: str = "incomplete"
    reason: str = ""
    complete: bool = False
    start: float = 0.0
    end: float = 0.0
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    phases: list[tuple[str, float]] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    guardrails: list[tuple[float, str]] = field(default_factory=list)
    aborts: list[tuple[float, str]] = field(default_factory=list)
    steady: list[dict[str, Any]] = field(default_factory=list)
    ramp_levels: list[dict[str, Any]] = field(default_factory=list)
    breaking_points: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[tuple[float, str]] = field(default_factory=list)
    planned_steps: list[dict[str, Any]] = field(default_factory=list)
    #: the experiment's steady-state and guardrail conditions, in their file form
    steady_state: list[Any] = field(default_factory=list)
    guardrail_specs: list[Any] = field(default_factory=list)
    #: guardrail evaluations that were journaled (the breaches), with their check rows
    guardrail_events: list[dict[str, Any]] = field(default_factory=list)
    #: the file holds no event at all
    empty: bool = False

    @property
    def prediction(self) -> str | None:
        """The verdict the description predicts, if it states one."""
        return predicted_verdict(self.description)

    @property
    def checks_held(self) -> int:
        """Leaf SLO checks that held (steady-state evaluations with data)."""
        return sum(1 for e in self.steady for c in e["checks"] if _counted(c) and c["ok"])

    @property
    def checks_total(self) -> int:
        """Leaf SLO checks evaluated with data."""
        return sum(1 for e in self.steady for c in e["checks"] if _counted(c))

    @property
    def held_share(self) -> float:
        """Share of SLO checks that held (0 when nothing was checked)."""
        total = self.checks_total
        return self.checks_held / total if total else 0.0

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last event."""
        return max(0.0, self.end - self.start)

    @property
    def verdict(self) -> str:
        """The status, ``incomplete`` when the run never ended, ``empty`` for no event."""
        if self.empty:
            return "empty"
        return self.status if self.complete else "incomplete"


def _counted(check: dict[str, Any]) -> bool:
    return not str(check.get("detail", "")).startswith("no data")


#: how the score is made, shown beside it in every report
SCORE_LEGEND = (
    "each experiment's weight x its share of SLO checks that held; a run without a "
    "verdict (incomplete or empty journal: the runner was stopped or killed) scores 0"
)


def resilience_score(runs: list[RunReport]) -> float | None:
    """Weighted share of SLO checks that held, 0..100: sum(w * share) / sum(w).

    A run that never reached its verdict scores 0 with its weight: the checks it passed
    before it was killed say nothing of what the rest of it would have found.
    """
    weights = sum(r.weight for r in runs)
    if not runs or weights <= 0:
        return None
    shares = (r.held_share if r.complete else 0.0 for r in runs)
    return 100.0 * sum(r.weight * share for r, share in zip(runs, shares, strict=True)) / weights


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):  # the journal writes NaN / inf as strings
        try:
            f = float(v)
        except ValueError:
            return None
        return f if not math.isnan(f) else None
    return None


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise ReportError(f"journal {str(path)!r} does not exist")
    if path.is_dir():
        raise ReportError(f"journal {str(path)!r} is a directory, expected a .jsonl file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"journal {str(path)!r} cannot be read: {exc.strerror}") from exc
    if not raw.strip():
        raise EmptyJournal(f"journal {str(path)!r} is empty, expected JSON lines of events")
    events: list[dict[str, Any]] = []
    lines = raw.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or a line torn by a kill
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ReportError(
                f"journal {str(path)!r} line {n} is not JSON, expected one event per line"
            ) from None
        if not isinstance(obj, dict) or "event" not in obj:
            raise ReportError(
                f"journal {str(path)!r} line {n} has no 'event' key, expected an aichaos event"
            )
        events.append(obj)
    del torn
    if not events or events[0]["event"] != "run-started":
        raise ReportError(
            f"journal {str(path)!r} does not start with a 'run-started' event, "
            "expected a journal written by 'aichaos run'"
        )
    return events


def load_runs(paths: list[Path]) -> tuple[list[RunReport], list[tuple[Path, str]]]:
    """Every journal of ``paths`` that holds a run, plus ``(path, why)`` for the others.

    An empty journal comes back as a run marked ``empty`` (it counts as incomplete);
    a missing file or one that is not a journal is left out, with the reason.
    """
    runs: list[RunReport] = []
    left_out: list[tuple[Path, str]] = []
    for p in paths:
        try:
            runs.append(load_run(p))
        except EmptyJournal as exc:
            runs.append(
                RunReport(path=p, title=p.stem, status="empty", empty=True, reason=str(exc))
            )
        except ReportError as exc:
            left_out.append((p, str(exc)))
    return runs, left_out


def load_run(path: str | Path) -> RunReport:
    """Read one journal file; :class:`ReportError` says what is wrong with a bad one."""
    p = Path(path)
    events = _events(p)
    first = events[0]
    exp = first.get("experiment") or {}
    run = RunReport(
        path=p,
        title=str(first.get("title") or exp.get("title") or p.stem),
        description=str(exp.get("description") or ""),
        weight=float(exp.get("weight", 1.0) or 0.0),
        seed=first.get("seed"),
        start=float(first.get("t", 0.0)),
        planned_steps=list((first.get("plan") or {}).get("steps") or []),
        steady_state=list(exp.get("steady_state") or []),
        guardrail_specs=list(exp.get("guardrails") or []),
    )
    open_faults: dict[str, FaultWindow] = {}
    for e in events:
        t = float(e.get("t", 0.0))
        run.end = max(run.end, t)
        kind = e["event"]
        if kind == "sample":
            for key, value in (e.get("values") or {}).items():
                v = _number(value)
                if v is not None:
                    run.series.setdefault(f"{e.get('source')}.{key}", []).append((t, v))
        elif kind == "phase":
            run.phases.append((str(e.get("phase")), t))
        elif kind == "fault-applied":
            step = str(e.get("step"))
            fault = e.get("fault") or {}
            window = FaultWindow(step, str(fault.get("type", "fault")), t, t, e.get("level"))
            window.closed = False
            open_faults[step] = window
            run.faults.append(window)
        elif kind in ("fault-reverted", "fault-revert-failed"):
            window_or_none = open_faults.pop(str(e.get("step")), None)
            if window_or_none is not None:
                window_or_none.end = t
                window_or_none.closed = kind == "fault-reverted"
                effect = e.get("effect")
                window_or_none.effect = effect if isinstance(effect, dict) else None
        elif kind == "steady-state":
            run.steady.append(e)
        elif kind == "guardrail" and not e.get("ok", True):
            run.guardrail_events.append(e)
            failing = [c["slo"] for c in e.get("checks", []) if not c.get("ok")]
            run.guardrails.append((t, "; ".join(failing) or "guardrail"))
        elif kind == "abort":
            run.aborts.append((t, str(e.get("reason", ""))))
        elif kind == "ramp-level":
            run.ramp_levels.append(e)
        elif kind == "breaking-point":
            run.breaking_points.append(e)
        elif kind == "rollback":
            run.rollbacks.append(e)
        elif kind in ("fault-apply-failed", "probe-error"):
            who = e.get("step") or e.get("source")
            run.problems.append((t, f"{kind} {who}: {e.get('error')}"))
        elif kind == "run-ended":
            run.complete = True
            run.status = str(e.get("status", "error"))
            run.reason = str(e.get("reason", ""))
    for window in open_faults.values():
        window.end = run.end  # still applied when the journal stops (or never reverted)
    if not run.complete:
        run.reason = "the journal ends without 'run-ended': the runner was stopped or killed"
    return run
