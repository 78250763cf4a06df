"""The loader hook's wrapper of a torch ``IterableDataset`` (imports torch: load it lazily).

Each item the source yields is one unit, in whichever process iterates it (a DataLoader
worker iterates its own copy). ``latency`` and ``label-noise`` act as on a map-style
dataset (:mod:`aichaos.training.dataset`); with no index to fetch, ``duplicate`` yields
the item again right after it and ``skip`` drops it (the stream is one item shorter).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import IterableDataset

from aichaos.errors import AichaosError
from aichaos.training.dataset import ItemFaults

__all__ = ["WrappedIterableDataset"]


class WrappedIterableDataset(ItemFaults, IterableDataset[Any]):  # type: ignore[misc]  # torch is read as Any
    """A torch ``IterableDataset`` whose items go through a loader hook's armed fault."""

    def __iter__(self) -> Iterator[Any]:
        switch = self.switch
        for item in self.dataset:  # bounded by the source: one item in, at most two out
            arming = None if switch.cells[0] == switch.quiet else switch.current()
            if arming is None or not switch.enter(arming):
                yield item
                continue
            out, counts, error, again = self._one(arming, item)
            switch.leave(arming, counts, error)
            if out is not _DROP:
                yield out
            if again:
                yield out

    def _one(self, arming: Any, item: Any) -> tuple[Any, dict[str, float], str | None, bool]:
        """(what to yield, the counts, an error, whether to yield it twice) for one item."""
        hit = arming.pick.random() < arming.rate
        kind = arming.spec.kind
        if kind == "latency" and hit:
            slept = self.delay(arming)
            return item, ({"items_delayed": 1, "delay_s": slept} if slept > 0 else {}), None, False
        if kind == "duplicate" and hit:
            return item, {"items_duplicated": 1}, None, True
        if kind == "skip" and hit:
            return _DROP, {"items_skipped": 1}, None, False
        if kind == "label-noise":
            try:
                item, changed = self.noisy(arming, item, hit)
            except (AichaosError, KeyError, IndexError, TypeError, ValueError) as exc:
                return item, {}, f"label-noise: {exc}", False
            if changed:
                return item, {"labels_changed": changed, "items_noisy": 1}, None, False
        return item, {}, None, False


#: the item a skip drops
_DROP = object()
