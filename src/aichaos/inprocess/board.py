"""The switchboard: which named in-process faults are armed, until when, at what rate.

Hooks (decorators, context managers, HTTP interceptors) carry a *name*; whether a named
hook fires is decided here. An experiment arms names remotely through the control
endpoint (:mod:`aichaos.inprocess.control`) with a TTL, so a hook whose runner died
disarms itself when the TTL lapses: expiry is checked lazily against the board's clock
on every lookup, no timer thread needed.

The name ``"*"`` arms every hook at once.

A hook whose work runs in other processes (DataLoader workers) attaches a
:class:`Mirror`: the board publishes every change of the name's switch to it (arm, renew,
disarm, expiry) while holding its lock, so mirrors see changes in order, and adds what
the mirror collected to the name's tally.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

from aichaos.errors import RegistryError, ValidationError

__all__ = ["BOARD", "Mirror", "Switch", "Switchboard"]

WILDCARD = "*"


@dataclass(frozen=True)
class Switch:
    """One armed name: its deadline (``inf``: until disarmed) and parameter overrides.

    ``corruption`` is a data corruption spec (``{name: label-flip, fraction: 0.2}``) for
    data hooks (:class:`~aichaos.inprocess.data_hook.DataHook`); ``training`` a training
    fault spec (``{kind: nan, values: grads}``) for training hooks (:mod:`aichaos.training`);
    ``generation`` tells one arming from the next (a renewal keeps it).
    """

    until: float = math.inf
    rate: float | None = None
    latency_ms: float | None = None
    corruption: dict[str, Any] | None = None
    generation: int = 0
    training: dict[str, Any] | None = None


class Mirror(Protocol):
    """A copy of one name's switch outside this process, and the counts made there."""

    def publish(self, switch: Switch | None, now: float) -> None:
        """The name's switch changed (``None``: disarmed); ``now`` is the board's clock."""

    def collect(self, wait_s: float) -> dict[str, float | str]:
        """What was counted since the last arming; resets it (waits for work in flight)."""


def _check(name: str, value: float | None, lo: float, hi: float) -> None:
    if value is not None and not lo <= value <= hi:
        raise ValidationError(f"{name} must be in [{lo}, {hi}], got {value}")


