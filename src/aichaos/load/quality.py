"""Model quality measured on live traffic: accuracy, agreement, drift, silent failures.

AI services fail silently: HTTP 200 with a wrong, NaN or missing prediction. With
``quality`` settings the load generator reads each 2xx response's JSON body, takes the
model's answer at ``json_path`` and reports per window:

* ``accuracy`` (classification) or ``mae`` (regression) on labelled requests;
* ``agreement``: share of predictions equal to the one the same request got during the
  baseline phase (within ``agreement_tolerance`` for regression);
* ``drift_psi`` and ``drift_js``: population stability index and Jensen-Shannon
  divergence (base 2, in [0, 1]) of this window's prediction distribution against the
  baseline's (categories for classification, baseline deciles for regression);
* ``silent_failure_rate``: share of 2xx responses whose prediction is missing, not JSON,
  NaN or infinite, of the wrong type, or of the wrong shape (a list where a scalar is
  expected or the reverse).

Figures that are undefined in a window (no 2xx response, no labels, no baseline yet) are
left out rather than reported as NaN or 0: an SLO on them has no data in that window,
which is unknown, not healthy (a condition never informed during injection fails).

``quality: {task: llm}`` judges LLM answers instead (:mod:`aichaos.load.llm_quality`);
both trackers fill the same :class:`QualityWindow`.

JSON paths are a small documented subset of JSONPath: ``$``, then ``.name``,
``[index]`` or ``["name"]`` steps, e.g. ``$.predictions[0].label``.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator

from aichaos.jsonpath import JsonPath
from aichaos.spec import Spec

__all__ = [
    "LLM_RATES",
    "QualityBaseline",
    "QualitySettings",
    "QualityTracker",
    "QualityWindow",
    "Tracker",
    "compile_json_path",
    "quality_metrics",
]

_MISSING = object()
_EPS = 1e-4
_MAX_BASELINE_VALUES = 200_000

#: the LLM answer rates (:mod:`aichaos.load.llm_quality`), each counted in
#: :attr:`QualityWindow.llm` as hits (``name``) among eligible responses (``name_n``)
LLM_RATES = (
    "answer_accuracy",
    "schema_valid_rate",
    "tool_call_valid_rate",
    "refusal_rate",
    "fallback_rate",
    "groundedness",
)


def compile_json_path(path: str) -> JsonPath:
    """Parse a ``$.a.b[0]``-style path; a :class:`ValidationError` names what is wrong.

    >>> compile_json_path('$.predictions[0]["label"]').parts
    ('predictions', 0, 'label')
    """
    return JsonPath.parse(path)


def _lookup(doc: Any, path: JsonPath) -> Any:
    return path.find(doc, _MISSING)


class QualitySettings(Spec):
    """How to read the model's answer from a response and how to judge it."""

    json_path: str = Field("$.prediction", description="where the prediction is, e.g. $.label")
    task: Literal["classification", "regression"] = "classification"
    agreement_tolerance: float = Field(
        0.0, ge=0, description="regression: predictions this close count as agreeing"
    )

    @field_validator("json_path")
    @classmethod
    def _path_ok(cls, v: str) -> str:
        compile_json_path(v)
        return v


@dataclass
class QualityWindow:
    """Raw, mergeable quality counts of one window."""

    regression: bool = False
    responses: int = 0
    silent: int = 0
    labelled: int = 0
    correct: int = 0
    abs_error_sum: float = 0.0
    compared: int = 0
    agreed: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    values: list[float] = field(default_factory=list)
    #: LLM answer counts: ``<rate>`` hits and ``<rate>_n`` eligible (see LLM_RATES)
    llm: Counter[str] = field(default_factory=Counter)

    def merge(self, other: QualityWindow) -> QualityWindow:
        """Add ``other``'s counts; returns ``self``."""
        self.regression = self.regression or other.regression
        self.responses += other.responses
        self.silent += other.silent
        self.labelled += other.labelled
        self.correct += other.correct
        self.abs_error_sum += other.abs_error_sum
        self.compared += other.compared
        self.agreed += other.agreed
        self.categories.update(other.categories)
        self.values.extend(other.values)
        self.llm.update(other.llm)
        return self

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        d = dict(self.__dict__)
        d["categories"] = dict(self.categories)
        d["llm"] = dict(self.llm)
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QualityWindow:
        """Inverse of :meth:`to_json`."""
        d = dict(data)
        d["categories"] = Counter(d.get("categories", {}))
        d["llm"] = Counter(d.get("llm", {}))
        return cls(**d)


@dataclass
class QualityBaseline:
    """The prediction distribution seen during the baseline phase."""

    categories: Counter[str] = field(default_factory=Counter)
    values: list[float] = field(default_factory=list)

    def add(self, win: QualityWindow) -> None:
        """Fold a baseline window in (values capped to bound memory)."""
        self.categories.update(win.categories)
        room = _MAX_BASELINE_VALUES - len(self.values)
        if room > 0:
            self.values.extend(win.values[:room])

    @property
    def empty(self) -> bool:
        """True until a baseline window with predictions was added."""
        return not self.categories and not self.values


