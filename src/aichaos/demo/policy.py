"""The model server's resilience policy on its feature calls.

* a timeout per attempt (the HTTP client's);
* retry with exponential backoff and jitter (tenacity), bounded by attempts and time;
* a circuit breaker: after ``failure_threshold`` consecutive failures it opens and calls
  fail fast for ``reset_timeout_s``; then one trial call (half-open) closes it again or
  reopens it;
* the caller answers with a fallback when the call fails or the breaker is open.

>>> breaker = CircuitBreaker(failure_threshold=5, reset_timeout_s=2.0)
>>> client = FeatureClient("http://127.0.0.1:9000", breaker=breaker)  # doctest: +SKIP
>>> features = await client.features(17)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["BreakerOpen", "CircuitBreaker", "FeatureClient", "FeatureError"]


class FeatureError(Exception):
    """The feature service answered with an error status or a malformed body."""


class BreakerOpen(Exception):
    """The circuit breaker is open: the call was not attempted."""


class CircuitBreaker:
    """Consecutive-failure circuit breaker with a half-open trial (clock injected)."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if reset_timeout_s <= 0:
            raise ValueError(f"reset_timeout_s must be > 0, got {reset_timeout_s}")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self.opens = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.reset_timeout_s:
            return "half-open"
        return "open"

    def before(self) -> None:
        """Raise :class:`BreakerOpen` unless a call may go ahead now."""
        state = self.state
        if state == "open" or (state == "half-open" and self.trial_running):
            raise BreakerOpen(f"circuit open for {self.reset_timeout_s:g}s")
        if state == "half-open":
            self.trial_running = True

    def success(self) -> None:
        """A call succeeded: close."""
        self.failures = 0
        self.opened_at = None
        self.trial_running = False

    def failure(self) -> None:
        """A call failed: open after the threshold (or at once after a failed trial)."""
        self.failures += 1
        if self.trial_running or self.failures >= self.failure_threshold:
            if self.opened_at is None or self.trial_running:
                self.opens += 1
            self.opened_at = self.clock()
        self.trial_running = False


class FeatureClient:
    """Fetch an entity's features with timeout, retries and a circuit breaker."""

    def __init__(
        self,
        base_url: str,
        *,
        breaker: CircuitBreaker,
        attempt_timeout_s: float = 0.2,
        attempts: int = 2,
        budget_s: float = 0.6,
        on_retry: Callable[[], None] = lambda: None,
    ) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(attempt_timeout_s),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self.breaker = breaker
        self.attempts = attempts
        self.budget_s = budget_s
        self.on_retry = on_retry

    async def _once(self, entity: int) -> list[float]:
        resp = await self.client.get(f"/features/{entity}")
        if resp.status_code != 200:
            raise FeatureError(f"feature service answered {resp.status_code}")
        values = resp.json().get("features")
        if not isinstance(values, list):
            raise FeatureError("feature service answered without 'features'")
        return [float(v) for v in values]

    async def features(self, entity: int) -> list[float]:
        """The features of ``entity``; raises on failure (BreakerOpen when open)."""
        import httpx
        from tenacity import (
            AsyncRetrying,
            retry_if_exception_type,
            stop_after_attempt,
            stop_after_delay,
            wait_exponential_jitter,
        )

        self.breaker.before()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.budget_s),
            wait=wait_exponential_jitter(initial=0.02, max=0.1, jitter=0.01),
            retry=retry_if_exception_type((httpx.TransportError, FeatureError)),
            before_sleep=lambda _state: self.on_retry(),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    values = await self._once(entity)
        except (httpx.HTTPError, FeatureError, ValueError):
            self.breaker.failure()
            raise
        self.breaker.success()
        return values

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    def describe(self) -> dict[str, Any]:
        """Settings, for /health."""
        return {"attempts": self.attempts, "budget_s": self.budget_s, "breaker": self.breaker.state}
