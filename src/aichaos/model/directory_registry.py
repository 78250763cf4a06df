"""The ``model-registry`` target: a directory registry with a ``current`` pointer.

Layout (what a small team's deploy script usually writes)::

    registry/
      v1/model.joblib
      v2/model.joblib
      current            -> v2    (a symlink, or a text file holding "v2")

Promotion rewrites the pointer atomically (write beside, then rename), keeping its kind.
A serving layer reads the pointer to find the model to load. While a pointer fault
holds the registry (a hidden *hold* entry beside the pointer keeps the version the
pipeline wants), :meth:`DirectoryRegistry.promote` writes the promotion into the hold:
the fault decides when it goes live, and no reader glimpses it before.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

from pydantic import Field

from aichaos.errors import TargetError, ValidationError
from aichaos.targets import TARGETS, Target

__all__ = ["HOLD_MARK", "DirectoryRegistry", "ModelRegistryTarget"]

#: what names a fault's hold entry: ``.<pointer>.aichaos-<id>``
HOLD_MARK = ".aichaos-"
#: a hold not refreshed for this long is an orphan (its fault and watchdog both gone):
#: promotions ignore it (the faults refresh theirs on every poll, at most every 10 s)
HOLD_FRESH_S = 30.0


def _natural(name: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class DirectoryRegistry:
    """Versions as folders under ``root``, the live one named by the ``pointer`` entry.

    >>> reg = DirectoryRegistry(Path("registry"))   # doctest: +SKIP
    >>> reg.promote("v2"); reg.current()            # doctest: +SKIP
    'v2'
    """

    def __init__(self, root: Path, pointer: str = "current") -> None:
        if not root.is_dir():
            raise TargetError(f"model registry path must be an existing directory, got {root}")
        self.root = root
        self.pointer = root / pointer

    def versions(self) -> list[str]:
        """Version folder names, in natural order (v2 before v10)."""
        names = [
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        ]
        return sorted(names, key=_natural)

    def current(self) -> str | None:
        """The version the pointer names now, or ``None`` when there is no pointer."""
        return self.read_pointer(self.pointer)

    def path(self, version: str) -> Path:
        """The folder of ``version``; :class:`ValidationError` if the registry lacks it."""
        if version not in self.versions():
            have = ", ".join(self.versions()) or "none"
            raise ValidationError(
                f"version must be one of the registry's versions ({have}), got {version!r}"
            )
        return self.root / version

    def write_pointer(self, version: str, where: Path | None = None) -> None:
        """Write a pointer to ``version`` at ``where`` (default: the live pointer) atomically."""
        target = where or self.pointer
        tmp = self.root / f".pointer-{uuid.uuid4().hex[:8]}.tmp"
        if self.pointer.is_symlink():
            os.symlink(version, tmp)
        else:
            tmp.write_text(version + "\n")
        os.replace(tmp, target)

    def promote(self, version: str) -> None:
        """Make ``version`` current (it must exist) -- or, while a fault holds the
        pointer, the wanted version, which the fault puts live when it lets it."""
        self.path(version)
        holds = self.holds()
        for hold in holds:
            self.write_pointer(version, where=hold)
        if not holds:
            self.write_pointer(version)

    def new_hold(self) -> Path:
        """A fresh path for a fault's hold entry (hidden, beside the pointer)."""
        return self.root / f".{self.pointer.name}{HOLD_MARK}{uuid.uuid4().hex[:8]}"

    def holds(self) -> list[Path]:
        """The live hold entries (one per fault holding the pointer); an orphan, not
        refreshed for :data:`HOLD_FRESH_S`, does not count."""
        pattern = f".{self.pointer.name}{HOLD_MARK}*"
        fresh_after = time.time() - HOLD_FRESH_S
        out = []
        for path in self.root.glob(pattern):
            if path.name.endswith(".tmp"):
                continue
            try:
                if os.lstat(path).st_mtime >= fresh_after:
                    out.append(path)
            except FileNotFoundError:
                continue  # released meanwhile
        return sorted(out)

    def read_pointer(self, where: Path) -> str | None:
        """The version a pointer entry at ``where`` names (``None``: no such entry)."""
        if where.is_symlink():
            return Path(os.readlink(where)).name
        try:
            return where.read_text().strip() or None
        except FileNotFoundError:
            return None

    def previous(self, version: str) -> str:
        """The version just before ``version`` in natural order."""
        versions = self.versions()
        i = versions.index(version) if version in versions else -1
        if i <= 0:
            raise ValidationError(
                f"version {version!r} has no older version to fall back to; give version"
            )
        return versions[i - 1]


@TARGETS.register("model-registry")
class ModelRegistryTarget(Target):
    """A directory model registry at ``path`` whose live version is named by ``pointer``."""

    path: str = Field(description="registry directory holding one folder per version")
    pointer: str = Field("current", description="name of the pointer entry (symlink or file)")

    def open(self) -> DirectoryRegistry:
        """The registry; :class:`TargetError` if the directory does not exist."""
        return DirectoryRegistry(Path(self.path), self.pointer)

    def describe(self) -> str:
        return f"model-registry {self.path}"
