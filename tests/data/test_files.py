"""File and landing-directory faults: real files, real readers, everything restored."""
# ruff: noqa: ASYNC221, ASYNC240 -- the test plays a blocking reader on purpose, between awaits

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aichaos.errors import TargetError
from aichaos.faults import FAULTS, InjectionContext
from aichaos.faults.undo import RestoreFile, perform


def _files(tmp: Path) -> dict[str, Path]:
    df = pd.DataFrame({"a": range(200), "b": [f"row {i}" for i in range(200)]})
    paths = {"csv": tmp / "d.csv", "parquet": tmp / "d.parquet", "jsonl": tmp / "d.jsonl"}
    df.to_csv(paths["csv"], index=False)
    pq.write_table(pa.Table.from_pandas(df), paths["parquet"])
    df.to_json(paths["jsonl"], orient="records", lines=True)
    return paths


def _read(kind: str, path: Path) -> int:
    if kind == "csv":
        return len(pd.read_csv(path))
    if kind == "parquet":
        return pq.read_table(path).num_rows
    return sum(1 for line in path.read_text().splitlines() if json.loads(line))


FAULT_CASES = [
    ("file-truncate", {"keep_fraction": 0.3}),
    ("file-empty", {}),
    ("file-missing", {}),
    ("file-corrupt-bytes", {"fraction": 0.05, "seed": 1}),
    ("file-partial-write", {"keep_fraction": 0.5}),
]


@pytest.mark.parametrize(("name", "params"), FAULT_CASES)
@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
async def test_file_fault_breaks_the_reader_then_restores(
    tmp_path: Path, name: str, params: dict[str, object], kind: str
) -> None:
    path = _files(tmp_path)[kind]
    original = path.read_bytes()
    stat_before = path.stat()
    fault = FAULTS.get(name)(path=str(path), **params)
    injection = fault.injection(InjectionContext())
    async with injection:
        assert path.exists() != (name == "file-missing")
        if path.exists():
            assert path.read_bytes() != original
        broken = False
        try:
            broken = _read(kind, path) != 200
        except Exception:
            broken = True
        if name == "file-corrupt-bytes" and kind == "csv":
            broken = broken or path.read_bytes() != original  # CSV may still parse
        assert broken, f"{name} did not break the {kind} reader"
        actions = injection.undo_actions()
        assert any(isinstance(a, RestoreFile) for a in actions)
    assert path.read_bytes() == original
    assert path.stat().st_ino == stat_before.st_ino  # the very same file is back
    assert _read(kind, path) == 200
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".aichaos")] == []


async def test_watchdog_undo_actions_restore_without_the_runner(tmp_path: Path) -> None:
    path = _files(tmp_path)["parquet"]
    original = path.read_bytes()
    injection = FAULTS.get("file-truncate")(path=str(path)).injection(InjectionContext())
    await injection.apply()  # the runner "dies" here: never reverts
    actions = injection.undo_actions()
    payload = [a.model_dump() for a in actions]  # what the lease file would hold
    from aichaos.faults.undo import UNDO_ADAPTER

    for raw in payload:
        perform(UNDO_ADAPTER.validate_python(raw))
    assert path.read_bytes() == original
    (restore,) = actions
    assert isinstance(restore, RestoreFile) and restore.sha256 is not None
    assert not Path(restore.backup).exists()
    for raw in payload:  # idempotent: doing it twice is harmless
        perform(UNDO_ADAPTER.validate_python(raw))
    assert path.read_bytes() == original


async def test_permission_denied_stops_a_non_root_reader() -> None:
    if os.geteuid() != 0 and sys.platform != "linux":
        pytest.skip("needs Linux")
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        path = Path(tmp) / "d.csv"
        path.write_text("a,b\n1,2\n")
        path.chmod(0o644)
        read = ["cat", str(path)]  # a real reader process (python may not be executable there)
        kwargs = {"user": 65534} if os.geteuid() == 0 else {}
        assert subprocess.run(read, capture_output=True, **kwargs).returncode == 0
        fault = FAULTS.get("file-permission-denied")(path=str(path))
        async with fault.injection(InjectionContext()):
            denied = subprocess.run(read, capture_output=True, **kwargs)
            assert denied.returncode != 0 and b"Permission denied" in denied.stderr
        assert subprocess.run(read, capture_output=True, **kwargs).returncode == 0
        assert oct(path.stat().st_mode & 0o777) == "0o644"


async def test_partial_write_completes_later(tmp_path: Path) -> None:
    path = _files(tmp_path)["csv"]
    original = path.read_bytes()
    fault = FAULTS.get("file-partial-write")(path=str(path), complete_after_s=0.2)
    async with fault.injection(InjectionContext()):
        assert len(path.read_bytes()) < len(original)
        await asyncio.sleep(0.5)
        assert path.read_bytes() == original  # the writer finished
    assert path.read_bytes() == original


def _landing(tmp_path: Path, n: int = 4) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / f"batch-{i}.jsonl"
        p.write_text(json.dumps({"batch": i}) + "\n")
        os.utime(p, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)
        out.append(p)
    return out


def _arrival_order(tmp_path: Path) -> list[str]:
    files = [p for p in tmp_path.glob("*.jsonl")]
    return [p.name for p in sorted(files, key=lambda p: p.stat().st_mtime_ns)]


async def test_batch_late_arrives_after_the_delay(tmp_path: Path) -> None:
    files = _landing(tmp_path)
    fault = FAULTS.get("batch-late")(directory=str(tmp_path), pattern="*.jsonl", delay_s=0.3)
    async with fault.injection(InjectionContext()):
        assert not files[-1].exists() and files[0].exists()
        await asyncio.sleep(0.6)
        assert files[-1].exists()
    assert _arrival_order(tmp_path) == [p.name for p in files]


async def test_batch_late_reverted_before_the_delay_restores(tmp_path: Path) -> None:
    files = _landing(tmp_path)
    fault = FAULTS.get("batch-late")(directory=str(tmp_path), delay_s=60, count=2)
    async with fault.injection(InjectionContext()) as inj:
        assert not files[-1].exists() and not files[-2].exists()
        assert len([a for a in inj.undo_actions() if isinstance(a, RestoreFile)]) == 2
    assert all(p.exists() for p in files)


async def test_batch_duplicate_and_out_of_order(tmp_path: Path) -> None:
    files = _landing(tmp_path)
    dup = FAULTS.get("batch-duplicate")(directory=str(tmp_path), pattern="*.jsonl")
    async with dup.injection(InjectionContext()):
        copy = tmp_path / "batch-3.dup.jsonl"
        assert copy.read_text() == files[-1].read_text()
    assert not copy.exists()
    ooo = FAULTS.get("batch-out-of-order")(directory=str(tmp_path), pattern="*.jsonl", count=4)
    before = _arrival_order(tmp_path)
    async with ooo.injection(InjectionContext()):
        assert _arrival_order(tmp_path) == before[::-1]
    assert _arrival_order(tmp_path) == before


async def test_missing_targets_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="does not exist"):
        await (
            FAULTS.get("file-empty")(path=str(tmp_path / "nope.csv"))
            .injection(InjectionContext())
            .apply()
        )
    with pytest.raises(TargetError, match="no file matches"):
        await (
            FAULTS.get("batch-late")(directory=str(tmp_path), delay_s=1)
            .injection(InjectionContext())
            .apply()
        )
