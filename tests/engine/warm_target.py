"""Functions a watchdog test calls by name: a warm-up and an undo that leave marks."""

from __future__ import annotations

from pathlib import Path


def warm(path: str) -> None:
    """The warm-up: mark that it ran (before any expiry)."""
    Path(path).with_suffix(".warmed").write_text("warmed")


def undo(path: str) -> None:
    """The undo: mark that it ran."""
    Path(path).with_suffix(".undone").write_text("undone")
