"""Per-item loader faults on a wrapped Dataset, inside real DataLoader worker processes.

Arming goes through the ``training`` fault and the control endpoint, as an experiment
arms a trainer; every assertion is on what the trainer's loop received from a real
``torch.utils.data.DataLoader`` (two workers unless said otherwise).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest

from aichaos.errors import ValidationError
from aichaos.inprocess import ControlServer, Switchboard
from aichaos.training import LoaderHook
from tests.training.armed import board, control, training

__all__ = ["board", "control"]

torch = pytest.importorskip("torch", reason="wrapping a Dataset is tested on PyTorch's DataLoader")
from torch.utils.data import DataLoader, Dataset, IterableDataset  # noqa: E402

N = 32  # items per epoch
CLASSES = 4


class Items(Dataset[Any]):
    """Item ``i`` is ``(tensor([i]), i % 4)``: its input says which item and which label."""

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return torch.tensor([float(i)]), i % CLASSES


class Stream(IterableDataset[Any]):
    """The same items as a stream, split between DataLoader workers."""

    def __iter__(self) -> Any:
        info = torch.utils.data.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        for i in range(start, N, step):
            yield torch.tensor([float(i)]), i % CLASSES


def loader(dataset: Any, workers: int = 2, **kw: Any) -> Any:
    """A DataLoader of 4-item batches; fork workers that live across epochs."""
    if workers:
        kw = {"multiprocessing_context": "fork", "persistent_workers": True, **kw}
    return DataLoader(dataset, batch_size=4, num_workers=workers, **kw)


def ids(batches: Any) -> list[int]:
    """Which item the trainer got at each position of the epoch."""
    return [int(v) for x, _ in batches for v in x[:, 0]]


def train(batches: Any, compute_s: float) -> list[float]:
    """One epoch of a trainer whose step takes ``compute_s``: how long it waited per batch."""
    waits, got = [], 0
    it = iter(batches)
    while True:
        t0 = time.monotonic()
        batch = next(it, None)
        if batch is None:
            assert got == N
            return waits
        waits.append(time.monotonic() - t0)
        got += len(batch[0])
        time.sleep(compute_s)  # the training step


def hook_counts(inj: Any) -> dict[str, Any]:
    effect = inj.effect()
    assert effect is not None and effect["unit"] == "items hit", effect
    counts: dict[str, Any] = effect["hooks"]["loader"]
    assert effect["touched"] == counts.get("fired", 0)
    return counts


def test_a_fault_free_wrapper_hands_over_the_same_items(board: Switchboard) -> None:
    hook = LoaderHook("loader", board=board)
    plain = list(loader(Items()))
    wrapped = list(loader(hook.wrap_dataset(Items())))
    assert len(wrapped) == len(plain) == N // 4
    for (x0, y0), (x1, y1) in zip(plain, wrapped, strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    inner = Items()
    assert len(hook.wrap_dataset(inner)) == N and board.take_tally("loader") == {}


async def test_two_workers_prefetching_hide_part_of_a_slow_read(
    control: ControlServer, board: Switchboard
) -> None:
    """The question of the feature: does a slow storage mount starve the trainer?"""
    latency_s, compute_s = 0.015, 0.03  # a batch: 4 reads of 15 ms; the trainer: 30 ms
    hook = LoaderHook("loader", board=board)
    waits: dict[int, list[float]] = {}
    for workers in (0, 2):
        batches = loader(hook.wrap_dataset(Items()), workers)
        assert len(ids(batches)) == N  # workers started, no fault yet
        inj = training(control, ["loader"], kind="latency", latency_ms=latency_s * 1000)
        async with inj:
            waits[workers] = await asyncio.to_thread(train, batches, compute_s)
        counts = hook_counts(inj)  # train() checked that the trainer got all N items
        assert counts["calls"] == counts["items_delayed"] == N
        assert counts["delay_s"] == pytest.approx(N * latency_s, rel=0.5)
    serial, parallel = statistics.median(waits[0]), statistics.median(waits[2])
    assert serial >= 4 * latency_s * 0.9  # without workers every read is waited for
    assert parallel < 0.5 * serial, (waits[0], waits[2])  # two workers hid at least half


async def test_label_noise_in_workers_is_what_the_trainer_trains_on(
    control: ControlServer, board: Switchboard
) -> None:
    hook = LoaderHook("loader", board=board)
    batches = loader(hook.wrap_dataset(Items(), classes=range(CLASSES)))
    flip = {"name": "label-flip", "fraction": 0.3}
    inj = training(control, ["loader"], kind="label-noise", corruption=flip)
    flipped = 0
    async with inj:
        for _ in range(2):  # two epochs: 64 items
            for x, y in batches:
                assert y.dtype == torch.int64
                flipped += int((y != x[:, 0].long() % CLASSES).sum())
    counts = hook_counts(inj)
    assert 0.15 * 2 * N < flipped == counts["labels_changed"] == counts["items_noisy"]
    assert flipped < 0.45 * 2 * N and counts["calls"] == 2 * N
    assert all(
        int(y) == int(x) % CLASSES for xb, yb in batches for x, y in zip(xb, yb, strict=True)
    )


@pytest.mark.parametrize("kind", ["duplicate", "skip"])
async def test_duplicated_and_skipped_items_as_the_trainer_counts_them(
    control: ControlServer, board: Switchboard, kind: str
) -> None:
    hook = LoaderHook("loader", board=board)
    batches = loader(hook.wrap_dataset(Items()))
    inj = training(control, ["loader"], kind=kind, rate=0.3)
    async with inj:
        got = ids(batches)
    counts = hook_counts(inj)
    assert len(got) == N
    replaced = sum(g != i for i, g in enumerate(got))  # an item not the one asked for
    assert 0 < replaced == counts["items_skipped" if kind == "skip" else "items_duplicated"]
    if kind == "skip":
        assert all(g == i + 1 for i, g in enumerate(got) if g != i)
    else:
        assert all(g < i for i, g in enumerate(got) if g != i)
    assert ids(batches) == list(range(N))  # disarmed


async def test_a_disarm_mid_epoch_frees_persistent_workers_within_one_item(
    control: ControlServer, board: Switchboard
) -> None:
    hook = LoaderHook("loader", board=board)
    batches = loader(hook.wrap_dataset(Items()))
    assert ids(batches) == list(range(N))  # the workers live before the arming
    stalled = training(control, ["loader"], kind="latency", latency_ms=3_600_000)
    await stalled.apply()
    epoch = asyncio.create_task(asyncio.to_thread(ids, batches))
    await asyncio.sleep(0.5)
    assert not epoch.done()
    t0 = time.monotonic()
    await stalled.revert()
    assert await asyncio.wait_for(epoch, 10) == list(range(N))
    assert time.monotonic() - t0 < 1.5
    counts = stalled.effect()["hooks"]["loader"]  # type: ignore[index]
    assert counts["items_delayed"] == 2  # the one item each worker was reading, cut short
    assert counts["delay_s"] == pytest.approx(2 * 0.5, abs=0.6)


def test_workers_stop_at_the_ttl_while_the_trainer_does_nothing(board: Switchboard) -> None:
    hook = LoaderHook("loader", board=board)
    batches = loader(hook.wrap_dataset(Items()), prefetch_factor=4, timeout=5)  # all 8 ahead
    assert ids(batches) == list(range(N))
    board.arm("loader", ttl_s=0.5, training={"kind": "latency", "latency_ms": 60_000})
    it = iter(batches)  # the workers start reading the epoch
    time.sleep(1.5)  # the trainer is frozen: nothing renews, disarms or reads the board
    t0 = time.monotonic()
    assert ids(it) == list(range(N))
    assert time.monotonic() - t0 < 1  # read while the trainer slept: the TTL ended it
    counts = board.take_tally("loader")
    # the first read of each worker, cut at the deadline; none after it was even counted
    assert 1 <= counts["items_delayed"] == counts["calls"] <= 2
    assert 0 < counts["delay_s"] <= 0.5 * counts["items_delayed"] + 0.1


#: what the trainer of the engine test saw, read by its probe
SEEN = {"items": 0}


def probe() -> dict[str, float]:
    """The engine test's probe: items the trainer got so far."""
    return {"items": float(SEEN["items"])}


