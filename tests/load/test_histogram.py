"""HdrHistogram wrapper: exact merges, round trips, percentiles as HdrHistogram defines them."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichaos.errors import ValidationError
from aichaos.load.histogram import LatencyHistogram


def filled(values: list[int]) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in values:
        h.record_us(v)
    return h


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 10**9), max_size=200),
    st.lists(st.integers(1, 10**9), max_size=200),
    st.lists(st.integers(1, 10**9), max_size=200),
)
def test_merge_of_parts_equals_histogram_of_all(a: list[int], b: list[int], c: list[int]) -> None:
    whole = filled(a + b + c)
    merged = filled(a).merge(filled(b)).merge(filled(c))
    assert merged == whole
    assert merged.count == len(a) + len(b) + len(c)
    assert merged.summary() == whole.summary()


def test_encode_decode_round_trip_then_merge() -> None:
    rng = random.Random(3)
    parts = [filled([rng.randint(50, 500_000) for _ in range(1000)]) for _ in range(4)]
    merged, direct = LatencyHistogram(), LatencyHistogram()
    for p in parts:
        merged.merge(LatencyHistogram.decode(p.encode()))
        direct.merge(p)
    assert merged == direct
    assert merged == filled([v for p in parts for v in _values(p)])
    assert merged.count == 4000
    assert LatencyHistogram.decode(merged.encode()) == merged


def _values(h: LatencyHistogram) -> list[int]:
    out = []
    for item in h._h.get_recorded_iterator():
        out += [item.value_iterated_to] * item.count_added_in_this_iter_step
    return out


def test_percentiles_match_hdrhistogram_and_numbers() -> None:
    h = filled(list(range(1000, 101_000, 100)))  # 1 ms .. 101 ms, 1000 values
    for p in (50, 90, 99, 99.9, 100):
        assert h.percentile_ms(p) == h._h.get_value_at_percentile(p) / 1000
    assert h.percentile_ms(50) == pytest.approx(50.9, rel=0.002)
    assert h.percentile_ms(99) == pytest.approx(99.9, rel=0.002)
    assert h.max_ms == pytest.approx(100.9, rel=0.002)
    assert h.count_at_or_above_ms(91.0) == 100


def test_empty_histogram_summaries_are_zero() -> None:
    h = LatencyHistogram()
    assert h.summary() == {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    assert h.count_at_or_above_ms(1) == 0


def test_values_out_of_range_are_clamped_not_lost() -> None:
    h = filled([0, -5, 10**13])
    assert h.count == 3
    assert h.max_ms >= 3_600_000


def test_decode_rejects_garbage() -> None:
    with pytest.raises(ValidationError, match="not an encoded HdrHistogram"):
        LatencyHistogram.decode("bm90IGEgaGlzdG9ncmFt")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=200),
    st.sampled_from(["plain", "merged", "decoded"]),
)
def test_percentiles_over_the_occupied_buckets_equal_hdrhistogram(
    values: list[int], route: str
) -> None:
    """Summaries read only the buckets between the smallest and largest value; whatever
    way the histogram was built, they answer what hdrh's full walk answers."""
    h = LatencyHistogram()
    for v in values:
        h.record_us(v)
    if route == "merged":
        h = LatencyHistogram().merge(h)
    elif route == "decoded":
        h = LatencyHistogram.decode(h.encode())
    for p in (0.1, 50.0, 90.0, 99.0, 99.9, 100.0):
        assert h.percentile_ms(p) == h._h.get_value_at_percentile(p) / 1000.0
    for ms in (0.001, min(values) / 1000, max(values) / 1000, 2e6):
        index = h._h.get_counts_array_index(max(1, int(ms * 1000)))
        expected = sum(h._h.get_count_at_index(i) for i in range(index, h._h.counts_len))
        assert h.count_at_or_above_ms(ms) == expected


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=-5, max_value=5 * 10**9), st.integers(1, 3)),
        min_size=1,
        max_size=100,
    )
)
def test_inline_record_is_hdrhistograms_record_value(values: list[tuple[int, int]]) -> None:
    """The hot path's own index arithmetic fills exactly the buckets hdrh would."""
    from aichaos.load.histogram import HIGHEST_US, LOWEST_US, _new

    ours, ref = LatencyHistogram(), _new()
    for v, n in values:
        ours.record_us(v, n)
        ref.record_value(min(max(v, LOWEST_US), HIGHEST_US), n)
    assert list(ours._h.counts) == list(ref.counts)
    assert (ours._h.total_count, ours._h.min_value, ours._h.max_value) == (
        ref.total_count,
        ref.min_value,
        ref.max_value,
    )
