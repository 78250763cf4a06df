"""Data-loader faults around any iterable of batches: a PyTorch DataLoader, a generator.

:meth:`LoaderHook.wrap` returns an iterable that fetches from the source as the trainer
asks; each fetch is one unit the armed fault may hit:

* ``latency``: the fetch returns ``latency_ms`` ± ``jitter_ms`` later (a slow storage
  mount; a stall is a long latency at a low rate). A disarm ends the wait at once.
* ``duplicate``: the batch is delivered, then delivered again on the next fetch.
* ``skip``: the batch is dropped and the source's next one delivered in its place.
* ``label-noise``: the batch's labels go through the experiment's corruption (the
  registered corruptions: ``label-flip``...), a fresh seed per batch.

Labels are ``batch[labels]``: index 1 of an ``(inputs, labels)`` tuple by default, or a
key of a dict batch; a torch tensor, a numpy array or a list, handed back in the same
form. Wrap the DataLoader, not the Dataset: DataLoader workers run in other processes,
where the experiment's arming does not reach.

::

    hook = LoaderHook("loader")
    for x, y in hook.wrap(DataLoader(dataset, batch_size=32)):
        ...
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from aichaos.errors import AichaosError
from aichaos.jitter import jittered_ms
from aichaos.training.hook import Shot, TrainingHook

__all__ = ["LoaderHook", "WrappedLoader"]

B = TypeVar("B")


class LoaderHook(TrainingHook):
    """A loader hook: ``latency``, ``duplicate``, ``skip``, ``label-noise`` on batch fetches."""

    family = "loader"

    def __init__(self, name: str, *, labels: int | str = 1, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.labels = labels
        self._stream_lock = threading.Lock()
        self._stream: tuple[int, Any] | None = None  # (arming generation, data Stream)

    def wrap(self, batches: Iterable[B]) -> WrappedLoader[B]:
        """``batches`` with the armed fault applied to each fetch (``len()`` kept)."""
        return WrappedLoader(self, batches)

    def fetch(self, source: Iterator[B]) -> tuple[B, B | None]:
        """The next batch for the trainer, and a copy owed on the next fetch (duplicate)."""
        batch = next(source)
        shot = self.draw()
        if shot is None:
            return batch, None
        kind = shot.spec.kind
        if kind == "latency":
            spec = shot.spec
            ms = jittered_ms(spec.latency_ms or 0.0, spec.jitter_ms or 0.0, shot.armed.pick)
            slept = shot.sleep(ms / 1000.0)
            shot.count({"batches_delayed": 1, "delay_s": round(slept, 6)})
            return batch, None
        if kind == "duplicate":
            shot.count({"batches_duplicated": 1})
            return batch, batch
        if kind == "skip":
            shot.count({"batches_skipped": 1})
            return next(source), None  # at the source's end, the epoch ends a batch early
        return self._noisy(shot, batch), None

    def _noisy(self, shot: Shot, batch: Any) -> Any:
        try:
            labels = _get(batch, self.labels)
            values, back = _as_numpy(labels)
            data, reports = self._stream_for(shot).apply(values)
        except (AichaosError, KeyError, IndexError, TypeError) as exc:
            # the corruption does not fit these batches: the trainer keeps its data, and
            # the experiment sees why in the fault's effect
            shot.error(f"label-noise: {exc}")
            return batch
        changed = sum(sum(r.summary()["cells_changed"].values()) for r in reports)
        if changed == 0:
            return batch
        shot.count({"labels_changed": changed, "batches_noisy": 1})
        return _put(batch, self.labels, back(data))

    def _stream_for(self, shot: Shot) -> Any:
        from aichaos.data.corrupt_fault import CorruptionEntry
        from aichaos.data.inject import Stream

        with self._stream_lock:
            if self._stream is None or self._stream[0] != shot.armed.generation:
                entry = dict(shot.spec.corruption or {})
                entry.setdefault("seed", shot.spec.seed)
                spec = CorruptionEntry.model_validate(entry).build()
                self._stream = (shot.armed.generation, Stream(spec))
            return self._stream[1]


class WrappedLoader(Iterable[B]):
    """An iterable of batches whose fetches go through a :class:`LoaderHook`."""

    def __init__(self, hook: LoaderHook, batches: Iterable[B]) -> None:
        self.hook = hook
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[B]:
        source = iter(self.batches)
        owed: B | None = None
        while True:  # bounded by the source: each turn consumes a batch or pays a debt
            if owed is not None:
                batch, owed = owed, None
                yield batch
                continue
            try:
                batch, owed = self.hook.fetch(source)
            except StopIteration:
                return
            yield batch


def _get(batch: Any, key: int | str) -> Any:
    if isinstance(batch, dict):
        return batch[key]
    if isinstance(batch, (tuple, list)):
        if not isinstance(key, int):
            raise TypeError(f"labels={key!r} is a key, but the batch is a {type(batch).__name__}")
        return batch[key]
    raise TypeError(f"a batch must be a tuple, list or dict to hold labels, got {type(batch)}")


def _put(batch: Any, key: int | str, labels: Any) -> Any:
    if isinstance(batch, dict):
        return {**batch, key: labels}
    items = list(batch)
    items[key] = labels  # type: ignore[index]
    return type(batch)(items) if not hasattr(batch, "_fields") else type(batch)(*items)


def _as_numpy(labels: Any) -> tuple[Any, Any]:
    """Labels as a 1-D numpy array, and the way back to their own form."""
    import numpy as np

    if type(labels).__module__.startswith("torch"):
        import torch

        device, dtype = labels.device, labels.dtype
        return labels.detach().cpu().numpy(), lambda a: torch.as_tensor(a, dtype=dtype).to(device)
    if isinstance(labels, np.ndarray):
        return labels, lambda a: a
    return np.asarray(labels), lambda a: a.tolist()
