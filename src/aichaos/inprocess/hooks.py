"""Hooks: named in-process faults as decorators and context managers.

A :class:`Hook` says *what* happens when it fires (latency, an exception, a replaced
outcome, or an HTTP answer for the interceptors); its :class:`~aichaos.inprocess.board.Switchboard`
says *whether* it is armed; ``rate`` and ``when`` say *which calls* are hit. ``when`` may
be a callable or a :class:`contextvars.ContextVar` (truthy value: hit), so only test
tenants or marked requests see the fault.

>>> import contextvars
>>> chaos_tenant = contextvars.ContextVar("chaos_tenant", default=False)
>>> slow = Hook("feature-store", latency=Latency(mean_ms=200, jitter_ms=50,
...             distribution="uniform"), rate=0.5, when=chaos_tenant, armed=True)
>>> @slow
... def fetch_features(user_id: str) -> list[float]: ...

Used as a context manager, a hook injects latency and exceptions on entry; the object
it yields applies the outcome replacement to a value: ``with hook as shot: y = shot(f(x))``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar, cast

from aichaos.errors import ValidationError
from aichaos.inprocess.board import BOARD, Switchboard
from aichaos.jitter import jittered_ms

__all__ = ["Hook", "HttpFault", "Latency", "Raise", "Shot"]

P = ParamSpec("P")
R = TypeVar("R")

Distribution = Literal["fixed", "uniform", "normal", "exponential"]


@dataclass(frozen=True)
class Latency:
    """Added delay: ``fixed`` mean, ``uniform`` mean ± jitter (:mod:`aichaos.jitter`, the
    proxy's rule), ``normal`` (sd = jitter),
    or ``exponential`` (mean = mean_ms). Never negative."""

    mean_ms: float
    jitter_ms: float = 0.0
    distribution: Distribution = "fixed"

    def __post_init__(self) -> None:
        if not self.mean_ms >= 0:
            raise ValidationError(f"latency mean_ms must be >= 0, got {self.mean_ms}")
        if not self.jitter_ms >= 0:
            raise ValidationError(f"latency jitter_ms must be >= 0, got {self.jitter_ms}")
        if self.distribution not in ("fixed", "uniform", "normal", "exponential"):
            raise ValidationError(
                "latency distribution must be one of fixed, uniform, normal, exponential, "
                f"got {self.distribution!r}"
            )

    def sample_s(self, rng: random.Random, mean_ms: float | None = None) -> float:
        """One delay in seconds (``mean_ms`` overrides the configured mean)."""
        mean = self.mean_ms if mean_ms is None else mean_ms
        if self.distribution == "uniform":
            ms = jittered_ms(mean, self.jitter_ms, rng)
        elif self.distribution == "normal":
            ms = rng.gauss(mean, self.jitter_ms)
        elif self.distribution == "exponential":
            ms = rng.expovariate(1.0 / mean) if mean > 0 else 0.0
        else:
            ms = mean
        return max(0.0, ms) / 1000.0


@dataclass(frozen=True)
class Raise:
    """Raise ``exc_type(message)`` instead of running the call."""

    exc_type: type[BaseException] = RuntimeError
    message: str = "fault injected by aichaos"

    def __post_init__(self) -> None:
        if not (isinstance(self.exc_type, type) and issubclass(self.exc_type, BaseException)):
            raise ValidationError(f"exc_type must be an exception class, got {self.exc_type!r}")

    def build(self) -> BaseException:
        """The exception instance to raise."""
        return self.exc_type(self.message)


@dataclass(frozen=True)
class HttpFault:
    """An HTTP-level fault for the interceptors: answer ``status_code`` or ``abort``.

    ``path_prefix`` and ``method`` narrow which requests it applies to. ``abort`` makes the
    client see a transport error (connect failure, timeout, reset) instead of a response.
    """

    status_code: int | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    abort: Literal["connect", "timeout", "reset"] | None = None
    path_prefix: str | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        if self.status_code is not None and not 100 <= self.status_code <= 599:
            raise ValidationError(f"status_code must be in 100..599, got {self.status_code}")
        if self.abort not in (None, "connect", "timeout", "reset"):
            raise ValidationError(
                f"abort must be one of connect, timeout, reset, got {self.abort!r}"
            )

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with ``method`` and ``path`` is in this fault's scope."""
        if self.method is not None and method.upper() != self.method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass
class Shot:
    """What one call gets: nothing (``fired`` False), or a delay, error, answer, replacement."""

    fired: bool = False
    delay_s: float = 0.0
    error: Raise | None = None
    http: HttpFault | None = None
    replace: Callable[[Any], Any] | None = None

    def __call__(self, value: Any) -> Any:
        """Apply the outcome replacement to ``value`` (identity when not fired)."""
        if self.fired and self.replace is not None:
            return self.replace(value)
        return value

    def raise_error(self) -> None:
        """Raise the configured exception if this shot fired with one."""
        if self.fired and self.error is not None:
            raise self.error.build()


_MISS = Shot()


class Hook:
    """A named in-process fault: decorator for sync/async callables and context manager.

    ``armed=True`` arms the name at once with no TTL (handy in tests); otherwise the name
    waits to be armed through the board (locally or by the control endpoint).
    """

    def __init__(
        self,
        name: str,
        *,
        latency: Latency | None = None,
        error: Raise | None = None,
        replace: Callable[[Any], Any] | None = None,
        http: HttpFault | None = None,
        rate: float = 1.0,
        when: Callable[[], bool] | ContextVar[Any] | None = None,
        board: Switchboard | None = None,
        armed: bool = False,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValidationError(f"rate must be in [0, 1], got {rate}")
        if replace is not None and not callable(replace):
            raise ValidationError(f"replace must be callable, got {replace!r}")
        self.name = name
        self.latency = latency
        self.error = error
        self.replace = replace
        self.http = http
        self.rate = rate
        self.when = when
        self.board = BOARD if board is None else board
        self.rng = rng if rng is not None else random.Random(0)
        self.sleep = sleep
        self.async_sleep = async_sleep
        self.fired = 0
        self.board.register(name)
        if armed:
            self.board.arm(name)

    def _selected(self) -> bool:
        if self.when is None:
            return True
        if isinstance(self.when, ContextVar):
            return bool(self.when.get(None))
        return bool(self.when())

    def shot(self, method: str = "", path: str = "") -> Shot:
        """Decide for one call: armed, selected by ``when``, in HTTP scope, within ``rate``."""
        sw = self.board.switch(self.name)
        if sw is None:
            return _MISS
        # while armed, every call and every firing is tallied: the fault's proof that it
        # reached the code (a hook armed on a path nobody calls fires 0 of 0)
        if not self._selected() or (
            self.http is not None and method and not self.http.matches(method, path)
        ):
            self.board.tally(self.name, {"calls": 1, "fired": 0})
            return _MISS
        rate = self.rate if sw.rate is None else sw.rate
        if self.rng.random() >= rate:
            self.board.tally(self.name, {"calls": 1, "fired": 0})
            return _MISS
        self.board.tally(self.name, {"calls": 1, "fired": 1})
        self.fired += 1
        delay = 0.0
        if self.latency is not None:
            delay = self.latency.sample_s(self.rng, sw.latency_ms)
        elif sw.latency_ms is not None:
            delay = sw.latency_ms / 1000.0
        return Shot(True, delay, self.error, self.http, self.replace)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn`` (sync or async) so each call may be delayed, failed or altered."""
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                shot = self.shot()
                if shot.delay_s:
                    await self.async_sleep(shot.delay_s)
                shot.raise_error()
                return shot(await afn(*args, **kwargs))

            return cast(Callable[P, R], awrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            shot = self.shot()
            if shot.delay_s:
                self.sleep(shot.delay_s)
            shot.raise_error()
            return cast(R, shot(fn(*args, **kwargs)))

        return wrapper

    def __enter__(self) -> Shot:
        shot = self.shot()
        if shot.delay_s:
            self.sleep(shot.delay_s)
        shot.raise_error()
        return shot

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def __aenter__(self) -> Shot:
        shot = self.shot()
        if shot.delay_s:
            await self.async_sleep(shot.delay_s)
        shot.raise_error()
        return shot

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
