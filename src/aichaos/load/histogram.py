"""Latency histograms in HdrHistogram form, mergeable across windows and processes.

Values are recorded in integer microseconds from 1 µs to 1 hour with 3 significant
digits (relative error <= 0.1 %). Two histograms made here always share that layout, so
:meth:`LatencyHistogram.merge` is exact: merging the windows of several generator
processes gives the same counts as one generator that saw every request. The text form
from :meth:`LatencyHistogram.encode` is the standard compressed HdrHistogram V2 base64
payload, readable by every HdrHistogram implementation (Java, Go, Rust, C).

>>> h = LatencyHistogram()
>>> h.record_s(0.012)
>>> LatencyHistogram.decode(h.encode()).count
1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aichaos.errors import ValidationError

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

__all__ = ["LatencyHistogram"]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
DIGITS = 3
#: the percentiles every window summary reports
PERCENTILES = (50.0, 90.0, 99.0)


def _new() -> HdrHistogram:
    try:
        from hdrh.histogram import HdrHistogram
    except ImportError as exc:  # the `load` extra is missing
        raise ValidationError(
            "the load generator needs the 'hdrhistogram' package: pip install 'aichaos[load]'"
        ) from exc
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


class LatencyHistogram:
    """An HdrHistogram of durations in microseconds (1 µs .. 1 h, 3 significant digits)."""

    __slots__ = ("_counts", "_h", "_half", "_half_mag", "_mask", "_shift", "_unit", "record_us")

    def __init__(self, hist: HdrHistogram | None = None) -> None:
        h = self._h = hist if hist is not None else _new()
        # hdrh's record_value in five Python calls per value; the same index arithmetic
        # inline, with int.bit_length for its leading-zero count, costs a fraction of it
        # (several records per request on the hot path)
        self._counts = h.counts
        self._mask = h.sub_bucket_mask
        self._unit = h.unit_magnitude
        self._half_mag = h.sub_bucket_half_count_magnitude
        self._half = h.sub_bucket_half_count
        self._shift = h.unit_magnitude + h.sub_bucket_half_count_magnitude + 1
        # bound once: this is called per request on the hot path
        self.record_us: Any = self._record_us

    def _record_us(self, us: int, count: int = 1) -> None:
        """Record a duration in microseconds ``count`` times (clamped into the range);
        exactly hdrh's ``record_value``."""
        if us < LOWEST_US:
            us = LOWEST_US
        elif us > HIGHEST_US:
            us = HIGHEST_US
        bucket = (us | self._mask).bit_length() - self._shift
        index = ((bucket + 1) << self._half_mag) + (us >> (bucket + self._unit)) - self._half
        self._counts[index] += count
        h = self._h
        h.total_count += count
        if us < h.min_value:
            h.min_value = us
        if us > h.max_value:
            h.max_value = us

    def record_s(self, seconds: float) -> None:
        """Record one duration in seconds."""
        self._record_us(int(seconds * 1e6))

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s counts into this histogram (exact); returns ``self``."""
        if other.count:
            self._h.add(other._h)
        return self

    def copy(self) -> LatencyHistogram:
        """An independent histogram with the same counts."""
        return LatencyHistogram().merge(self)

    def encode(self) -> str:
        """The compressed, base64 HdrHistogram V2 form (ASCII)."""
        return bytes(self._h.encode()).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        """Inverse of :meth:`encode`; a :class:`ValidationError` for a corrupt payload."""
        from hdrh.histogram import HdrHistogram

        try:
            h = HdrHistogram.decode(text.encode("ascii"))
        except Exception as exc:  # hdrh raises assorted types for bad input
            raise ValidationError(f"not an encoded HdrHistogram: {exc}") from exc
        # re-home into the standard layout so merges stay exact whatever the source
        return cls().merge(cls(h))

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return int(self._h.get_total_count())

    def _cumulative(self) -> tuple[Any, int]:
        # hdrh walks its counts array in Python once per percentile; one numpy cumsum over
        # the same C array answers every percentile at once. Only the buckets from the
        # smallest to the largest value: a window's summaries are computed on the event
        # loop, and the whole array (23,552 buckets) would stall it for every histogram.
        import numpy as np

        h = self._h
        counts = np.ctypeslib.as_array(h.counts)
        lo = int(h.get_counts_array_index(h.get_min_value()))
        hi = int(h.get_counts_array_index(h.max_value)) + 1
        cumulative = np.cumsum(counts[lo:hi], dtype=np.int64)
        if not len(cumulative) or int(cumulative[-1]) != self.count:
            return np.cumsum(counts, dtype=np.int64), 0  # min/max tracking is off: all
        return cumulative, lo

    def _value_at(self, cumulative: tuple[Any, int], percentile: float) -> float:
        import numpy as np

        h = self._h
        cum, lo = cumulative
        target = h.get_target_count_at_percentile(percentile)
        index = lo + int(np.searchsorted(cum, target, side="left"))
        return float(h.get_highest_equivalent_value(h.get_value_from_index(index))) / 1000.0

    def percentile_ms(self, percentile: float) -> float:
        """The value at ``percentile`` (0-100] in milliseconds; 0.0 when empty.

        Same definition as HdrHistogram's ``getValueAtPercentile`` (highest equivalent
        value of the first bucket whose cumulative count reaches the percentile).
        """
        if not self.count:
            return 0.0
        return self._value_at(self._cumulative(), percentile)

    @property
    def max_ms(self) -> float:
        """Largest recorded value in milliseconds (its HdrHistogram equivalent)."""
        if not self.count:
            return 0.0
        return float(self._h.get_highest_equivalent_value(self._h.get_max_value())) / 1000.0

    @property
    def min_ms(self) -> float:
        """Smallest recorded value in milliseconds (its HdrHistogram equivalent)."""
        if not self.count:
            return 0.0
        return float(self._h.get_lowest_equivalent_value(self._h.get_min_value())) / 1000.0

    @property
    def mean_ms(self) -> float:
        """Mean in milliseconds; 0.0 when empty (slow-ish: for run summaries)."""
        return float(self._h.get_mean_value()) / 1000.0 if self.count else 0.0

    def count_at_or_above_ms(self, ms: float) -> int:
        """How many recorded values are >= ``ms`` (to HdrHistogram precision)."""
        if not self.count:
            return 0
        h = self._h
        index = int(h.get_counts_array_index(max(LOWEST_US, int(ms * 1000))))
        cum, lo = self._cumulative()
        if index - lo <= 0:
            return self.count
        below = int(cum[min(index - lo, len(cum)) - 1])
        return self.count - below

    def summary(self, prefix: str = "") -> dict[str, float]:
        """``{prefix}p50_ms``, ``p90_ms``, ``p99_ms`` and ``max_ms`` (zeros when empty)."""
        if self.count:
            cumulative = self._cumulative()
            out = {f"{prefix}p{p:g}_ms": self._value_at(cumulative, p) for p in PERCENTILES}
        else:
            out = {f"{prefix}p{p:g}_ms": 0.0 for p in PERCENTILES}
        out[f"{prefix}max_ms"] = self.max_ms
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        return self.count == other.count and bool(self._h.equals(other._h))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LatencyHistogram(count={self.count}, p99_ms={self.percentile_ms(99):.3f})"
