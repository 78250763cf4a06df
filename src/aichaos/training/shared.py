"""A training hook's switch in shared memory, for work done in other processes.

DataLoader workers are other processes: the trainer's switchboard, where an experiment
arms a hook, is not theirs. A :class:`SharedSwitch` is a small block of shared memory
(``multiprocessing.sharedctypes``, created when the trainer wraps its dataset) that the
board publishes the hook's switch to on every arm, renew, disarm and expiry
(:meth:`~aichaos.inprocess.board.Switchboard.mirror`): the arming's generation, the
spec as JSON, the rate and the deadline on ``CLOCK_MONOTONIC`` (``time.monotonic``,
one clock for every process of the machine). It reaches workers started by ``fork``
(inherited) and by ``spawn`` / ``forkserver`` (pickled with the dataset while the worker
starts); persistent workers read the same memory for their whole life.

A worker reads it per item: one integer compared with the one it saw last (a seqlock's
sequence number, so a read never sees half a write); only when it changed does the
worker re-read the block, and only a new generation is parsed. A worker stops injecting
at the deadline by itself, so a frozen or dead trainer cannot leave it injecting.

What workers did (items seen and hit, delays, labels changed) is added to counters in
the same block under a lock taken only while armed; the board collects them into the
hook's tally when the experiment disarms, waiting for items in flight.
"""

from __future__ import annotations

import ctypes
import json
import math
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass, field
from multiprocessing import sharedctypes
from typing import Any

from aichaos.errors import ValidationError
from aichaos.inprocess.board import Switch
from aichaos.training.spec import TrainingSpec, check_spec

__all__ = ["COUNTS", "SPEC_BYTES", "Arming", "SharedSwitch", "check_size"]

#: the largest training spec, as JSON, a shared switch carries
SPEC_BYTES = 8192
_ERROR_BYTES = 240
#: the counters a worker adds to (numbers only; the last error is kept beside them)
COUNTS = (
    "calls",
    "fired",
    "items_delayed",
    "delay_s",
    "items_duplicated",
    "items_skipped",
    "labels_changed",
    "items_noisy",
    "errors",
)
_INDEX = {name: i for i, name in enumerate(COUNTS)}
#: a worker that finds the trainer mid-write retries this often before it gives up
_READ_TRIES = 1000
_LOCK_S = 1.0


class _Block(ctypes.Structure):
    _fields_ = [
        ("seq", ctypes.c_uint64),  # odd while the trainer writes
        ("generation", ctypes.c_uint64),  # the arming the spec belongs to (0: none yet)
        ("armed", ctypes.c_uint8),
        ("until", ctypes.c_double),  # CLOCK_MONOTONIC deadline, inf for none
        ("rate", ctypes.c_double),
        ("spec_len", ctypes.c_uint32),
        ("spec", ctypes.c_char * SPEC_BYTES),
        ("count_generation", ctypes.c_uint64),  # the arming the counters belong to
        ("inflight", ctypes.c_int64),
        ("counts", ctypes.c_double * len(COUNTS)),
        ("error", ctypes.c_char * _ERROR_BYTES),
    ]


def check_size(spec: dict[str, Any], hook: str) -> None:
    """Refuse a spec too large for a shared switch (a ValidationError naming the hook)."""
    size = len(json.dumps(spec).encode())
    if size > SPEC_BYTES:
        raise ValidationError(
            f"training spec for hook {hook!r} is {size} bytes as JSON; at most {SPEC_BYTES}"
        )


@dataclass
class Arming:
    """One arming as a process sees it: the spec, its deadline, and this process's draws."""

    generation: int
    until: float
    rate: float
    spec: TrainingSpec
    #: which items this process hits: seeded by the run's seed and the worker's id
    pick: random.Random
    #: the process that built it (a forked worker inherits its parent's and rebuilds)
    pid: int
    #: which worker of a DataLoader this is (-1: the trainer's own process)
    worker: int
    #: per-arming state of the wrapper (a corruption stream, labels seen)
    cache: dict[str, Any] = field(default_factory=dict)


