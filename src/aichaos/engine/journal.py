"""The journal: an append-only JSON-lines event log, plus a summary written atomically.

Each event is one line, written and flushed as it happens, so a runner killed at any
moment leaves valid JSON lines behind (a torn last line is skipped on reading). Every
string passes through the run's redactor first. Payloads and data rows are never
given to the journal: events carry numbers, names and settings only.

One file holds one run. The file is created at the first event (a run refused before
it starts leaves none), under an exclusive ``flock`` held for the whole run; a file
that already holds events is refused unless ``overwrite=True`` replaces it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aichaos.errors import ValidationError
from aichaos.redact import Redactor

__all__ = ["Journal", "read_journal", "summary_path"]

Listener = Callable[[dict[str, Any]], None]


def summary_path(journal: Path) -> Path:
    """Where the summary of ``journal`` lives: ``run.jsonl`` -> ``run.summary.json``."""
    return journal.with_name(journal.stem + ".summary.json")


def _clean(obj: Any) -> Any:
    """NaN / inf are not JSON: write them as strings so every line stays valid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _holds_a_run(path: Path) -> str:
    return (
        f"journal {str(path)!r} already holds a run; pass --overwrite to replace it, "
        "or choose another --journal"
    )


class Journal:
    """Write events to ``path`` (JSON lines) and tell listeners (progress display).

    Raises :class:`~aichaos.errors.ValidationError` when ``path`` already holds a run
    (unless ``overwrite``), and at :meth:`open` when another run is writing it.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        overwrite: bool = False,
    ) -> None:
        self.path = path
        self.redactor = redactor or Redactor()
        self.clock = clock
        self.wallclock = wallclock
        self.overwrite = overwrite
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Listener] = []
        self._t0 = clock()
        self._fd: int | None = None
        self._closed = False
        if path is not None and path.is_dir():
            raise ValidationError(f"journal {str(path)!r} is a directory, expected a file")
        # checked here too, so a command refuses before it starts anything
        if path is not None and not overwrite and _size(path) > 0:
            raise ValidationError(_holds_a_run(path))

    def open(self) -> None:
        """Create (or claim) the file; done by the first :meth:`write` if not before."""
        if self.path is None or self._fd is not None or self._closed:
            return
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValidationError(
                    f"journal {str(path)!r} is being written by another run; "
                    "choose another --journal"
                ) from None
            if self.overwrite:
                os.ftruncate(fd, 0)
                summary_path(path).unlink(missing_ok=True)
            elif os.fstat(fd).st_size > 0:  # written since the check in __init__
                raise ValidationError(_holds_a_run(path))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event; returns it as written."""
        record = {
            "event": event,
            "t": round(self.clock() - self._t0, 6),
            "wall": round(self.wallclock(), 6),
            **fields,
        }
        record = dict(_clean(self.redactor.data(record)))
        self.open()
        self.events.append(record)
        if self._fd is not None:
            os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        for listener in self.listeners:
            listener(record)
        return record

    def write_summary(self, summary: dict[str, Any]) -> Path | None:
        """Write the summary atomically (temp file, fsync, rename)."""
        if self.path is None:
            return None
        final = summary_path(self.path)
        tmp = final.with_name(final.name + ".tmp")
        data = json.dumps(_clean(self.redactor.data(summary)), indent=2).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        return final

    def close(self) -> None:
        """Close the file (events already written are on disk) and release it."""
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _size(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        return path.stat().st_size
    return 0


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Events of a journal; a torn last line (runner killed mid-write) is skipped."""
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return
            try:
                yield json.loads(raw)
            except ValueError:
                continue
