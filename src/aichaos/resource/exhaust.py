"""``fd-exhaustion`` and ``thread-exhaustion``: use up a process's own resources.

These act inside the process that applies them (the runner, or a service that calls
:func:`hold_fds` / :func:`hold_threads` itself), so they die with it. They also release
themselves when their TTL lapses without renewal: a timer thread, pushed by ``renew``,
so a stuck runner does not keep them either.
"""

from __future__ import annotations

import asyncio
import os
import resource
import threading
from typing import Any

from pydantic import Field

from aichaos.errors import SafetyError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext

__all__ = ["FdExhaustion", "FdHold", "ThreadExhaustion", "ThreadHold", "hold_fds", "hold_threads"]


def open_fd_count() -> int:
    """How many file descriptors this process has open now."""
    return len(os.listdir("/proc/self/fd")) - 1  # listdir's own descriptor is gone after


class FdHold:
    """Open file descriptors on ``/dev/null``; :meth:`release` closes exactly those."""

    def __init__(self, fds: list[int]) -> None:
        self.fds = fds

    def release(self) -> None:
        """Close every held descriptor (idempotent)."""
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)

    def count_held(self) -> int:
        """How many of the held descriptors the OS still shows open on ``/dev/null``."""
        held = 0
        for fd in self.fds:
            try:
                held += os.readlink(f"/proc/self/fd/{fd}") == os.devnull
            except OSError:
                continue
        return held


def hold_fds(count: int | None = None, leave_free: int = 0) -> FdHold:
    """Open ``count`` descriptors, or as many as leave only ``leave_free`` under the limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft - open_fd_count() - leave_free
    want = room if count is None else count
    if want > room:
        raise SafetyError(
            f"count must leave {leave_free} descriptors free under the limit of {soft}; "
            f"at most {max(room, 0)} can be opened now, got {count}"
        )
    fds: list[int] = []
    try:
        for _ in range(max(want, 0)):
            fds.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        FdHold(fds).release()
        raise
    return FdHold(fds)


class ThreadHold:
    """Threads parked on one event; :meth:`release` wakes and joins them."""

    def __init__(self, threads: list[threading.Thread], event: threading.Event) -> None:
        self.threads = threads
        self.event = event

    def count_held(self) -> int:
        """How many of the held threads the OS still lists among this process's tasks."""
        tasks = set(os.listdir("/proc/self/task"))
        return sum(str(t.native_id) in tasks for t in self.threads if t.is_alive())

    def release(self) -> None:
        """Wake every held thread and wait for it (idempotent)."""
        self.event.set()
        threads, self.threads = self.threads, []
        for t in threads:
            t.join(timeout=5)


def hold_threads(count: int, stack_kib: int = 64) -> ThreadHold:
    """Start ``count`` idle threads with small stacks (so memory is not the limit hit)."""
    event = threading.Event()
    threads: list[threading.Thread] = []
    old = threading.stack_size()
    threading.stack_size(stack_kib * 1024)
    try:
        for i in range(count):
            t = threading.Thread(target=event.wait, name=f"aichaos-hold-{i}", daemon=True)
            t.start()
            threads.append(t)
    except RuntimeError:
        ThreadHold(threads, event).release()
        raise
    finally:
        threading.stack_size(old)
    return ThreadHold(threads, event)


class _Expiring(Injection):
    """An in-process hold that releases itself ``ttl_s`` after the last renewal."""

    unit = "units"

    def __init__(self, fault: Fault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.hold: FdHold | ThreadHold | None = None
        self.timer: threading.Timer | None = None
        self.lock = threading.Lock()
        self.asked = 0
        self.held: int | None = None

    def _make(self) -> FdHold | ThreadHold:
        raise NotImplementedError

    async def apply(self) -> None:
        hold = await asyncio.to_thread(self._make)
        self.asked = len(hold.fds) if isinstance(hold, FdHold) else len(hold.threads)
        self.hold = hold
        self._arm(self.ctx.ttl_s)

    def _arm(self, ttl_s: float) -> None:
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = threading.Timer(ttl_s, self._release)
            self.timer.daemon = True
            self.timer.start()

    def _release(self) -> None:
        with self.lock:
            hold, self.hold = self.hold, None
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        if hold is not None:
            # Counted from the OS just before the hold goes (on revert or at TTL expiry).
            self.held = hold.count_held()
            hold.release()

    def effect(self) -> dict[str, Any] | None:
        """How many descriptors or threads the OS showed held at release, of those opened."""
        if self.held is None:
            return None
        return {"seen": self.asked, "touched": self.held, "unit": self.unit}

    async def renew(self, ttl_s: float) -> None:
        if self.hold is not None:
            self._arm(ttl_s)

    async def revert(self) -> None:
        await asyncio.to_thread(self._release)


@FAULTS.register("fd-exhaustion")
class FdExhaustion(Fault):
    """Open file descriptors in this process until ``leave_free`` remain (or ``count``)."""

    count: int | None = Field(None, ge=1, description="descriptors to open; default: all")
    leave_free: int = Field(16, ge=0, description="descriptors kept free under the limit")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection (nothing is opened before apply)."""
        return _FdInjection(self, ctx)


class _FdInjection(_Expiring):
    fault: FdExhaustion
    unit = "fds held"

    def _make(self) -> FdHold:
        return hold_fds(self.fault.count, self.fault.leave_free)

    def describe(self) -> dict[str, Any]:
        held = len(self.hold.fds) if isinstance(self.hold, FdHold) else 0
        return {**super().describe(), "held": held}


@FAULTS.register("thread-exhaustion")
class ThreadExhaustion(Fault):
    """Start ``count`` idle threads in this process; they exit on revert or TTL expiry."""

    count: int = Field(ge=1, le=100_000, description="threads to start")
    stack_kib: int = Field(64, ge=32, description="stack size of each held thread, KiB")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection (no thread starts before apply)."""
        return _ThreadInjection(self, ctx)


class _ThreadInjection(_Expiring):
    fault: ThreadExhaustion
    unit = "threads held"

    def _make(self) -> ThreadHold:
        return hold_threads(self.fault.count, self.fault.stack_kib)
