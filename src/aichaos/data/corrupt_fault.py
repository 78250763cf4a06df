"""``data-corrupt``: registered corruptions applied to data files, declared in an experiment.

For pipelines that cannot be instrumented (Spark jobs, Airflow tasks, dbt, vendor
loaders): the fault rewrites the files they read. It takes a file or a landing directory
and a glob, the files' format (inferred from the suffix), one or more corruptions by
registered name with their parameters, and which files: the ``newest`` ``count``, the
ones ``arriving`` during the step, or ``all`` (those present and those arriving).

Every file goes through the one file swap (:mod:`aichaos.faults.swap`): the original is
kept as a hard link in a hidden folder of the landing directory, the corrupted bytes are
renamed over the file (readers never see a missing or half-written file), and revert --
or the watchdog, from the folder's manifest, for files swapped after the lease was
written -- renames each original back and checks its SHA-256. Files landing during the
step are corrupted once their size and mtime hold still for one poll.

The effect, per file and column, is counts only (cells, rows, schema fields changed),
never values: :meth:`DataCorruptInjection.effect`.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from aichaos.errors import AichaosError, InjectionError, TargetError
from aichaos.eventloop import stop
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.swap import SwapConflict, SwapFolder
from aichaos.faults.undo import UndoAction
from aichaos.spec import Spec

__all__ = ["CorruptionEntry", "DataCorrupt", "DataCorruptInjection"]


class CorruptionEntry(Spec):
    """One corruption in an experiment file: its registered ``name`` and its parameters.

    ``{name: label-flip, fraction: 0.2, columns: [label]}``; the parameters are those of
    the corruption (``aichaos faults`` lists them), checked when the file is loaded.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="a registered corruption (aichaos faults lists them)")

    @model_validator(mode="after")
    def _known(self) -> CorruptionEntry:
        self.build()
        return self

    def params(self) -> dict[str, Any]:
        """The corruption's parameters (everything but ``name``)."""
        return dict(self.model_extra or {})

    def build(self, **override: Any) -> Any:
        """The :class:`~aichaos.data.base.Corruption` spec (ValueError on bad input)."""
        from aichaos.data.base import CORRUPTIONS

        if self.name not in CORRUPTIONS:
            known = ", ".join(CORRUPTIONS.names())
            raise ValueError(f"unknown corruption {self.name!r}; known: {known}")
        try:
            spec = CORRUPTIONS.get(self.name)(**{**self.params(), **override})
        except AichaosError as exc:
            msg = str(exc).removeprefix(f"{self.name}: ")
            raise ValueError(f"{msg} (corruption {self.name})") from None
        if spec.stateful:
            raise ValueError(
                f"{self.name} needs earlier batches (a Stream); it cannot rewrite files one by one"
            )
        return spec


