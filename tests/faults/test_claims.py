"""Claims: pruning stale ones is cheap when there are none."""

from __future__ import annotations

from pathlib import Path

import pytest

from aichaos.faults import claims


def test_prune_without_claims_reads_no_process_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every run and halt prunes; the /proc scan reads every process's command line
    def scan() -> set[int]:
        raise AssertionError("scanned /proc with no claim to judge")

    monkeypatch.setenv("AICHAOS_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(claims, "_watchdog_parents", scan)
    assert claims.prune() == 0
    (tmp_path / "0123.claim").write_text("not json")  # unreadable: stale, removed
    monkeypatch.setattr(claims, "_watchdog_parents", set)
    assert claims.prune() == 1
    assert list(tmp_path.glob("*.claim")) == []
