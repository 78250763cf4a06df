"""Data-loader faults per item of a PyTorch Dataset, in DataLoader workers too.

:meth:`LoaderHook.wrap_dataset <aichaos.training.loader.LoaderHook.wrap_dataset>` returns
a :class:`WrappedDataset` (map-style: ``len()`` and ``dataset[i]`` kept) or, for a torch
``IterableDataset``, a :class:`~aichaos.training.iterable.WrappedIterableDataset`. Each
item fetched is one unit the armed fault may hit, in whichever process fetches it: the
trainer's (``num_workers=0``) or a DataLoader worker's (``fork``, ``spawn``,
``forkserver``; persistent workers too). The arming reaches them through the wrapper's
:class:`~aichaos.training.shared.SharedSwitch`; what they did comes back into the hook's
effect.

* ``latency``: the item is read ``latency_ms`` ± ``jitter_ms`` later (a slow storage
  mount under each worker); a disarm or the TTL's end cuts the wait short.
* ``duplicate``: the item this process fetched before is returned again in place of
  index ``i`` (the first item a process fetches under an arming has no predecessor and is
  returned as it is, not counted as hit).
* ``skip``: index ``i``'s item is never returned; index ``i + 1``'s (the first one's for
  the last index) comes in its place, so it appears twice and ``len()`` stays true.
* ``label-noise``: the item's labels go through the experiment's corruption. A single
  item rarely shows every class, so the corruption sees the item's label cells followed
  by the classes given as ``classes`` (else the label values this process has fetched so
  far): a ``label-flip`` then moves a label to another class of the data set. Only the
  item's own cells are returned and counted.

Which items are hit is drawn per process from the run's seed and the worker's id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aichaos.errors import AichaosError, ValidationError
from aichaos.jitter import jittered_ms
from aichaos.training.loader import corruption_stream, get_labels, labels_as_numpy, put_labels
from aichaos.training.shared import Arming, SharedSwitch

__all__ = ["ItemFaults", "WrappedDataset", "check_dataset"]

#: a long latency is slept in slices this long, so a disarm ends it promptly
_SLICE_S = 0.02
#: label values a process remembers as the classes of the data set
_MAX_CLASSES = 1024


class ItemFaults:
    """What both dataset wrappers share: the source, the switch, labels, delays, noise."""

    def __init__(
        self,
        dataset: Any,
        switch: SharedSwitch,
        labels: int | str | None,
        classes: Sequence[Any] | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.dataset = dataset
        self.switch = switch
        self.labels = labels
        self.classes = None if classes is None else list(classes)
        self.sleep = sleep

    def delay(self, arming: Arming) -> float:
        """Sleep the arming's latency while it holds; the seconds slept."""
        spec = arming.spec
        seconds = jittered_ms(spec.latency_ms or 0.0, spec.jitter_ms or 0.0, arming.pick) / 1000
        start = time.monotonic()
        end = start + seconds
        while self.switch.current() is arming:  # a disarm, a new arming or the TTL: stop
            left = end - time.monotonic()
            if left <= 0:
                break
            self.sleep(min(left, _SLICE_S))
        return time.monotonic() - start

    def noisy(self, arming: Arming, item: Any, hit: bool) -> tuple[Any, int]:
        """``item`` with its labels corrupted when ``hit``, and the label cells changed.

        Every item fetched under the arming teaches the classes (when not given); a
        label the corruption cannot take raises (the caller counts the error).
        """
        import numpy as np

        if self.labels is None:
            raise ValidationError("label-noise: this dataset was wrapped with labels=None")
        values, back = labels_as_numpy(get_labels(item, self.labels))
        seen: dict[Any, None] = arming.cache.setdefault("classes", {})
        if self.classes is None and len(seen) < _MAX_CLASSES:
            seen.update(dict.fromkeys(values.tolist()))
        if not hit:
            return item, 0
        known = self.classes if self.classes is not None else list(seen)
        context = np.asarray(known, dtype=None if values.dtype.kind in "USO" else values.dtype)
        joined = np.concatenate([values, context]) if len(context) else values
        data, _ = _stream(arming).apply(joined)
        new = np.asarray(data)[: len(values)]
        same = new == values
        if values.dtype.kind == "f":
            same |= np.isnan(new) & np.isnan(values)
        changed = int(len(values) - np.count_nonzero(same))
        if changed == 0:
            return item, 0
        return put_labels(item, self.labels, back(new.astype(values.dtype, copy=False))), changed


