"""Data-loader faults around any iterable of batches, and per item of a PyTorch Dataset.

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
form.

:meth:`LoaderHook.wrap_dataset` wraps the Dataset instead: the same faults per item, in
the DataLoader's worker processes too (the arming reaches them through shared memory,
:mod:`aichaos.training.shared`, and what they did comes back into the effect). Wrap the
Dataset to learn whether ``num_workers`` and prefetching hide a slow read; wrap the
DataLoader for a stall the trainer waits out whatever the workers do. Semantics per
item: :mod:`aichaos.training.dataset`.

::

    hook = LoaderHook("loader")
    for x, y in hook.wrap(DataLoader(dataset, batch_size=32)):
        ...
    loader = DataLoader(hook.wrap_dataset(dataset), batch_size=32, num_workers=4)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from aichaos.errors import AichaosError
from aichaos.jitter import jittered_ms
from aichaos.training.hook import Shot, TrainingHook
from aichaos.training.shared import SharedSwitch, check_size

if TYPE_CHECKING:
    from aichaos.training.spec import TrainingSpec

__all__ = [
    "LoaderHook",
    "WrappedLoader",
    "corruption_stream",
    "get_labels",
    "labels_as_numpy",
    "put_labels",
]

B = TypeVar("B")


class _Hook(Enum):
    LABELS = "the hook's labels"


class LoaderHook(TrainingHook):
    """A loader hook: ``latency``, ``duplicate``, ``skip``, ``label-noise`` on batch fetches."""

    family = "loader"

    def __init__(self, name: str, *, labels: int | str = 1, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.labels = labels
        self._stream_lock = threading.Lock()
        self._stream: tuple[int, Any] | None = None  # (arming generation, data Stream)

    def _check(self, spec: dict[str, Any]) -> None:
        super()._check(spec)
        check_size(spec, self.name)  # it must fit the shared switch of wrapped datasets

    def wrap(self, batches: Iterable[B]) -> WrappedLoader[B]:
        """``batches`` with the armed fault applied to each fetch (``len()`` kept)."""
        return WrappedLoader(self, batches)

    def wrap_dataset(
        self,
        dataset: Any,
        *,
        labels: int | str | _Hook | None = _Hook.LABELS,
        classes: Sequence[Any] | None = None,
    ) -> Any:
        """``dataset`` with the armed fault applied to each item, in DataLoader workers too.

        A map-style dataset (``__len__``, ``__getitem__``) comes back as a
        :class:`~aichaos.training.dataset.WrappedDataset`, a torch ``IterableDataset``
        as a :class:`~aichaos.training.iterable.WrappedIterableDataset`. ``labels``: the
        item's labels (the hook's by default; ``None`` for a dataset without labels);
        ``classes``: the label classes ``label-flip`` may move a label to (by default the
        label values seen so far by the process). Call it in the trainer's process,
        before the DataLoader starts its workers.
        """
        from aichaos.training.dataset import WrappedDataset, check_dataset

        key = self.labels if isinstance(labels, _Hook) else labels
        style = check_dataset(dataset, key)
        switch = SharedSwitch(self.name, self.family)
        self.board.mirror(self.name, switch)
        if style == "iterable":
            from aichaos.training.iterable import WrappedIterableDataset

            return WrappedIterableDataset(dataset, switch, key, classes, self.sleep)
        return WrappedDataset(dataset, switch, key, classes, self.sleep)

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
            labels = get_labels(batch, self.labels)
            values, back = labels_as_numpy(labels)
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
        return put_labels(batch, self.labels, back(data))

    def _stream_for(self, shot: Shot) -> Any:
        with self._stream_lock:
            if self._stream is None or self._stream[0] != shot.armed.generation:
                self._stream = (shot.armed.generation, corruption_stream(shot.spec))
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


def get_labels(batch: Any, key: int | str) -> Any:
    """``batch[key]``: the labels of a tuple, list or dict batch (or item)."""
    if isinstance(batch, dict):
        return batch[key]
    if isinstance(batch, (tuple, list)):
        if not isinstance(key, int):
            raise TypeError(f"labels={key!r} is a key, but the batch is a {type(batch).__name__}")
        return batch[key]
    raise TypeError(f"a batch must be a tuple, list or dict to hold labels, got {type(batch)}")


def put_labels(batch: Any, key: int | str, labels: Any) -> Any:
    """A copy of ``batch`` (or item) of the same type with ``labels`` at ``key``."""
    if isinstance(batch, dict):
        return {**batch, key: labels}
    items = list(batch)
    items[key] = labels  # type: ignore[index]
    return type(batch)(items) if not hasattr(batch, "_fields") else type(batch)(*items)


def labels_as_numpy(labels: Any) -> tuple[Any, Callable[[Any], Any]]:
    """Labels (of a batch or one item) as a flat numpy array, and the way back to their
    own form: a torch tensor (dtype, device, shape), a numpy array or scalar, a list or a
    Python scalar."""
    import numpy as np

    if type(labels).__module__.startswith("torch"):
        import torch

        device, dtype, shape = labels.device, labels.dtype, tuple(labels.shape)
        array = labels.detach().cpu().numpy().reshape(-1)
        return array, lambda a: torch.as_tensor(a.reshape(shape), dtype=dtype).to(device)
    if isinstance(labels, np.ndarray):
        shape = labels.shape
        return labels.reshape(-1), lambda a: a.reshape(shape)
    if isinstance(labels, np.generic):
        kind = type(labels)
        return np.asarray(labels).reshape(-1), lambda a: kind(a[0])
    array = np.asarray(labels)
    if array.ndim == 0:  # a Python int, str, bool
        return array.reshape(-1), lambda a: a[0].item()
    shape = array.shape
    return array.reshape(-1), lambda a: a.reshape(shape).tolist()


def corruption_stream(spec: TrainingSpec, salt: int | None = None) -> Any:
    """The data Stream of a ``label-noise`` spec's corruption, seeded by the spec (the
    run's seed unless the corruption names one), and by ``salt`` when given (a
    DataLoader worker's own draws)."""
    from aichaos.data.corrupt_fault import CorruptionEntry
    from aichaos.data.inject import Stream, batch_seed

    entry = dict(spec.corruption or {})
    entry.setdefault("seed", spec.seed)
    if salt is not None:
        entry["seed"] = batch_seed(int(entry["seed"]), salt)
    return Stream(CorruptionEntry.model_validate(entry).build())
