"""One window's streaming figures: TTFT, ITL, TPOT, end-to-end, tokens, goodput.

Definitions (request start is when the generator sent the request, as vLLM's
``benchmark_serving``, GenAI-Perf and LLMPerf measure; ``p99_ms`` counts from the
*intended* send time instead, and the difference is ``send_lag_p99_ms``):

* ``ttft_ms``: request start -> first token-bearing event (see :mod:`aichaos.load.stream`);
  for a response that is not streamed, the first body byte.
* ``itl_ms``: every gap between two successive token events of one response.
* ``tpot_ms``: ``(e2e - ttft) / (output_tokens - 1)``, for responses of >= 2 tokens.
* ``e2e_ms``: request start -> the response's last byte.
* ``output_tokens``: usage-field count when the server sent one, else token events.

TTFT and ITL are kept for every 2xx response that produced them, including a stream cut
mid-way (the gaps it showed are real); e2e, TPOT and tokens only for 2xx responses that
ended at the HTTP level. A streamed response is *incomplete* when its stream did not end
properly: the connection broke or timed out after the headers, or the body ended without
``[DONE]`` / ``finish_reason`` / ``message_stop``. A request counts toward goodput when
it was 2xx, complete (when streamed), and met every bound of :class:`GoodputSettings`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from aichaos.load.histogram import LatencyHistogram
from aichaos.load.stream import StreamTracker
from aichaos.spec import Spec

__all__ = [
    "DISTRIBUTIONS",
    "GoodputSettings",
    "StreamWindow",
    "first_token_ages",
    "stream_metric_names",
]

#: the per-request distributions a window reports, as SLOs name them
DISTRIBUTIONS = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")
_SCALARS = (
    "streams",
    "incomplete_streams",
    "incomplete_stream_rate",
    "output_tokens",
    "output_tokens_rps",
    "output_tokens_from_usage",
)
_SUMMARIES = tuple(
    f"{d[:-3]}_{s}" for d in DISTRIBUTIONS for s in ("p50_ms", "p90_ms", "p99_ms", "max_ms")
)
_GOODPUT = ("goodput_rps", "good_requests")
_LIMIT_MS = 3_600_000.0


class GoodputSettings(Spec):
    """Per-request bounds a request must meet to count toward ``goodput_rps``.

    >>> GoodputSettings(ttft_ms=800, tpot_ms=60).e2e_ms is None
    True
    """

    ttft_ms: float | None = Field(None, gt=0, le=_LIMIT_MS, description="time to first token")
    tpot_ms: float | None = Field(None, gt=0, le=_LIMIT_MS, description="time per output token")
    e2e_ms: float | None = Field(None, gt=0, le=_LIMIT_MS, description="end-to-end latency")

    @model_validator(mode="after")
    def _at_least_one(self) -> GoodputSettings:
        if self.ttft_ms is None and self.tpot_ms is None and self.e2e_ms is None:
            raise ValueError("give at least one of ttft_ms, tpot_ms, e2e_ms")
        return self


def stream_metric_names(goodput: bool) -> frozenset[str]:
    """Every streaming name a window may report (goodput ones only with goodput set)."""
    return frozenset((*DISTRIBUTIONS, *_SCALARS, *_SUMMARIES, *(_GOODPUT if goodput else ())))


def first_token_ages(pending: Iterable[Any], now: float) -> list[int]:
    """Ages in µs of the generator's requests in flight that have no first token yet."""
    return [
        int((now - r.sent) * 1e6)
        for r in pending
        if not r.done and (r.conn is None or not r.conn.stream.started)
    ]


