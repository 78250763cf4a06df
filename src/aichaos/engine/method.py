"""Runs the method: each step's fault on its schedule, ramped level by level.

Every applied injection is pushed on its step's ``AsyncExitStack``, so exactly what was
applied is reverted, whether the step ends, the ramp breaks, or the engine cancels the
method (guardrail, kill switch, signal). Each apply and revert has an enforced timeout;
a revert that fails or times out keeps its lease, so the watchdog still undoes it at TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aichaos.engine.deadman import DeadMan, Lease
from aichaos.engine.journal import Journal
from aichaos.engine.tasks import bounded, failure_text
from aichaos.errors import InjectionError
from aichaos.experiment.model import Experiment, Step
from aichaos.faults.base import (
    BlastRadius,
    Fault,
    Injection,
    InjectionContext,
    Updatable,
    effect_text,
)
from aichaos.faults.clients import ControlClients

__all__ = ["Live", "MethodRunner"]


@dataclass
class Live:
    """An applied injection and its lease."""

    step: str
    injection: Injection
    lease: Lease | None
    level: float | None = None
    #: the renewal in flight, which a revert lets finish before it starts
    renewal: asyncio.Future[None] | None = None
    reverting: bool = False


@dataclass
class _StepState:
    breach: asyncio.Event = field(default_factory=asyncio.Event)
    level: float | None = None


class MethodRunner:
    """Applies and reverts the method's faults; the engine watches and may cancel it."""

    def __init__(
        self,
        experiment: Experiment,
        *,
        targets: Mapping[str, Any],
        journal: Journal,
        deadman: DeadMan | None,
        seed: int,
        clock: Callable[[], float],
        clients: ControlClients | None = None,
    ) -> None:
        self.experiment = experiment
        self.targets = targets
        self.journal = journal
        self.deadman = deadman
        self.seed = seed
        self.clock = clock
        self.clients = clients
        self.timeouts = experiment.safety.timeouts
        self.ttl_s = experiment.safety.ttl_s
        self.live: list[Live] = []
        self.breaking_points: list[dict[str, Any]] = []
        self.revert_failures: list[str] = []
        self.steps: dict[str, _StepState] = {}
        #: each step's effect reports, one per reverted injection (None: not reported)
        self.effects: dict[str, list[dict[str, Any] | None]] = {}
        #: clock reading of the last apply, update or revert: steady-state windows start
        #: no earlier, so each ramp level is judged on its own samples
        self.last_change = -math.inf
        windowed = [
            (c.window_s, str(c))
            for s in experiment.steady_state
            for c in s.conditions()
            if c.window_s is not None
        ]
        self._widest = max(windowed, default=None)

    async def run(self) -> None:
        """Run every step concurrently from its start offset; return when all have ended."""
        t0 = self.clock()
        async with asyncio.TaskGroup() as tg:
            for i, step in enumerate(self.experiment.method):
                label = self._label(i, step)
                self.steps[label] = _StepState()
                tg.create_task(self._step(i, label, step, t0))

    def _label(self, i: int, step: Step) -> str:
        labels = [s.label for s in self.experiment.method]
        return step.label if labels.count(step.label) == 1 else f"{step.label}#{i}"

    def ramping(self) -> list[str]:
        """Labels of ramped steps currently holding a level."""
        return [
            label
            for label, st in self.steps.items()
            if st.level is not None and not st.breach.is_set()
        ]

    def signal_breach(self) -> None:
        """The steady state broke: every ramped step stops at its current level."""
        for st in self.steps.values():
            if st.level is not None:
                st.breach.set()

    async def _step(self, i: int, label: str, step: Step, t0: float) -> None:
        delay = t0 + step.start_s - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)
        state = self.steps[label]
        ramp = step.ramp
        levels: list[float | None] = list(ramp.values) if ramp else [None]
        hold = ramp.hold_s if ramp else (step.duration_s or 0.0)
        rng = random.Random(f"{self.seed}:{i}")
        held: float | None = None
        async with AsyncExitStack() as stack:
            current: Live | None = None
            for level in levels:
                fault, radius = _at_level(step, level)
                if (
                    current is not None
                    and isinstance(current.injection, Updatable)
                    and ramp is not None
                    and ramp.field not in type(step.fault).radius_fields
                ):
                    await bounded(current.injection.update(fault), self.timeouts.apply_s)
                    self.last_change = self.clock()
                    current.level = level
                    self.journal.write("fault-updated", step=label, level=level)
                else:
                    await stack.aclose()
                    ctx = InjectionContext(
                        target=self.targets.get(step.target) if step.target else None,
                        blast_radius=radius,
                        rng=rng,
                        ttl_s=self.ttl_s,
                        clock=self.clock,
                        label=label,
                        clients=self.clients,
                        level=level,
                    )
                    current = await self._apply(stack, label, fault, ctx, level)
                    self.last_change = self.clock()
                if ramp is not None:
                    state.level = level
                    self.journal.write(
                        "ramp-level",
                        step=label,
                        field=ramp.field,
                        level=level,
                        **self._short_level(ramp.hold_s),
                    )
                broke = await _wait(state.breach, hold)
                if broke and ramp is not None:
                    self._breaking_point(label, ramp.field, held, level)
                    if ramp.stop_on_breach:
                        break
                    state.breach.clear()
                    continue
                held = level
            else:
                if ramp is not None:
                    self._breaking_point(label, ramp.field, held, None)
            state.level = None

    def _short_level(self, hold_s: float) -> dict[str, str]:
        """A note when a level ends before the steady state's widest window can fill."""
        if self._widest is None or hold_s >= self._widest[0]:
            return {}
        window_s, cond = self._widest
        return {
            "note": f"level held {hold_s:g}s, shorter than the {window_s:g}s window of "
            f"'{cond}': judged on at most {hold_s:g}s of its own samples"
        }

    def _breaking_point(
        self, label: str, field_name: str, held: float | None, broke: float | None
    ) -> None:
        point = {"step": label, "field": field_name, "held": held, "broke": broke}
        self.breaking_points.append(point)
        self.journal.write("breaking-point", **point)

    async def _apply(
        self,
        stack: AsyncExitStack,
        label: str,
        fault: Fault,
        ctx: InjectionContext,
        level: float | None,
    ) -> Live:
        injection = fault.injection(ctx)
        try:
            await bounded(injection.apply(), self.timeouts.apply_s)
        except BaseException as exc:
            why = failure_text(exc)
            self.journal.write("fault-apply-failed", step=label, error=why)
            # a half-applied fault is reverted too; a revert of nothing is harmless
            with contextlib.suppress(Exception):
                await bounded(injection.revert(), self.timeouts.revert_s)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise InjectionError(f"step {label!r}: applying {fault.type!r} failed: {why}") from exc
        actions = injection.undo_actions()
        lease = self.deadman.lease(label, actions) if self.deadman and actions else None
        live = Live(label, injection, lease, level)
        self.live.append(live)
        target = getattr(ctx.target, "describe", lambda: None)()
        self.journal.write(
            "fault-applied",
            step=label,
            level=level,
            target=target,
            fraction=ctx.blast_radius.fraction,
            fault=injection.describe(),
            ttl_s=self.ttl_s,
        )
        stack.push_async_callback(self._revert, live)
        return live

    async def _revert(self, live: Live) -> None:
        # A revert, once started, runs to its end (bounded by its timeout): when the
        # engine cancels the method mid-revert, the cancellation waits for it instead of
        # cutting it short and leaving the fault applied until its TTL.
        live.reverting = True
        revert = asyncio.ensure_future(self._revert_after_renewal(live))
        cancelled = False
        while not revert.done():
            try:
                await asyncio.shield(revert)
            except asyncio.CancelledError:
                cancelled = True
            except Exception:
                break
        try:
            revert.result()
        except Exception as exc:
            why = failure_text(exc)
            self.revert_failures.append(f"{live.step}: {why}")
            self.journal.write(
                "fault-revert-failed",
                step=live.step,
                error=why,
                left_to_watchdog=live.lease is not None,
            )
        else:
            self.last_change = self.clock()
            if live.lease is not None:
                live.lease.release()
            effect = _effect(live.injection)
            self.effects.setdefault(live.step, []).append(effect)
            self.journal.write("fault-reverted", step=live.step, level=live.level, effect=effect)
        finally:
            if live in self.live:
                self.live.remove(live)
        if cancelled:
            raise asyncio.CancelledError

    def idle_steps(self) -> list[str]:
        """Steps whose every injection proved it touched nothing, with what it saw."""
        return [
            f"{label!r} touched {effect_text(effects[-1])}"
            for label, effects in self.effects.items()
            if effects and all(e is not None and e.get("touched") == 0 for e in effects)
        ]

    async def _revert_after_renewal(self, live: Live) -> None:
        # a renewal racing the revert would overlap it on the fault's control API (a
        # second connection, a renewal landing after the delete): it finishes first
        if live.renewal is not None:
            await asyncio.wait({live.renewal})
        await bounded(live.injection.revert(), self.timeouts.revert_s)

    async def renew(self) -> None:
        """Push every live fault's deadline (leases and self-expiring remote faults)."""
        for live in list(self.live):
            if live.reverting:
                continue
            if live.lease is not None:
                live.lease.renew()
            live.renewal = asyncio.ensure_future(
                bounded(live.injection.renew(self.ttl_s), self.timeouts.apply_s)
            )
            with contextlib.suppress(Exception):
                await live.renewal
            live.renewal = None


def _effect(injection: Injection) -> dict[str, Any] | None:
    # a fault's own report must not turn a finished revert into an error
    try:
        return injection.effect()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _at_level(step: Step, level: float | None) -> tuple[Fault, BlastRadius]:
    if level is None or step.ramp is None:
        return step.fault, step.blast_radius
    if step.ramp.field in type(step.fault).radius_fields:
        # the blast radius; a fault with a fraction of its own (data-corrupt's cells)
        # does not list it among its radius fields, so its own field is ramped
        return step.fault, step.blast_radius.model_copy(update={step.ramp.field: level})
    current = getattr(step.fault, step.ramp.field)
    value: Any = int(level) if isinstance(current, int) and not isinstance(current, bool) else level
    fault = type(step.fault).model_validate({**step.fault.model_dump(), step.ramp.field: value})
    return fault, step.blast_radius


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """True if ``event`` was set within ``seconds``."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True