@FAULTS.register("data-corrupt")
class DataCorrupt(Fault):
    """Rewrite data files with registered corruptions (label-flip, missing-values...)."""

    path: str = Field(description="a data file, or a landing directory searched with pattern")
    pattern: str = Field("*", description="glob of the data files inside the directory")
    format: Literal["parquet", "csv", "jsonl", "arrow"] | None = Field(
        None, description="file format (default: from the suffix)"
    )
    corruptions: list[CorruptionEntry] = Field(
        min_length=1,
        description="corruptions in order: {name: label-flip, fraction: 0.2, columns: [y]}",
    )
    files: Literal["newest", "arriving", "all"] = Field(
        "newest",
        description="newest: the newest count files; arriving: files landing during the "
        "step; all: every file present and arriving",
    )
    count: int = Field(1, ge=1, description="how many of the newest files (files: newest)")
    fraction: float | None = Field(
        None, ge=0.0, le=1.0, description="overrides every corruption's fraction (ramps)"
    )
    severity: int | None = Field(
        None, ge=1, le=5, description="overrides every corruption's severity (ramps)"
    )
    poll_interval_s: float = Field(
        0.05, gt=0.0, le=10.0, description="how often the directory is checked for arrivals"
    )

    @field_validator("pattern")
    @classmethod
    def _confined(cls, v: str) -> str:
        if v.startswith("/") or ".." in Path(v).parts:
            raise ValueError(f"pattern must stay inside the directory, got {v!r}")
        return v

    @model_validator(mode="after")
    def _check(self) -> DataCorrupt:
        if self.fraction is not None and self.severity is not None:
            raise ValueError("give fraction or severity, not both")
        self.specs()
        return self

    def specs(self, seeds: list[int] | None = None) -> list[Any]:
        """The corruption specs, with the fault's ``fraction`` / ``severity`` applied."""
        out = []
        for i, entry in enumerate(self.corruptions):
            override: dict[str, Any] = {}
            if self.fraction is not None:
                override = {"fraction": self.fraction, "severity": None}
            elif self.severity is not None:
                override = {"severity": self.severity, "fraction": None}
            if seeds is not None and "seed" not in entry.params():
                override["seed"] = seeds[i]
            out.append(entry.build(**override))
        return out

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection on ``path``."""
        return DataCorruptInjection(self, ctx)


class DataCorruptInjection(Injection):
    """Swap the chosen files for corrupted versions; watch for arrivals; restore exactly."""

    fault: DataCorrupt

    def __init__(self, fault: DataCorrupt, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.root = Path(fault.path)
        self.is_dir = self.root.is_dir()
        home = self.root if self.is_dir else self.root.parent
        self.folder = SwapFolder(home / f".aichaos-data-corrupt-{uuid.uuid4().hex[:12]}")
        # a seed per corruption from the run's RNG unless the experiment fixed one
        self.specs = fault.specs([ctx.rng.getrandbits(32) for _ in fault.corruptions])
        self.done: dict[Path, dict[str, Any]] = {}
        self.failed: dict[Path, str] = {}
        self.task: asyncio.Task[None] | None = None

    # -- which files -----------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        if not self.is_dir:
            return [self.root] if self.root.is_file() else []
        out = []
        for p in self.root.glob(self.fault.pattern):
            rel = p.relative_to(self.root)
            if any(part.startswith(".") for part in rel.parts) or not p.is_file():
                continue  # hidden: aichaos's own originals and temporaries, tools' state
            out.append(p)
        return sorted(out, key=lambda p: (p.stat().st_mtime_ns, str(p)))

    async def apply(self) -> None:
        if not self.root.exists():
            raise TargetError(f"data-corrupt: path {str(self.root)!r} does not exist")
        if self.fault.files != "newest" and not self.is_dir:
            raise TargetError(
                f"data-corrupt: files: {self.fault.files} watches for arrivals, so path must "
                f"be a directory, got the file {str(self.root)!r}"
            )
        present = await asyncio.to_thread(self._candidates)
        if self.fault.files == "newest":
            chosen = present[-self.fault.count :]
        elif self.fault.files == "all":
            chosen = present
        else:
            chosen = []
        if not chosen and self.fault.files != "arriving":
            where = f"{self.fault.pattern!r} in " if self.is_dir else ""
            raise TargetError(f"data-corrupt: no data file matches {where}{str(self.root)!r}")
        try:
            await asyncio.to_thread(self.folder.create)
            for path in chosen:
                await asyncio.to_thread(self._corrupt, path)
        except BaseException as exc:
            await self.revert()
            if isinstance(exc, AichaosError | OSError | ValueError):
                raise InjectionError(f"data-corrupt on {str(self.root)!r}: {exc}") from exc
            raise
        if self.fault.files != "newest":
            ignore = set(present) if self.fault.files == "arriving" else set()
            self.task = asyncio.create_task(self._watch(ignore))

    async def _watch(self, ignore: set[Path]) -> None:
        """Corrupt files landing during the step once they hold still for one poll."""
        pending: dict[Path, tuple[int, int]] = {}
        while True:
            await asyncio.sleep(self.fault.poll_interval_s)
            for path in await asyncio.to_thread(self._candidates):
                if path in ignore or path in self.done or path in self.failed:
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                stamp = (st.st_size, st.st_mtime_ns)
                settled = pending.get(path) == stamp
                pending[path] = stamp
                try:
                    await asyncio.to_thread(self._corrupt, path, settled)
                except SwapConflict:
                    continue  # replaced meanwhile: seen afresh at the next poll
                except (AichaosError, OSError, ValueError) as exc:
                    if settled:  # still unreadable though it held still: give up on it
                        self.failed[path] = f"{type(exc).__name__}: {exc}"

    # -- one file --------------------------------------------------------------------

    def _corrupt(self, path: Path, settled: bool = True) -> None:
        """Swap ``path`` for its corrupted version.

        An arriving file is taken at first sight only when its bytes prove it complete
        (a Parquet or Arrow IPC file ends with its footer); CSV and JSON lines have no end
        marker, so they must first hold still for one poll (``settled``).
        """
        from aichaos.data import formats
        from aichaos.data.inject import batch_seed

        fmt = self.fault.format or formats.infer(path)
        if not settled and not formats.self_delimiting(fmt):
            raise SwapConflict(f"{path} may still be written")
        rel = str(path.relative_to(self.root)) if self.is_dir else path.name
        swap = self.folder.swap(path)
        original = swap.keep_bytes()
        try:
            if not settled and not formats.complete(original, fmt):
                raise SwapConflict(f"{path} is still being written")
            table = formats.read(original, fmt)
            before = table.schema
            stats = []
            index = zlib.crc32(rel.encode())  # the same file gets the same damage per seed
            for spec in self.specs:
                table, report = spec.apply(table, seed=batch_seed(spec.seed, index))
                stats.append(_counts(report))
            if table.schema.metadata and not table.schema.equals(before):
                # pandas' column notes would describe columns that changed or are gone
                table = table.replace_schema_metadata(
                    {k: v for k, v in table.schema.metadata.items() if k != b"pandas"}
                )
            data = formats.write(table, fmt, original)
            self.folder.record(swap)
            swap.put(data, keep_mtime=True)
        except BaseException:
            swap.discard()  # nothing was put: the file is its original
            raise
        self.done[path] = {"file": rel, "format": fmt, "corruptions": stats}

    async def revert(self) -> None:
        if self.task is not None:
            await stop(self.task)
            self.task = None
        if self.folder.root.exists():
            await asyncio.to_thread(self.folder.restore)

    def undo_actions(self) -> list[UndoAction]:
        return self.folder.undo_actions()

    def effect(self) -> dict[str, Any]:
        """What the fault changed: per file and corruption, counts only (never values)."""
        cells = sum(
            sum(c["cells_changed"].values()) for f in self.done.values() for c in f["corruptions"]
        )
        rows = sum(c["rows_changed"] for f in self.done.values() for c in f["corruptions"])
        return {
            "files_corrupted": len(self.done),
            "cells_changed": cells,
            "rows_changed": rows,
            "touched": cells + rows,
            "unit": "cells and rows changed",
            "files": list(self.done.values()),
            "files_failed": {str(p): why for p, why in self.failed.items()},
        }

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backups": str(self.folder.root)}


def _counts(report: Any) -> dict[str, Any]:
    """A report's counts per column; values never leave the data."""
    summary = report.summary()
    out = {k: summary[k] for k in ("corruption", "n_rows_in", "n_rows_out", "rows_changed")}
    out["cells_changed"] = summary["cells_changed"]
    for key in ("rows_dropped", "schema_changes"):
        if key in summary:
            out[key] = summary[key]
    return out
