"""SLOs: conditions over metrics in time windows, composable with ``&`` and ``|``.

One line of text is one SLO::

    api.latency_ms < 250                 latest sample
    p99(load.latency_ms) < 250 over 10s  99th percentile of the last 10 s of samples
    mean(quality.accuracy) >= 0.9 over 30s
    p99(load.latency_ms) < 250 over 10s min 1000   judged only on >= 1000 samples

Aggregates: last, mean, min, max, sum, count, p50, p90, p95, p99 (any pNN, p99.9 too;
``avg`` is spelled ``mean`` and ``median`` ``p50``). Operators:
``< <= > >= == !=``. In files, ``{all: [...]}`` and ``{any: [...]}`` combine; in Python,
``slo("a.x < 1") & slo("b.y > 2")`` gives a flattened :class:`AllOf`. A plain callable
``f(state) -> bool`` is accepted wherever an SLO is.

An SLO with no sample in its window is *unknown*, which does not hold: a silent system
is not a healthy one. Unknown is not healthy either: a probe sample that errored or timed
out (``error = 1``) is a failed observation for every condition over that probe. It fails
the condition whose window holds it, except conditions over ``ok``, ``error`` and
``timeout``, which count it in (``ok = 0``), so ``mean(api.ok) >= 0.95 over 30s``
tolerates 5 % failed samples. A window that holds samples but no successful one fails
with "no successful sample in the window", whatever the metric.

``min N`` after a window makes a condition judge only windows of at least ``N``
samples: a p99 of 20 requests is their maximum, noise rather than a percentile. A window
with fewer is *no data* (neither held nor broken: it cannot make a guardrail fire), and
a condition that never had ``N`` samples in one window during injection is unknown for
the whole injection, which fails the run like a condition no sample informed.

Over a per-request *distribution* (a workload's ``ttft_ms``, ``itl_ms``, ``tpot_ms``,
``e2e_ms``), the window's histograms are merged and the aggregate reads the requests:
``p99(load.ttft_ms) < 800 over 10s`` is the 99th percentile of every request of the last
10 s; ``min N`` counts requests; ``mean``, ``min``, ``max``, ``count`` apply, ``last`` and
``sum`` do not (a condition without an aggregate fails, naming the ones that apply).
"""

from __future__ import annotations

import math
import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aichaos.errors import ValidationError, did_you_mean
from aichaos.experiment.metrics import (
    DISTRIBUTION_AGGREGATES,
    MetricStore,
    aggregate,
    aggregate_distribution,
)
from aichaos.load.histogram import LatencyHistogram

if TYPE_CHECKING:
    from aichaos.experiment.state import ExperimentState

from aichaos.experiment.check import NO_DATA, Check

__all__ = [
    "AGGREGATES",
    "SLO",
    "AllOf",
    "AnyOf",
    "Check",
    "Condition",
    "FromCallable",
    "distribution_agg_problem",
    "parse_slo",
    "slo",
]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
#: the aggregates the grammar accepts, as ``aichaos schema``, the docs and errors list them
AGGREGATES = ("last", "mean", "min", "max", "sum", "count", "pNN (p50, p90, p99, p99.9)")
_AGG = r"last|mean|min|max|sum|count|p\d{1,2}(?:\.\d+)?"
#: names users reach for that the grammar spells otherwise
_SYNONYMS = {"avg": "mean", "average": "mean", "median": "p50", "total": "sum", "n": "count"}
_NAME = r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+"
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan"
_RE = re.compile(
    rf"^\s*(?:(?P<agg>{_AGG})\(\s*(?P<aname>{_NAME})\s*\)|(?P<name>{_NAME}))"
    rf"\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>{_NUM})"
    rf"(?:\s+over\s+(?P<win>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m)"
    rf"(?:\s+min\s+(?P<min>\d+)(?:\s+samples?)?)?)?\s*$"
)
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0}

#: metrics a failed sample carries itself (ok = 0, error = 1, timeout = 0/1): a condition
#: over one of them counts the failed sample in; over any other metric it fails
OUTCOME_METRICS = frozenset({"ok", "error", "timeout"})
NO_SUCCESS = "no successful sample in the window"


class SLO(ABC):
    """Base of every SLO: ``evaluate(state) -> Check``; combine with ``&`` and ``|``."""

    @abstractmethod
    def evaluate(self, state: ExperimentState) -> Check:
        """Evaluate against the run's state (its metric store and clock)."""

    @abstractmethod
    def to_data(self) -> Any:
        """The file form: a string, or ``{'all': [...]}`` / ``{'any': [...]}``."""

    def metrics(self) -> set[str]:
        """Metric names this SLO reads (for plan checks)."""
        return set()

    def conditions(self) -> list[Condition]:
        """Every :class:`Condition` in this SLO, in order."""
        return []

    def __and__(self, other: SLO | Callable[[ExperimentState], bool]) -> AllOf:
        return AllOf((*_flat(self, AllOf), *_flat(slo(other), AllOf)))

    def __or__(self, other: SLO | Callable[[ExperimentState], bool]) -> AnyOf:
        return AnyOf((*_flat(self, AnyOf), *_flat(slo(other), AnyOf)))

    def __str__(self) -> str:
        data = self.to_data()
        return data if isinstance(data, str) else repr(data)


