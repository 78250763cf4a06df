"""One data hook in the pipeline, every corruption from the experiment's ``inprocess`` fault."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from aichaos.errors import ExperimentError, InjectionError
from aichaos.experiment.loader import parse_experiment
from aichaos.faults import FAULTS, InjectionContext
from aichaos.inprocess import ControlServer, DataHook, Hook, Switchboard
from aichaos.inprocess.fault import InProcessTarget

TOKEN = "test-token-123"


def _clean(rows: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=rows), "label": np.arange(rows) % 2})


async def test_the_experiment_chooses_the_corruption_and_gets_its_effect(
    control: ControlServer, board: Switchboard
) -> None:
    hook = DataHook("loader", board=board)
    clean = _clean()

    @hook
    def load() -> pd.DataFrame:
        return clean.copy()

    assert load().equals(clean)  # not armed: the loader's own data
    target = InProcessTarget(url=control.url, token=TOKEN)
    seen = []
    for corruption, column in (
        ({"name": "label-flip", "fraction": 0.25, "columns": ["label"]}, "label"),
        ({"name": "missing-values", "fraction": 0.1, "columns": ["x"]}, "x"),
    ):
        fault = FAULTS.get("inprocess").model_validate(
            {"hooks": ["loader"], "corruption": corruption}
        )
        inj = fault.injection(InjectionContext(target=target, ttl_s=5))
        changed = 0
        async with inj:
            for _ in range(3):  # the pipeline's loader thread, three batches
                batch = await asyncio.to_thread(load)
                diff = batch[column].isna() | (batch[column] != clean[column])
                changed += int(diff.sum())
        seen.append(changed)
        effect = inj.effect()
        assert effect == {
            "hooks": {
                "loader": {
                    "batches": 3,
                    "cells_changed": changed,
                    f"cells_changed.{column}": changed,
                    "rows_changed": changed,
                }
            },
            "seen": 3,
            "touched": changed,
            "unit": "calls fired or cells changed",
        }
    assert 3 * 1000 * 0.2 < seen[0] < 3 * 1000 * 0.3 and 3 * 1000 * 0.05 < seen[1] < 3 * 1000 * 0.15
    assert load().equals(clean)  # disarmed: untouched again


async def test_each_batch_gets_its_own_seed_and_a_replay_is_exact(
    control: ControlServer, board: Switchboard
) -> None:
    hook = DataHook("loader", board=board)
    target = InProcessTarget(url=control.url, token=TOKEN)
    runs = []
    for _ in range(2):
        fault = FAULTS.get("inprocess").model_validate(
            {
                "hooks": ["loader"],
                "corruption": {
                    "name": "label-flip",
                    "fraction": 0.3,
                    "columns": ["label"],
                    "seed": 5,
                },
            }
        )
        async with fault.injection(InjectionContext(target=target, ttl_s=5)):
            runs.append([hook.apply(_clean())["label"].to_numpy() for _ in range(2)])
    assert not np.array_equal(runs[0][0], runs[0][1])  # a fresh seed per batch
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))


def test_the_control_endpoint_refuses_what_a_hook_cannot_use(
    control: ControlServer, board: Switchboard
) -> None:
    DataHook("loader", board=board)
    Hook("predict", board=board)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        ("loader", {"ttl_s": 5, "corruption": {"name": "label-flp"}}, "unknown corruption"),
        ("loader", {"ttl_s": 5, "corruption": {"name": "typos", "fraction": 7}}, "fraction"),
        ("loader", {"ttl_s": 5}, "give corruption"),
        ("predict", {"ttl_s": 5, "corruption": {"name": "typos"}}, "'predict' is not one"),
    ]
    for name, body, why in cases:
        r = httpx.post(f"{control.url}/faults/{name}", json=body, headers=auth)
        assert r.status_code == 400 and why in r.json()["error"], r.text
    assert board.status()["armed"] == {}


def test_an_experiment_with_a_bad_corruption_names_it() -> None:
    doc = """
title: t
targets: {svc: {type: inprocess, url: "http://127.0.0.1:1", token: long-enough-token}}
method:
  - name: s
    target: svc
    duration_s: 1
    fault: {type: inprocess, hooks: [loader], corruption: {name: label-flip, fractoin: 0.2}}
