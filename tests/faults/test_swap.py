"""The one file swap: atomic for readers, exact and verified on restore, by revert or watchdog."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from aichaos.errors import RevertError
from aichaos.faults.swap import FileSwap, SwapConflict, SwapFolder, sha256
from aichaos.faults.undo import UNDO_ADAPTER, RestoreFile, perform


def _reader(path: Path, sizes: set[int], stop: threading.Event, misses: list[str]) -> None:
    # a pipeline re-reading the file as fast as it can: it must only ever see whole files
    for _ in range(200_000):
        if stop.is_set():
            return
        try:
            sizes.add(len(path.read_bytes()))
        except FileNotFoundError:
            misses.append("missing")


def test_a_reader_sees_only_whole_files_never_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    original = os.urandom(1 << 20)
    path.write_bytes(original)
    sizes: set[int] = set()
    misses: list[str] = []
    stop = threading.Event()
    t = threading.Thread(target=_reader, args=(path, sizes, stop, misses))
    t.start()
    try:
        for i in range(30):
            swap = FileSwap(path)
            swap.keep()
            swap.put(b"x" * (1000 + i))
            swap.restore()
    finally:
        stop.set()
        t.join(10)
    assert misses == []
    assert sizes <= {len(original), *(1000 + i for i in range(30))}
    assert path.read_bytes() == original


def test_restore_brings_back_the_same_inode_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights" * 100)
    path.chmod(0o640)
    before = path.stat()
    swap = FileSwap(path)
    swap.keep()
    swap.put(b"broken")
    assert path.read_bytes() == b"broken" and oct(path.stat().st_mode & 0o777) == "0o640"
    swap.restore()
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_mode) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_mode,
    )
    assert not swap.backup.exists()
    swap.restore()  # idempotent


def test_a_backup_changed_meanwhile_fails_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a\n1\n")
    swap = FileSwap(path)
    swap.keep()
    swap.put(b"a\nNaN\n")
    action = swap.undo_action()
    swap.backup.write_text("a\n2\n")  # the kept original was tampered with
    with pytest.raises(OSError, match="differs from its original"):
        perform(UNDO_ADAPTER.validate_python(action.model_dump(mode="json")))

    path.write_text("a\n1\n")
    swap = FileSwap(path)
    swap.keep()
    swap.put(b"x")
    swap.backup.write_text("other")
    with pytest.raises(RevertError, match="SHA-256"):
        swap.restore()


def test_a_file_replaced_by_its_writer_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("old\n")
    swap = FileSwap(path)
    swap.keep()
    new = tmp_path / "incoming"
    new.write_text("new\n")
    os.replace(new, path)  # the writer lands a new version after aichaos read the old one
    with pytest.raises(SwapConflict):
        swap.put(b"damaged")
    swap.discard()
    assert path.read_text() == "new\n" and not swap.backup.exists()


def test_a_folder_manifest_restores_every_swap_even_after_the_lease(tmp_path: Path) -> None:
    folder = SwapFolder(tmp_path / ".aichaos-swap")
    folder.create()
    actions = [UNDO_ADAPTER.dump_python(a, mode="json") for a in folder.undo_actions()]
    originals = {}
    for i in range(3):  # swaps made after the lease was written
        p = tmp_path / f"b{i}.jsonl"
        p.write_text(f'{{"i": {i}}}\n')
        originals[p] = sha256(p)
        swap = folder.swap(p)
        swap.keep()
        folder.record(swap)
        swap.put(b"{}\n")
    with (tmp_path / ".aichaos-swap" / "manifest.jsonl").open("a") as f:
        f.write('{"kind": "restore", "backu')  # a line cut short by a crash
    for raw in actions:  # what the watchdog does with the lease
        perform(UNDO_ADAPTER.validate_python(raw))
    assert {p: sha256(p) for p in originals} == originals
    assert not folder.root.exists()
    for raw in actions:
        perform(UNDO_ADAPTER.validate_python(raw))


def test_restore_file_without_checksum_stays_valid() -> None:
    old = {"kind": "restore", "backup": "/nonexistent/b", "path": "/nonexistent/p"}
    action = UNDO_ADAPTER.validate_python(old)
    assert isinstance(action, RestoreFile) and action.sha256 is None
    perform(action)  # nothing to restore: already done