class WrappedDataset(ItemFaults):
    """A map-style dataset whose items go through a loader hook's armed fault.

    ``len()`` is the wrapped dataset's; ``dataset[i]`` is the wrapped ``dataset[i]``
    unless the fault hits it (see :mod:`aichaos.training.dataset`). Picklable for
    DataLoader workers started by ``spawn``, which then share the trainer's switch.
    """

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        switch = self.switch
        # the fault-free path: one shared integer read and compared, no call, no lock
        if switch.cells[0] == switch.quiet:
            return self.dataset[index]
        arming = switch.current()
        if arming is None or not switch.enter(arming):
            return self.dataset[index]
        counts: dict[str, float] = {}
        error = None
        try:
            hit = arming.pick.random() < arming.rate
            kind = arming.spec.kind
            if kind == "latency" and hit:
                slept = self.delay(arming)
                if slept > 0:
                    counts = {"items_delayed": 1, "delay_s": slept}
            elif kind == "skip" and hit and len(self.dataset) > 1:
                counts = {"items_skipped": 1}
                return self.dataset[(index + 1) % len(self.dataset)]
            elif kind == "duplicate":
                previous = arming.cache.get("previous")
                if hit and previous is not None:
                    counts = {"items_duplicated": 1}
                    return previous[0]
                item = self.dataset[index]
                arming.cache["previous"] = (item,)
                return item
            item = self.dataset[index]
            if kind == "label-noise":
                try:
                    item, changed = self.noisy(arming, item, hit)
                except (AichaosError, KeyError, IndexError, TypeError, ValueError) as exc:
                    # the corruption does not fit these items: the trainer keeps its data,
                    # and the experiment sees why in the fault's effect
                    error = f"label-noise: {exc}"
                    return item
                if changed:
                    counts = {"labels_changed": changed, "items_noisy": 1}
            return item
        finally:
            switch.leave(arming, counts, error)


def check_dataset(dataset: Any, labels: int | str | None) -> str:
    """``"map"`` or ``"iterable"`` for a dataset the wrapper can take; a ValidationError else.

    A map-style dataset's first item is read once to check that ``labels`` reaches its
    labels, so a wrong key is named now rather than when label noise is armed.
    """
    torch_data = _torch_data()
    if torch_data is not None and isinstance(dataset, torch_data.IterableDataset):
        return "iterable"
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        what = type(dataset).__name__
        if isinstance(dataset, Iterable):
            raise ValidationError(
                f"wrap_dataset(dataset) needs a map-style dataset (__len__ and __getitem__) "
                f"or a torch IterableDataset, got {what}; wrap an iterable of batches "
                "with LoaderHook.wrap()"
            )
        raise ValidationError(
            "wrap_dataset(dataset) needs a map-style dataset (__len__ and __getitem__) "
            f"or a torch IterableDataset, got {what}"
        )
    if labels is not None and len(dataset) > 0:
        item = dataset[0]
        try:
            get_labels(item, labels)
        except (KeyError, IndexError, TypeError):
            raise ValidationError(
                f"labels={labels!r} does not reach the labels of dataset[0], {_shape(item)}; "
                "give labels= (a tuple index or a dict key), or labels=None for a dataset "
                "without labels"
            ) from None
    return "map"


def _shape(item: Any) -> str:
    if isinstance(item, dict):
        return f"a dict with keys {', '.join(repr(k) for k in item)}"
    if isinstance(item, (tuple, list)):
        return f"a {type(item).__name__} of {len(item)}"
    return f"a {type(item).__name__} (not a tuple, list or dict)"


def _torch_data() -> Any:
    import sys

    return sys.modules.get("torch.utils.data")


def _stream(arming: Arming) -> Any:
    """The arming's corruption stream in this process (seeded by the worker's id too)."""
    stream = arming.cache.get("stream")
    if stream is None:
        salt = arming.worker + 1 if arming.worker >= 0 else None
        stream = arming.cache["stream"] = corruption_stream(arming.spec, salt)
    return stream