"""
    with pytest.raises(ExperimentError, match=r"method\[0\]\.fault\.corruption.*fractoin"):
        parse_experiment(doc.encode(), "e.yaml")


async def test_a_hook_armed_by_a_dead_runner_stops_at_its_ttl(board: Switchboard) -> None:
    clock = [0.0]
    board.clock = lambda: clock[0]
    hook = DataHook("loader", board=board)
    flip = {"name": "label-flip", "fraction": 1.0, "columns": ["label"]}
    board.arm("loader", ttl_s=2, corruption=flip)
    assert not hook.apply(_clean())["label"].equals(_clean()["label"])
    clock[0] = 2.5
    assert hook.apply(_clean()).equals(_clean())


async def test_a_pipeline_thread_is_never_broken_by_an_arming(
    control: ControlServer, board: Switchboard
) -> None:
    hook = DataHook("loader", board=board)
    errors: list[BaseException] = []
    stop = threading.Event()

    def pipeline() -> None:
        for _ in range(10_000):
            if stop.is_set():
                return
            try:
                hook.apply(_clean(50))
            except BaseException as exc:
                errors.append(exc)
                return

    t = threading.Thread(target=pipeline)
    t.start()
    target = InProcessTarget(url=control.url, token=TOKEN)
    try:
        for fraction in (0.1, 0.5, 0.9):
            flip = {"name": "label-flip", "fraction": fraction, "columns": ["label"]}
            fault = FAULTS.get("inprocess").model_validate(
                {"hooks": ["loader"], "corruption": flip}
            )
            async with fault.injection(InjectionContext(target=target, ttl_s=5)) as inj:
                await asyncio.sleep(0.05)
            assert inj.effect() is not None
    finally:
        stop.set()
        t.join(10)
    assert errors == []


async def test_arming_a_plain_hook_with_a_corruption_fails_the_step(
    control: ControlServer, board: Switchboard
) -> None:
    Hook("predict", board=board)
    fault = FAULTS.get("inprocess").model_validate(
        {"hooks": ["predict"], "corruption": {"name": "label-flip"}}
    )
    inj = fault.injection(InjectionContext(target=InProcessTarget(url=control.url, token=TOKEN)))
    with pytest.raises(InjectionError, match="not one"):
        await inj.apply()


async def test_a_corruption_that_does_not_fit_the_batch_is_reported_not_raised(
    control: ControlServer, board: Switchboard
) -> None:
    hook = DataHook("loader", board=board)
    fault = FAULTS.get("inprocess").model_validate(
        {"hooks": ["loader"], "corruption": {"name": "label-flip", "columns": ["x"]}}
    )
    target = InProcessTarget(url=control.url, token=TOKEN)
    async with fault.injection(InjectionContext(target=target, ttl_s=5)) as inj:
        assert hook.apply(_clean()).equals(_clean())  # the pipeline keeps running
    effect = inj.effect()
    assert effect is not None
    (tally,) = effect["hooks"].values()
    assert tally["errors"] == 1 and "labels must be int" in tally["last_error"]
    assert "cells_changed" not in tally


@pytest.mark.slow
def test_the_hooks_effect_reaches_the_journal_of_a_real_run(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys
    import time

    from aichaos.engine.journal import read_journal

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.inprocess.data_hook_pipeline", str(tmp_path)]
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "control.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        control = json.loads((tmp_path / "control.json").read_text())
        exp = tmp_path / "exp.yaml"
        exp.write_text(
            f"""
title: flipped labels from one data hook
seed: 3
targets:
  pipeline: {{type: inprocess, url: "{control["url"]}", token_env: PIPE_TOKEN}}
method:
  - name: flip
    target: pipeline
    fault:
      type: inprocess
      hooks: [loader]
      corruption: {{name: label-flip, fraction: 0.2, columns: [label]}}
    duration_s: 1.5
phases: {{baseline_s: 0.5, recovery_s: 0.5}}
"""
        )
        journal = tmp_path / "run.jsonl"
        run = subprocess.run(
            [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal), "-q"],
            env={**os.environ, "PIPE_TOKEN": control["token"]},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in run.stderr, run.stderr
        time.sleep(0.2)  # one more batch: the pipeline sees clean data again
    finally:
        proc.terminate()
        proc.wait(10)
    (reverted,) = [e for e in read_journal(journal) if e["event"] == "fault-reverted"]
    tally = reverted["effect"]["hooks"]["loader"]
    seen = [
        json.loads(line)["changed"] for line in (tmp_path / "seen.jsonl").read_text().splitlines()
    ]
    hit = [n for n in seen if n]
    assert hit and tally["batches"] == len(hit)  # every corrupted batch, as the pipeline saw it
    assert tally["cells_changed.label"] == sum(hit) and seen[-1] == 0
