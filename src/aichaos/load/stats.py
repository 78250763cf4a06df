"""One window of load figures: counts, latency histograms, errors by kind, quality.

Windows are mergeable (counts add, histograms merge exactly), serializable to plain JSON
(histograms in their encoded HdrHistogram form), and turn into the flat
``dict[str, float]`` that the engine stores as ``load.<key>``.

Counting rules, in one place:

* ``sent``: requests written to the wire in this window.
* ``missed``: requests whose intended send time passed while no connection was free
  (``max_concurrency`` reached) for longer than the request timeout; never sent,
  always counted.
* ``completed``: responses received, whatever their status; their latency, measured
  from the intended send time, goes into the histogram.
* errors by kind: ``timeout``, ``refused``, ``connect`` (other connect failure),
  ``reset`` (connection dropped before a full response), ``invalid`` (not HTTP/1.1),
  and, among completed responses, ``429``, ``4xx`` (other 4xx) and ``5xx``.
* ``error_rate`` = (errors + missed) / (completed + transport errors + missed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aichaos.load.histogram import LatencyHistogram
from aichaos.load.quality import LLM_RATES, QualityBaseline, QualityWindow, quality_metrics
from aichaos.load.streamstats import StreamWindow, stream_metric_names

__all__ = [
    "ERROR_KINDS",
    "HTTP_ERROR_KINDS",
    "TRANSPORT_ERROR_KINDS",
    "WindowStats",
    "window_metric_names",
]

TRANSPORT_ERROR_KINDS = ("timeout", "refused", "connect", "reset", "invalid")
HTTP_ERROR_KINDS = ("429", "4xx", "5xx")
ERROR_KINDS = TRANSPORT_ERROR_KINDS + HTTP_ERROR_KINDS


#: every key :meth:`WindowStats.metrics` may report (quality ones only with quality checks)
_WINDOW_KEYS = [
    "sent",
    "completed",
    "missed",
    "rate_rps",
    "sent_rps",
    "errors",
    "error_rate",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "inflight_oldest_ms",
    "inflight",
    "send_lag_p99_ms",
]
_QUALITY_KEYS = [
    "quality_responses",
    "silent_failures",
    "silent_failure_rate",
    "labelled",
    "mae",
    "accuracy",
    "agreement",
    "drift_psi",
    "drift_js",
]


_LLM_QUALITY_KEYS = ["quality_responses", "silent_failures", "silent_failure_rate", *LLM_RATES]


def window_metric_names(quality: bool, llm: bool = False, goodput: bool = False) -> frozenset[str]:
    """The names a window's metrics may carry, for checking SLOs before a run
    (``llm``: the quality checks judge LLM answers; ``goodput``: bounds are set)."""
    names = {*_WINDOW_KEYS, *(f"errors_{k}" for k in ERROR_KINDS), *stream_metric_names(goodput)}
    if quality:
        names |= set(_LLM_QUALITY_KEYS if llm else _QUALITY_KEYS)
    return frozenset(names)


def status_kind(status: int) -> str | None:
    """The error kind of an HTTP status, or None for a success (1xx-3xx)."""
    if status < 400:
        return None
    if status == 429:
        return "429"
    return "4xx" if status < 500 else "5xx"


@dataclass
class WindowStats:
    """The figures of one window (or of a whole run, after merging its windows)."""

    index: int = 0
    start_s: float = 0.0
    duration_s: float = 0.0
    phase: str = ""
    sent: int = 0
    missed: int = 0
    completed: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    send_lag: LatencyHistogram = field(default_factory=LatencyHistogram)
    quality: QualityWindow | None = None
    #: TTFT, ITL, TPOT, end-to-end, output tokens, incomplete streams, goodput
    stream: StreamWindow = field(default_factory=StreamWindow)
    #: ages (from the intended send time) of requests still in flight at the window's
    #: end: lower bounds of their latency, so a stall shows while it happens
    inflight_us: list[int] = field(default_factory=list)

    @property
    def transport_errors(self) -> int:
        """Requests that ended without a response."""
        return sum(self.errors[k] for k in TRANSPORT_ERROR_KINDS)

    @property
    def error_count(self) -> int:
        """Every error of every kind (not counting ``missed``)."""
        return sum(self.errors.values())

    def merge(self, other: WindowStats, *, inflight: bool = False) -> WindowStats:
        """Add ``other`` into this window (same window of another process, or the next
        window of a run summary). Durations take the longer span; returns ``self``.

        ``inflight`` carries the in-flight ages along: right for the same window of two
        processes, wrong for a run total (those requests complete in a later window)."""
        if self.duration_s == 0 and self.sent == self.completed == self.missed == 0:
            start, end = other.start_s, other.start_s + other.duration_s
        else:
            start = min(self.start_s, other.start_s)
            end = max(self.start_s + self.duration_s, other.start_s + other.duration_s)
        self.start_s, self.duration_s = start, end - start
        self.sent += other.sent
        self.missed += other.missed
        self.completed += other.completed
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.latency.merge(other.latency)
        self.send_lag.merge(other.send_lag)
        self.stream.merge(other.stream, inflight=inflight)
        if other.quality is not None:
            if self.quality is None:
                self.quality = QualityWindow()
            self.quality.merge(other.quality)
        self.phase = self.phase or other.phase
        if inflight:
            self.inflight_us.extend(other.inflight_us)
        return self

    def metrics(self, baseline: QualityBaseline | None = None) -> dict[str, float]:
        """The flat figures an engine stores and SLOs name."""
        d = self.duration_s or 1.0
        outcomes = self.completed + self.transport_errors + self.missed
        out: dict[str, float] = {
            "sent": float(self.sent),
            "completed": float(self.completed),
            "missed": float(self.missed),
            "rate_rps": self.completed / d,
            "sent_rps": self.sent / d,
            "errors": float(self.error_count),
            "error_rate": (self.error_count + self.missed) / outcomes if outcomes else 0.0,
        }
        out.update({f"errors_{k}": float(v) for k, v in self.errors.items()})
        if self.inflight_us:
            latency = self.latency.copy()
            for us in self.inflight_us:
                latency.record_us(us)
            out.update(latency.summary())
            out["inflight_oldest_ms"] = max(self.inflight_us) / 1e3
        else:
            out.update(self.latency.summary())
            out["inflight_oldest_ms"] = 0.0
        out["inflight"] = float(len(self.inflight_us))
        out["send_lag_p99_ms"] = self.send_lag.percentile_ms(99)
        out.update(self.stream.metrics(d))
        if self.quality is not None:
            out.update(quality_metrics(self.quality, baseline, self.phase))
        return out

    def distributions(self) -> dict[str, LatencyHistogram]:
        """The per-request distributions (``ttft_ms``, ``itl_ms``, ``tpot_ms``, ``e2e_ms``)
        that SLOs aggregate over their own window (``p99(load.ttft_ms) < 800 over 10s``)."""
        return self.stream.distributions()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (histograms encoded), for the journal and for other processes."""
        return {
            "index": self.index,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "phase": self.phase,
            "sent": self.sent,
            "missed": self.missed,
            "completed": self.completed,
            "errors": dict(self.errors),
            "latency": self.latency.encode(),
            "send_lag": self.send_lag.encode(),
            "quality": None if self.quality is None else self.quality.to_json(),
            "stream": self.stream.to_json(),
            "inflight_us": list(self.inflight_us),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowStats:
        """Inverse of :meth:`to_json`."""
        q = data.get("quality")
        return cls(
            index=int(data["index"]),
            start_s=float(data["start_s"]),
            duration_s=float(data["duration_s"]),
            phase=str(data.get("phase", "")),
            sent=int(data["sent"]),
            missed=int(data["missed"]),
            completed=int(data["completed"]),
            errors={str(k): int(v) for k, v in data["errors"].items()},
            latency=LatencyHistogram.decode(data["latency"]),
            send_lag=LatencyHistogram.decode(data["send_lag"]),
            quality=None if q is None else QualityWindow.from_json(q),
            stream=StreamWindow.from_json(data["stream"]) if "stream" in data else StreamWindow(),
            inflight_us=[int(v) for v in data.get("inflight_us", [])],
        )
