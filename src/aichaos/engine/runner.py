"""The engine: an explicit state machine around one experiment run.

``planned -> baseline -> injecting -> recovering -> done`` with a verdict of
``passed | deviated | inconclusive | aborted | failed-baseline | error``
(``inconclusive``: the steady state held, but a fault provably touched nothing). The
baseline must hold or
nothing is injected. Guardrails are checked on every sample and every
``guardrail_interval_s``; the first breach is recorded and never overwritten. On every
exit path -- normal end, guardrail, kill switch, exception, SIGINT, SIGTERM (a second
signal too) -- the method is cancelled, which reverts exactly what was applied, and the
rollbacks run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from aichaos.engine.deadman import DeadMan
from aichaos.engine.journal import Journal
from aichaos.engine.method import MethodRunner
from aichaos.engine.plan import plan
from aichaos.engine.result import RunResult, judge, unobserved
from aichaos.engine.rollback import run_rollbacks
from aichaos.engine.sampler import Sampler
from aichaos.engine.signals import install_signal_handlers
from aichaos.engine.tasks import settle, task_error
from aichaos.errors import SafetyError
from aichaos.eventloop import cancel
from aichaos.experiment.metrics import MetricStore
from aichaos.experiment.model import Experiment
from aichaos.experiment.slo import Check
from aichaos.experiment.state import ExperimentState, Phase
from aichaos.faults.clients import ControlClients
from aichaos.load.base import WorkloadContext
from aichaos.probes.base import ProbeContext
from aichaos.verdict import Verdict

__all__ = ["Engine", "RunResult"]


class Engine:
    """Run one experiment. Clock, seed and environment are injectable for tests.

    >>> result = await Engine(experiment, journal_path=Path("run.jsonl")).run()  # doctest: +SKIP
    """

    def __init__(
        self,
        experiment: Experiment,
        *,
        journal_path: Path | None = None,
        journal: Journal | None = None,
        seed: int | None = None,
        environment: str | None = None,
        clock: Callable[[], float] | None = None,
        watchdog: bool = True,
        handle_signals: bool = False,
        check_targets: bool = True,
    ) -> None:
        self.experiment = experiment
        self.seed = (
            seed
            if seed is not None
            else (
                experiment.seed
                if experiment.seed is not None
                else random.SystemRandom().randrange(2**32)
            )
        )
        self.environment = environment if environment is not None else os.environ.get("AICHAOS_ENV")
        self._clock = clock
        self._journal_path = journal_path
        self.journal = journal
        self.watchdog = watchdog
        self.handle_signals = handle_signals
        #: the preflight asks every target to answer (off only where no network is)
        self.check_targets = check_targets
        self.store = MetricStore()
        #: names this run in metrics and traces (the journal path may be reused)
        self.run_id = uuid.uuid4().hex[:12]
        self.phase = Phase.PLANNED
        self.phase_started = 0.0
        self.started = 0.0
        self.method: MethodRunner | None = None
        self.abort_reason: str | None = None
        self._abort = asyncio.Event()
        self._deviations = 0
        self._checks = {"held": 0, "broke": 0}
        self._signals = 0

    # -- state ---------------------------------------------------------------------------
    def clock(self) -> float:
        """The engine's clock (the event loop's, unless one was injected)."""
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def state(self, *, since_change: bool = False) -> ExperimentState:
        """The state object handed to every policy.

        ``since_change``: windows start no earlier than the method's last change (a step
        or ramp level applied, updated or reverted), so a level is judged on its own
        samples and a breaking point never blames it for the level before.
        """
        m = self.method
        ramping = m.ramping() if m else []
        level = m.steps[ramping[0]].level if m and ramping else None
        floor = m.last_change if m is not None and since_change else self.phase_started
        return ExperimentState(
            window_floor=max(floor, self.phase_started) if since_change else None,
            phase=self.phase,
            now=self.clock(),
            started=self.started,
            phase_started=self.phase_started,
            store=self.store,
            step=ramping[0] if ramping else None,
            level=level,
            seed=self.seed,
        )

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.phase_started = self.clock()
        assert self.journal is not None
        self.journal.write("phase", phase=phase)

    def abort(self, reason: str) -> None:
        """Stop the run; the first reason wins and is never overwritten."""
        if self.abort_reason is None:
            self.abort_reason = reason
            if self.journal is not None:
                self.journal.write("abort", reason=reason, phase=self.phase)
        self._abort.set()

    # -- policies ------------------------------------------------------------------------
    def _check_guardrails(self) -> None:
        if self.phase != Phase.INJECTING or self.abort_reason is not None:
            return
        guard = self.experiment.guardrail_slo()
        if guard is None:
            return
        check = guard.evaluate(self.state())
        if not check.ok and not check.no_data:
            failing = [c for c in check.failing() if not c.unknown]
            assert self.journal is not None
            self.journal.write("guardrail", ok=False, checks=check.rows())
            self.abort(
                "guardrail breached: " + "; ".join(f"{c.expr} ({c.detail})" for c in failing)
            )

    def _check_steady(self, where: str) -> Check | None:
        steady = self.experiment.steady_state_slo()
        if steady is None:
            return None
        check = steady.evaluate(self.state(since_change=where == Phase.INJECTING))
        assert self.journal is not None
        self.journal.write("steady-state", phase=where, ok=check.ok, checks=check.rows())
        return check

    def _unobserved(self, since: float) -> list[str]:
        """Conditions no successful sample informed during injection: unknown, not held."""
        missed = unobserved(self.experiment, self.store, since, self.clock())
        if missed and self.journal is not None:
            rows = [{"slo": str(c), "ok": False, "value": None, "detail": w} for _, c, w in missed]
            self.journal.write("steady-state", phase=Phase.INJECTING, ok=False, checks=rows)
        return [f"{section} {c}: {why} during injection" for section, c, why in missed]

    def _on_sample(self) -> None:
        self._check_guardrails()

    async def _tick(self, interval: float) -> None:
        """Every interval: kill switch, max duration, guardrails, steady state, renewals."""
        safety = self.experiment.safety
        while True:
            await asyncio.sleep(interval)
            if os.path.exists(safety.kill_switch):  # noqa: ASYNC240 - one stat, no I/O wait
                self.abort(f"kill switch {safety.kill_switch} exists")
            if self.clock() - self.started > safety.max_duration_s:
                self.abort(f"max_duration_s={safety.max_duration_s:g} exceeded")
            self._check_guardrails()
            if self.phase == Phase.INJECTING and self.abort_reason is None:
                check = self._check_steady("injecting")
                if check is not None and not check.ok and not check.no_data:
                    self._deviations += 1
                    self._checks["broke"] += 1
                    if self.method is not None:
                        self.method.signal_breach()
                elif check is not None and check.ok:
                    self._checks["held"] += 1
            if self.method is not None:
                await self.method.renew()

    async def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` unless aborted; True if aborted."""
        try:
            await asyncio.wait_for(self._abort.wait(), seconds)
        except TimeoutError:
            return False
        return True

    # -- the run -------------------------------------------------------------------------
    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1 and self.journal is not None:
            self.journal.write(
                "signal", signal=sig.name, note="already stopping; rollback continues"
            )
        self.abort(f"received {sig.name}")

    def check_environment(self) -> None:
        """Refuse to run where ``safety.allowed_environments`` says not to."""
        allowed = self.experiment.safety.allowed_environments
        if allowed and self.environment not in allowed:
            raise SafetyError(
                f"this experiment may run only in environments {allowed}; "
                f"AICHAOS_ENV / --env is {self.environment!r}"
            )

    def kill_switch_set(self) -> str | None:
        """Why the run must not start because the kill switch is set, or None."""
        switch = self.experiment.safety.kill_switch
        if os.path.exists(switch):
            return f"kill switch {switch} exists; remove it to run (aichaos halt --clear)"
        return None

    async def run(self) -> RunResult:
        """Run the experiment to a verdict. Never raises for the experiment's own failures."""
        self.check_environment()
        loop_clock = self.clock
        self.started = loop_clock()
        if self.journal is None:
            self.journal = Journal(self._journal_path, clock=loop_clock)
        journal = self.journal
        exp = self.experiment
        journal.write(
            "run-started",
            run_id=self.run_id,
            seed=self.seed,
            title=exp.title,
            experiment=exp.model_dump(mode="json"),
            plan=plan(exp, self.seed),
            pid=os.getpid(),
        )
        restore_signals = install_signal_handlers(self._on_signal) if self.handle_signals else None
        status, reason = Verdict.ERROR, ""
        try:
            status, reason = await self._run()
        except Exception as exc:
            status, reason = Verdict.ERROR, f"{type(exc).__name__}: {exc}"
        finally:
            if restore_signals is not None:
                restore_signals()
        if self.abort_reason is not None and status not in (Verdict.ERROR, Verdict.FAILED_BASELINE):
            status, reason = Verdict.ABORTED, self.abort_reason
        m = self.method
        result = RunResult(
            status=status,
            reason=reason,
            seed=self.seed,
            breaking_points=list(m.breaking_points) if m else [],
            revert_failures=list(m.revert_failures) if m else [],
            checks=dict(self._checks),
            journal=journal.path,
        )
        journal.write("run-ended", status=status, reason=reason, exit_code=result.exit_code)
        result.summary = journal.write_summary(
            {
                "title": exp.title,
                "status": status,
                "reason": reason,
                "exit_code": result.exit_code,
                "seed": self.seed,
                "breaking_points": result.breaking_points,
                "revert_failures": result.revert_failures,
                "checks": result.checks,
                "duration_s": round(self.clock() - self.started, 3),
                "complete": True,
            }
        )
        journal.close()
        return result

    async def _run(self) -> tuple[Verdict, str]:
        exp = self.experiment
        safety = exp.safety
        journal = self.journal
        assert journal is not None
        halted = self.kill_switch_set()
        if halted:
            self.abort(halted)
            return Verdict.ABORTED, halted
        async with AsyncExitStack() as stack:
            deadman = DeadMan.on_demand(safety.ttl_s) if self.watchdog else None
            if deadman is not None:
                stack.callback(deadman.stop)

            # one client per control API for the run: reverts pay no client set-up
            control = ControlClients()
            stack.push_async_callback(control.aclose)
            targets = dict(exp.targets)
            # its HTTP clients are built on first use: a plain-HTTP run never loads httpx
            probe_ctx = ProbeContext(
                targets=targets, rng=random.Random(self.seed), timeout_s=safety.timeouts.probe_s
            )
            stack.push_async_callback(probe_ctx.aclose)
            sampler = Sampler(
                exp.probes,
                exp.workload,
                store=self.store,
                journal=journal,
                probe_ctx=probe_ctx,
                workload_ctx=WorkloadContext(
                    targets=targets, rng=random.Random(self.seed + 1), phase=lambda: self.phase
                ),
                default_every_s=safety.probe_interval_s,
                clock=self.clock,
                phase=lambda: self.phase,
                on_sample=self._on_sample,
            )
            from aichaos.engine.preflight import preflight

            problems = await preflight(
                exp, probe_ctx.http, control=control, targets=self.check_targets
            )
            if problems:  # found before the baseline, not seconds into the run
                journal.write("preflight", ok=False, problems=problems)
                return Verdict.ERROR, "preflight: " + "; ".join(problems)
            self._enter(Phase.BASELINE)
            await sampler.start()
            stack.push_async_callback(sampler.stop)
            ticker = asyncio.create_task(self._tick(safety.guardrail_interval_s))
            stack.push_async_callback(cancel, ticker)

            if await self._wait(exp.phases.baseline_s):
                return Verdict.ABORTED, self.abort_reason or ""
            check = self._check_steady("baseline")
            if check is not None and not check.ok:
                failing = "; ".join(f"{c.expr} ({c.detail})" for c in check.failing())
                reason = f"steady state did not hold before injection: {failing}"
                return Verdict.FAILED_BASELINE, reason

            self.method = MethodRunner(
                exp,
                targets=targets,
                journal=journal,
                deadman=deadman,
                seed=self.seed,
                clock=self.clock,
                clients=control,
            )
            self._enter(Phase.INJECTING)
            injected_at = self.phase_started
            method_task = asyncio.create_task(self.method.run())
            abort_wait = asyncio.create_task(self._abort.wait())
            try:
                await asyncio.wait({method_task, abort_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                abort_wait.cancel()
                if not method_task.done():
                    method_task.cancel()
                # the method's exit stacks revert what was applied; shield it from a
                # second cancellation so a repeated signal cannot skip the revert
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(settle(method_task))
            error = task_error(method_task)
            unobserved = self._unobserved(injected_at)

            self._enter(Phase.RECOVERING)
            await run_rollbacks(exp, targets=targets, journal=journal, client=probe_ctx.client)
            if error is not None:
                return Verdict.ERROR, error
            if self.abort_reason is not None:
                return Verdict.ABORTED, self.abort_reason
            await self._wait(exp.phases.recovery_s)
            if self.abort_reason is not None:
                return Verdict.ABORTED, self.abort_reason
            await sampler.sample_all()
            after = self._check_steady("recovery")
            self._enter(Phase.DONE)
            return judge(
                revert_failures=self.method.revert_failures,
                unobserved=unobserved,
                recovery=after,
                deviations=self._deviations,
                idle_steps=self.method.idle_steps(),
            )