class Tracker(Protocol):
    """What the generator asks of a quality tracker (model or LLM answers)."""

    #: whether it reads response headers (the generator keeps them only then)
    wants_headers: bool

    def observe(
        self,
        index: int,
        expected: Any,
        labelled: bool,
        body: bytes,
        baseline: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Judge one 2xx response to request ``index``."""

    def take(self) -> QualityWindow:
        """This window's counts; starts a new window."""


class QualityTracker:
    """Judges each response of one generator process; windows come out with :meth:`take`."""

    wants_headers = False

    def __init__(self, settings: QualitySettings) -> None:
        self.settings = settings
        self._steps = compile_json_path(settings.json_path)
        self._regression = settings.task == "regression"
        self._baseline_preds: dict[int, Any] = {}
        self._win = QualityWindow(regression=self._regression)

    def prediction(self, body: bytes) -> tuple[bool, Any]:
        """``(valid, prediction)`` for one 2xx body; invalid means a silent failure."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return False, None
        pred = _lookup(doc, self._steps)
        if pred is _MISSING or pred is None or isinstance(pred, dict | list):
            return False, None
        if self._regression:
            if isinstance(pred, bool) or not isinstance(pred, int | float):
                return False, None
            return (math.isfinite(pred), pred)
        if isinstance(pred, float) and not math.isfinite(pred):
            return False, None
        return True, pred

    def observe(
        self,
        index: int,
        expected: Any,
        labelled: bool,
        body: bytes,
        baseline: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Judge one 2xx response to request ``index`` (``baseline``: the phase is baseline;
        ``headers`` are not read)."""
        w = self._win
        w.responses += 1
        valid, pred = self.prediction(body)
        if not valid:
            w.silent += 1
            return
        if self._regression:
            w.values.append(float(pred))
        else:
            w.categories[json.dumps(pred)] += 1
        if labelled:
            w.labelled += 1
            if self._regression:
                try:
                    w.abs_error_sum += abs(float(pred) - float(expected))
                except (TypeError, ValueError):
                    w.abs_error_sum += math.inf
            elif _same_label(pred, expected):
                w.correct += 1
        if baseline:
            self._baseline_preds[index] = pred
        elif index in self._baseline_preds:
            w.compared += 1
            before = self._baseline_preds[index]
            if self._regression:
                w.agreed += abs(pred - before) <= self.settings.agreement_tolerance
            else:
                w.agreed += _same_label(pred, before)

    def take(self) -> QualityWindow:
        """This window's counts; starts a new window."""
        w, self._win = self._win, QualityWindow(regression=self._regression)
        return w


def _same_label(a: Any, b: Any) -> bool:
    # True == 1 in Python; a model answering true for label 1 is still wrong
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _psi_js(p: list[float], q: list[float]) -> tuple[float, float]:
    """PSI and base-2 Jensen-Shannon divergence of two count vectors (smoothed)."""
    sp, sq = sum(p), sum(q)
    pp = [max(x / sp, _EPS) for x in p]
    qq = [max(x / sq, _EPS) for x in q]
    psi = sum((a - b) * math.log(a / b) for a, b in zip(pp, qq, strict=True))
    js = 0.0
    for a, b in zip(pp, qq, strict=True):
        m = (a + b) / 2
        js += 0.5 * a * math.log2(a / m) + 0.5 * b * math.log2(b / m)
    return psi, min(max(js, 0.0), 1.0)


def _drift(win: QualityWindow, base: QualityBaseline) -> tuple[float, float] | None:
    if win.categories and base.categories:
        keys = sorted(set(win.categories) | set(base.categories))
        return _psi_js(
            [float(win.categories[k]) for k in keys], [float(base.categories[k]) for k in keys]
        )
    if win.values and base.values:
        ref = sorted(base.values)
        edges = sorted({ref[min(len(ref) - 1, len(ref) * i // 10)] for i in range(1, 10)})

        def counts(vals: list[float]) -> list[float]:
            c = [0.0] * (len(edges) + 1)
            for v in vals:
                c[bisect.bisect_right(edges, v)] += 1
            return c

        return _psi_js(counts(win.values), counts(ref))
    return None


def quality_metrics(
    win: QualityWindow, baseline: QualityBaseline | None, phase: str = ""
) -> dict[str, float]:
    """The per-window quality figures (undefined ones left out)."""
    out: dict[str, float] = {
        "quality_responses": float(win.responses),
        "silent_failures": float(win.silent),
    }
    if win.responses:
        out["silent_failure_rate"] = win.silent / win.responses
    for name in LLM_RATES:
        eligible = win.llm.get(f"{name}_n", 0)
        if eligible:
            out[name] = win.llm.get(name, 0) / eligible
    if win.labelled:
        out["labelled"] = float(win.labelled)
        if win.regression:
            out["mae"] = win.abs_error_sum / win.labelled
        else:
            out["accuracy"] = win.correct / win.labelled
    if win.compared:
        out["agreement"] = win.agreed / win.compared
    if baseline is not None and not baseline.empty and phase != "baseline":
        d = _drift(win, baseline)
        if d is not None:
            out["drift_psi"], out["drift_js"] = d
    return out