class SharedSwitch:
    """One hook's switch and counters in shared memory (a :class:`Mirror` for the board)."""

    def __init__(self, hook: str, family: str = "loader") -> None:
        self.hook = hook
        self.family = family
        self._attach(sharedctypes.RawValue(_Block))
        self.block.until = math.inf
        # a spawn-context lock can be handed to fork, spawn and forkserver workers alike
        self._lock: Any = multiprocessing.get_context("spawn").Lock()

    def _attach(self, block: _Block) -> None:
        #: the shared memory, and its sequence number as ``cells[0]`` (a memoryview reads
        #: it faster than the ctypes field)
        self.block = block
        self.cells = memoryview(block).cast("B").cast("Q")
        #: the sequence number this process read last, and the arming it found then
        self.seen = 0
        self.last: Arming | None = None
        #: ``seen`` while nothing is armed, else -1: a wrapper's fast path is
        #: ``cells[0] == quiet``, one comparison
        self.quiet = 0

    # -- pickling: workers started by spawn get the same memory, never a copy

    def __getstate__(self) -> dict[str, Any]:
        # the ctypes object would pickle by value; its heap buffer pickles as the shared
        # memory itself, and only while a process is being started (else it raises)
        wrapper = self.block._wrapper
        return {"hook": self.hook, "family": self.family, "wrapper": wrapper, "lock": self._lock}

    def __setstate__(self, state: dict[str, Any]) -> None:
        wrapper = state["wrapper"]
        self.hook = state["hook"]
        self.family = state["family"]
        block = _Block.from_buffer(wrapper.create_memoryview())
        block._wrapper = wrapper
        self._attach(block)
        self._lock = state["lock"]

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedSwitch:
        return self  # a copy of the dataset in the same process shares the switch

    # -- the trainer's side (called by the board under its lock)

    def publish(self, switch: Switch | None, now: float) -> None:
        """Write ``switch`` to the block (``None``: disarmed); ``now`` is the board's clock."""
        b = self.block
        spec = None if switch is None else switch.training
        new = switch is not None and spec is not None and switch.generation != b.generation
        if new:
            assert switch is not None
            self._reset_counts(switch.generation)
        b.seq += 1  # odd: a reader that sees this retries
        if switch is None or spec is None:
            b.armed = 0
        else:
            if new:
                data = json.dumps(spec).encode()
                b.spec = data[:SPEC_BYTES]
                b.spec_len = len(data)
                b.generation = switch.generation
            left = switch.until - now
            b.until = math.inf if math.isinf(left) else time.monotonic() + left
            b.rate = 1.0 if switch.rate is None else switch.rate
            b.armed = 1 if len(b.spec) == b.spec_len else 0  # check_size refused the others
        b.seq += 1

    def _reset_counts(self, generation: int) -> None:
        got = self._lock.acquire(timeout=_LOCK_S)  # a worker killed holding it: go on
        try:
            b = self.block
            b.count_generation = generation
            b.inflight = 0
            for i in range(len(COUNTS)):
                b.counts[i] = 0.0
            b.error = b""
        finally:
            if got:
                self._lock.release()

    def collect(self, wait_s: float) -> dict[str, float | str]:
        """The counts since the arming (reset to zero), once items in flight are done."""
        b = self.block
        end = time.monotonic() + wait_s
        while b.inflight > 0 and time.monotonic() < end:
            time.sleep(0.005)
        if not self._lock.acquire(timeout=max(end - time.monotonic(), 0.0) + _LOCK_S):
            return {"errors": 1, "last_error": "the workers' counts could not be read (lock held)"}
        try:
            out: dict[str, float | str] = {}
            for i, name in enumerate(COUNTS):
                value = b.counts[i]
                b.counts[i] = 0.0
                if value:
                    out[name] = round(value, 6) if name == "delay_s" else int(value)
            if b.error:
                out["last_error"] = b.error.decode(errors="replace")
            b.error = b""
            if b.inflight > 0:
                out["errors"] = int(out.get("errors", 0)) + 1
                out["last_error"] = f"{b.inflight} item(s) still in flight when counted"
        finally:
            self._lock.release()
        if out.get("calls"):
            out["unit"] = "items"
        return out

    # -- any process's side, per item

    def current(self) -> Arming | None:
        """The arming in force for this process now, or ``None``.

        Nothing armed costs one read of the sequence number; the deadline is checked
        against ``time.monotonic()`` only while armed.
        """
        if self.cells[0] != self.seen:
            self._refresh()
        arming = self.last
        if arming is None:
            return None
        if time.monotonic() >= arming.until:
            return None  # the TTL lapsed: stop, whatever the trainer's process is doing
        if arming.pid != os.getpid():  # a forked worker: draws of its own
            self.last = arming = self._build(arming.generation, arming.until, arming.rate)
        return arming

    def _refresh(self) -> None:
        b = self.block
        for _ in range(_READ_TRIES):
            seq = b.seq
            if seq % 2 == 0:
                armed, generation, until, rate = b.armed, b.generation, b.until, b.rate
                old = self.last
                same = not armed or (old is not None and old.generation == generation)
                spec = None if same else b.spec  # parsed only for a new arming
                if b.seq == seq:
                    break
            time.sleep(0)
        else:
            return  # the trainer holds the block mid-write: keep what was read last
        self.seen = seq
        self.quiet = seq if not armed else -1
        if not armed:
            self.last = None
        elif spec is None and old is not None:
            old.until, old.rate = until, rate  # a renewal: same draws, new deadline
        else:
            self.last = self._build(generation, until, rate, spec)

    def _build(
        self, generation: int, until: float, rate: float, raw: bytes | None = None
    ) -> Arming:
        if raw is None:
            assert self.last is not None
            spec = self.last.spec
        else:
            spec = check_spec(json.loads(raw), self.family, self.hook)
        info = sys.modules.get("torch.utils.data")
        worker = getattr(info.get_worker_info(), "id", -1) if info is not None else -1
        pick = random.Random(f"{spec.seed}:{worker}")
        return Arming(generation, until, rate, spec, pick, os.getpid(), worker)

    def enter(self, arming: Arming) -> bool:
        """Count an item seen under ``arming``; False if that arming is over (do nothing)."""
        if not self._lock.acquire(timeout=_LOCK_S):
            return False
        try:
            b = self.block
            if not b.armed or b.count_generation != arming.generation:
                return False
            b.counts[_INDEX["calls"]] += 1
            b.inflight += 1
            return True
        finally:
            self._lock.release()

    def leave(self, arming: Arming, counts: dict[str, float], error: str | None = None) -> None:
        """The item is done: add what it changed (``fired`` once if anything) and any error."""
        if not self._lock.acquire(timeout=_LOCK_S):
            return
        try:
            b = self.block
            if b.count_generation != arming.generation:
                return  # a later arming reset the counters: not its work
            b.inflight -= 1
            if counts:
                b.counts[_INDEX["fired"]] += 1
            for name, value in counts.items():
                b.counts[_INDEX[name]] += value
            if error is not None:
                b.counts[_INDEX["errors"]] += 1
                b.error = error.encode()[: _ERROR_BYTES - 1]
        finally:
            self._lock.release()