class Switchboard:
    """Armed state of named hooks for one process (thread-safe).

    >>> board = Switchboard()
    >>> board.register("predict")
    >>> board.arm("predict", ttl_s=30, rate=0.5)
    >>> board.switch("predict").rate
    0.5
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        #: calls of a hook that found it armed and have not tallied yet (see firing)
        self._busy = threading.Condition(self._lock)
        self._inflight = 0
        self._names: set[str] = set()
        self._data: set[str] = set()
        #: training hooks: name -> the hook's check of a training spec
        self._training: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._armed: dict[str, Switch] = {}
        self._tallies: dict[str, dict[str, float | str]] = {}
        self._generation = 0
        self._mirrors: dict[str, list[Mirror]] = {}

    def mirror(self, name: str, mirror: Mirror) -> None:
        """Publish every change of ``name``'s switch to ``mirror``, starting with the current one.

        The board keeps the mirror for its lifetime (a wrapped dataset lives as long).
        """
        with self._lock:
            self._known(name)
            self._mirrors.setdefault(name, []).append(mirror)
            mirror.publish(self._armed.get(name), self.clock())

    def _publish(self, name: str, sw: Switch | None) -> None:
        # under self._lock: mirrors see the changes in the board's order
        for mirror in self._mirrors.get(name, ()):
            mirror.publish(sw, self.clock())

    def register(
        self,
        name: str,
        *,
        data: bool = False,
        training: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Announce a hook name, so the control endpoint can list and arm it.

        ``data``: a data hook, armed with a corruption (and only with one).
        ``training``: a training hook's check of the training spec it is armed with (and
        only with one); it raises :class:`~aichaos.errors.ValidationError` for a spec
        the hook cannot apply, so the arming is refused before anything changes.
        """
        if not name or name == WILDCARD:
            raise ValidationError(
                f"hook name must be a non-empty name other than '*', got {name!r}"
            )
        with self._lock:
            self._names.add(name)
            if data:
                self._data.add(name)
            if training is not None:
                self._training[name] = training

    def names(self) -> list[str]:
        """Every registered hook name, sorted."""
        with self._lock:
            return sorted(self._names)

    def _known(self, name: str) -> None:
        if name != WILDCARD and name not in self._names:
            known = ", ".join(sorted(self._names)) or "none"
            raise RegistryError(f"unknown hook {name!r}; known: {known}")

    def arm(
        self,
        name: str,
        ttl_s: float | None = None,
        rate: float | None = None,
        latency_ms: float | None = None,
        corruption: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
    ) -> None:
        """Arm ``name`` (or ``"*"``) for ``ttl_s`` seconds (``None``: until disarmed)."""
        if ttl_s is not None and not ttl_s > 0:
            raise ValidationError(f"ttl_s must be > 0, got {ttl_s}")
        _check("rate", rate, 0.0, 1.0)
        _check("latency_ms", latency_ms, 0.0, 3_600_000.0)
        with self._lock:
            self._known(name)
            if (corruption is not None) != (name in self._data):
                raise ValidationError(
                    f"corruption is for data hooks (aichaos.inprocess.DataHook); {name!r} is "
                    + ("not one" if corruption is not None else "one: give corruption")
                )
            check = self._training.get(name)
            if (training is not None) != (check is not None):
                raise ValidationError(
                    f"training is for training hooks (aichaos.training); {name!r} is "
                    + ("not one" if training is not None else "one: give training")
                )
        if check is not None and training is not None:
            check(training)  # the hook's own words, before anything is armed
        with self._lock:
            until = math.inf if ttl_s is None else self.clock() + ttl_s
            self._generation += 1
            self._armed[name] = Switch(
                until, rate, latency_ms, corruption, self._generation, training
            )
            self._tallies.pop(name, None)
            self._publish(name, self._armed[name])

    def renew(self, name: str, ttl_s: float) -> bool:
        """Push an armed name's deadline to now + ``ttl_s``; False if it is not armed."""
        if not ttl_s > 0:
            raise ValidationError(f"ttl_s must be > 0, got {ttl_s}")
        with self._lock:
            self._known(name)
            sw = self._live(name)
            if sw is None:
                return False
            self._armed[name] = replace(sw, until=self.clock() + ttl_s)
            self._publish(name, self._armed[name])
            return True

    def disarm(self, name: str) -> bool:
        """Disarm ``name`` (``"*"`` disarms everything); True if something was armed."""
        with self._lock:
            self._known(name)
            if name == WILDCARD:
                had = bool(self._armed)
                self._armed.clear()
                for each in self._mirrors:
                    self._publish(each, None)
                return had
            had = self._armed.pop(name, None) is not None
            self._publish(name, None)
            return had

    def tally(self, name: str, counts: dict[str, float | str]) -> None:
        """Add a hook's counts (calls, cells changed...) to what ``name`` did while armed.

        Numbers add up; a string (the last error) replaces the one before.
        """
        with self._lock:
            _add(self._tallies.setdefault(name, {}), counts)

    @contextlib.contextmanager
    def firing(self, name: str) -> Iterator[Switch | None]:
        """The switch arming ``name`` now, held as a call in flight until the block ends.

        A hook that tallies what it did inside this block is counted by a
        :meth:`take_tally` that follows a disarm, even if the call began before it.
        """
        sw = None
        if self._armed:  # the quiet service's fast path, as in switch()
            with self._lock:  # looked up and counted at once: a disarm sees the call
                sw = self._live(name) or self._live(WILDCARD)
                if sw is not None:
                    self._inflight += 1
        if sw is None:
            yield None
            return
        try:
            yield sw
        finally:
            with self._lock:
                self._inflight -= 1
                self._busy.notify_all()

    def take_tally(self, name: str, wait_s: float = 2.0) -> dict[str, float | str]:
        """What ``name`` (``"*"``: every hook) did since it was armed; resets it.

        Calls still in flight (:meth:`firing`) are waited for, up to ``wait_s``.
        """
        with self._lock:
            self._busy.wait_for(lambda: self._inflight == 0, timeout=wait_s)
            if name != WILDCARD:
                out = self._tallies.pop(name, {})
                mirrors = list(self._mirrors.get(name, ()))
            else:
                out = {}
                for tally in self._tallies.values():
                    _add(out, tally)
                self._tallies.clear()
                mirrors = [m for ms in self._mirrors.values() for m in ms]
        for mirror in mirrors:  # outside the lock: a mirror may wait for its workers
            _add(out, mirror.collect(wait_s))
        return out

    def _live(self, name: str) -> Switch | None:
        sw = self._armed.get(name)
        if sw is not None and self.clock() >= sw.until:
            del self._armed[name]  # the TTL lapsed without renewal: disarm by itself
            self._publish(name, None)
            return None
        return sw

    def switch(self, name: str) -> Switch | None:
        """The switch that arms ``name`` now (its own, else the wildcard), or ``None``."""
        if not self._armed:  # the hot path of a quiet service: no lock, no clock
            return None
        with self._lock:
            return self._live(name) or self._live(WILDCARD)

    def status(self) -> dict[str, Any]:
        """JSON-ready view: every name, and for armed ones the seconds left and overrides."""
        with self._lock:
            now = self.clock()
            armed = {}
            for name in list(self._armed):
                sw = self._live(name)
                if sw is not None:
                    left = None if math.isinf(sw.until) else round(sw.until - now, 3)
                    armed[name] = {"ttl_left_s": left, "rate": sw.rate, "latency_ms": sw.latency_ms}
            return {"hooks": sorted(self._names), "armed": armed}


def _add(into: dict[str, float | str], counts: dict[str, float | str]) -> None:
    for key, value in counts.items():
        old = into.get(key, 0)
        if isinstance(value, str) or isinstance(old, str):
            into[key] = value
        else:
            into[key] = old + value


#: the process-wide default board, used by hooks that are not given one
BOARD = Switchboard()
