"""``aichaos demo --training`` end to end: a real torchrun job, every verdict as predicted.

One demo run per module (a fault-free baseline job, then one fresh job per bundled
experiment); the assertions read what the trainer itself wrote (its metrics file, its
checkpoints, the agent's log), not only what aichaos says it did.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aichaos.demo.training import job_options
from aichaos.demo.training_cli import training_experiments
from aichaos.engine.journal import read_journal
from aichaos.report import load_run

AICHAOS = [sys.executable, "-m", "aichaos.cli"]
# the module's one demo run is set up inside its first test, which pytest-timeout bounds
pytestmark = [pytest.mark.long, pytest.mark.timeout(900)]


def _records(path: Path, kind: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [r for r in rows if r["kind"] == kind]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    pytest.importorskip("torch", reason="the training demo needs PyTorch (the training extra)")
    out = tmp_path_factory.mktemp("training") / "demo"
    env = {**os.environ, "AICHAOS_KILL_SWITCH": str(out.parent / "halt")}
    proc = subprocess.run(
        [*AICHAOS, "demo", "--training", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    return out, proc


@pytest.mark.slow
def test_every_training_verdict_is_the_predicted_one(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, proc = demo
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    names = [n for n, _ in training_experiments()]
    assert len(names) >= 4
    for name in names:
        run = load_run(out / name.replace(".yaml", ".jsonl"))
        assert run.complete and run.prediction is not None, name
        assert run.verdict == run.prediction, f"{name}: {run.verdict} ({run.reason})"
        assert run.faults and all(w.closed for w in run.faults), name
    assert "training loss (vs baseline)" in (out / "report.html").read_text()


def _effects(journal: Path) -> dict[str, dict[str, Any]]:
    return {e["step"]: e["effect"] for e in read_journal(journal) if e["event"] == "fault-reverted"}


@pytest.mark.slow
def test_the_preempted_rank_saw_sigterm_and_the_job_resumed_its_checkpoint(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo
    job = out / "10-preempt-rank"
    effect = _effects(out / "10-preempt-rank.jsonl")["preempt-rank-1"]
    # rank 1 ran its handler and exited within the grace period: no SIGKILL was needed
    assert effect["exited_in_grace"] == 1 and effect["killed_after_grace"] == 0
    assert "exitcode: 143) local_rank: 1" in (job / "job.log").read_text()
    first, again = _records(job / "metrics.jsonl", "start")[:2]
    saved = [
        c["step"] for c in _records(job / "metrics.jsonl", "checkpoint") if c["t"] < again["t"]
    ]
    assert first["resumed_from"] is None and again["resumed_from"] == saved[-1]
    steps = [s["step"] for s in _records(job / "metrics.jsonl", "step") if s["t"] < again["t"]]
    assert 0 <= max(steps) - again["resumed_from"] <= 25  # lost work <= one interval


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "checks"),
    [("20-corrupt-checkpoint-checked", True), ("30-corrupt-checkpoint-unchecked", False)],
)
def test_the_resumed_trainer_loaded_what_its_check_allowed(
    demo: tuple[Path, subprocess.CompletedProcess[str]], name: str, checks: bool
) -> None:
    from aichaos.demo.checkpoints import _payload, list_checkpoints

    out, _ = demo
    job = out / name
    effect = _effects(out / f"{name}.jsonl")["truncate-latest-checkpoint"]
    damaged = Path(effect["file"])
    log = (job / "job.log").read_text()
    starts = _records(job / "metrics.jsonl", "start")
    if checks:
        assert f"checkpoint {damaged.name} fails its checksum" in log
        assert "torch.load(io.BytesIO(payload)" not in log  # it never loaded the damage
        saved = [
            c["step"]
            for c in _records(job / "metrics.jsonl", "checkpoint")
            if c["t"] < starts[1]["t"]
        ]
        assert damaged.name == f"ckpt-{saved[-1]:06d}.bin"  # the newest was damaged
        assert starts[1]["resumed_from"] == saved[-2]  # and the one before was loaded
    else:
        # the traceback of torch.load on the truncated file ("PytorchStreamReader failed"
        # or "negative seek value", depending on where the cut fell)
        assert "torch.load(io.BytesIO(payload)" in log
        assert len(starts) == 1  # its restarts were spent on it: it never trained again
    # every checkpoint is whole again (its checksum holds): the revert restored them
    for _, path in list_checkpoints(job / "ckpt"):
        assert _payload(path, verify=True) is not None, path


@pytest.mark.slow
def test_the_ramp_names_its_breaking_point(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo
    points = [
        e
        for e in read_journal(out / "40-preemption-rate-ramp.jsonl")
        if e["event"] == "breaking-point"
    ]
    assert points and points[0]["broke"] in (600, 2)


def test_time_limits_scale_with_the_start_up() -> None:
    from aichaos.demo.training_cli import timings

    assert timings(1.0)["restart_s"] == 5.0  # a floor for a very fast machine
    fast, slow = timings(4.0), timings(20.0)
    assert fast["restart_s"] == 10.0 and slow["restart_s"] == 50.0
    assert slow["recover_s"] > slow["restart_s"] and slow["budget_s"] > slow["restart_s"]


def test_job_tags_become_trainer_flags() -> None:
    assert job_options(["training", "job:no-verify", "job:max-restarts=1", "job:steps=9"]) == (
        ["--no-verify", "--steps", "9"],
        1,
    )
    with pytest.raises(ValueError, match="job:<flag>"):
        job_options(["job:--evil"])


def test_without_torch_the_training_demo_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import aichaos.demo.training as training
    from aichaos.demo.cli import demo_command

    monkeypatch.setattr(training, "torch_missing", lambda: "the training demo needs PyTorch")
    result = CliRunner().invoke(demo_command, ["--training", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "the training demo needs PyTorch" in result.output


@pytest.mark.slow
def test_the_guarded_trainer_skipped_each_nan_step_the_hook_injected(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo
    effect = _effects(out / "50-nan-gradients-guarded.jsonl")["nan-gradients"]
    steps = _records(out / "50-nan-gradients-guarded" / "metrics.jsonl", "step")
    poisoned = [s for s in steps if s["nonfinite"]]  # what the trainer found in its grads
    assert 0 < len(poisoned) == effect["touched"]
    assert sum(s["nonfinite"] for s in poisoned) == effect["hooks"]["trainer"]["nan_injected"]
    assert all(math.isfinite(s["loss"]) for s in steps)  # no NaN reached the weights


@pytest.mark.slow
def test_the_unguarded_trainer_lost_its_weights_to_the_first_nan(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo
    effect = _effects(out / "60-nan-gradients-unguarded.jsonl")["nan-gradients"]
    steps = _records(out / "60-nan-gradients-unguarded" / "metrics.jsonl", "step")
    first = next(i for i, s in enumerate(steps) if s["nonfinite"])
    assert effect["touched"] >= 1 and all(math.isfinite(s["loss"]) for s in steps[:first])
    assert not any(math.isfinite(s["loss"]) for s in steps[first + 1 :])
    evals = _records(out / "60-nan-gradients-unguarded" / "metrics.jsonl", "eval")
    assert evals[-1]["value"] < 0.5  # four classes: chance


@pytest.mark.slow
def test_the_stalled_loader_slowed_the_steps_and_changed_no_loss(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = demo
    effect = _effects(out / "70-stalled-loader.jsonl")["stalled-loader"]
    steps = _records(out / "70-stalled-loader" / "metrics.jsonl", "step")
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(steps)]
    stalled = [g for g in gaps if g >= 0.4]  # a 400 ms stall, as the trainer's clock saw it
    assert 0 < effect["touched"] <= len(stalled)
    assert sum(stalled) >= effect["hooks"]["loader"]["delay_s"]
    baseline = {s["step"]: s["loss"] for s in _records(out / "baseline" / "metrics.jsonl", "step")}
    assert all(abs(s["loss"] - baseline[s["step"]]) < 1e-6 for s in steps)  # same batches
    checks = [
        c
        for e in read_journal(out / "70-stalled-loader.jsonl")
        if e["event"] == "steady-state"
        for c in e["checks"]
    ]
    assert any(c["slo"] == "train.steps_per_s >= 8" and not c["ok"] for c in checks)
    evals = [c for c in checks if "eval_gap" in c["slo"] and c["value"] is not None]
    assert evals and all(c["ok"] for c in evals)  # the accuracy held, whenever measured


def test_workers_die_with_a_killed_agent(tmp_path: Path) -> None:
    """torchrun puts each worker in a session of its own, where the demo's stop (a signal
    to the agent's group) cannot reach it; a SIGKILLed agent must still leave no worker
    waiting in gloo for peers that are gone (they did, for hours, before)."""
    pytest.importorskip("torch", reason="the training demo needs PyTorch (the training extra)")
    import psutil

    from aichaos.demo.training import TrainingJob

    job = TrainingJob(tmp_path, trainer_args=["--steps", "100000"]).start()
    workers: list[psutil.Process] = []
    try:
        job.wait_training(timeout_s=240)
        workers = [
            p
            for p in psutil.Process(job.pid).children(recursive=True)
            if "aichaos.demo.trainer" in " ".join(p.cmdline())
        ]
        assert len(workers) == 2
        assert all(os.getsid(p.pid) != os.getsid(job.pid) for p in workers)  # out of reach
        os.kill(job.pid, 9)  # the agent alone, as the OOM killer or a lost node would
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []
    finally:
        job.stop()
        for p in workers:  # never leave one behind, even when the test fails
            with contextlib.suppress(psutil.Error):
                p.kill()
