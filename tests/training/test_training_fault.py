"""The ``training`` fault in experiment files and in a real run of the engine."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aichaos.engine.journal import Journal
from aichaos.engine.runner import Engine
from aichaos.errors import ExperimentError
from aichaos.experiment.loader import parse_experiment
from aichaos.inprocess import ControlServer, Switchboard
from aichaos.training import StepHook
from aichaos.verdict import Verdict
from tests.training.armed import training

#: what the trainer of the run test observed, read by its probe
SEEN: dict[str, float] = {"steps": 0, "skipped": 0, "accuracy": 0.0}


def probe() -> dict[str, float]:
    """The experiment's probe: the trainer's own figures."""
    return dict(SEEN)


def _trainer(hook: StepHook, stop: threading.Event) -> None:
    """Logistic regression that skips a step whose gradient is not finite (its guard)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - x[:, 1] > 0).astype(float)
    w = np.zeros(3)
    end = time.monotonic() + 30
    for i in range(1_000_000):
        if stop.is_set() or time.monotonic() > end:
            return
        xb, yb = x[i % 10 * 40 : i % 10 * 40 + 40], y[i % 10 * 40 : i % 10 * 40 + 40]
        grad = hook.step().grads(xb.T @ (1 / (1 + np.exp(-(xb @ w))) - yb) / 40)
        SEEN["steps"] += 1
        if not np.isfinite(grad).all():
            SEEN["skipped"] += 1
            continue
        w = w - 0.5 * grad
        SEEN["accuracy"] = float(((x @ w > 0) == y).mean())
        time.sleep(0.002)


@pytest.mark.slow
async def test_a_run_arms_the_trainers_hook_and_journals_what_it_saw(tmp_path: Path) -> None:
    board = Switchboard()
    hook = StepHook("trainer", board=board)
    control = ControlServer(board, token="test-token-123").start()
    stop = threading.Event()
    SEEN.update(steps=0, skipped=0, accuracy=0.0)
    thread = threading.Thread(target=_trainer, args=(hook, stop))
    thread.start()
    try:
        loaded = parse_experiment(
            f"""
title: NaN gradients in 5 % of steps, with the trainer's guard
seed: 7
targets:
  trainer: {{type: inprocess, url: "{control.url}", token: test-token-123}}
probes:
  train: {{type: python, call: "tests.training.test_training_fault:probe", every_s: 0.1}}
steady_state: ["train.accuracy >= 0.9"]
method:
  - name: nan-grads
    target: trainer
    fault: {{type: training, hooks: [trainer], kind: nan, values: grads, rate: 0.05}}
    duration_s: 1
phases: {{baseline_s: 0.5, recovery_s: 0.3}}
"""
        )
        journal = Journal(tmp_path / "run.jsonl")
        result = await Engine(loaded.experiment, journal=journal, watchdog=False).run()
        skipped = SEEN["skipped"]
        assert board.status()["armed"] == {}  # disarmed at the end of the step
    finally:
        stop.set()
        thread.join(10)
        control.close()
    assert result.status is Verdict.PASSED, result.reason
    (reverted,) = [e for e in journal.events if e["event"] == "fault-reverted"]
    effect = reverted["effect"]
    assert 0 < effect["touched"] == skipped  # each step the fault hit, the guard skipped
    assert effect["hooks"]["trainer"]["calls"] < SEEN["steps"]


