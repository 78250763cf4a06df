"""The one latency model: latency_ms ± jitter_ms, uniform, clamped at 0, seeded."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from aichaos.inprocess.hooks import Latency
from aichaos.jitter import jittered_ms

N = 20_000


def test_uniform_on_latency_plus_minus_jitter() -> None:
    rng = random.Random(7)
    draws = [jittered_ms(100, 30, rng) for _ in range(N)]
    assert 70 <= min(draws) < 71 and 129 < max(draws) <= 130
    assert statistics.fmean(draws) == pytest.approx(100, abs=1.0)
    assert statistics.pstdev(draws) == pytest.approx(30 / math.sqrt(3), rel=0.03)
    # uniform, not bell-shaped: each sixth of the range holds about a sixth of the draws
    sixths = [sum(70 + 10 * i <= d < 80 + 10 * i for d in draws) for i in range(6)]
    assert all(abs(n - N / 6) < N * 0.02 for n in sixths), sixths


def test_a_draw_below_zero_is_zero() -> None:
    rng = random.Random(3)
    draws = [jittered_ms(10, 30, rng) for _ in range(N)]
    assert min(draws) == 0.0 and max(draws) <= 40
    # P(draw <= 0) = 20/60 of the range
    assert sum(d == 0.0 for d in draws) / N == pytest.approx(1 / 3, abs=0.02)


def test_no_jitter_draws_nothing_from_the_rng() -> None:
    rng = random.Random(5)
    assert jittered_ms(250, 0, rng) == 250.0
    assert rng.random() == random.Random(5).random()


def test_the_same_seed_gives_the_same_delays() -> None:
    a, b = random.Random(11), random.Random(11)
    assert [jittered_ms(50, 20, a) for _ in range(50)] == [
        jittered_ms(50, 20, b) for _ in range(50)
    ]


def test_the_inprocess_uniform_latency_is_the_same_model() -> None:
    hook = Latency(mean_ms=80, jitter_ms=25, distribution="uniform")
    a, b = random.Random(9), random.Random(9)
    assert [hook.sample_s(a) * 1000 for _ in range(100)] == pytest.approx(
        [jittered_ms(80, 25, b) for _ in range(100)]
    )