@dataclass
class StreamWindow:
    """The streaming figures of one window; mergeable like :class:`WindowStats`."""

    ttft: LatencyHistogram = field(default_factory=LatencyHistogram)
    itl: LatencyHistogram = field(default_factory=LatencyHistogram)
    tpot: LatencyHistogram = field(default_factory=LatencyHistogram)
    e2e: LatencyHistogram = field(default_factory=LatencyHistogram)
    streams: int = 0
    incomplete: int = 0
    output_tokens: int = 0
    usage_tokens: int = 0
    #: requests that met every goodput bound; ``None`` when no goodput is set
    good: int | None = None
    #: ages of in-flight requests that had no first token at the window's end
    inflight_ttft_us: list[int] = field(default_factory=list)

    def response(
        self,
        s: StreamTracker,
        sent: float,
        now: float,
        status: int,
        goodput: GoodputSettings | None,
    ) -> None:
        """Record a response that arrived in full at ``now``."""
        ok = 200 <= status < 300
        if not s.kind and ok and goodput is None:
            # the common plain answer, on every request of a plain workload: two records
            self.e2e.record_us(int((now - sent) * 1e6))
            if s.first_byte:
                self.ttft.record_us(int((s.first_byte - sent) * 1e6))
            return
        if s.streamed:
            self.streams += 1
            if not s.complete or s.overflow:
                self.incomplete += 1
        if not ok:
            return
        ttft_us = self._times(s, sent)
        e2e_us = int((now - sent) * 1e6)
        self.e2e.record_us(e2e_us)
        tokens = s.tokens
        self.output_tokens += tokens
        if s.from_usage:
            self.usage_tokens += tokens
        tpot_us = 0
        if tokens > 1 and ttft_us is not None:
            tpot_us = (e2e_us - ttft_us) // (tokens - 1)
            self.tpot.record_us(tpot_us)
        if goodput is None:
            return
        if s.streamed and (not s.complete or s.overflow):
            return
        g = goodput
        if g.ttft_ms is not None and (ttft_us is None or ttft_us > g.ttft_ms * 1000):
            return
        if g.tpot_ms is not None and tpot_us > g.tpot_ms * 1000:
            return
        if g.e2e_ms is not None and e2e_us > g.e2e_ms * 1000:
            return
        self.good = (self.good or 0) + 1

    def failure(self, s: StreamTracker | None, sent: float) -> None:
        """Record a request that ended without a full response (reset, timeout...);
        ``s`` is None when it never had a connection."""
        if s is not None and s.streamed:  # a stream broken after its headers
            self.streams += 1
            self.incomplete += 1
            self._times(s, sent)

    def _times(self, s: StreamTracker, sent: float) -> int | None:
        """Record TTFT and ITLs; returns the TTFT in µs (None without a first token)."""
        times = s.token_times if s.streamed else ([s.first_byte] if s.first_byte else [])
        if not times:
            return None
        ttft_us = int((times[0] - sent) * 1e6)
        self.ttft.record_us(ttft_us)
        record = self.itl.record_us
        prev = times[0]
        same = 0  # events read together share a time: their zero gaps go in at once
        for t in times[1:]:
            if t == prev:
                same += 1
                continue
            record(int((t - prev) * 1e6))
            prev = t
        if same:
            record(0, same)
        return ttft_us

    def merge(self, other: StreamWindow, *, inflight: bool = False) -> StreamWindow:
        """Add ``other`` into this window; returns ``self``."""
        for mine, theirs in zip(self._hists(), other._hists(), strict=True):
            mine.merge(theirs)
        self.streams += other.streams
        self.incomplete += other.incomplete
        self.output_tokens += other.output_tokens
        self.usage_tokens += other.usage_tokens
        if other.good is not None:
            self.good = (self.good or 0) + other.good
        if inflight:
            self.inflight_ttft_us.extend(other.inflight_ttft_us)
        return self

    def _hists(self) -> tuple[LatencyHistogram, ...]:
        return (self.ttft, self.itl, self.tpot, self.e2e)

    def distributions(self) -> dict[str, LatencyHistogram]:
        """The per-request distributions, non-empty ones only.

        Requests still without a first token at the window's end enter TTFT at their
        age, a lower bound, as ``p99_ms`` does with latency: a stalled server shows
        while it stalls instead of leaving the window without data.
        """
        ttft = self.ttft
        if self.inflight_ttft_us:
            ttft = ttft.copy()
            for us in self.inflight_ttft_us:
                ttft.record_us(us)
        out = {"ttft_ms": ttft, "itl_ms": self.itl, "tpot_ms": self.tpot, "e2e_ms": self.e2e}
        return {k: h for k, h in out.items() if h.count}

    def metrics(self, duration_s: float) -> dict[str, float]:
        """The scalar figures: counts, rates, and p50/p90/p99/max of each distribution."""
        d = duration_s or 1.0
        out = {
            "streams": float(self.streams),
            "incomplete_streams": float(self.incomplete),
            "output_tokens": float(self.output_tokens),
            "output_tokens_rps": self.output_tokens / d,
            "output_tokens_from_usage": float(self.usage_tokens),
        }
        if self.streams:
            out["incomplete_stream_rate"] = self.incomplete / self.streams
        for name, h in self.distributions().items():
            out.update(h.summary(prefix=name[:-2]))
        if self.good is not None:
            out["good_requests"] = float(self.good)
            out["goodput_rps"] = self.good / d
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (histograms encoded)."""
        return {
            "ttft": self.ttft.encode(),
            "itl": self.itl.encode(),
            "tpot": self.tpot.encode(),
            "e2e": self.e2e.encode(),
            "streams": self.streams,
            "incomplete": self.incomplete,
            "output_tokens": self.output_tokens,
            "usage_tokens": self.usage_tokens,
            "good": self.good,
            "inflight_ttft_us": list(self.inflight_ttft_us),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamWindow:
        """Inverse of :meth:`to_json`."""
        good = data.get("good")
        return cls(
            ttft=LatencyHistogram.decode(data["ttft"]),
            itl=LatencyHistogram.decode(data["itl"]),
            tpot=LatencyHistogram.decode(data["tpot"]),
            e2e=LatencyHistogram.decode(data["e2e"]),
            streams=int(data["streams"]),
            incomplete=int(data["incomplete"]),
            output_tokens=int(data["output_tokens"]),
            usage_tokens=int(data["usage_tokens"]),
            good=None if good is None else int(good),
            inflight_ttft_us=[int(v) for v in data.get("inflight_ttft_us", [])],
        )