@pytest.mark.slow
async def test_a_guardrail_abort_disarms_the_hook_mid_step(tmp_path: Path) -> None:
    """The abort path: a guardrail breaks while the fault is on; the step is reverted."""
    board = Switchboard()
    hook = StepHook("trainer", board=board)
    control = ControlServer(board, token="test-token-123").start()
    stop = threading.Event()
    SEEN.update(steps=0, skipped=0, accuracy=0.0)
    thread = threading.Thread(target=_trainer, args=(hook, stop))
    thread.start()
    try:
        loaded = parse_experiment(
            f"""
title: half the steps NaN; the guardrail stops the run
seed: 7
targets:
  trainer: {{type: inprocess, url: "{control.url}", token: test-token-123}}
probes:
  train: {{type: python, call: "tests.training.test_training_fault:probe", every_s: 0.1}}
guardrails: ["train.skipped < 20"]
method:
  - name: nan-grads
    target: trainer
    fault: {{type: training, hooks: [trainer], kind: nan, values: grads, rate: 0.5}}
    duration_s: 30
phases: {{baseline_s: 0.3, recovery_s: 0.3}}
safety: {{guardrail_interval_s: 0.1}}
"""
        )
        journal = Journal(tmp_path / "run.jsonl")
        t0 = time.monotonic()
        result = await Engine(loaded.experiment, journal=journal, watchdog=False).run()
        took = time.monotonic() - t0
        armed = board.status()["armed"]
        skipped = SEEN["skipped"]
        await asyncio.sleep(0.1)  # the trainer runs on: no step is hit any more
        after = SEEN["skipped"]
    finally:
        stop.set()
        thread.join(10)
        control.close()
    assert result.status is Verdict.ABORTED and "guardrail" in result.reason
    assert took < 10 and armed == {} and after == skipped >= 20
    assert [e["step"] for e in journal.events if e["event"] == "fault-reverted"] == ["nan-grads"]


BAD = [
    (
        {"kind": "nan", "factor": 3},
        "factor",
        "is not used by kind 'nan' (its fields: fraction, values)",
    ),
    ({"kind": "explode"}, "factor", "is required by kind 'explode'"),
    ({"kind": "explode", "factor": 0.5}, "factor", "must be > 1, got 0.5"),
    ({"kind": "nan", "values": "weights"}, "values", "'loss', 'grads' or 'inputs'"),
    ({"kind": "stall"}, "kind", "'nan', 'inf'"),
    ({"kind": "nan", "rate": 2}, "rate", "must be <= 1, got 2"),
    ({"kind": "skip", "hooks": ["*"]}, "hooks", "'*' cannot carry a training spec"),
    (
        {"kind": "label-noise", "corruption": {"name": "label-flip", "fractoin": 1}},
        "corruption",
        "fractoin is not a known field",
    ),
]


@pytest.mark.parametrize(("fields", "field", "why"), BAD)
def test_a_bad_training_fault_is_named_with_its_field(
    fields: dict[str, Any], field: str, why: str
) -> None:
    import json

    fault = json.dumps({"type": "training", "hooks": ["trainer"], **fields})
    doc = f"""
title: t
targets: {{svc: {{type: inprocess, url: "http://127.0.0.1:1", token: long-enough-token}}}}
method:
  - name: s
    target: svc
    duration_s: 1
    fault: {fault}
"""
    with pytest.raises(ExperimentError) as info:
        parse_experiment(doc.encode(), "e.yaml")
    assert f"method[0].fault.{field} (line 8): " in str(info.value)
    assert why in str(info.value)


async def test_the_watchdogs_undo_disarms_a_hook_a_dead_runner_left_armed() -> None:
    from aichaos.faults.undo import perform

    board = Switchboard()
    hook = StepHook("trainer", board=board)
    control = ControlServer(board, token="test-token-123").start()
    try:
        inj = training(control, ["trainer"], kind="nan")
        await inj.apply()  # the runner dies here: no revert, only its lease's actions
        assert hook.step().hit
        for action in inj.undo_actions():
            perform(action)  # what the watchdog does when the lease lapses
        assert not hook.step().hit and board.status()["armed"] == {}
    finally:
        control.close()


def test_the_hooks_load_no_torch_until_a_trainer_uses_it() -> None:
    import subprocess
    import sys

    code = (
        "import sys, aichaos.training as t\n"
        "from aichaos.inprocess import Switchboard\n"
        "b = Switchboard()\n"
        "t.TorchHook('a', board=b); t.LoaderHook('b', board=b); t.CheckpointHook('c', board=b)\n"
        "t.StepHook('d', board=b).step().grads([1.0])\n"
        "assert 'torch' not in sys.modules, 'torch'\n"
        "assert 'numpy' not in sys.modules, 'numpy'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
