"""The one latency model of aichaos's delays: ``latency_ms ± jitter_ms``, uniform, never < 0.

The proxy's ``latency``, ``http_delay`` and ``token_rate`` toxics and the in-process hooks'
``uniform`` latency all draw a delay the same way, from the RNG they are given (the
toxic's or the step's, so a run's seed reproduces it):

* the delay is uniform on ``[latency_ms - jitter_ms, latency_ms + jitter_ms]``
  (``random.Random.uniform``), so its mean is ``latency_ms`` and its standard deviation
  ``jitter_ms / sqrt(3)``;
* a draw below 0 is 0 (a delay cannot send a byte early), which raises the mean when
  ``jitter_ms > latency_ms``;
* ``jitter_ms == 0`` draws nothing from the RNG, so adding a delay without jitter does
  not shift the random sequence of the faults beside it.

>>> import random
>>> jittered_ms(100, 0, random.Random(1))
100.0
>>> 90 <= jittered_ms(100, 10, random.Random(1)) <= 110
True
"""

from __future__ import annotations

import random

__all__ = ["jittered_ms"]


def jittered_ms(latency_ms: float, jitter_ms: float, rng: random.Random) -> float:
    """One delay in ms: uniform on ``latency_ms ± jitter_ms``, clamped at 0 (see module)."""
    if not jitter_ms:
        return max(0.0, float(latency_ms))
    return max(0.0, latency_ms + rng.uniform(-jitter_ms, jitter_ms))