@pytest.mark.slow
async def test_a_run_journals_the_reads_its_workers_delayed(tmp_path: Any) -> None:
    import threading

    from aichaos.engine.journal import Journal
    from aichaos.engine.runner import Engine
    from aichaos.experiment.loader import parse_experiment
    from aichaos.verdict import Verdict

    board = Switchboard()
    hook = LoaderHook("loader", board=board)
    batches = loader(hook.wrap_dataset(Items()), timeout=10)
    server = ControlServer(board, token="test-token-123").start()
    stop = threading.Event()
    SEEN["items"] = 0

    def trainer() -> None:
        for _ in range(1000):  # epochs, until the test ends
            for x, _ in batches:
                SEEN["items"] += len(x)
                if stop.is_set():
                    return
                time.sleep(0.005)

    thread = threading.Thread(target=trainer)
    thread.start()
    try:
        loaded = parse_experiment(
            f"""
title: each worker reads 5 ms slower
seed: 3
targets:
  trainer: {{type: inprocess, url: "{server.url}", token: test-token-123}}
probes:
  train: {{type: python, call: "tests.training.test_dataset_hook:probe", every_s: 0.1}}
steady_state: ["train.items > 0"]
method:
  - name: slow-reads
    target: trainer
    fault: {{type: training, hooks: [loader], kind: latency, latency_ms: 5}}
    duration_s: 0.8
phases: {{baseline_s: 0.3, recovery_s: 0.2}}
"""
        )
        journal = Journal(tmp_path / "run.jsonl")
        result = await Engine(loaded.experiment, journal=journal, watchdog=False).run()
    finally:
        stop.set()
        thread.join(10)
        server.close()
    assert result.status is Verdict.PASSED, result.reason
    (reverted,) = [e for e in journal.events if e["event"] == "fault-reverted"]
    effect = reverted["effect"]
    counts = effect["hooks"]["loader"]
    assert effect["unit"] == "items hit" and effect["touched"] == counts["items_delayed"] > 10
    assert effect["seen"] == counts["calls"] >= effect["touched"]
    assert counts["delay_s"] >= 0.005 * counts["items_delayed"] * 0.9


