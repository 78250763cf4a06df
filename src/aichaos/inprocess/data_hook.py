"""A data hook registered once in a pipeline; the corruption comes from the experiment.

:class:`DataHook` wraps a loader (or is called on a batch). It does nothing until an
experiment arms its name -- through the control endpoint, with the ``inprocess`` fault
carrying ``corruption: {name: label-flip, fraction: 0.2, columns: [label]}`` -- and then
corrupts every batch the loader returns with that spec, a fresh seed per batch (as
:class:`aichaos.data.Stream` does, so a replay is exact). What it changed is tallied on
the board (batches, cells and rows changed, per column; counts only) and returned to the
experiment when the fault is disarmed, so the journal shows the fault's effect.

::

    from aichaos.inprocess import BOARD, ControlServer, DataHook

    hook = DataHook("loader")          # once, at start-up

    @hook
    def load_batch(path):
        return pd.read_parquet(path)

    ControlServer(BOARD, token=os.environ["CHAOS_TOKEN"]).start()
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from aichaos.errors import AichaosError
from aichaos.inprocess.board import BOARD, Switch, Switchboard

__all__ = ["DataHook"]

P = ParamSpec("P")
R = TypeVar("R")


class DataHook:
    """Corrupt what a loader returns with the corruption its arming carries."""

    def __init__(self, name: str, *, board: Switchboard | None = None) -> None:
        self.name = name
        self.board = BOARD if board is None else board
        self.board.register(name, data=True)
        self._lock = threading.Lock()
        self._stream: tuple[int, Any] | None = None  # (arming generation, Stream)

    def _stream_for(self, sw: Switch) -> Any:
        from aichaos.data.corrupt_fault import CorruptionEntry
        from aichaos.data.inject import Stream

        with self._lock:
            if self._stream is None or self._stream[0] != sw.generation:
                spec = CorruptionEntry.model_validate(sw.corruption).build()
                self._stream = (sw.generation, Stream(spec))
            return self._stream[1]

    def apply(self, batch: Any) -> Any:
        """Corrupt ``batch`` if the name is armed with a corruption; else return it as is."""
        with self.board.firing(self.name) as sw:
            if sw is None or sw.corruption is None:
                return batch
            return self._corrupt(sw, batch)

    def _corrupt(self, sw: Switch, batch: Any) -> Any:
        try:
            data, reports = self._stream_for(sw).apply(batch)
        except AichaosError as exc:
            # the experiment's corruption does not fit this batch: the pipeline keeps its
            # data and runs on; the experiment sees the error in the fault's effect
            self.board.tally(self.name, {"errors": 1, "last_error": str(exc)})
            return batch
        counts: dict[str, float | str] = {"batches": 1}
        for report in reports:
            summary = report.summary()
            add = {"rows_changed": summary["rows_changed"]}
            for column, n in summary["cells_changed"].items():
                add["cells_changed"] = add.get("cells_changed", 0) + n
                add[f"cells_changed.{column}"] = n
            if "rows_dropped" in summary:
                add["rows_dropped"] = summary["rows_dropped"]
            for key, n in add.items():
                old = counts.get(key, 0)
                counts[key] = (old if isinstance(old, int | float) else 0) + n
        self.board.tally(self.name, counts)
        return data

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Wrap a loader (sync or async) so what it returns goes through :meth:`apply`."""
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                return self.apply(await afn(*args, **kwargs))

            return cast(Callable[P, R], awrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            return cast(R, self.apply(fn(*args, **kwargs)))

        return wrapper