def _flat(s: SLO, kind: type[AllOf] | type[AnyOf]) -> tuple[SLO, ...]:
    return s.parts if isinstance(s, kind) else (s,)


@dataclass(frozen=True)
class Condition(SLO):
    """``agg(metric) op threshold [over window_s]``."""

    metric: str
    op: str
    threshold: float
    agg: str = "last"
    window_s: float | None = None
    text: str = ""
    #: judge only windows holding at least this many samples (``min N``)
    min_samples: int | None = None

    def evaluate(self, state: ExperimentState) -> Check:
        now = state.now
        store = state.store
        source, _, key = self.metric.partition(".")
        outcome = f"{source}.error"  # every probe sample has it; workload samples do not
        since = now - self.window_s if self.window_s is not None else state.phase_started
        if state.window_floor is not None:
            # strictly after the change: a sample stamped at that instant may predate it
            since = max(since, math.nextafter(state.window_floor, math.inf))
        latest_only = self.window_s is None and self.agg == "last"
        expr = self.text or self.to_data()
        if store.is_distribution(self.metric):
            return self._distribution(store, expr, since, now)
        if latest_only:
            latest = store.last(outcome) or store.last(self.metric)
            if latest is None or latest[0] < since:
                return Check(False, expr, None, NO_DATA)
            since = latest[0]  # judge the latest sample alone
        values = store.window(self.metric, since, now)
        errors = store.window(outcome, since, now)
        if latest_only:
            values, errors = values[-1:], errors[-1:]
        if not values and not errors:
            return Check(False, expr, None, NO_DATA)
        failed = sum(1 for e in errors if e > 0)
        seen = aggregate(self.agg, values) if values else None
        if errors and failed == len(errors):
            return Check(False, expr, seen, f"{NO_SUCCESS} ({failed} failed)")
        if failed and key not in OUTCOME_METRICS:
            why = f"{failed} of {len(errors)} samples in the window failed"
            return Check(False, expr, seen, why)
        if len(values) < len(errors):
            missing = len(errors) - len(values)
            return Check(
                False, expr, seen, f"{missing} of {len(errors)} samples did not report {key!r}"
            )
        assert seen is not None
        if self.min_samples is not None and len(values) < self.min_samples:
            return Check(
                False,
                expr,
                seen,
                f"{NO_DATA}: {len(values)} samples in the window, min {self.min_samples}",
            )
        if math.isnan(seen):
            return Check(False, expr, seen, "value is NaN")
        ok = _OPS[self.op](seen, self.threshold)
        why = "" if ok else f"{seen:g} violates {self.op} {self.threshold:g}"
        return Check(ok, expr, seen, why)

    def _distribution(self, store: MetricStore, expr: str, since: float, now: float) -> Check:
        if self.agg in ("last", "sum"):
            return Check(False, expr, None, distribution_agg_problem(self.metric, self.agg))
        merged = LatencyHistogram()
        for _, h in store.distributions(self.metric, since, now):
            merged.merge(h)
        n = merged.count
        if not n:
            return Check(False, expr, None, f"{NO_DATA}: no request in the window")
        seen = aggregate_distribution(self.agg, merged)
        if self.min_samples is not None and n < self.min_samples:
            return Check(
                False, expr, seen, f"{NO_DATA}: {n} requests in the window, min {self.min_samples}"
            )
        ok = _OPS[self.op](seen, self.threshold)
        why = "" if ok else f"{seen:g} violates {self.op} {self.threshold:g} ({n} requests)"
        return Check(ok, expr, seen, why)

    def observed(self, store: MetricStore, since: float, until: float) -> bool:
        """True when successful samples in ``[since, until]`` could judge this condition.

        One reporting the metric, or with ``min N``, ``N`` of them within one window
        (for a distribution: ``N`` requests).
        """
        if store.is_distribution(self.metric):
            if self.agg in ("last", "sum"):
                return False
            counts = [(t, h.count) for t, h in store.distributions(self.metric, since, until)]
            span = self.window_s if self.window_s is not None else math.inf
            need, lo, total = self.min_samples or 1, 0, 0
            for t, c in counts:  # the most requests any one window of ``span`` held
                total += c
                while t - counts[lo][0] > span:
                    total -= counts[lo][1]
                    lo += 1
                if total >= need:
                    return True
            return False
        failed = dict(store.pairs(f"{self.metric.partition('.')[0]}.error", since, until))
        ok = [t for t, _ in store.pairs(self.metric, since, until) if failed.get(t, 0.0) == 0]
        n = self.min_samples or 1
        span = self.window_s if self.window_s is not None else math.inf
        return any(ok[i + n - 1] - ok[i] <= span for i in range(len(ok) - n + 1))

    def to_data(self) -> str:
        if self.text:
            return self.text
        lhs = self.metric if self.agg == "last" else f"{self.agg}({self.metric})"
        over = f" over {self.window_s:g}s" if self.window_s is not None else ""
        if self.min_samples is not None:
            over += f" min {self.min_samples}"
        return f"{lhs} {self.op} {self.threshold:g}{over}"

    def metrics(self) -> set[str]:
        return {self.metric}

    def conditions(self) -> list[Condition]:
        return [self]