def test_a_renewal_reaches_the_workers_and_keeps_them_injecting(board: Switchboard) -> None:
    import threading

    hook = LoaderHook("loader", board=board)
    batches = loader(hook.wrap_dataset(Items()), timeout=5)
    assert ids(batches) == list(range(N))
    got: list[int] = []
    board.arm("loader", ttl_s=0.3, training={"kind": "latency", "latency_ms": 60_000})
    t0 = time.monotonic()
    epoch = threading.Thread(target=lambda: got.extend(ids(batches)))
    epoch.start()
    for _ in range(3):  # the experiment renews: the deadline moves to about 0.9 s
        time.sleep(0.2)
        assert board.renew("loader", ttl_s=0.3)
    epoch.join(5)
    took = time.monotonic() - t0
    assert got == list(range(N)) and 0.8 < took < 2.5  # held past the first 0.3 s
    assert board.take_tally("loader")["delay_s"] > 2 * 0.75


@pytest.mark.slow
async def test_spawned_workers_see_an_arming_made_after_they_started(
    control: ControlServer, board: Switchboard
) -> None:
    hook = LoaderHook("loader", board=board)
    batches = loader(
        hook.wrap_dataset(Items(), classes=range(CLASSES)), multiprocessing_context="spawn"
    )
    assert ids(batches) == list(range(N))  # spawned (slow: each imports torch) and idle
    inj = training(
        control, ["loader"], kind="label-noise", corruption={"name": "label-flip", "fraction": 1}
    )
    async with inj:
        flipped = sum(int((y != x[:, 0].long() % CLASSES).sum()) for x, y in batches)
    counts = hook_counts(inj)
    assert flipped == counts["labels_changed"] == N
    assert sum(int((y != x[:, 0].long() % CLASSES).sum()) for x, y in batches) == 0


