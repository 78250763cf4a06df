"""The base of every training hook: a name on the in-process switchboard and one draw per unit.

A training hook registers its name on a :class:`~aichaos.inprocess.board.Switchboard`
(the process-wide ``BOARD`` unless given one) with a check of the training spec it can
apply, so the control endpoint refuses a spec it cannot use with a 400. An experiment
arms it with the ``training`` fault; each unit of work (a training step, a batch fetch, a
checkpoint save) asks :meth:`TrainingHook.draw` whether it is hit. Which units are hit
is drawn from a generator seeded by the arming's ``seed``, so a replay hits the same
ones.

What the hook did is tallied on the board: ``calls`` (units seen while armed), ``fired``
(units the fault actually changed: a hit step whose values the trainer never passed
through the hook does not count) and the hook's own counts (NaNs injected, batches
duplicated, bytes written...). The experiment reads them when it disarms.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aichaos.inprocess.board import BOARD, Switch, Switchboard
from aichaos.training.spec import TrainingSpec, check_spec

__all__ = ["Armed", "Shot", "TrainingHook"]

#: a long stall is slept in slices this long, so a disarm ends it promptly
_SLICE_S = 0.02


@dataclass
class Armed:
    """One arming of a hook: its spec and the generators seeded from it."""

    generation: int
    spec: TrainingSpec
    pick: random.Random
    _values: Any = field(default=None, repr=False)

    def values(self) -> Any:
        """A numpy Generator for which values are hit (numpy loads on first use)."""
        if self._values is None:
            import numpy as np

            self._values = np.random.default_rng([self.spec.seed, 1])
        return self._values


class Shot:
    """One unit the fault hits; :meth:`count` tallies what it changed."""

    def __init__(self, hook: TrainingHook, armed: Armed) -> None:
        self.hook = hook
        self.armed = armed
        self.spec = armed.spec
        self.changed = False

    def count(self, counts: dict[str, float | str]) -> None:
        """Tally ``counts``; the first tally of a unit also counts it as fired."""
        fired = 0 if self.changed else 1
        self.changed = True
        self.hook.board.tally(self.hook.name, {"fired": fired, **counts})

    def error(self, message: str) -> None:
        """Tally that the fault could not be applied to this unit (the trainer runs on)."""
        self.hook.board.tally(self.hook.name, {"errors": 1, "last_error": message})

    def live(self) -> bool:
        """Whether the arming that hit this unit still holds (not disarmed, not expired)."""
        sw = self.hook.board.switch(self.hook.name)
        return sw is not None and sw.generation == self.armed.generation

    def sleep(self, seconds: float) -> float:
        """Sleep up to ``seconds`` while the arming holds; returns the seconds slept."""
        clock = time.monotonic
        start = clock()
        end = start + seconds
        while self.live():
            left = end - clock()
            if left <= 0:
                break
            self.hook.sleep(min(left, _SLICE_S))
        return clock() - start


class TrainingHook:
    """A named training hook of one family (``step``, ``loader``, ``checkpoint``)."""

    family: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        *,
        board: Switchboard | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.board = BOARD if board is None else board
        self.sleep = sleep
        self._lock = threading.Lock()
        self._armed: Armed | None = None
        self.board.register(name, training=self._check)

    def _check(self, spec: dict[str, Any]) -> None:
        check_spec(spec, self.family, self.name)

    def _armed_for(self, sw: Switch) -> Armed:
        with self._lock:
            if self._armed is None or self._armed.generation != sw.generation:
                spec = check_spec(sw.training or {}, self.family, self.name)
                self._armed = Armed(sw.generation, spec, random.Random(spec.seed))
            return self._armed

    def draw(self) -> Shot | None:
        """Decide for one unit of work: the shot when the fault hits it, else ``None``."""
        with self.board.firing(self.name) as sw:
            if sw is None or sw.training is None:
                return None  # not armed, or armed by the wildcard with no spec
            armed = self._armed_for(sw)
            self.board.tally(self.name, {"calls": 1})
            rate = 1.0 if sw.rate is None else sw.rate
            with self._lock:
                hit = armed.pick.random() < rate
            return Shot(self, armed) if hit else None
