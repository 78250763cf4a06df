"""Data-loader faults around a real DataLoader and a plain generator, from the trainer's side."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import pytest

from aichaos.inprocess import ControlServer, Switchboard
from aichaos.training import LoaderHook
from tests.training.armed import TOKEN, board, control, training

__all__ = ["board", "control"]


def _batches(n: int = 20) -> Iterator[dict[str, np.ndarray]]:
    """A generator of dict batches: ``id`` says which batch it is, ``y`` its labels."""
    for i in range(n):
        yield {"id": np.array([i]), "y": np.arange(50) % 3}


async def test_duplicated_and_skipped_batches_as_the_trainer_counts_them(
    control: ControlServer, board: Switchboard
) -> None:
    hook = LoaderHook("loader", labels="y", board=board)
    for kind, rate in (("duplicate", 0.3), ("skip", 0.3)):
        inj = training(control, ["loader"], kind=kind, rate=rate)
        async with inj:
            ids = [int(b["id"][0]) for b in hook.wrap(_batches())]
        effect = inj.effect()
        assert effect is not None and effect["unit"] == "batches hit"
        repeats = len(ids) - len(set(ids))
        missing = len(set(range(20)) - set(ids))
        if kind == "duplicate":
            assert (
                0 < repeats == effect["touched"] == effect["hooks"]["loader"]["batches_duplicated"]
            )
            assert missing == 0 and ids == sorted(ids)
        else:
            assert 0 < missing == effect["touched"] == effect["hooks"]["loader"]["batches_skipped"]
            assert repeats == 0
    assert [int(b["id"][0]) for b in hook.wrap(_batches())] == list(range(20))  # disarmed


async def test_label_noise_on_a_torch_dataloader_is_what_the_trainer_trains_on(
    control: ControlServer, board: Switchboard
) -> None:
    torch = pytest.importorskip("torch", reason="the DataLoader case needs PyTorch")
    from torch.utils.data import DataLoader, TensorDataset

    x = torch.arange(200, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(200) % 4
    loader = DataLoader(TensorDataset(x, y), batch_size=50)
    hook = LoaderHook("loader", board=board)
    wrapped = hook.wrap(loader)
    assert len(wrapped) == 4
    inj = training(
        control, ["loader"], kind="label-noise", corruption={"name": "label-flip", "fraction": 0.2}
    )
    flipped = 0
    async with inj:
        for xb, yb in wrapped:
            assert yb.dtype == torch.int64 and isinstance(yb, torch.Tensor)
            truth = xb[:, 0].long() % 4  # the clean label each row had
            flipped += int((yb != truth).sum())
    effect = inj.effect()
    assert effect is not None
    assert 0.1 * 200 < flipped == effect["hooks"]["loader"]["labels_changed"] < 0.3 * 200
    assert effect["touched"] == 4


async def test_a_stalled_fetch_takes_its_latency_and_a_disarm_ends_it(
    control: ControlServer, board: Switchboard
) -> None:
    hook = LoaderHook("loader", labels="y", board=board)
    inj = training(control, ["loader"], kind="latency", latency_ms=150, rate=0.5)
    took = []
    async with inj:
        it = iter(hook.wrap(_batches(8)))
        while True:
            t0 = time.monotonic()
            if next(it, None) is None:
                break
            took.append(time.monotonic() - t0)
    effect = inj.effect()
    assert effect is not None
    slow = [t for t in took if t >= 0.15]
    assert 0 < len(slow) == effect["touched"] < 8
    assert all(t < 0.1 for t in took if t < 0.15)
    assert effect["hooks"]["loader"]["delay_s"] == pytest.approx(sum(slow), abs=0.05)

    # an hour-long stall ends when the experiment disarms the hook
    stalled = training(control, ["loader"], kind="latency", latency_ms=3_600_000)
    await stalled.apply()
    fetch = asyncio.create_task(asyncio.to_thread(next, iter(hook.wrap(_batches(1)))))
    await asyncio.sleep(0.3)
    assert not fetch.done()
    t0 = time.monotonic()
    await stalled.revert()
    batch = await asyncio.wait_for(fetch, 5)
    assert int(batch["id"][0]) == 0 and time.monotonic() - t0 < 1


def test_a_loader_stall_armed_by_a_dead_runner_ends_at_its_ttl(board: Switchboard) -> None:
    hook = LoaderHook("loader", labels="y", board=board)
    board.arm("loader", ttl_s=0.3, training={"kind": "latency", "latency_ms": 60_000})
    t0 = time.monotonic()
    assert int(next(iter(hook.wrap(_batches(1))))["id"][0]) == 0
    assert 0.25 < time.monotonic() - t0 < 2  # the TTL lapsed: the stall let go
    assert board.status()["armed"] == {}


def test_the_control_endpoint_refuses_a_spec_the_hook_cannot_apply(
    control: ControlServer, board: Switchboard
) -> None:
    import httpx

    LoaderHook("loader", board=board)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        ({"kind": "nan"}, "training.kind must be one of latency, duplicate, skip, label-noise"),
        ({"kind": "latency"}, "training.latency_ms is required by kind 'latency'"),
        ({"kind": "latency", "latency_ms": -1}, "training.latency_ms must be >= 0, got -1"),
        ({"kind": "skip", "factor": 3}, "training.factor is not used by kind 'skip'"),
        ({"kind": "label-noise", "corruption": {"name": "label-flp"}}, "unknown corruption"),
        ({"kind": "stall"}, "training.kind"),
    ]
    for spec, why in cases:
        body = {"ttl_s": 5, "training": spec}
        r = httpx.post(f"{control.url}/faults/loader", json=body, headers=auth)
        assert r.status_code == 400 and why in r.json()["error"], r.text
    r = httpx.post(f"{control.url}/faults/loader", json={"ttl_s": 5}, headers=auth)
    assert r.status_code == 400 and "give training" in r.json()["error"]
    assert board.status()["armed"] == {}