async def test_an_iterable_dataset_in_workers_loses_its_skipped_items(
    control: ControlServer, board: Switchboard
) -> None:
    hook = LoaderHook("loader", board=board)
    wrapped = hook.wrap_dataset(Stream())
    assert isinstance(wrapped, IterableDataset)
    batches = loader(wrapped)
    assert sorted(ids(batches)) == list(range(N))
    inj = training(control, ["loader"], kind="skip", rate=0.3)
    async with inj:
        got = ids(batches)
    counts = hook_counts(inj)
    assert 0 < N - len(got) == len(set(range(N)) - set(got)) == counts["items_skipped"]
    inj = training(control, ["loader"], kind="duplicate", rate=0.3)
    async with inj:
        got = ids(batches)
    assert 0 < len(got) - N == hook_counts(inj)["items_duplicated"]


def test_label_noise_learns_the_classes_without_a_list(board: Switchboard) -> None:
    hook = LoaderHook("loader", board=board)
    wrapped = hook.wrap_dataset(Items())  # in the trainer's process: num_workers=0
    board.arm(
        "loader",
        ttl_s=30,
        training={"kind": "label-noise", "corruption": {"name": "label-flip", "fraction": 0.5}},
    )
    got = [wrapped[i] for i in range(N)]
    counts = board.take_tally("loader")
    flipped = sum(int(y != int(x) % CLASSES) for x, y in got)
    assert all(isinstance(y, int) and 0 <= y < CLASSES for _, y in got)
    assert 0 < flipped == counts["labels_changed"]
    # the first item cannot flip (one class known): the effect says so, not silence
    assert counts["errors"] >= 1 and "class" in str(counts["last_error"])


class Dicts(Dataset[Any]):
    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": i, "target": i % 2}


BAD = [
    (42, {}, "needs a map-style dataset (__len__ and __getitem__) or a torch IterableDataset"),
    (iter([1, 2]), {}, "got list_iterator; wrap an iterable of batches with LoaderHook.wrap()"),
    (
        Dicts(),
        {"labels": "label"},
        "labels='label' does not reach the labels of dataset[0], "
        "a dict with keys 'x', 'target'; give labels=",
    ),
    (Dicts(), {}, "labels=1 does not reach the labels of dataset[0], a dict with keys"),
    (Items(), {"labels": 2}, "labels=2 does not reach the labels of dataset[0], a tuple of 2"),
]


@pytest.mark.parametrize(("dataset", "kw", "why"), BAD)
def test_what_cannot_be_wrapped_is_named(
    board: Switchboard, dataset: Any, kw: dict[str, Any], why: str
) -> None:
    hook = LoaderHook("loader", board=board)
    with pytest.raises(ValidationError) as info:
        hook.wrap_dataset(dataset, **kw)
    assert why in str(info.value), str(info.value)
    assert hook.wrap_dataset(Dicts(), labels="target")[2] == {"x": 2, "target": 0}


def test_a_spec_too_large_for_the_workers_switch_is_refused(
    control: ControlServer, board: Switchboard
) -> None:
    import httpx

    from tests.training.armed import TOKEN

    LoaderHook("loader", board=board)
    table = {f"class-{i}": {f"class-{i + 1}": 1.0} for i in range(400)}
    spec = {"kind": "label-noise", "corruption": {"name": "label-flip", "confusion": table}}
    r = httpx.post(
        f"{control.url}/faults/loader",
        json={"ttl_s": 5, "training": spec},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 400 and "bytes as JSON; at most 8192" in r.json()["error"], r.text
    assert board.status()["armed"] == {}
