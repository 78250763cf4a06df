"""``preemption`` on real trainer processes: what the trainer saw and how it ended."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest

from aichaos.errors import ExperimentError, TargetError
from aichaos.experiment.loader import parse_experiment
from aichaos.faults import FAULTS, InjectionContext
from aichaos.targets import ProcessTarget
from tests.training.conftest import Trainer, start


def _ctx(pid: int | None = None, match: str | None = None) -> InjectionContext:
    return InjectionContext(target=ProcessTarget(pid=pid, match=match), rng=random.Random(1))


async def test_sigterm_handler_saves_within_the_grace_period(
    tmp_path: Path, trainers: list[Trainer]
) -> None:
    t = start(trainers, tmp_path, "--steps", "100000", "--ckpt-every", "1000")
    t.wait_for("step", 5)
    inj = FAULTS.get("preemption")(grace_s=5).injection(_ctx(pid=t.proc.pid))
    t0 = time.monotonic()
    async with inj:
        code, out, _ = await asyncio.to_thread(t.finish)
    assert code == 0 and out.startswith("sigterm: saved step"), out
    assert time.monotonic() - t0 < 5
    last = t.records("checkpoint")[-1]  # the final checkpoint its handler wrote
    assert last["step"] == t.records("step")[-1]["step"]
    assert (t.dir / f"ckpt-{last['step']:06d}.bin").exists()
    effect = inj.effect()
    assert effect["touched"] == 1 and effect["exited_in_grace"] == 1
    assert effect["killed_after_grace"] == 0


async def test_ignored_sigterm_is_followed_by_sigkill_after_grace(
    tmp_path: Path, trainers: list[Trainer]
) -> None:
    t = start(trainers, tmp_path, "--steps", "100000", "--ignore-sigterm")
    t.wait_for("step", 5)
    inj = FAULTS.get("preemption")(grace_s=0.6).injection(_ctx(pid=t.proc.pid))
    t0 = time.monotonic()
    async with inj:
        code, _, _ = await asyncio.to_thread(t.finish)
        waited = time.monotonic() - t0
    assert code == -9
    assert 0.55 <= waited < 3.0, waited
    effect = inj.effect()
    assert effect["killed_after_grace"] == 1 and effect["exited_in_grace"] == 0


async def test_zero_grace_is_a_crash_without_a_final_checkpoint(
    tmp_path: Path, trainers: list[Trainer]
) -> None:
    t = start(trainers, tmp_path, "--steps", "100000", "--ckpt-every", "1000")
    t.wait_for("step", 5)
    async with FAULTS.get("preemption")(grace_s=0).injection(_ctx(pid=t.proc.pid)):
        code, out, _ = await asyncio.to_thread(t.finish)
    assert code == -9 and "sigterm" not in out
    assert t.records("checkpoint") == []


async def test_a_revert_ends_the_grace_period_with_sigkill(
    tmp_path: Path, trainers: list[Trainer]
) -> None:
    t = start(trainers, tmp_path, "--steps", "100000", "--ignore-sigterm")
    t.wait_for("step", 2)
    inj = FAULTS.get("preemption")(grace_s=60).injection(_ctx(pid=t.proc.pid))
    t0 = time.monotonic()
    async with inj:
        assert t.proc.poll() is None
    code, _, _ = t.finish(timeout_s=5)
    assert code == -9 and time.monotonic() - t0 < 5


async def test_rank_picks_the_worker_with_that_rank(
    tmp_path: Path, trainers: list[Trainer]
) -> None:
    tag = f"rankpick-{tmp_path.name}"
    ranks = [
        start(
            trainers,
            tmp_path / f"r{r}",
            "--steps",
            "100000",
            "--ckpt-every",
            "1000",
            "--ignore-sigterm",
            env={"RANK": str(r), "TAG": tag},
        )
        for r in (0, 1)
    ]
    for t in ranks:
        t.wait_for("step", 2)
    match = f"numpy_trainer --dir {tmp_path}/r"
    inj = FAULTS.get("preemption")(grace_s=0, rank=1).injection(_ctx(match=match))
    async with inj:
        assert (await asyncio.to_thread(ranks[1].finish))[0] == -9
    assert ranks[0].proc.poll() is None
    assert inj.describe()["preempted"] == [{"pid": ranks[1].proc.pid, "rank": 1}]
    with pytest.raises(TargetError, match=r"RANK=5 .* ranks found: \['0'\]"):
        await FAULTS.get("preemption")(rank=5).injection(_ctx(match=match)).apply()


async def test_every_s_preempts_each_restarted_process(
    tmp_path: Path, trainers: list[Trainer]
) -> None:
    # a tiny elastic agent: whenever the trainer is gone, start it again (it resumes)
    pidfile = tmp_path / "pid"
    args = ("--steps", "100000", "--ckpt-every", "5", "--step-s", "0.01")
    t = start(trainers, tmp_path, *args)
    pidfile.write_text(str(t.proc.pid))
    t.wait_for("step", 2)
    target = ProcessTarget(pid_file=str(pidfile))
    inj = FAULTS.get("preemption")(grace_s=2, every_s=0.8).injection(
        InjectionContext(target=target, rng=random.Random(1))
    )
    deadline = time.monotonic() + 10
    async with inj:
        while len(t.records("start")) < 3 and time.monotonic() < deadline:
            if trainers[-1].proc.poll() is not None:
                pidfile.write_text(str(start(trainers, tmp_path, *args).proc.pid))
            await asyncio.sleep(0.05)
    starts = t.records("start")
    assert len(starts) >= 3, starts
    assert all(s["resumed_from"] for s in starts[1:])  # each restart resumed a checkpoint
    assert inj.effect()["touched"] >= 2


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"grace_s": -1}, "grace_s"),
        ({"grace_s": 1e9}, "grace_s"),
        ({"count": 0}, "count"),
        ({"rank": -1}, "rank"),
        ({"every_s": 0}, "every_s"),
        ({"grace": 5}, "grace"),
    ],
)
def test_bad_parameters_name_the_field(params: dict[str, object], fragment: str) -> None:

    text = (
        "title: t\ntargets: {job: {type: process, match: trainer}}\nmethod:\n"
        f"  - {{target: job, duration_s: 1, fault: {json.dumps({'type': 'preemption', **params})}}}\n"
    )
    with pytest.raises(ExperimentError) as err:
        parse_experiment(text, "exp.yaml")
    assert fragment in str(err.value)
