"""process-pause and python-callable through their injections, on real processes."""

from __future__ import annotations

import random
import subprocess
from contextlib import AsyncExitStack

import pytest

from aichaos.errors import InjectionError, TargetError, ValidationError
from aichaos.faults import FAULTS, BlastRadius, InjectionContext
from aichaos.targets import HttpTarget, ProcessTarget
from tests.conftest import start_sleeper, wait_state


async def test_pause_and_always_resume(sleeper: subprocess.Popen[str]) -> None:
    fault = FAULTS.get("process-pause")()
    inj = fault.injection(InjectionContext(target=ProcessTarget(pid=sleeper.pid)))
    with pytest.raises(RuntimeError):
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(inj)
            assert wait_state(sleeper.pid, stopped=True)
            assert [a.pid for a in inj.undo_actions()] == [sleeper.pid]
            raise RuntimeError("the runner failed mid-step")
    assert wait_state(sleeper.pid, stopped=False)


async def test_pause_blast_radius_picks_a_seeded_subset() -> None:
    procs = [start_sleeper("301") for _ in range(4)]
    try:
        chosen = []
        for _ in range(2):
            ctx = InjectionContext(
                target=ProcessTarget(match=r"^sleep 301$"),
                blast_radius=BlastRadius(fraction=0.5),
                rng=random.Random(5),
            )
            inj = FAULTS.get("process-pause")().injection(ctx)
            async with inj:
                chosen.append(inj.pids)  # type: ignore[attr-defined]
                stopped = [p.pid for p in procs if wait_state(p.pid, stopped=True, timeout_s=0.3)]
                assert stopped == inj.pids  # type: ignore[attr-defined]
                assert len(stopped) == 2
        assert chosen[0] == chosen[1]
        assert all(wait_state(p.pid, stopped=False) for p in procs)
    finally:
        for p in procs:
            p.kill()
            p.wait()


async def test_pause_bad_targets() -> None:
    fault = FAULTS.get("process-pause")()
    with pytest.raises(TargetError, match="needs a target of type 'process'"):
        fault.injection(InjectionContext(target=HttpTarget(url="http://127.0.0.1:1")))
    inj = fault.injection(InjectionContext(target=ProcessTarget(pid=2**22 - 7)))
    with pytest.raises(TargetError, match="no running process"):
        await inj.apply()


async def test_python_callable_errors_are_clear() -> None:
    cls = FAULTS.get("python-callable")
    with pytest.raises(ValidationError, match="cannot import module 'nope_mod'"):
        await cls(apply="nope_mod:f").injection(InjectionContext()).apply()
    with pytest.raises(ValidationError, match="has no attribute"):
        await cls(apply="os:no_such_function").injection(InjectionContext()).apply()
    with pytest.raises(InjectionError, match="ZeroDivisionError"):
        await (
            cls(apply="tests.engine.system:divide", arguments={"a": 1, "b": 0})
            .injection(InjectionContext())
            .apply()
        )
