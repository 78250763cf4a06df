"""Hooks that put corruptions into a real pipeline without changing its code.

* :class:`Stream` -- applies specs to a sequence of batches: a fresh seed per batch
  (derived from each spec's seed and the batch's position, so a replay is exact) and the
  history stateful corruptions (``stale-batch``) need.
* :func:`corrupt` -- a decorator / context manager around a loader function: when the
  hook is on, what the loader returns is corrupted; the reports are kept on the hook.
* :func:`batch_fn` -- a plain function of one batch, for distributed engines: Ray Data
  ``map_batches``, Dask ``map_partitions`` (pandas), Spark ``mapInArrow`` (an iterator of
  Arrow RecordBatches, see :meth:`BatchFn.over`).
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from aichaos.data.base import Corruption
from aichaos.data.changes import ChangeReport
from aichaos.errors import ValidationError

__all__ = ["BatchFn", "CorruptHook", "History", "Stream", "batch_fn", "corrupt"]

F = TypeVar("F", bound=Callable[..., Any])


def batch_seed(seed: int, index: int) -> int:
    """The seed of batch ``index`` for a spec seeded ``seed`` (stable across runs)."""
    import numpy as np

    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, index]).generate_state(1)[0])


def _check(specs: tuple[Corruption, ...]) -> tuple[Corruption, ...]:
    if not specs:
        raise ValidationError("give at least one corruption spec")
    for spec in specs:
        if not isinstance(spec, Corruption):
            raise ValidationError(
                f"expected a Corruption spec (see aichaos.data.make), got {type(spec).__name__}"
            )
    return specs


class History(list[Any]):
    """Earlier batches, oldest first; ``start`` is the stream position of the first one."""

    start: int = 0


class Stream:
    """Apply ``specs`` in order to each batch of a stream; batch ``i`` gets seed ``(seed, i)``.

    >>> stream = Stream(make("stale-batch", fraction=0.5))  # doctest: +SKIP
    >>> for batch in batches:
    ...     data, reports = stream.apply(batch)
    """

    def __init__(self, *specs: Corruption, history_size: int = 8) -> None:
        self.specs = _check(specs)
        self.index = 0
        self.history: deque[Any] = deque(maxlen=max(history_size, 1))
        self._lock = threading.Lock()

    def apply(self, batch: Any) -> tuple[Any, list[ChangeReport]]:
        """Corrupt the next batch of the stream -> (batch, one report per spec)."""
        with self._lock:
            index = self.index
            self.index += 1
            past = History(self.history)
            past.start = index - len(past)
            # The history holds what the source delivered (inputs are never modified).
            self.history.append(batch)
        reports: list[ChangeReport] = []
        data = batch
        for spec in self.specs:
            data, report = spec.apply(
                data, seed=batch_seed(spec.seed, index), history=past if spec.stateful else None
            )
            reports.append(report)
        return data, reports


class CorruptHook:
    """Corrupt what a loader returns, while the hook is on (built by :func:`corrupt`).

    ::

        hook = aichaos.data.corrupt(make("missing-values", fraction=0.1), enabled=False)

        @hook
        def load_batch(path): ...

        with hook:                 # on inside the block (the engine calls enable/disable)
            df = load_batch("x.parquet")
        hook.reports[-1]           # what the last corrupted call changed
    """

    def __init__(self, *specs: Corruption, enabled: bool = True, history_size: int = 8) -> None:
        self.stream = Stream(*specs, history_size=history_size)
        self.enabled = enabled
        self.reports: list[list[ChangeReport]] = []
        self._outer: list[bool] = []

    def enable(self) -> None:
        """Turn corruption on."""
        self.enabled = True

    def disable(self) -> None:
        """Turn corruption off: the loader's results pass through untouched."""
        self.enabled = False

    def apply(self, batch: Any) -> Any:
        """Corrupt one batch if the hook is on (and record its reports)."""
        if not self.enabled:
            return batch
        data, reports = self.stream.apply(batch)
        self.reports.append(reports)
        return data

    def __call__(self, fn: F) -> F:
        """Wrap ``fn`` so its return value goes through :meth:`apply`."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.apply(fn(*args, **kwargs))

        wrapper.chaos = self  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    def __enter__(self) -> CorruptHook:
        self._outer.append(self.enabled)
        self.enabled = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.enabled = self._outer.pop()


def corrupt(*specs: Corruption, enabled: bool = True, history_size: int = 8) -> CorruptHook:
    """A :class:`CorruptHook` applying ``specs`` to what a decorated loader returns."""
    return CorruptHook(*specs, enabled=enabled, history_size=history_size)


class BatchFn:
    """A picklable batch -> batch function for distributed engines.

    The batch's seed comes from ``partition_info["number"]`` when Dask passes it, from
    the position in :meth:`over`'s iterator, or else from a per-call counter.
    """

    def __init__(
        self, specs: tuple[Corruption, ...], report: Callable[[ChangeReport], None] | None
    ):
        self.specs = _check(specs)
        self.report = report
        self.calls = 0

    def __call__(self, batch: Any, partition_info: dict[str, Any] | None = None) -> Any:
        """Corrupt one batch (pandas, Arrow or numpy)."""
        if partition_info is not None and "number" in partition_info:
            index = int(partition_info["number"])
        else:
            index = self.calls
            self.calls += 1
        return self.apply(batch, index)

    def apply(self, batch: Any, index: int) -> Any:
        """Corrupt ``batch`` as batch number ``index``."""
        data = batch
        for spec in self.specs:
            if spec.stateful:
                raise ValidationError(
                    f"{spec.type} is stateful and cannot run as a stateless batch function"
                )
            data, rep = spec.apply(data, seed=batch_seed(spec.seed, index))
            if self.report is not None:
                self.report(rep)
        return data

    def over(self, batches: Iterable[Any]) -> Iterator[Any]:
        """Corrupt an iterator of batches (Spark ``mapInArrow`` / ``mapInPandas``).

        In a Spark task, batch ``i`` of partition ``p`` is batch number
        ``p * SPARK_STRIDE + i`` (each partition gets its own seeds, the same on every
        run); elsewhere the position in the iterator.
        """
        base = spark_partition() * SPARK_STRIDE
        for i, batch in enumerate(batches):
            yield self.apply(batch, base + i)


#: batch numbers reserved per Spark partition (Arrow batches within one partition)
SPARK_STRIDE = 1 << 16


def spark_partition() -> int:
    """The partition id of the Spark task running this code (0 outside Spark)."""
    import sys

    if "pyspark" not in sys.modules:
        return 0
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else 0


def batch_fn(*specs: Corruption, report: Callable[[ChangeReport], None] | None = None) -> BatchFn:
    """A batch function applying ``specs``: ``ddf.map_partitions(batch_fn(spec))``."""
    return BatchFn(specs, report)
