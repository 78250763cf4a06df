"""The journal: an append-only JSON-lines event log, plus a summary written atomically.

Each event is one line, written and flushed as it happens, so a runner killed at any
moment leaves valid JSON lines behind (a torn last line is skipped on reading). Every
string passes through the run's redactor first. Payloads and data rows are never
given to the journal: events carry numbers, names and settings only.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aichaos.experiment.loader import Redactor

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


class Journal:
    """Write events to ``path`` (JSON lines) and tell listeners (progress display)."""

    def __init__(
        self,
        path: Path | None,
        *,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.redactor = redactor or Redactor()
        self.clock = clock
        self.wallclock = wallclock
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Listener] = []
        self._t0 = clock()
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event; returns it as written."""
        record = {
            "event": event,
            "t": round(self.clock() - self._t0, 6),
            "wall": round(self.wallclock(), 6),
            **fields,
        }
        record = dict(_clean(self.redactor.data(record)))
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
        """Close the file (events already written are on disk)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
