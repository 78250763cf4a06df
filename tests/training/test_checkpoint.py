"""``checkpoint-corrupt`` on a real trainer's checkpoints: what the resumed trainer loaded."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest

from aichaos.errors import ExperimentError, TargetError
from aichaos.experiment.loader import parse_experiment
from aichaos.faults import FAULTS, InjectionContext
from aichaos.faults.undo import perform
from tests.training.conftest import Trainer, start


def _shas(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    """A finished run with checkpoints at steps 10, 20, 30 (every test restores them)."""
    t = Trainer(tmp_path_factory.mktemp("trained"), "--steps", "30", "--step-s", "0")
    assert t.finish()[0] == 0
    # distinct mtimes, oldest first, whatever the file system's resolution
    for i, step in enumerate((10, 20, 30)):
        os.utime(t.dir / f"ckpt-{step:06d}.bin", (1000 + i, 1000 + i))
    return t


def _resume(t: Trainer, trainers: list[Trainer], *args: str) -> tuple[int, str, dict[str, object]]:
    again = start(trainers, t.dir.parent, "--steps", "30", "--step-s", "0", *args)
    code, _, err = again.finish()
    return code, err, again.records("start")[-1] if code == 0 else {}


@pytest.mark.parametrize("mode", ["truncate", "corrupt", "missing"])
async def test_a_checking_trainer_falls_back_to_the_previous_checkpoint(
    trained: Trainer, trainers: list[Trainer], mode: str
) -> None:
    before = _shas(trained.dir)
    fault = FAULTS.get("checkpoint-corrupt")(directory=str(trained.dir), mode=mode)
    inj = fault.injection(InjectionContext())
    async with inj:
        code, err, started = await asyncio.to_thread(_resume, trained, trainers)
        assert code == 0, err
        assert started["resumed_from"] == 20  # the trainer loaded the previous good one
        assert started["checkpoint"] == str(trained.dir / "ckpt-000020.bin")
        assert ("fails its checksum" in err) == (mode != "missing")
    assert _shas(trained.dir) == before  # byte-identical after revert
    effect = inj.effect()
    assert effect is not None and effect["touched"] > 0
    assert inj.describe()["checkpoint"] == str(trained.dir / "ckpt-000030.bin")


async def test_a_trainer_without_the_check_fails_on_a_truncated_checkpoint(
    trained: Trainer, trainers: list[Trainer]
) -> None:
    before = _shas(trained.dir)
    fault = FAULTS.get("checkpoint-corrupt")(directory=str(trained.dir), mode="truncate")
    async with fault.injection(InjectionContext()):
        code, err, _ = await asyncio.to_thread(_resume, trained, trainers, "--no-verify")
        assert code != 0 and "BadZipFile" in err  # numpy could not load what it was handed
    assert _shas(trained.dir) == before
    code, err, started = await asyncio.to_thread(_resume, trained, trainers, "--no-verify")
    assert code == 0 and started["resumed_from"] == 30, err


async def test_an_exception_inside_the_step_still_restores(trained: Trainer) -> None:
    before = _shas(trained.dir)
    fault = FAULTS.get("checkpoint-corrupt")(directory=str(trained.dir), mode="corrupt")
    with pytest.raises(RuntimeError):
        async with fault.injection(InjectionContext()):
            assert _shas(trained.dir) != before
            raise RuntimeError("the step failed")
    assert _shas(trained.dir) == before


async def test_the_watchdog_undo_restores_what_a_dead_runner_left(trained: Trainer) -> None:
    before = _shas(trained.dir)
    fault = FAULTS.get("checkpoint-corrupt")(directory=str(trained.dir), mode="missing")
    inj = fault.injection(InjectionContext())
    await inj.apply()  # never reverted: the runner "died"
    assert not (trained.dir / "ckpt-000030.bin").exists()
    for action in json.loads(json.dumps([a.model_dump() for a in inj.undo_actions()])):
        from aichaos.faults.undo import UNDO_ADAPTER

        perform(UNDO_ADAPTER.validate_python(action))
    assert _shas(trained.dir) == before


async def test_checkpoints_written_during_the_fault_are_left_alone(trained: Trainer) -> None:
    fault = FAULTS.get("checkpoint-corrupt")(directory=str(trained.dir), mode="truncate")
    async with fault.injection(InjectionContext()):
        (trained.dir / "ckpt-000040.bin").write_bytes(b"new")
    assert (trained.dir / "ckpt-000040.bin").read_bytes() == b"new"
    (trained.dir / "ckpt-000040.bin").unlink()


def test_the_latest_is_the_newest_visible_match(tmp_path: Path) -> None:
    from aichaos.training.checkpoint import latest_checkpoint

    for i, name in enumerate(["a.pt", "b.pt", "c.log", ".b.pt.tmp-1"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert latest_checkpoint(tmp_path, "*") == tmp_path / "c.log"
    assert latest_checkpoint(tmp_path, "*.pt") == tmp_path / "b.pt"  # not the temp file
    assert latest_checkpoint(tmp_path, ".*") == tmp_path / ".b.pt.tmp-1"


async def test_no_checkpoint_is_a_target_error(tmp_path: Path) -> None:
    fault = FAULTS.get("checkpoint-corrupt")(directory=str(tmp_path), pattern="ckpt-*")
    with pytest.raises(TargetError, match="no checkpoint matching 'ckpt-\\*'"):
        await fault.injection(InjectionContext()).apply()
    missing = FAULTS.get("checkpoint-corrupt")(directory=str(tmp_path / "nope"))
    with pytest.raises(TargetError, match="does not exist"):
        await missing.injection(InjectionContext()).apply()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"mode": "shred"}, "mode"),
        ({"keep_fraction": 1.0}, "keep_fraction"),
        ({"flip_fraction": 0}, "flip_fraction"),
        ({"pattern": ""}, "pattern"),
        ({}, "directory"),
    ],
)
def test_bad_parameters_name_the_field(params: dict[str, object], fragment: str) -> None:
    fault = {"type": "checkpoint-corrupt", "directory": "/tmp/ckpt", **params}
    if not params:
        del fault["directory"]
    text = f"title: t\nmethod:\n  - {{duration_s: 1, fault: {json.dumps(fault)}}}\n"
    with pytest.raises(ExperimentError) as err:
        parse_experiment(text, "exp.yaml")
    assert fragment in str(err.value)
