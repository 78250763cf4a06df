"""The run's metric store: every probe and workload sample, by ``<source>.<metric>``.

Samples are kept per metric as time-ordered ``(t, value)`` pairs so an SLO can look at a
window (``over 10s``) or the latest value. The store holds numbers only: no payloads.

A workload may also report a per-request *distribution* (``load.ttft_ms``) as one
HdrHistogram per window; those are kept apart, time-ordered the same way, so an SLO's
``p99(load.ttft_ms) over 10s`` merges its window's histograms (exactly) and reads the
99th percentile of the requests.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aichaos.load.histogram import LatencyHistogram

__all__ = ["DISTRIBUTION_AGGREGATES", "MetricStore", "aggregate", "aggregate_distribution"]

#: the aggregates that apply to a distribution (``last`` and ``sum`` do not)
DISTRIBUTION_AGGREGATES = ("mean", "min", "max", "count", "pNN")


@dataclass
class MetricStore:
    """Time series of float samples keyed by metric name."""

    _t: dict[str, list[float]] = field(default_factory=dict)
    _v: dict[str, list[float]] = field(default_factory=dict)
    _dt: dict[str, list[float]] = field(default_factory=dict)
    _dv: dict[str, list[LatencyHistogram]] = field(default_factory=dict)

    def add(self, t: float, source: str, values: Mapping[str, float | LatencyHistogram]) -> None:
        """Record ``values`` taken at ``t`` from ``source`` (a probe or workload name);
        a :class:`LatencyHistogram` value is a distribution (see the module's doc)."""
        for key, value in values.items():
            name = f"{source}.{key}"
            if isinstance(value, LatencyHistogram):
                dts = self._dt.setdefault(name, [])
                i = bisect.bisect_right(dts, t)
                dts.insert(i, t)
                self._dv.setdefault(name, []).insert(i, value)
                continue
            ts = self._t.setdefault(name, [])
            vs = self._v.setdefault(name, [])
            if ts and t < ts[-1]:  # keep order even if a slow probe reports late
                i = bisect.bisect_right(ts, t)
                ts.insert(i, t)
                vs.insert(i, float(value))
            else:
                ts.append(t)
                vs.append(float(value))

    def names(self) -> list[str]:
        """Every metric name seen so far, sorted."""
        return sorted({*self._t, *self._dt})

    def is_distribution(self, name: str) -> bool:
        """True when ``name`` was reported as a per-request distribution."""
        return name in self._dt

    def distributions(
        self, name: str, since: float, until: float = math.inf
    ) -> list[tuple[float, LatencyHistogram]]:
        """``(t, histogram)`` samples of the distribution ``name`` in ``[since, until]``."""
        ts = self._dt.get(name)
        if not ts:
            return []
        lo = bisect.bisect_left(ts, since)
        hi = bisect.bisect_right(ts, until)
        return list(zip(ts[lo:hi], self._dv[name][lo:hi], strict=True))

    def window(self, name: str, since: float, until: float = math.inf) -> list[float]:
        """Values of ``name`` with ``since <= t <= until``."""
        ts = self._t.get(name)
        if not ts:
            return []
        lo = bisect.bisect_left(ts, since)
        hi = bisect.bisect_right(ts, until)
        return self._v[name][lo:hi]

    def pairs(self, name: str, since: float, until: float = math.inf) -> list[tuple[float, float]]:
        """``(t, value)`` samples of ``name`` with ``since <= t <= until``."""
        ts = self._t.get(name)
        if not ts:
            return []
        lo = bisect.bisect_left(ts, since)
        hi = bisect.bisect_right(ts, until)
        return list(zip(ts[lo:hi], self._v[name][lo:hi], strict=True))

    def last(self, name: str) -> tuple[float, float] | None:
        """The latest ``(t, value)`` of ``name``, or ``None``."""
        ts = self._t.get(name)
        if not ts:
            return None
        return ts[-1], self._v[name][-1]


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def aggregate(agg: str, values: Iterable[float]) -> float:
    """Reduce window values: last, mean, min, max, sum, count, or pNN (e.g. p99)."""
    vals = list(values)
    if agg == "count":
        return float(len(vals))
    if not vals:
        return math.nan
    if agg == "last":
        return vals[-1]
    if agg == "mean":
        return math.fsum(vals) / len(vals)
    if agg == "min":
        return min(vals)
    if agg == "max":
        return max(vals)
    if agg == "sum":
        return math.fsum(vals)
    if agg.startswith("p"):
        return _percentile(vals, float(agg[1:]))
    raise ValueError(f"unknown aggregation {agg!r}")


def aggregate_distribution(agg: str, hist: LatencyHistogram) -> float:
    """Reduce a merged distribution: mean, min, max, count (values) or pNN.

    ``last`` and ``sum`` have no meaning over requests: a :class:`ValueError`.
    """
    if agg == "count":
        return float(hist.count)
    if not hist.count:
        return math.nan
    if agg == "mean":
        return hist.mean_ms
    if agg == "min":
        return hist.min_ms
    if agg == "max":
        return hist.max_ms
    if agg.startswith("p"):
        return hist.percentile_ms(float(agg[1:]))
    raise ValueError(
        f"aggregation {agg!r} does not apply to a distribution; "
        f"use {', '.join(DISTRIBUTION_AGGREGATES)}"
    )
