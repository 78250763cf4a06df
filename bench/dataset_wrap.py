"""Per-item cost of ``LoaderHook.wrap_dataset`` on the fault-free path, side by side in one run.

Prints ns per ``dataset[i]`` for a plain map-style dataset, the same wrapped with nothing
armed (the path every item takes outside an experiment: one shared integer compared),
and wrapped while armed at rate 0 (the full armed path: the deadline checked and the
item counted under the shared lock, never hit). Then, where PyTorch is installed, one
epoch of a ``DataLoader`` with two fork workers over the plain and the wrapped dataset,
taking turns, best of ``EPOCHS``. Run: ``python bench/dataset_wrap.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aichaos.inprocess import Switchboard
from aichaos.training import LoaderHook

N = 200_000
REPEATS = 5
#: items per DataLoader epoch, and epochs per variant (more turns: worker scheduling is noisy)
EPOCH = 50_000
EPOCHS = 11


class Items:
    """A map-style dataset of small tuples (the wrapper's cost shows, not the read's)."""

    def __init__(self, n: int) -> None:
        self.items = [(i, i % 10) for i in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self.items[i]


def _per_item_ns(get: Callable[[int], Any], n: int) -> float:
    t0 = time.perf_counter_ns()
    for i in range(n):
        get(i)
    return (time.perf_counter_ns() - t0) / n


def _side_by_side(
    named: dict[str, Callable[[], float]], repeats: int = REPEATS
) -> dict[str, float]:
    best = dict.fromkeys(named, float("inf"))
    for _ in range(repeats):  # the variants take turns, so background load hits them alike
        for name, run in named.items():
            best[name] = min(best[name], run())
    return best


def main() -> None:
    plain = Items(N)
    quiet = LoaderHook("quiet", board=Switchboard()).wrap_dataset(plain)
    board = Switchboard()
    armed = LoaderHook("armed", board=board).wrap_dataset(plain)
    board.arm("armed", rate=0.0, training={"kind": "latency", "latency_ms": 1000})
    best = _side_by_side(
        {
            "plain dataset[i]": lambda: _per_item_ns(plain.__getitem__, N),
            "wrapped, not armed": lambda: _per_item_ns(quiet.__getitem__, N),
            "wrapped, armed, rate 0": lambda: _per_item_ns(armed.__getitem__, N // 10),
        }
    )
    base = best["plain dataset[i]"]
    for name, ns in best.items():
        print(f"{name:<24} {ns:8.1f} ns/item  {ns / base:5.2f}x  (+{ns - base:.0f} ns)")
    try:
        from torch.utils.data import DataLoader
    except ImportError:
        print("torch is not installed: no DataLoader comparison")
        return

    def epoch(dataset: Any) -> Callable[[], float]:
        loader = DataLoader(
            dataset,
            batch_size=256,
            num_workers=2,
            multiprocessing_context="fork",
            persistent_workers=True,
        )
        sum(1 for _ in loader)  # workers started before the clock runs

        def run() -> float:
            t0 = time.perf_counter_ns()
            sum(1 for _ in loader)
            return (time.perf_counter_ns() - t0) / EPOCH

        return run

    small = Items(EPOCH)
    quiet_small = LoaderHook("quiet-epoch", board=Switchboard()).wrap_dataset(small)
    best = _side_by_side({"plain": epoch(small), "wrapped": epoch(quiet_small)}, EPOCHS)
    print(
        f"DataLoader epoch, 2 workers: plain {best['plain']:.0f} ns/item, wrapped "
        f"{best['wrapped']:.0f} ns/item ({best['wrapped'] / best['plain']:.2f}x)"
    )


if __name__ == "__main__":
    main()