@dataclass(frozen=True)
class AllOf(SLO):
    """Holds when every part holds."""

    parts: tuple[SLO, ...]

    def evaluate(self, state: ExperimentState) -> Check:
        checks = tuple(p.evaluate(state) for p in self.parts)
        return Check(all(c.ok for c in checks), "all", None, "", checks)

    def to_data(self) -> dict[str, list[Any]]:
        return {"all": [p.to_data() for p in self.parts]}

    def metrics(self) -> set[str]:
        return set().union(*(p.metrics() for p in self.parts))

    def conditions(self) -> list[Condition]:
        return [c for p in self.parts for c in p.conditions()]


@dataclass(frozen=True)
class AnyOf(SLO):
    """Holds when at least one part holds."""

    parts: tuple[SLO, ...]

    def evaluate(self, state: ExperimentState) -> Check:
        checks = tuple(p.evaluate(state) for p in self.parts)
        return Check(any(c.ok for c in checks), "any", None, "", checks)

    def to_data(self) -> dict[str, list[Any]]:
        return {"any": [p.to_data() for p in self.parts]}

    def metrics(self) -> set[str]:
        return set().union(*(p.metrics() for p in self.parts))

    def conditions(self) -> list[Condition]:
        return [c for p in self.parts for c in p.conditions()]


@dataclass(frozen=True)
class FromCallable(SLO):
    """A plain callable ``f(state) -> bool`` used as an SLO (Python API only)."""

    fn: Callable[[ExperimentState], bool]

    def evaluate(self, state: ExperimentState) -> Check:
        name = getattr(self.fn, "__name__", "callable")
        return Check(bool(self.fn(state)), name)

    def to_data(self) -> str:
        return f"<callable {getattr(self.fn, '__name__', '?')}>"


def distribution_agg_problem(metric: str, agg: str) -> str:
    """Why ``agg`` (``last`` or ``sum``) cannot judge the distribution ``metric``."""
    return (
        f"{metric} is a per-request distribution: {agg!r} does not apply; use "
        f"{', '.join(DISTRIBUTION_AGGREGATES)}, e.g. 'p99({metric}) < 800 over 10s'"
    )


def parse_slo(text: str) -> Condition:
    """Parse one SLO line; :class:`ValidationError` says what is wrong with it."""
    if not isinstance(text, str):
        raise ValidationError(f"an SLO must be a string like 'api.p99_ms < 250', got {text!r}")
    m = _RE.match(text)
    if m is None:
        agg = re.match(r"^\s*([A-Za-z_]\w*)\s*\(", text)
        if agg is not None and not re.fullmatch(_AGG, agg[1]):
            name = agg[1]
            hint = (
                f" (did you mean {_SYNONYMS[name.lower()]!r}?)"
                if name.lower() in _SYNONYMS
                else did_you_mean(name, AGGREGATES[:-1])
            )
            raise ValidationError(
                f"unknown aggregate {name!r} in SLO {text!r}{hint}; "
                f"accepted: {', '.join(AGGREGATES)}"
            )
        raise ValidationError(
            f"cannot parse SLO {text!r}: expected '[agg(]source.metric[)] OP NUMBER"
            " [over N(ms|s|m) [min N]]', e.g. 'p99(load.latency_ms) < 250 over 10s min 500';"
            " aggregates: " + ", ".join(AGGREGATES)
        )
    window = None
    if m["win"] is not None:
        window = float(m["win"]) * _UNIT[m["unit"]]
        if window <= 0:
            raise ValidationError(f"SLO window must be > 0 in {text!r}")
    min_samples = int(m["min"]) if m["min"] is not None else None
    if min_samples is not None and min_samples < 1:
        raise ValidationError(f"SLO min must be >= 1 sample, got {min_samples} in {text!r}")
    return Condition(
        metric=m["aname"] or m["name"],
        op=m["op"],
        threshold=float(m["value"]),
        agg=m["agg"] or "last",
        window_s=window,
        text=" ".join(text.split()),
        min_samples=min_samples,
    )


def slo(spec: Any) -> SLO:
    """Build an SLO from its file form: a string, ``{'all': [...]}``, ``{'any': [...]}``."""
    if isinstance(spec, SLO):
        return spec
    if isinstance(spec, str):
        return parse_slo(spec)
    if isinstance(spec, dict) and len(spec) == 1:
        ((key, parts),) = spec.items()
        if key in ("all", "any") and isinstance(parts, list) and parts:
            built = tuple(slo(p) for p in parts)
            return AllOf(built) if key == "all" else AnyOf(built)
    if callable(spec):
        return FromCallable(spec)
    raise ValidationError(
        "an SLO is a string like 'api.p99_ms < 250' or {all: [...]} / {any: [...]} "
        f"with a non-empty list, got {spec!r}"
    )
